"""Idempotent upserts keyed by (video, model version), on SQLite and on real PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from common.db import (
    Scan,
    Video,
    session_factory,
    session_scope,
    upsert_scan,
    upsert_video,
)
from common.types import ScanResult


def _count(engine: Engine, model: type) -> int:
    with session_scope(session_factory(engine)) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_upsert_video_dedups_on_normalized_url(engine: Engine) -> None:
    factory = session_factory(engine)
    with session_scope(factory) as s:
        a = upsert_video(s, "HTTP://Example.COM/v.mp4#t=3")
        b = upsert_video(s, "http://example.com/v.mp4", label="fake", external_id="x1")
        c = upsert_video(s, "http://example.com/v.mp4")  # no label: keeps the stored one
    assert a == b == c
    with session_scope(factory) as s:
        video = s.get(Video, a)
        assert (video.label, video.external_id) == ("fake", "x1")
    assert _count(engine, Video) == 1


def test_upsert_scan_replaces_in_place(engine: Engine) -> None:
    factory = session_factory(engine)
    with session_scope(factory) as s:
        vid = upsert_video(s, "s3://bucket/a.mp4")
    first = ScanResult(
        target="s3://bucket/a.mp4",
        error={"code": "unreachable", "message": "down"},
        model_version="m1",
    )
    second = ScanResult(
        target="s3://bucket/a.mp4",
        score=0.9,
        label="fake",
        frames_used=8,
        faces_found=8,
        model_version="m1",
        families={"frequency": 0.5},
        content_sha256="ab" * 32,
    )
    for result in (first, second, second):
        with session_scope(factory) as s:
            upsert_scan(s, vid, result)
    with session_scope(factory) as s:
        rows = s.scalars(select(Scan)).all()
        assert len(rows) == 1
        row = rows[0]
        assert (row.status, row.score, row.label, row.error_code) == ("done", 0.9, "fake", None)
        assert row.attempts == 3
        assert row.families == {"frequency": 0.5}
        assert s.get(Video, vid).content_sha256 == "ab" * 32

    # Another model version is another row.
    with session_scope(factory) as s:
        upsert_scan(s, vid, ScanResult(target="x", score=0.1, label="real", model_version="m2"))
    assert _count(engine, Scan) == 2


def test_upsert_scan_needs_model_version(engine: Engine) -> None:
    with session_scope(session_factory(engine)) as s:
        vid = upsert_video(s, "http://example.com/b.mp4")
        with pytest.raises(ValueError):
            upsert_scan(s, vid, ScanResult(target="x", score=0.5))
