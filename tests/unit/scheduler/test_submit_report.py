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
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from common.db import Batch, Scan, Video, session_factory, session_scope, upsert_scan
from common.settings import Settings
from common.types import ScanResult
from scheduler.commands.distributed import standalone
from scheduler.lists import Entry, ListError, normalize_label
from scheduler.report import (
    batch_report,
    batch_status,
    equal_error_rate,
    iter_flagged,
    parse_since,
    write_flagged,
)
from scheduler.submit import EnqueueFailed, read_entries, submit

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
    c.write_text("url,label,id\nhttp://a/1.mp4,FAKE,x1\nhttp://a/2.mp4,,\n")
    got = list(read_entries(str(c), settings))
    assert got == [Entry("http://a/1.mp4", "fake", "x1"), Entry("http://a/2.mp4")]
    assert [e.line for e in got] == [2, 3]

    j = tmp_path / "l.jsonl"
    j.write_text('{"url": "http://a/1.mp4", "label": 0, "id": 7}\n\n{"path": "s3://b/k"}\n')
    assert list(read_entries(str(j), settings)) == [
        Entry("http://a/1.mp4", "real", "7"),
        Entry("s3://b/k"),
    ]


# One bad line in an otherwise good list: (suffix, content, line, words of the reason).
BAD_LISTS = [
    (".csv", "url,label\nhttp://a/1.mp4,fake\nhttp://a/2.mp4,maybe\n", 3, "unknown label"),
    (".csv", "name\nhttp://a/1.mp4\n", 1, "'url' or 'path' column"),
    (".csv", "url,label\nhttp://a/1.mp4,\n,real\n", 3, "no url or path"),
    (".jsonl", '{"url": "http://a/1.mp4"}\nnot json\n', 2, "bad JSON"),
    (".jsonl", '{"url": "http://a/1.mp4"}\n[1, 2]\n', 2, "not a JSON object"),
    (".txt", "http://a/1.mp4\nfile:///etc/passwd\n", 2, "blocked_scheme"),
    (".txt", "http://a/1.mp4\ngopher://h/x.mp4\n", 2, "blocked_scheme"),
    (".txt", "http://a/1.mp4\n/data/v.mp4\n", 2, "blocked_path"),
    (".txt", "http://a/1.mp4\nhttp://[::1/x.mp4\n", 2, "not a valid URL"),
    (".txt", "http://a/1.mp4\nhttp://h:port/x.mp4\n", 2, "not a valid URL"),
    (".txt", "http://a/1.mp4\ns3://bucket-only\n", 2, "s3://bucket/key"),
    (".txt", "http://a/1.mp4\nhttp:///x.mp4\n", 2, "no host"),
]


@pytest.mark.parametrize(("suffix", "content", "line", "words"), BAD_LISTS)
def test_a_bad_line_names_file_line_and_reason(
    tmp_path: Path, suffix: str, content: str, line: int, words: str
) -> None:
    path = tmp_path / f"l{suffix}"
    path.write_text(content)
    with pytest.raises(ListError) as exc:
        list(read_entries(str(path), Settings()))
    assert (exc.value.line, str(exc.value).split(": ")[0]) == (line, f"{path}:{line}")
    assert words in str(exc.value)


@pytest.mark.parametrize(
    ("junk", "words"), [(b"\xff\xfe\xfa\x00\x17", "NUL"), (b"caf\xe9\n", "not UTF-8")]
)
def test_binary_junk_after_good_rows_is_a_bad_list(tmp_path: Path, junk: bytes, words: str) -> None:
    path = tmp_path / "l.txt"
    path.write_bytes(b"".join(b"http://h/%d.mp4\n" % i for i in range(1500)) + junk)
    with pytest.raises(ListError, match=rf"l\.txt:1501: .*{words}"):
        list(read_entries(str(path), Settings()))


