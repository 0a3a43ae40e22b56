"""Command-line options shared by several commands (kept free of heavy imports)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from common.settings import Settings, load_settings
from common.types import SAMPLINGS, TRACKINGS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

F = TypeVar("F", bound=Callable[..., object])


class BadList(click.ClickException):
    """A list that is not usable: one line ``file:line: reason``, exit status 2 (a usage
    error), and nothing scanned, recorded or enqueued."""

    exit_code = 2


class UnusablePath(click.ClickException):
    """A file or folder a command was told to read or write and cannot: one line, exit 2
    (raised by the ``dfscan`` group for the OSError that names it)."""

    exit_code = 2


class BadSettings(click.ClickException):
    """Settings (``DFSCAN_*`` or an option) that do not validate: a line per bad one, exit
    status 2 (a usage error), and nothing run."""

    exit_code = 2


def checked_settings(build: Callable[[], Settings], options: Collection[str] = ()) -> Settings:
    """``build()``, or :class:`BadSettings` naming each setting that failed (``options``: the
    fields a command-line option set), not a traceback."""
    from pydantic import ValidationError

    from common.settings import problems

    try:
        return build()
    except ValidationError as exc:
        raise BadSettings(problems(exc, options)) from None


def settings_for(ctx: click.Context, **overrides: object) -> Settings:
    """The settings the ``dfscan`` group built for this invocation (else built here, once),
    with the options given (None = not given) applied and validated like the rest."""
    obj = ctx.find_root().obj
    base = obj["settings"] if isinstance(obj, dict) and "settings" in obj else None
    base = base or checked_settings(load_settings)
    clean = {k: v for k, v in overrides.items() if v is not None}
    if not clean:
        return base
    # model_validate, not model_copy: an option's value is checked as the variable's would be
    # (and the environment is not read again).
    return checked_settings(
        lambda: Settings.model_validate({**base.model_dump(), **clean}), options=clean
    )


def sessions_for(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the configured database; the embedded SQLite file is created as needed
    (it needs no migration step; Postgres uses Alembic)."""
    from common.db import init_db, make_engine, session_factory

    engine = make_engine(settings.database_url)
    if engine.dialect.name == "sqlite":
        init_db(engine)
    return session_factory(engine)


def celery_app_for(settings: Settings) -> Any:
    """The Celery app of the distributed mode; no broker configured is a usage error."""
    from worker.celery_app import make_app

    try:
        return make_app(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def model_version(settings: Settings) -> str:
    """The version of the configured bundle, once it was verified and found trusted; a bundle
    that is missing, altered or not trusted is a usage error (exit 2), named in one line."""
    from models.bundle import BundleError, check_bundle, version_of
    from models.trusted import Trust

    try:
        meta = check_bundle(settings.model_path, Trust.from_settings(settings))
    except BundleError as exc:
        raise click.UsageError(str(exc)) from exc
    return version_of(meta)


LATEST = "last"


class BatchRef(click.ParamType):
    """A batch id, or ``last`` for the newest batch (an embedded ``dfscan scan`` run is one)."""

    name = "BATCH"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | str:
        if isinstance(value, int) or value == LATEST:
            return value
        try:
            return int(str(value))
        except ValueError:
            self.fail(f"{value!r} is neither a batch id nor {LATEST!r}", param, ctx)


# What a model bundle decides and how settings relate to it, for --help texts.
BUNDLE_NOTE = (
    "A model bundle records how it was trained: its face detector and crop size always win "
    "(DFSCAN_FACE_DETECTOR and DFSCAN_CROP_SIZE apply only to a bundle that records none); "
    "its sampling and tracking apply unless --sampling/--tracking (or DFSCAN_SAMPLING / "
    "DFSCAN_TRACKING) override them, with a warning that its threshold may then not hold."
)


def extraction_overrides(f: F) -> F:
    """``--sampling`` and ``--tracking``: unset = as the model was trained; set = override."""
    f = click.option(
        "--tracking",
        type=click.Choice(TRACKINGS),
        help="Face tracking (default: the model's, else detect).",
    )(f)
    return click.option(
        "--sampling",
        type=click.Choice(SAMPLINGS),
        help="Frame sampling (default: the model's, else spread).",
    )(f)


def scan_reading(f: F) -> F:
    """How a scan reads a video and judges it, for every command that scans (scan, explain):
    ``--frames``, ``--sampling``/``--tracking``, ``--model`` and ``--threshold``; see
    :func:`reading_settings`."""
    f = click.option(
        "--threshold",
        type=click.FloatRange(0, 1),
        help="Label fake at P(fake) >= this (default: the model's threshold).",
    )(f)
    f = click.option(
        "--model", "model_path", type=click.Path(path_type=Path), help="Model bundle folder."
    )(f)
    f = extraction_overrides(f)
    return click.option("--frames", type=int, help="Frames sampled per video (default 16).")(f)


def reading_settings(
    ctx: click.Context,
    frames: int | None,
    sampling: str | None,
    tracking: str | None,
    model_path: Path | None,
    threshold: float | None,
    **overrides: object,
) -> Settings:
    """The settings with the :func:`scan_reading` options (and ``overrides``) applied."""
    return settings_for(
        ctx,
        frames_per_video=frames,
        sampling=sampling,
        tracking=tracking,
        model_path=model_path,
        threshold=threshold,
        **overrides,
    )


def training_reading(f: F) -> F:
    """``--sampling`` and ``--tracking`` for training: recorded in the bundle, which then
    scans the same way (see :func:`extraction_overrides` for the scan-time override)."""
    f = click.option(
        "--tracking",
        type=click.Choice(TRACKINGS),
        default="detect",
        show_default=True,
        help="Face tracking between near-adjacent frames; recorded in the bundle like sampling.",
    )(f)
    return click.option(
        "--sampling",
        type=click.Choice(SAMPLINGS),
        default="spread",
        show_default=True,
        help="Frame sampling; recorded in the bundle, which then scans the same way.",
    )(f)
