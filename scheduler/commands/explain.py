"""``dfscan explain``: a static page of what the detector sees in one video."""

from __future__ import annotations

from pathlib import Path

import click

from scheduler.commands.scan import EXIT_SOME_ERRORS
from scheduler.options import BUNDLE_NOTE, model_version, reading_settings, scan_reading


def _one_target(raw: str, param: str) -> str:
    """The single target ``raw`` names; a folder of videos or a list is a usage error."""
    from scheduler.targets import expand

    try:
        targets = list(expand(raw))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=param) from exc
    if len(targets) != 1:
        raise click.BadParameter(
            f"{raw} holds {len(targets)} videos; explain takes one (dfscan scan takes many)",
            param_hint=param,
        )
    return targets[0]


@click.command(epilog=BUNDLE_NOTE)
@click.argument("video")
@click.option(
    "--against",
    "real",
    metavar="REAL_VIDEO",
    help="A real video to compare with (e.g. the original a suspected fake was made from).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for index.html, explain.json and the PNGs.",
)
@scan_reading
@click.pass_context
def explain(
    ctx: click.Context,
    video: str,
    real: str | None,
    out: Path,
    frames: int | None,
    sampling: str | None,
    tracking: str | None,
    model_path: Path | None,
    threshold: float | None,
) -> None:
    """Write a page (OUT/index.html, no server needed) of what the detector sees in VIDEO.

    VIDEO is any one target `dfscan scan` accepts (file, frame folder, image, http(s) or s3
    URL). The page shows the verdict, the sampled face crops with the face mask and blend
    band, a picture of what each feature family measures, each family over the frames and
    its push towards "fake". With --against, the two videos side by side and the
    differences named. Exit status as `dfscan scan`: 3 when a video could not be scanned
    (its error code is on the page), 2 usage errors.
    """
    from models.explain.analysis import explain_target
    from models.explain.page import write_explain
    from models.scanner import Scanner

    settings = reading_settings(ctx, frames, sampling, tracking, model_path, threshold)
    model_version(settings)  # an untrusted or altered --model: one line, before any scan
    target = _one_target(video, "VIDEO")
    reference = _one_target(real, "--against") if real is not None else None
    scanner = Scanner(settings)
    shown = explain_target(target, scanner)
    against = explain_target(reference, scanner) if reference is not None else None
    page = write_explain(out, shown, against)
    for ex in (shown, against):
        if ex is None:
            continue
        r = ex.result
        verdict = (
            f"error {r.error['code']}: {r.error['message']}"
            if r.error
            else f"{r.label} {r.score:.3f}"
        )
        click.echo(f"{r.target}: {verdict}")
    click.echo(f"explain page: {page}")
    if shown.result.error or (against is not None and against.result.error):
        ctx.exit(EXIT_SOME_ERRORS)


def register(group: click.Group) -> None:
    group.add_command(explain)
