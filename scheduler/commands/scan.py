"""``dfscan scan`` and ``dfscan sample``: the embedded scanner's commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from common.types import ScanResult
from scheduler.options import (
    BUNDLE_NOTE,
    BadList,
    model_version,
    reading_settings,
    scan_reading,
)

EXIT_SOME_ERRORS = 3


def _top_family(r: ScanResult) -> str:
    if not r.families:
        return ""
    name, val = max(r.families.items(), key=lambda kv: kv[1])
    return f"{name} (+{val:.2f})" if val > 0 else ""


def _table(results: list[ScanResult]) -> str:
    rows = [("TARGET", "VERDICT", "SCORE", "FRAMES", "FACES", "SECONDS", "DRIVEN BY / ERROR")]
    for r in results:
        target = r.target if len(r.target) <= 60 else "…" + r.target[-59:]
        if r.error:
            rows.append(
                (
                    target,
                    "error",
                    "-",
                    str(r.frames_used),
                    str(r.faces_found),
                    f"{r.seconds:.2f}",
                    f"{r.error['code']}: {r.error['message']}",
                )
            )
        else:
            rows.append(
                (
                    target,
                    str(r.label),
                    f"{r.score:.3f}",
                    str(r.frames_used),
                    str(r.faces_found),
                    f"{r.seconds:.2f}",
                    _top_family(r),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def _public(r: ScanResult) -> dict[str, object]:
    d = r.as_json()
    d.pop("content_sha256", None)
    return d


@click.command(epilog=BUNDLE_NOTE)
@click.argument("targets", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of results.")
@scan_reading
@click.option("--workers", type=int, help="Processes (default: all cores).")
@click.option(
    "--db", "database_url", help="SQLAlchemy URL for results (default sqlite:///dfscan.db)."
)
@click.pass_context
def scan(
    ctx: click.Context,
    targets: tuple[str, ...],
    as_json: bool,
    frames: int | None,
    sampling: str | None,
    tracking: str | None,
    model_path: Path | None,
    workers: int | None,
    threshold: float | None,
    database_url: str | None,
) -> None:
    """Scan videos, frame folders, images, http(s)/s3 URLs or list files (.txt/.csv/.jsonl).

    Exit status: 0 all scanned (fake verdicts included), 3 some targets could not be scanned
    (each has an error code in the output), 2 usage errors (a list that is not usable), 4
    the results database cannot be opened.
    """
    from tqdm import tqdm

    from scheduler.embedded import run_embedded
    from scheduler.lists import ListError
    from scheduler.outages import reported
    from scheduler.targets import expand_all

    settings = reading_settings(
        ctx,
        frames,
        sampling,
        tracking,
        model_path,
        threshold,
        workers=workers,
        database_url=database_url,
    )
    model_version(settings)  # an untrusted or altered --model: one line, before any scan
    try:
        expanded = expand_all(targets)
    except ListError as exc:  # a list that is not a usable list: a usage error, nothing scanned
        raise BadList(str(exc)) from exc
    bar = tqdm(
        total=len(expanded),
        unit="video",
        file=sys.stderr,
        disable=None if len(expanded) > 1 else True,
    )
    with reported(settings.database_url):  # a results database that cannot be opened
        results = run_embedded(expanded, settings, on_result=lambda _r: bar.update())
    bar.close()
    if as_json:
        click.echo(json.dumps([_public(r) for r in results], indent=2))
    else:
        click.echo(_table(results))
    if any(r.error for r in results):
        ctx.exit(EXIT_SOME_ERRORS)


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fake", is_flag=True, help="Paste a degraded copy of the face back (a crude swap).")
@click.option("--frames", type=click.IntRange(1), default=50, show_default=True)
def sample(out: Path, fake: bool, frames: int) -> None:
    """Write a small H.264 face video to try dfscan on (no research data needed)."""
    from models.samples import make_sample

    # A place that cannot be written: one line (the dfscan group), not an FFmpeg traceback.
    out.open("wb").close()
    make_sample(out, fake=fake, frames=frames)
    click.echo(str(out))


def register(group: click.Group) -> None:
    group.add_command(scan)
    group.add_command(sample)
