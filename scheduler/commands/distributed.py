"""CLI commands of the distributed mode: submit, status, report, flagged, worker.

``recover`` and ``beat`` (the recovery sweep) live in ``scheduler.commands.recovery``.

``scheduler/cli.py`` adds them to the ``dfscan`` group with ``register(main)``. Each command
is an entry point: it takes the settings built once (``settings_for``) and passes them down.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.orm import Session

from common.db import session_scope
from scheduler.options import LATEST, BadList, BatchRef, celery_app_for, settings_for
from scheduler.options import model_version as bundle_version
from scheduler.options import sessions_for as _sessions
from scheduler.outages import reported

T = TypeVar("T")


@click.command()
@click.argument("source")
@click.option("--name", default=None, help="batch name (default: the list's file name)")
@click.option("--rescan", is_flag=True, help="scan again videos this model already scanned")
@click.option(
    "--resend-pending",
    is_flag=True,
    help="enqueue again videos still pending (their tasks were lost), not finished ones",
)
@click.option("--model-version", default=None, help="override the bundle's version")
@click.option("--chunk-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--dry-run",
    is_flag=True,
    help="a load test: send to the dry-run queue, which only `dfscan worker --dry-run` "
    "takes; rows are recorded unscored under the model version 'dry-run' (error dry_run)",
)
@click.pass_context
def submit(
    ctx: click.Context,
    source: str,
    name: str | None,
    rescan: bool,
    resend_pending: bool,
    model_version: str | None,
    chunk_size: int,
    dry_run: bool,
) -> None:
    """Submit SOURCE (txt/csv/jsonl list, '-' for stdin, or s3://bucket/prefix) as a batch."""
    from scheduler.lists import ListError
    from scheduler.submit import EnqueueFailed, read_entries
    from scheduler.submit import submit as do_submit
    from worker import dry_run as dry
    from worker.celery_app import QUEUE
    from worker.tasks import TASK_NAME

    settings = settings_for(ctx)
    app = celery_app_for(settings)
    if dry_run and model_version:
        raise click.UsageError("--dry-run records under the version 'dry-run': no --model-version")
    queue = dry.QUEUE if dry_run else QUEUE
    name = name or Path(source.rstrip("/")).name

    def broker_answers() -> None:  # after the list is read, before anything is recorded
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=2, interval_start=0.5, interval_step=0.5)

    try:
        with reported(settings.database_url, settings.broker_url):
            summary = do_submit(
                read_entries(source, settings),
                sessions=_sessions(settings),
                sender=app,
                task_name=TASK_NAME,
                queue=queue,
                # The version the workers will score with: that of the configured bundle.
                model_version=dry.VERSION if dry_run else model_version or bundle_version(settings),
                name=f"dry run: {name}" if dry_run else name,
                source=source,
                rescan=rescan,
                resend_pending=resend_pending,
                chunk_size=chunk_size,
                ready=broker_answers,
            )
    except ListError as exc:  # nothing was recorded or enqueued
        raise BadList(str(exc)) from exc
    except EnqueueFailed as exc:
        done = exc.summary
        raise click.ClickException(
            f"batch {done.batch_id} is recorded ({done.total} listed), but the broker failed "
            f"after {done.enqueued} of {exc.todo} tasks ({exc}); the rest stay pending: "
            "`dfscan recover --after 0` sends them (so does `dfscan beat` within minutes)"
        ) from exc
    click.echo(
        f"batch {summary.batch_id}: {summary.total} listed, {summary.enqueued} enqueued, "
        f"{summary.skipped} already scanned or repeated (model {summary.model_version})"
    )


def _read_batch(ctx: click.Context, query: Callable[[Session, int], T], batch: int | str) -> T:
    """Run a per-batch query in one session (``last``: the newest batch); an unknown batch
    is a usage error, a database that cannot be reached one line and exit 4."""
    from scheduler.report import UnknownBatch, latest_batch_id

    settings = settings_for(ctx)
    try:
        with reported(settings.database_url), session_scope(_sessions(settings)) as session:
            batch_id = latest_batch_id(session) if batch == LATEST else int(batch)
            return query(session, batch_id)
    except UnknownBatch as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.argument("batch_id", type=BatchRef())
@click.option("--json", "as_json", is_flag=True, help="print JSON (one object per line)")
@click.option("--watch", is_flag=True, help="print again every --interval until none pending")
@click.option(
    "--interval", type=click.FloatRange(0.1), default=5.0, show_default=True, help="seconds"
)
@click.option(
    "--stall-after",
    type=click.FloatRange(1),
    default=300.0,
    show_default=True,
    help="seconds without a result, rows pending, before a STALLED line",
)
@click.pass_context
def status(
    ctx: click.Context,
    batch_id: int | str,
    as_json: bool,
    watch: bool,
    interval: float,
    stall_after: float,
) -> None:
    """Progress of BATCH_ID (or `last`): done / failed / pending, videos/s over the last
    minute, an ETA, and a STALLED line (with the recovery command) when results stopped
    coming."""
    from scheduler import watch as view
    from scheduler.report import batch_status
    from worker.celery_app import visibility_timeout

    vt = visibility_timeout(settings_for(ctx))

    def show(st):  # type: ignore[no-untyped-def]
        if as_json:
            return [view.as_json(st, stall_after_s=stall_after)]
        lines = view.report(st, stall_after_s=stall_after, visibility_timeout_s=vt)
        return view.stamped(lines) if watch else lines

    def read():  # type: ignore[no-untyped-def]
        return _read_batch(ctx, batch_status, batch_id)

    if not watch:
        for line in show(read()):
            click.echo(line)
        return
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a watch: not an error
        view.watch(read, show, click.echo, lambda m: click.echo(m, err=True), interval_s=interval)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


