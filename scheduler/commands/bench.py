"""``dfscan bench``: the speed of the scan (the measuring itself is ``scheduler.bench``)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from scheduler.options import extraction_overrides, settings_for


@click.command("bench")
@click.argument("videos", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--frames", type=int, help="Frames sampled per video (default: settings).")
@click.option("--peer", is_flag=True, help="Also time an Xception CNN on the same crops.")
@click.option("--repeat", type=int, default=1, show_default=True, help="Runs; medians.")
@click.option(
    "--scaling",
    "scaling_workers",
    default="",
    help="Comma-separated worker counts for a run_embedded throughput test, e.g. 1,2.",
)
@click.option(
    "--scaling-rounds", default=1, show_default=True, help="Scan the list this many times."
)
@click.option("--model", "model_path", type=click.Path(path_type=Path), help="Model bundle.")
@extraction_overrides
@click.pass_context
def bench(
    ctx: click.Context,
    videos: tuple[str, ...],
    as_json: bool,
    frames: int | None,
    peer: bool,
    repeat: int,
    scaling_workers: str,
    scaling_rounds: int,
    model_path: Path | None,
    sampling: str | None,
    tracking: str | None,
) -> None:
    """Speed of the scan: stages, decode-only floor, real-time factor, CNN peer.

    With no VIDEO it generates a 720p H.264 corpus in a temporary folder.
    """
    from scheduler.bench.run import make_corpus, run_bench
    from scheduler.bench.summary import human

    settings = settings_for(
        ctx, frames_per_video=frames, model_path=model_path, sampling=sampling, tracking=tracking
    )
    workers = [int(w) for w in scaling_workers.split(",") if w.strip()]
    say = (lambda m: click.echo(m, err=True)) if not as_json else None
    with tempfile.TemporaryDirectory(prefix="dfscan-corpus-") as tmp:
        if videos:
            paths = [Path(v) for v in videos]
        else:
            if say:
                say("generating a 720p H.264 corpus (4 clips, 10-20 s) ...")
            paths = make_corpus(Path(tmp))
        from models.bundle import BundleError

        try:
            res = run_bench(
                paths,
                settings,
                peer=peer,
                repeat=repeat,
                scaling_workers=workers,
                scaling_rounds=scaling_rounds,
                progress=say,
            )
        except BundleError as exc:
            raise click.ClickException(str(exc)) from exc
    if not videos:
        res["corpus"] = "generated: 4 x 1280x720 H.264 (libx264 crf 23), 10/12/16/20 s"
    if as_json:
        click.echo(json.dumps(res, indent=2))
    else:
        click.echo(human(res))


def register(group: click.Group) -> None:
    group.add_command(bench)
