"""CLI commands of the recovery sweep (``worker.recovery``): ``recover`` once, ``beat`` always.

``dfscan recover`` is what ``dfscan status`` suggests when a batch stalls; ``dfscan beat``
runs Celery beat, which has a worker run the same sweep every ``DFSCAN_RECOVER_EVERY_S``.
"""

from __future__ import annotations

import json
import time

import click

from scheduler.options import celery_app_for, sessions_for, settings_for
from scheduler.outages import reported
from scheduler.watch import duration


def _held_line(video_id: int, model_version: str | None, age_s: float, vt: float) -> str:
    back = "any moment" if age_s >= vt else f"in {duration(vt - age_s)}"
    return (
        f"  held: video {video_id} (model {model_version}) by a worker for {duration(age_s)}; "
        f"if that worker died, Redis hands it back {back}"
    )


@click.command()
@click.option(
    "--after",
    "after_s",
    type=click.FloatRange(0),
    default=None,
    help="only rows pending longer than this many seconds (default DFSCAN_RECOVER_AFTER_S)",
)
@click.option("--dry-run", is_flag=True, help="say what would be sent, send nothing")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def recover(ctx: click.Context, after_s: float | None, dry_run: bool, as_json: bool) -> None:
    """Send again the pending videos whose task was lost (a broker restarted without
    persistence, a failed submit, a task killed at its time limit); safe to run any time."""
    from worker.broker import BrokerView
    from worker.celery_app import QUEUE, visibility_timeout
    from worker.recovery import sweep
    from worker.tasks import TASK_NAME

    settings = settings_for(ctx)
    app = celery_app_for(settings)
    after = settings.recover_after_s if after_s is None else after_s

    def send(video_id: int, url: str, model_version: str) -> None:
        app.send_task(TASK_NAME, args=[video_id, url, model_version], queue=QUEUE)

    with reported(settings.database_url, settings.broker_url):
        found = sweep(
            sessions_for(settings),
            BrokerView(app, QUEUE),
            send,
            older_than_s=after,
            max_recoveries=settings.recover_max,
            dry_run=dry_run,
        )
    if as_json:
        click.echo(json.dumps(found.as_json()))
        return
    if not found.stale:
        click.echo(
            f"no video pending for over {duration(after)}: nothing to recover (younger rows "
            f"may still be on their way to the queue; --after 0 takes them too)"
        )
        return
    verb = "would send" if dry_run else "sent"
    click.echo(
        f"{found.stale} videos pending for over {duration(after)}; broker: {found.queued} "
        f"queued, {len(found.held)} held by workers"
    )
    if found.waiting:
        click.echo(
            "  the broker holds a task for each of them, or may: nothing to send (run again "
            "when the queue is shorter than the pending rows)"
        )
    if found.resent or found.failed:
        click.echo(f"  {verb} again: {len(found.resent)} videos")
        click.echo(
            f"  {'would record' if dry_run else 'recorded'} failed (task_lost, lost "
            f"{settings.recover_max + 1} times): {len(found.failed)} videos"
        )
    vt, now = visibility_timeout(settings), time.time()
    for h in found.held:
        click.echo(_held_line(h.video_id, h.model_version, now - h.delivered_at, vt))


@click.command()
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.pass_context
def beat(ctx: click.Context, loglevel: str) -> None:
    """Run Celery beat: a worker runs the recovery sweep every DFSCAN_RECOVER_EVERY_S.
    Run exactly one per deployment."""
    settings = settings_for(ctx)
    celery_app_for(settings).Beat(loglevel=loglevel).run()


def register(group: click.Group) -> None:
    group.add_command(recover)
    group.add_command(beat)
