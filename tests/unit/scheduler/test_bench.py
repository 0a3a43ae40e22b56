"""`dfscan bench --json` on one tiny generated clip: it runs, and its figures hang together.

No speed targets here (shared machines are noisy); the benchmark reports them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from models.samples import sample_frames, write_video
from scheduler.cli import main

# The top-level fields of `dfscan bench --json` that scripts read before issue 14.
OLD_FIELDS = {
    "realtime_factor_per_core", "decode_floor_ratio", "peer_ratio", "breakdown", "overall",
    "videos", "setup_s", "frames_per_video", "sampling", "tracking", "decode_strategy", "peer",
    "repeat", "cpu_count", "load_before", "load_after",
}  # fmt: skip


def test_bench_json_on_a_tiny_clip(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "tiny.mp4", sample_frames(50, size=(320, 240)), fps=25)
    res = CliRunner().invoke(main, ["bench", "--json", "--frames", "8", str(clip)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    # Every field the JSON had before start-up and memory were measured is still there.
    assert set(out) >= OLD_FIELDS | {"pss_mb_per_worker", "seconds_to_first_scan"}
    assert out["peer_ratio"] is None  # not requested
    assert set(out["breakdown"]) >= {"decode", "faces", "features", "classify", "write"}
    (v,) = out["videos"]
    assert v["error"] is None
    assert v["duration_s"] > 1.5
    assert 0 < v["frames_used"] <= v["frames_decoded"] <= 50
    assert v["frames_used"] == 8 and v["faces_found"] >= 1
    assert v["bytes_read"] > 0
    assert 0 < v["floor_wall_s"] <= v["wall_s"]
    assert out["decode_floor_ratio"] >= 1.0
    assert out["realtime_factor_per_core"] > 0
    o = out["overall"]
    # The stages are parts of the scan: each decoded, found and measured something, and
    # together they take no longer than the scan they were timed in.
    b = out["breakdown"]
    assert min(b["decode"], b["faces"], b["features"]) > 0
    assert sum(b.values()) <= o["wall_s"]
    assert o["frames_used"] <= o["frames_decoded"] and o["scanned"] == 1
    # Start-up and memory of a cold pool of two workers (each scans the clip twice).
    start = out["startup"]
    assert start["workers"] == 2 and start["errors"] == 0 and start["memory_samples"] >= 1
    assert 0 < out["seconds_to_first_scan"] == start["first_result_s"] <= start["wall_s"]
    assert out["pss_mb_per_worker"] == start["pss_mb_per_worker"]
    # A worker holds at least the model and the imports; the pool holds both workers.
    assert 50 < out["pss_mb_per_worker"] < start["total_pss_mb"]
    # The workers were forked after the model was loaded: most of their pages are shared
    # (a worker that loaded its own copy owns ~80% of them).
    assert start["uss_mb_per_worker"] < 0.4 * start["rss_mb_per_worker"]


def test_bench_scaling_runs_each_worker_count_cold(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "tiny.mp4", sample_frames(30, size=(320, 240)), fps=25)
    args = ["bench", "--json", "--frames", "4", "--scaling", "1,2", str(clip), str(clip)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    sc = out["scaling"]
    assert sc["videos"] == 2 and [r["workers"] for r in sc["runs"]] == [1, 2]
    for r in sc["runs"]:
        assert r["errors"] == 0
        # Each run starts in a fresh interpreter: its first result comes after start-up,
        # and the CPU of that interpreter and its workers is counted.
        assert 0 < r["first_result_s"] <= r["wall_s"]
        assert r["cpu_s"] > 0.5 and r["cpu_per_video_s"] == r["cpu_s"] / 2
        assert r["pss_mb_per_worker"] > 50 and r["total_pss_mb"] >= r["pss_mb_per_worker"]
    assert sc["speedup"] is not None and sc["speedup"] > 0
    # The second worker costs memory, though less than a whole process.
    one, two = (r["total_pss_mb"] for r in sc["runs"])
    assert sc["added_pss_mb_per_worker"] == pytest.approx(two - one)
    assert sc["added_pss_mb_per_worker"] > 0
    # The headline figures are the pool's with the most workers; no separate start-up run.
    assert "startup" not in out
    assert out["seconds_to_first_scan"] == sc["runs"][1]["first_result_s"]
    assert out["pss_mb_per_worker"] == sc["runs"][1]["pss_mb_per_worker"]


def test_queue_load_refuses_sqlite(tmp_path: Path) -> None:
    env = {
        "DFSCAN_BROKER_URL": "redis://127.0.0.1:1/0",
        "DFSCAN_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    res = CliRunner().invoke(main, ["bench", "--queue-load", "10"], env=env)
    assert res.exit_code == 1
    assert "must name a PostgreSQL database of its own" in res.output
    assert not (tmp_path / "x.db").exists()


def test_queue_load_needs_a_broker(tmp_path: Path) -> None:
    env = {"DFSCAN_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    res = CliRunner().invoke(main, ["bench", "--queue-load", "10"], env=env)
    assert res.exit_code == 1 and "needs a broker" in res.output


@pytest.mark.parametrize(
    ("args", "want"),
    [
        (["--scaling", "1,two"], "'two' is not a worker count"),
        (["--scaling", "0,2"], "'0' is not a worker count"),
        (["--repeat", "0"], "'--repeat': 0 is not in the range x>=1"),
        (["--scaling-rounds", "0"], "'--scaling-rounds': 0 is not in the range x>=1"),
    ],
)
def test_bench_refuses_counts_it_cannot_run(tmp_path: Path, args: list[str], want: str) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"never read: the options stop the command first")
    res = CliRunner().invoke(main, ["bench", "--json", *args, str(clip)])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), res.output
    assert want in res.output
