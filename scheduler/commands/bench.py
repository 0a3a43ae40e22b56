"""``dfscan bench``: the speed of the scan (the measuring itself is ``scheduler.bench``)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from common.settings import Settings
from scheduler.bench.queue import MAX_TASKS
from scheduler.options import extraction_overrides, settings_for


@click.command("bench")
@click.argument("videos", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--frames", type=int, help="Frames sampled per video (default: settings).")
@click.option("--peer", is_flag=True, help="Also time an Xception CNN on the same crops.")
@click.option(
    "--repeat", type=click.IntRange(1), default=1, show_default=True, help="Runs; medians."
)
@click.option(
    "--scaling",
    "scaling_workers",
    default="",
    callback=lambda _ctx, param, value: _worker_counts(param, value),
    help="Comma-separated worker counts for a run_embedded throughput test, e.g. 1,2.",
)
@click.option(
    "--scaling-rounds",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Scan the list this many times.",
)
@click.option("--model", "model_path", type=click.Path(path_type=Path), help="Model bundle.")
@extraction_overrides
@click.option(
    "--queue-load",
    type=click.IntRange(1, MAX_TASKS),
    help="Instead: a load test of the distributed queue path with this many dry-run tasks "
    "(nothing fetched or scanned) through real Redis and PostgreSQL (DFSCAN_BROKER_URL, and "
    "DFSCAN_DATABASE_URL naming a database of its own).",
)
@click.option(
    "--distributed",
    is_flag=True,
    help="Instead: scan the videos through a real `dfscan worker` (DFSCAN_BROKER_URL, "
    "DFSCAN_DATABASE_URL as for --queue-load): time to first scan, PSS per pool process.",
)
@click.option(
    "--queue-workers", type=click.IntRange(1), default=2, show_default=True,
    help="Pool processes of the worker that --queue-load / --distributed start.",
)  # fmt: skip
@click.option(
    "--queue-timeout", type=click.FloatRange(1), default=1800.0, show_default=True,
    help="Seconds the worker gets to drain the queue before the figures are taken.",
)  # fmt: skip
@click.pass_context
def bench(
    ctx: click.Context,
    videos: tuple[str, ...],
    as_json: bool,
    frames: int | None,
    peer: bool,
    repeat: int,
    scaling_workers: list[int],
    scaling_rounds: int,
    model_path: Path | None,
    sampling: str | None,
    tracking: str | None,
    queue_load: int | None,
    distributed: bool,
    queue_workers: int,
    queue_timeout: float,
) -> None:
    """Speed of the scan: stages, decode-only floor, real-time factor, CNN peer, start-up
    and memory of a pool of workers.

    With no VIDEO it generates a 720p H.264 corpus in a temporary folder.
    """
    from scheduler.bench import queue
    from scheduler.bench.run import make_corpus, run_bench
    from scheduler.bench.summary import human, queue_human

    settings = settings_for(
        ctx, frames_per_video=frames, model_path=model_path, sampling=sampling, tracking=tracking
    )
    pool = {"workers": queue_workers, "timeout_s": queue_timeout}
    if queue_load:
        res = _queue(settings, lambda: queue.queue_load(queue_load, settings, **pool))
        return _show(res, as_json, queue_human)
    say = (lambda m: click.echo(m, err=True)) if not as_json else None
    with tempfile.TemporaryDirectory(prefix="dfscan-corpus-") as tmp:
        if videos:
            paths = [Path(v) for v in videos]
        else:
            if say:
                say("generating a 720p H.264 corpus (4 clips, 10-20 s) ...")
            paths = make_corpus(Path(tmp))
        if distributed:
            res = _queue(settings, lambda: queue.distributed_scan(paths, settings, **pool))
            return _show(res, as_json, queue_human)
        from models.bundle import BundleError

        try:
            res = run_bench(
                paths,
                settings,
                peer=peer,
                repeat=repeat,
                scaling_workers=scaling_workers,
                scaling_rounds=scaling_rounds,
                progress=say,
            )
        except BundleError as exc:
            raise click.ClickException(str(exc)) from exc
    if not videos:
        res["corpus"] = "generated: 4 x 1280x720 H.264 (libx264 crf 23), 10/12/16/20 s"
    _show(res, as_json, human)


def _worker_counts(param: click.Parameter, value: str) -> list[int]:
    """``--scaling 1,2,1,2``: worker counts of at least 1, or a usage error naming the bad one."""
    counts = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise click.BadParameter(f"{part!r} is not a worker count (1, 2, ...)", param=param)
        counts.append(int(part))
    return counts


def _queue(settings: Settings, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A queue benchmark; what stops it (no broker, a database not its own) in one line."""
    from scheduler.bench.queue import QueueBenchError
    from scheduler.outages import reported

    try:
        with reported(settings.database_url, settings.broker_url):
            return run()
    except QueueBenchError as exc:
        raise click.ClickException(str(exc)) from exc


def _show(res: dict[str, Any], as_json: bool, human: Callable[[dict[str, Any]], str]) -> None:
    click.echo(json.dumps(res, indent=2) if as_json else human(res))


def register(group: click.Group) -> None:
    group.add_command(bench)
