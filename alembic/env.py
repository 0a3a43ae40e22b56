"""Alembic environment: the URL comes from DFSCAN_DATABASE_URL through Settings.

A caller may hand over an open connection in ``config.attributes["connection"]`` (the tests
do, to migrate a throw-away database) or a URL as ``sqlalchemy.url``; otherwise the
environment decides, like every other dfscan entry point.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from alembic import context
from common.db import Base, make_engine
from common.settings import load_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or load_settings().database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Emit SQL to stdout (`alembic upgrade head --sql`) for a DBA to review."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _configure(given)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _configure(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
