"""The hand-written migration on real PostgreSQL: up, down, up again, and equal to the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from alembic import command
from common.db import Base, make_engine

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"batches", "videos", "batch_items", "scans"}

pytestmark = pytest.mark.services


def _config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(postgres_url: str) -> None:
    cfg = _config(postgres_url)
    command.upgrade(cfg, "head")
    assert _tables(postgres_url) >= TABLES

    command.downgrade(cfg, "base")
    assert _tables(postgres_url) == {"alembic_version"}

    command.upgrade(cfg, "head")
    assert _tables(postgres_url) >= TABLES


def test_migration_matches_models(postgres_url: str) -> None:
    command.upgrade(_config(postgres_url), "head")
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"alembic/versions disagrees with common/db.py: {diff}"


def test_migration_runs_on_sqlite(tmp_path: Path) -> None:
    """The embedded mode's SQLite file can be migrated by the same revision."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = _config(url)
    command.upgrade(cfg, "head")
    assert _tables(url) >= TABLES
    command.downgrade(cfg, "base")
    assert _tables(url) == {"alembic_version"}


def test_an_embedded_database_from_before_0002_still_takes_results(tmp_path: Path) -> None:
    """scans.recoveries has only a server default: writes that do not name it (the embedded
    scan's) work on a file made by an older dfscan, which nobody migrates."""
    from common.db import session_factory, session_scope, upsert_scan, upsert_video
    from common.types import ScanResult

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(_config(url), "0001")
    engine = make_engine(url)
    try:
        assert "recoveries" not in {c["name"] for c in inspect(engine).get_columns("scans")}
        with session_scope(session_factory(engine)) as s:
            vid = upsert_video(s, "/videos/a.mp4")
            upsert_scan(s, vid, ScanResult(target="a", score=0.3, label="real", model_version="m"))
            upsert_scan(s, vid, ScanResult(target="a", score=0.3, label="real", model_version="m"))
    finally:
        engine.dispose()
