"""``dfscan explain``: a static page of what the detector sees in one video."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from scheduler.commands.scan import EXIT_SOME_ERRORS
from scheduler.options import BUNDLE_NOTE, model_version, reading_settings, scan_reading

if TYPE_CHECKING:
    from models.explain.analysis import Explanation
    from scheduler.targets import Target


def _one_target(raw: str, param: str) -> Target:
    """The single target ``raw`` names (or its refusal: scanned, it gets the error code
    ``dfscan scan`` gives it); a folder of videos or a list is a usage error."""
    from scheduler.targets import expand

    try:
        targets = expand(raw)
    except ValueError as exc:  # a list that is not a usable list
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
    from models.explain.analysis import Explanation, explain_target
    from models.explain.page import write_explain
    from models.scanner import Scanner
    from scheduler.targets import Refused

    settings = reading_settings(ctx, frames, sampling, tracking, model_path, threshold)
    model_version(settings)  # an untrusted or altered --model: one line, before any scan
    target = _one_target(video, "VIDEO")
    reference = _one_target(real, "--against") if real is not None else None
    scanner = Scanner(settings, local_files=True)  # as dfscan scan: the user's own files

    def explained(t: Target) -> Explanation:
        if isinstance(t, Refused):
            return Explanation(t.result(scanner.model_version), scanner.threshold)
        return explain_target(t, scanner)

    shown = explained(target)
    against = explained(reference) if reference is not None else None
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