@click.command()
@click.argument("batch_id", type=BatchRef())
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option(
    "--html",
    "html_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="also write the review page DIR/index.html (histogram, flagged videos, failures)",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="--html: flagged videos listed, highest score first",
)
@click.option(
    "--explain",
    "explain_n",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="--html: make the explain pages of the N highest-scored flagged videos",
)
@click.option(
    "--thumbnails/--no-thumbnails",
    default=True,
    show_default=True,
    help="--html: read each listed flagged video again for a face thumbnail",
)
@click.pass_context
def report(
    ctx: click.Context,
    batch_id: int | str,
    as_json: bool,
    html_dir: Path | None,
    limit: int,
    explain_n: int,
    thumbnails: bool,
) -> None:
    """FAR, FRR, EER and counts of BATCH_ID (or `last`) against the labels its list carried.

    With --html DIR, also the analyst's review page: counts, error rates, the score
    histogram, the flagged videos with face thumbnails and driving families, and the failures
    by error code.
    """
    from scheduler.report import batch_report

    rep = _read_batch(ctx, batch_report, batch_id)
    if html_dir is not None:
        from scheduler.review import PageOptions, write_review

        opts = PageOptions(limit=limit, explain=explain_n, thumbnails=thumbnails)
        settings = settings_for(ctx)
        if thumbnails or explain_n:
            bundle_version(settings)  # the model that reads the videos again must be trusted
        page = _read_batch(
            ctx, lambda s, b: write_review(html_dir, s, b, settings, opts), rep.batch_id
        )
        click.echo(f"review page: {page}", err=True)
    if as_json:
        click.echo(json.dumps(rep.as_json()))
        return
    errors = ", ".join(f"{k}={v}" for k, v in sorted(rep.errors.items())) or "none"
    click.echo(
        f"batch {rep.batch_id} (model {rep.model_version}): {rep.total} videos, "
        f"{rep.done} scored, {rep.failed} failed, {rep.pending} pending, {rep.flagged} flagged\n"
        f"labelled: {rep.labelled_fake} fake, {rep.labelled_real} real\n"
        f"FAR (fakes passed as real): {_pct(rep.far)} ({rep.fake_as_real}/{rep.labelled_fake})\n"
        f"FRR (reals flagged fake):   {_pct(rep.frr)} ({rep.real_as_fake}/{rep.labelled_real})\n"
        f"EER: {_pct(rep.eer)}\n"
        f"errors: {errors}"
    )


@click.command()
@click.option("--batch", "batch_id", type=int, default=None, help="only this batch")
@click.option("--since", default=None, help="ISO time, or a span back from now: 30m, 24h, 7d")
@click.option("--min-score", type=float, default=None, help="only scores at or above this")
@click.option("--limit", type=click.IntRange(1), default=None)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.pass_context
def flagged(
    ctx: click.Context,
    batch_id: int | None,
    since: str | None,
    min_score: float | None,
    limit: int | None,
    fmt: str,
) -> None:
    """List videos scored fake, highest score first."""
    from scheduler.report import UnknownBatch, iter_flagged, parse_since, write_flagged

    settings = settings_for(ctx)
    try:
        since_ts = parse_since(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    try:
        with reported(settings.database_url), session_scope(_sessions(settings)) as session:
            records = iter_flagged(
                session, batch_id, since=since_ts, min_score=min_score, limit=limit
            )
            write_flagged(records, sys.stdout, fmt)
    except UnknownBatch as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1),
    default=None,
    help="pool processes (default: DFSCAN_WORKERS, the number of cores)",
)
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option("--hostname", "-n", default=None, help="node name (default: dfscan-PID@host)")
@click.option(
    "--dry-run",
    is_flag=True,
    help="a load test of the queue path: take tasks from the dry-run queue only (`dfscan "
    "submit --dry-run`), fetch and scan nothing, record each unscored (error dry_run)",
)
@click.pass_context
def worker(
    ctx: click.Context,
    concurrency: int | None,
    loglevel: str,
    hostname: str | None,
    dry_run: bool,
) -> None:
    """Run a Celery worker in this process, scanning tasks from the broker."""
    from worker import dry_run as dry
    from worker.celery_app import QUEUE
    from worker.recovery import RECOVER_QUEUE

    settings = settings_for(ctx, workers=concurrency, dry_run=dry_run or None)
    app = celery_app_for(settings)
    if settings.dry_run:
        queues = dry.QUEUE
    else:
        # A worker whose model cannot load would fail every task it takes: refuse to start.
        bundle_version(settings)
        queues = f"{QUEUE},{RECOVER_QUEUE}"
    # A unique default name: several workers on one host would otherwise collide.
    node = hostname or f"dfscan-{os.getpid()}@{socket.gethostname()}"
    app.worker_main(
        [
            "worker",
            f"--loglevel={loglevel}",
            f"--concurrency={settings.workers}",
            f"--queues={queues}",
            f"--hostname={node}",
            "--pool=prefork",
            # Tasks come from the queue only: a worker has no use for clock or gossip traffic.
            "--without-gossip",
            "--without-mingle",
        ]
    )


COMMANDS = (submit, status, report, flagged, worker)


def register(group: click.Group) -> click.Group:
    """Add the distributed-mode commands to ``group`` (the ``dfscan`` CLI)."""
    for command in COMMANDS:
        group.add_command(command)
    return group


@click.group()
def standalone() -> None:
    """The distributed-mode commands alone (`python -m scheduler.commands.distributed`)."""


register(standalone)

if __name__ == "__main__":
    standalone()
