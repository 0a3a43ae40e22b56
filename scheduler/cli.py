"""The ``dfscan`` command: one front for scanning, training, evaluation and the batch system.

The group builds the settings once per invocation; the commands live in
``scheduler.commands``, one module per group of commands.
"""

from __future__ import annotations

import click

from common.settings import load_settings
from scheduler.commands import bench, distributed, explain, models, recovery, scan
from scheduler.commands.scan import EXIT_SOME_ERRORS
from scheduler.options import BUNDLE_NOTE, UnusablePath, checked_settings

__all__ = ["EXIT_SOME_ERRORS", "main"]


class _Dfscan(click.Group):
    """The ``dfscan`` group: a path the system refuses (an output folder that cannot be made,
    a file that cannot be written) ends the command with one line naming it, not a traceback.
    Only such errors: the targets' own failures are recorded per target long before this."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if exc.filename is None:
                raise
            reason = exc.strerror or exc.__class__.__name__
            raise UnusablePath(f"cannot use {exc.filename}: {reason}") from None


@click.group(
    cls=_Dfscan,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=BUNDLE_NOTE,
)
@click.version_option(package_name="dfscan")
@click.pass_context
def main(ctx: click.Context) -> None:
    """dfscan: CPU-only deepfake video scanner (classical artifacts + SVM)."""
    ctx.ensure_object(dict)
    ctx.obj["settings"] = checked_settings(load_settings)


for _commands in (scan, explain, models, distributed, recovery, bench):
    _commands.register(main)

if __name__ == "__main__":
    main()