def test_local_paths_need_a_local_root(tmp_path: Path) -> None:
    path = tmp_path / "l.txt"
    path.write_text("/data/a.mp4\nfile:///data/b.mp4\n")
    root = Settings(local_root=Path("/data"))
    assert [e.url for e in read_entries(str(path), root)] == ["/data/a.mp4", "file:///data/b.mp4"]
    path.write_text("/data/a.mp4\n/etc/passwd\n")
    with pytest.raises(ListError, match=r"l\.txt:2: .*outside DFSCAN_LOCAL_ROOT"):
        list(read_entries(str(path), root))
    path.write_text("data/a.mp4\n")
    with pytest.raises(ListError, match="relative path"):
        list(read_entries(str(path), root))


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
    summary, rec = _submit(engine, entries)
    assert (summary.total, summary.enqueued, summary.skipped) == (8, 7, 1)
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
    c.write_text("path,label\nhttp://a/1.mp4,fake\n\nhttp://a/2.mp4,real\n")
    submitted = [e.url for e in read_entries(str(c), Settings())]
    assert submitted == expand(str(c)) == ["http://a/1.mp4", "http://a/2.mp4"]
    bad = tmp_path / "b.csv"
    bad.write_text("name\nhttp://a/1.mp4\n")
    for read in (lambda: expand(str(bad)), lambda: list(read_entries(str(bad), Settings()))):
        with pytest.raises(ListError, match="'url' or 'path' column"):
            read()


def _counts(engine: Engine) -> tuple[int, int, int]:
    with session_scope(session_factory(engine)) as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Batch, Video, Scan))


def test_a_bad_list_records_and_enqueues_nothing(engine: Engine, tmp_path: Path) -> None:
    # 1,500 good rows, then binary junk: the old submit had enqueued 1,000 of them by then.
    path = tmp_path / "l.txt"
    path.write_bytes(b"".join(b"http://h/%d.mp4\n" % i for i in range(1500)) + b"\xff\x00")
    rec = Recorder()
    with pytest.raises(ListError, match=r"l\.txt:1501"):
        submit(
            read_entries(str(path), Settings()),
            sessions=session_factory(engine),
            sender=rec,
            task_name="t",
            model_version=MODEL,
            chunk_size=500,
        )
    assert _counts(engine) == (0, 0, 0) and rec.sent == []


class Flaky(Recorder):
    """A broker that goes away after ``n`` tasks."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        if len(self.sent) >= self.n:
            raise ConnectionError("broker gone")
        super().send_task(name, args, **options)


def test_a_broker_lost_while_enqueueing_leaves_the_batch_recorded(engine: Engine) -> None:
    with pytest.raises(EnqueueFailed) as exc:
        submit(
            _entries(5),
            sessions=session_factory(engine),
            sender=Flaky(2),
            task_name="t",
            model_version=MODEL,
        )
    assert (exc.value.summary.enqueued, exc.value.todo) == (2, 5)
    assert _counts(engine) == (1, 5, 5)  # one batch, every row pending
    resent, rec = _submit(engine, _entries(5), resend_pending=True)
    assert resent.enqueued == 5 and len(rec.sent) == 5


def test_nothing_is_recorded_when_the_broker_is_not_ready(engine: Engine) -> None:
    def down() -> None:
        raise ConnectionError("broker down")

    rec = Recorder()
    with pytest.raises(ConnectionError):
        submit(
            _entries(3),
            sessions=session_factory(engine),
            sender=rec,
            task_name="t",
            model_version=MODEL,
            ready=down,
        )
    assert _counts(engine) == (0, 0, 0) and rec.sent == []


def test_cli_broker_down_is_one_line_exit_4_and_nothing_recorded(
    engine: Engine, tmp_path: Path
) -> None:
    from _media import closed_port

    path = tmp_path / "l.txt"
    path.write_text("http://a/1.mp4\n")
    broker = f"redis://127.0.0.1:{closed_port()}/0"
    db = engine.url.render_as_string(hide_password=False)
    env = {"DFSCAN_DATABASE_URL": db, "DFSCAN_BROKER_URL": broker}
    out = CliRunner().invoke(standalone, ["submit", str(path)], env=env)
    assert out.exit_code == 4, out.output
    (line,) = out.output.strip().splitlines()
    assert line.startswith(f"Error: broker unavailable at {broker}: ")
    assert _counts(engine) == (0, 0, 0)


def test_cli_bad_list_is_one_line_and_exit_2(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text("url\nhttp://a/1.mp4\nfile:///etc/passwd\n")
    env = {
        "DFSCAN_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "DFSCAN_BROKER_URL": "redis://127.0.0.1:9/0",  # never reached: the list fails first
    }
    out = CliRunner().invoke(standalone, ["submit", str(path)], env=env)
    assert out.exit_code == 2, out.output
    assert out.output.strip().splitlines() == [
        f"Error: {path}:3: file:// URLs are not read by workers (DFSCAN_LOCAL_ROOT names a "
        "folder they may read) (blocked_scheme)"
    ]
    assert _counts(engine) == (0, 0, 0)
