"""Submit (lists, dedup, skip, rescan) and the SQL reports, on SQLite and real PostgreSQL.

The broker side is recorded by a plain list here; tests/integration/test_distributed.py runs
the real Celery workers.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from common.db import Scan, session_factory, session_scope, upsert_scan
from common.settings import Settings
from common.types import ScanResult
from scheduler.commands.distributed import standalone
from scheduler.lists import Entry, normalize_label
from scheduler.report import (
    batch_report,
    batch_status,
    equal_error_rate,
    iter_flagged,
    parse_since,
    write_flagged,
)
from scheduler.submit import read_entries, submit

MODEL = "test-model-1"


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any], str | None]] = []

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        self.sent.append((name, list(args), options.get("queue")))


def test_read_entries_all_formats(tmp_path: Path) -> None:
    settings = Settings()
    txt = tmp_path / "l.txt"
    txt.write_text("# comment\nhttp://a/1.mp4\n\n  s3://b/2.mp4  \n")
    assert [e.url for e in read_entries(str(txt), settings)] == ["http://a/1.mp4", "s3://b/2.mp4"]

    c = tmp_path / "l.csv"
    c.write_text("url,label,id\nhttp://a/1.mp4,FAKE,x1\nhttp://a/2.mp4,,\nhttp://a/3.mp4,maybe,\n")
    got = list(read_entries(str(c), settings))
    assert got[:2] == [Entry("http://a/1.mp4", "fake", "x1"), Entry("http://a/2.mp4")]
    assert isinstance(got[2], ValueError)

    j = tmp_path / "l.jsonl"
    j.write_text('{"url": "http://a/1.mp4", "label": 0, "id": 7}\nnot json\n{"label": "real"}\n')
    got = list(read_entries(str(j), settings))
    assert got[0] == Entry("http://a/1.mp4", "real", "7")
    assert all(isinstance(g, ValueError) for g in got[1:])


def test_normalize_label() -> None:
    assert [normalize_label(x) for x in ("fake", "1", "Real", 0, None, "")] == [
        "fake",
        "fake",
        "real",
        "real",
        None,
        None,
    ]
    with pytest.raises(ValueError):
        normalize_label("unsure")


def _submit(engine: Engine, entries: list[Entry], **kw: Any) -> tuple[Any, Recorder]:
    rec = Recorder()
    summary = submit(
        entries,
        sessions=session_factory(engine),
        sender=rec,
        task_name="dfscan.scan_video",
        model_version=MODEL,
        queue="dfscan",
        chunk_size=3,
        **kw,
    )
    return summary, rec


def _entries(n: int) -> list[Entry]:
    return [Entry(f"http://h/{i}.mp4", "fake" if i % 2 else "real", f"id{i}") for i in range(n)]


def test_submit_dedups_skips_and_rescans(engine: Engine) -> None:
    entries = _entries(7)
    entries.append(Entry("HTTP://H/3.mp4"))  # the same video as http://h/3.mp4
    summary, rec = _submit(engine, [*entries, ValueError("bad row")])
    assert (summary.total, summary.enqueued, summary.skipped, summary.invalid) == (8, 7, 1, 1)
    assert {args[1] for _, args, _ in rec.sent} == {e.url for e in entries[:7]}
    assert all(name == "dfscan.scan_video" and q == "dfscan" for name, _, q in rec.sent)
    assert all(args[2] == MODEL for _, args, _ in rec.sent)

    sessions = session_factory(engine)
    with session_scope(sessions) as s:
        st = batch_status(s, summary.batch_id)
        assert (st.total, st.done, st.failed, st.pending) == (7, 0, 0, 7)
        # The unlabelled repeat kept the label the first line gave.
        assert batch_report(s, summary.batch_id).pending == 7

    again, rec2 = _submit(engine, entries)  # queued already: nothing new to send
    assert (again.enqueued, len(rec2.sent)) == (0, 0)
    # One finishes; the others' tasks were lost: --resend-pending sends only those.
    _, (vid0, url0, _), _ = rec.sent[0]
    with session_scope(sessions) as s:
        upsert_scan(s, vid0, ScanResult(target=url0, score=0.2, label="real", model_version=MODEL))
    resend, rec_p = _submit(engine, entries, resend_pending=True)
    assert resend.enqueued == 6 and url0 not in {a[1] for _, a, _ in rec_p.sent}
    rescan, rec3 = _submit(engine, entries, rescan=True)
    assert rescan.enqueued == 7 and len(rec3.sent) == 7
    with session_scope(sessions) as s:
        assert len(s.scalars(select(Scan)).all()) == 7  # still one row per video


def _finish(engine: Engine, rec: Recorder, verdicts: dict[str, tuple[float, str] | str]) -> None:
    """Write a result for every sent task: (score, label) or an error code."""
    sessions = session_factory(engine)
    for _, (video_id, url, model), _ in rec.sent:
        v = verdicts[url]
        if isinstance(v, str):
            result = ScanResult(
                target=url, model_version=model, error={"code": v, "message": "bad"}
            )
        else:
            result = ScanResult(target=url, model_version=model, score=v[0], label=v[1])
        with session_scope(sessions) as s:
            upsert_scan(s, video_id, result)


def test_report_counts_rates_and_flagged(engine: Engine) -> None:
    # Truth: even = real, odd = fake. Verdicts below: 1 fake passed (FAR 1/3),
    # 1 real flagged (FRR 1/3), one failure.
    entries = _entries(7)
    summary, rec = _submit(engine, entries)
    verdicts: dict[str, tuple[float, str] | str] = {
        "http://h/0.mp4": (0.10, "real"),
        "http://h/1.mp4": (0.90, "fake"),
        "http://h/2.mp4": (0.70, "fake"),  # real flagged
        "http://h/3.mp4": (0.80, "fake"),
        "http://h/4.mp4": (0.20, "real"),
        "http://h/5.mp4": (0.30, "real"),  # fake passed
        "http://h/6.mp4": "unreadable",
    }
    _finish(engine, rec, verdicts)
    sessions = session_factory(engine)
    with session_scope(sessions) as s:
        st = batch_status(s, summary.batch_id)
        assert (st.done, st.failed, st.pending) == (6, 1, 0)
        rep = batch_report(s, summary.batch_id)
    assert (rep.total, rep.done, rep.failed, rep.pending, rep.flagged) == (7, 6, 1, 0, 3)
    assert (rep.labelled_fake, rep.labelled_real) == (3, 3)
    assert rep.far == pytest.approx(1 / 3) and rep.frr == pytest.approx(1 / 3)
    assert rep.errors == {"unreadable": 1}
    # Scores: fakes 0.9, 0.8, 0.3; reals 0.7, 0.2, 0.1. At t in (0.3, 0.7] FAR = FRR = 1/3.
    assert rep.eer == pytest.approx(1 / 3)

    with session_scope(sessions) as s:
        rows = list(iter_flagged(s, summary.batch_id))
        assert [r["url"] for r in rows] == ["http://h/1.mp4", "http://h/3.mp4", "http://h/2.mp4"]
        assert [r["truth"] for r in rows] == ["fake", "fake", "real"]
        high = list(iter_flagged(s, summary.batch_id, min_score=0.75))
        assert [r["score"] for r in high] == [0.9, 0.8]
        future = datetime.now(UTC) + timedelta(hours=1)
        assert list(iter_flagged(s, None, since=future)) == []
        assert len(list(iter_flagged(s, None, since=parse_since("1h")))) == 3

    runner = CliRunner()
    env = {"DFSCAN_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    out = runner.invoke(
        standalone, ["flagged", "--batch", str(summary.batch_id), "--format", "json"], env=env
    )
    assert out.exit_code == 0, out.output
    assert [r["video_id"] for r in json.loads(out.output)] == [r["video_id"] for r in rows]
    out = runner.invoke(standalone, ["report", str(summary.batch_id), "--json"], env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["far"] == pytest.approx(1 / 3)
    out = runner.invoke(standalone, ["status", str(summary.batch_id)], env=env)
    assert "6 done, 1 failed, 0 pending" in out.output
    assert runner.invoke(standalone, ["report", "999"], env=env).exit_code == 1


def test_write_flagged_formats() -> None:
    recs = [
        {
            "video_id": 1,
            "url": "u,1",
            "external_id": None,
            "score": 0.5,
            "truth": None,
            "model_version": "m",
            "updated_at": "2026-01-01T00:00:00+00:00",
        }
    ]
    buf = io.StringIO()
    assert write_flagged(iter(recs), buf, "csv") == 1
    assert list(csv.DictReader(io.StringIO(buf.getvalue())))[0]["url"] == "u,1"
    buf = io.StringIO()
    write_flagged(iter(recs), buf, "json")
    assert json.loads(buf.getvalue()) == recs
    buf = io.StringIO()
    write_flagged(iter([]), buf, "json")
    assert json.loads(buf.getvalue()) == []
    buf = io.StringIO()
    write_flagged(iter(recs), buf, "table")
    assert "1 flagged" in buf.getvalue()


def test_equal_error_rate() -> None:
    fake = np.array([True, True, False, False])
    assert equal_error_rate(np.array([0.9, 0.8, 0.2, 0.1]), fake) == 0.0
    assert equal_error_rate(np.array([0.1, 0.2, 0.8, 0.9]), fake) == 1.0
    assert equal_error_rate(np.array([0.5, 0.5, 0.5, 0.5]), fake) == 0.5
    assert equal_error_rate(np.array([0.9, 0.1]), np.array([True, True])) is None


def test_parse_since() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert parse_since("24h", now) == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_since("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_since("yesterday")


def test_scan_and_submit_read_a_list_alike(tmp_path: Path) -> None:
    from scheduler.targets import expand

    c = tmp_path / "l.csv"
    c.write_text("path,label\nhttp://a/1.mp4,fake\nhttp://a/2.mp4,unsure\n,real\n")
    submitted = [e.url for e in read_entries(str(c), Settings()) if isinstance(e, Entry)]
    assert submitted == list(expand(str(c))) == ["http://a/1.mp4"]
    bad = tmp_path / "b.csv"
    bad.write_text("name\nhttp://a/1.mp4\n")
    for read in (lambda: list(expand(str(bad))), lambda: list(read_entries(str(bad), Settings()))):
        with pytest.raises(ValueError, match="'url' or 'path' column"):
            read()
