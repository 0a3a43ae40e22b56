"""`dfscan bench --json` on one tiny generated clip: it runs, and its figures hang together.

No speed targets here (shared machines are noisy); the benchmark reports them.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from models.samples import sample_frames, write_video
from scheduler.cli import main


def test_bench_json_on_a_tiny_clip(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "tiny.mp4", sample_frames(50, size=(320, 240)), fps=25)
    res = CliRunner().invoke(main, ["bench", "--json", "--frames", "8", str(clip)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in ("realtime_factor_per_core", "decode_floor_ratio", "peer_ratio", "breakdown"):
        assert key in out
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


def test_bench_scaling_runs_each_worker_count_cold(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "tiny.mp4", sample_frames(30, size=(320, 240)), fps=25)
    args = ["bench", "--json", "--frames", "4", "--scaling", "1,2", str(clip), str(clip)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    sc = json.loads(res.stdout)["scaling"]
    assert sc["videos"] == 2 and [r["workers"] for r in sc["runs"]] == [1, 2]
    for r in sc["runs"]:
        assert r["errors"] == 0
        # Each run starts in a fresh interpreter: its first result comes after start-up,
        # and the CPU of that interpreter and its workers is counted.
        assert 0 < r["first_result_s"] <= r["wall_s"]
        assert r["cpu_s"] > 0.5 and r["cpu_per_video_s"] == r["cpu_s"] / 2
    assert sc["speedup"] is not None and sc["speedup"] > 0
