"""The embedded pool loads the model once, in the parent, and forks its workers from it;
with another thread running it starts fresh interpreters instead (a fork then is unsafe).
Either way a worker runs OpenCV and BLAS on one thread."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from _media import write_face_video

from common.settings import Settings
from scheduler import embedded

# Runs in a fresh interpreter (one thread, as `dfscan scan` is): which process scanned each
# clip, with which scanner object, and how many threads its OpenCV and BLAS would use.
FORKED = """
import json, os, sys
import cv2
from threadpoolctl import threadpool_info
from common.settings import Settings
from scheduler import embedded

scan = embedded._scan

def traced(target):
    result = scan(target)
    result.timings["pid"], result.timings["scanner"] = os.getpid(), id(embedded._SCANNER)
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    result.timings["threads"] = [cv2.getNumThreads(), *blas]
    return result

embedded._scan = traced
settings = Settings(workers=2, frames_per_video=4, database_url=sys.argv[1])
results = embedded.run_embedded(sys.argv[2:], settings)
print(json.dumps({"parent": os.getpid(), "scanner": id(embedded._SCANNER),
                  "runs": [r.timings for r in results], "errors": [r.error for r in results]}))
"""


def test_workers_scan_with_the_scanner_their_parent_loaded(tmp_path: Path) -> None:
    clip = str(write_face_video(tmp_path / "a.mp4"))
    db = f"sqlite:///{tmp_path / 'fork.db'}"
    out = subprocess.run(
        [sys.executable, "-c", FORKED, db, *[clip] * 6],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["errors"] == [None] * 6
    pids = {r["pid"] for r in got["runs"]}
    assert got["parent"] not in pids and 1 <= len(pids) <= 2
    # Each worker scanned with the very object the parent built: nothing loaded again.
    assert {r["scanner"] for r in got["runs"]} == {got["scanner"]}
    # One thread each for OpenCV and numpy's BLAS (found: at least one BLAS is loaded).
    assert all(len(r["threads"]) >= 2 and set(r["threads"]) == {1} for r in got["runs"])


def test_with_another_thread_running_workers_start_fresh(tmp_path: Path) -> None:
    clip = str(write_face_video(tmp_path / "a.mp4"))
    settings = Settings(workers=2, frames_per_video=4, database_url=f"sqlite:///{tmp_path}/t.db")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not embedded._fork_safe()
        results = embedded.run_embedded([clip, clip, clip], settings)
    finally:
        stop.set()
        thread.join()
    assert [r.error for r in results] == [None] * 3
    assert len({r.score for r in results}) == 1
