"""A database or broker that cannot be reached, as one line and a documented exit status.

An operator who runs ``dfscan status`` while PostgreSQL restarts needs to read what is down
and where, not a driver's traceback. Used by the commands that talk to the services.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

# Exit status of a command that could not reach the database or the broker: try again later.
EXIT_UNAVAILABLE = 4


class Unavailable(click.ClickException):
    exit_code = EXIT_UNAVAILABLE


def redacted(url: str | None) -> str:
    """The URL without its password, fit for a message or a log."""
    if not url:
        return "(not configured)"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def _broker_errors() -> tuple[type[BaseException], ...]:
    from kombu.exceptions import OperationalError as KombuOperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (KombuOperationalError, RedisConnectionError, RedisTimeoutError)


@contextmanager
def reported(database_url: str | None, broker_url: str | None = None) -> Iterator[None]:
    """Turn a database or broker outage inside the block into :class:`Unavailable`."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise Unavailable(
            f"database unavailable at {redacted(database_url)}: {_first_line(exc)}"
        ) from exc
    except _broker_errors() as exc:
        raise Unavailable(
            f"broker unavailable at {redacted(broker_url)}: {_first_line(exc)}"
        ) from exc
