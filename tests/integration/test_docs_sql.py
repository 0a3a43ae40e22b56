"""The analysts' SQL in docs/distributed.md runs on real PostgreSQL and finds what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from common.db import (
    Batch,
    BatchItem,
    session_factory,
    session_scope,
    upsert_scan,
    upsert_video,
)
from common.types import ScanResult

DOC = Path(__file__).resolve().parents[2] / "docs" / "distributed.md"

pytestmark = pytest.mark.services


def _blocks() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S)


def test_docs_sql_runs(pg_engine: Engine) -> None:
    sessions = session_factory(pg_engine)
    with session_scope(sessions) as s:
        batch = Batch(name="docs", source="test", model_version="m", total=3)
        s.add(batch)
        s.flush()
        for i, url in enumerate(("http://a/1.mp4", "http://b/1.mp4", "http://a/2.mp4")):
            vid = upsert_video(s, url, label="fake")
            s.add(BatchItem(batch_id=batch.id, video_id=vid))
            fake = i < 2
            upsert_scan(
                s,
                vid,
                ScanResult(
                    target=url,
                    score=0.95 if fake else 0.1,
                    label="fake" if fake else "real",
                    model_version="m",
                    families={"boundary": 0.3, "frequency": 0.1},
                    content_sha256="c" * 64 if fake else "d" * 64,
                ),
            )
    results = []
    with pg_engine.begin() as conn:
        for sql in _blocks():
            rows = conn.execute(text(sql))
            results.append(rows.all() if rows.returns_rows else None)
        flagged_view = conn.execute(text("SELECT url FROM flagged_videos ORDER BY url")).all()
    assert [r.url for r in flagged_view] == ["http://a/1.mp4", "http://b/1.mp4"]
    # Every documented query finds something in data made for it: none is vacuous.
    assert all(rows for rows in results if rows is not None)
    confident = results[1]
    assert {r.driven_by for r in confident} == {"boundary"}
    reuploads = results[2]
    assert [(r.urls, r.top_score) for r in reuploads] == [(2, 0.95)]
    progress = results[3]
    assert [(r.name, r.total, r.done, r.failed, r.pending) for r in progress] == [
        ("docs", 3, 3, 0, 0)
    ]
