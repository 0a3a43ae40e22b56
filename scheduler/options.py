"""Command-line options shared by several commands (kept free of heavy imports)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from common.types import SAMPLINGS, TRACKINGS

F = TypeVar("F", bound=Callable[..., object])


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
