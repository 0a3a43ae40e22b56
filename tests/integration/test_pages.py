"""The static pages on the real things: the review page of a batch in the test's own SQLite
and PostgreSQL databases, and the explain page of the sample video in headless Chromium.

The batch is made as in distributed mode: ``submit`` records a labelled list (the broker is
a plain recorder here), and each task's video is scanned by the real Scanner and written
with ``upsert_scan``, as the Celery task does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from _media import write_face_video
from _pages import assert_images_exist, assert_numbers_match, parse
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from common.db import session_factory, session_scope, upsert_scan
from common.settings import Settings
from common.types import ScanResult
from models.explain.analysis import explain_target
from models.explain.page import write_explain
from models.pages.browser import dump_dom, screenshot
from models.samples import make_sample
from models.scanner import Scanner
from scheduler.cli import main
from scheduler.lists import Entry
from scheduler.report import batch_report
from scheduler.review import JSON_NAME, PageOptions, write_review
from scheduler.submit import submit

pytestmark = pytest.mark.services

FRAMES = 6
SCRIPT_URL = "http://h.example/<script>alert(1)</script>.mp4"


class Recorder:
    def __init__(self) -> None:
        self.sent: list[list[Any]] = []

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        self.sent.append(list(args))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("review_media")
    return {
        "real": write_face_video(d / "real.mp4", n=12),
        "fake": write_face_video(d / "fake.mp4", n=12, fake=True),
        "fake_labelled_real": write_face_video(d / "odd.mp4", n=12, fake=True),
    }


@pytest.fixture(scope="module")
def settings(clips: dict[str, Path]) -> Settings:
    """A distributed deployment's: workers may read local files under the clips' folder."""
    return Settings(frames_per_video=FRAMES, workers=1, local_root=clips["real"].parent)


@pytest.fixture(scope="module")
def scanner(settings: Settings) -> Scanner:
    return Scanner(settings)  # a worker's: the target policy applies


def _batch(engine: Engine, clips: dict[str, Path], scanner: Scanner) -> int:
    entries = [
        Entry(str(clips["real"]), "real"),
        Entry(str(clips["fake"]), "fake"),
        Entry(str(clips["fake_labelled_real"]), "real"),  # a real flagged: FRR 1/2
        Entry(SCRIPT_URL, "fake"),
        Entry(str(clips["real"].parent / "gone.mp4")),
    ]
    rec = Recorder()
    sessions = session_factory(engine)
    summary = submit(
        entries,
        sessions=sessions,
        sender=rec,
        task_name="dfscan.scan_video",
        model_version=scanner.model_version,
    )
    for video_id, url, _model in rec.sent:
        if url == SCRIPT_URL:  # as a worker records a refused URL, message and all
            error = {"code": "blocked_address", "message": "<b>refused</b> " + url}
            result = ScanResult(target=url, model_version=scanner.model_version, error=error)
        else:
            result = scanner.scan(url)
        with session_scope(sessions) as s:
            upsert_scan(s, video_id, result)
    return summary.batch_id


def test_review_page_of_a_batch(
    engine: Engine, clips: dict[str, Path], scanner: Scanner, settings: Settings, tmp_path: Path
) -> None:
    batch_id = _batch(engine, clips, scanner)
    out = tmp_path / "review"
    with session_scope(session_factory(engine)) as s:
        page = write_review(out, s, batch_id, settings, PageOptions(explain=1))
        rep = batch_report(s, batch_id)
    data = json.loads((out / JSON_NAME).read_text())
    assert data["report"] == json.loads(json.dumps(rep.as_json()))
    assert (rep.total, rep.done, rep.failed, rep.flagged) == (5, 3, 2, 2)
    assert (rep.far, rep.frr) == (0.0, 0.5)
    assert sum(map(sum, data["histogram"]["counts"].values())) == rep.done
    assert set(data["histogram"]["counts"]) == {"fake", "real"}

    flagged = data["flagged"]
    assert [r["score"] for r in flagged] == sorted((r["score"] for r in flagged), reverse=True)
    assert {r["url"] for r in flagged} == {str(clips["fake"]), str(clips["fake_labelled_real"])}
    assert all(r["driving"] and r["driving"][0]["push"] > 0 for r in flagged)
    # The first has its explain page, made here with the batch's own score; the other its
    # command, quoted for a shell.
    first, second = flagged
    explain = json.loads((out / first["explain"]).with_name("explain.json").read_text())
    assert explain["videos"][0]["score"] == pytest.approx(first["score"])
    assert second["explain"] is None and second["command"].startswith("dfscan explain ")
    assert first["thumbnail"] and second["thumbnail"]

    codes = {f["code"]: f for f in data["failures"]}
    assert {c: f["count"] for c, f in codes.items()} == {"blocked_address": 1, "not_found": 1}
    assert codes["blocked_address"]["examples"][0]["url"] == SCRIPT_URL

    # histogram + 2 thumbnails
    assert_images_exist(page, at_least=3)
    assert_numbers_match(page, out / JSON_NAME, at_least=12)
    text = page.read_text()
    assert "<script>" not in text and "<b>refused" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.mp4" in text
    assert (out / first["explain"]).is_file() and first["explain"] in parse(page).links

    # A submitted batch is read again as its workers read it: without DFSCAN_LOCAL_ROOT, its
    # local files are refused here too.
    bare = settings.model_copy(update={"local_root": None})
    with session_scope(session_factory(engine)) as s:
        write_review(tmp_path / "bare", s, batch_id, bare, PageOptions())
    rows = json.loads((tmp_path / "bare" / JSON_NAME).read_text())["flagged"]
    assert [(r["thumbnail"], r["thumbnail_error"]) for r in rows] == [(None, "blocked_path")] * 2


def test_report_html_cli_on_the_embedded_database(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dfscan scan` then `dfscan report last --html`: the embedded flow of the README."""
    monkeypatch.chdir(tmp_path)
    env = {"DFSCAN_FRAMES_PER_VIDEO": str(FRAMES), "DFSCAN_WORKERS": "1"}
    runner = CliRunner()
    scanned = runner.invoke(main, ["scan", str(clips["real"]), str(clips["fake"])], env=env)
    assert scanned.exit_code == 0, scanned.output
    out = tmp_path / "review"
    result = runner.invoke(main, ["report", "last", "--html", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "2 scored" in result.output and "1 flagged" in result.output
    data = json.loads((out / JSON_NAME).read_text())
    assert data["flagged"][0]["url"] == str(clips["fake"].resolve())
    assert data["threshold"] == pytest.approx(Scanner(Settings()).threshold)
    assert_images_exist(out / "index.html", at_least=2)
    bad = runner.invoke(main, ["report", "first", "--html", str(out)], env=env)
    assert bad.exit_code == 2 and "neither a batch id nor 'last'" in bad.output


HARNESS = """<!DOCTYPE html>
<html><body>
<iframe id="page" src="index.html" style="width:1280px;height:9000px"></iframe>
<pre id="count">not loaded</pre>
<script>
document.getElementById("page").addEventListener("load", function () {
  var imgs = this.contentDocument.images, shown = 0;
  for (var i = 0; i < imgs.length; i++) {
    var box = imgs[i].getBoundingClientRect();
    if (imgs[i].complete && imgs[i].naturalWidth > 0 && box.width > 0 && box.height > 0) shown++;
  }
  document.getElementById("count").textContent = "shown " + shown + " of " + imgs.length;
});
</script>
</body></html>
"""


def test_explain_page_renders_in_chromium(chromium: str, tmp_path: Path) -> None:
    """The sample video's page in a real browser: drawn, and at least 8 pictures shown."""
    sample = make_sample(tmp_path / "sample.mp4")  # what `dfscan sample` writes
    scanner = Scanner(Settings(workers=1), local_files=True)
    page = write_explain(tmp_path / "page", explain_target(str(sample), scanner))

    png = screenshot(page, tmp_path / "shot.png", (1280, 1600), binary=chromium)
    img = cv2.imread(str(png))
    assert img is not None and img.shape[:2] == (1600, 1280)
    # Not blank: text, tables and pictures, not one background colour.
    assert img.std() > 20
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 500
    assert (img < 128).any(axis=2).mean() > 0.01  # dark pixels: text and drawings

    (page.parent / "harness.html").write_text(HARNESS)
    dom = dump_dom(page.parent / "harness.html", binary=chromium, allow_file_access=True)
    match = re.search(r"shown (\d+) of (\d+)", dom)
    assert match, dom[-2000:]
    shown, total = map(int, match.groups())
    assert shown == total >= 8
