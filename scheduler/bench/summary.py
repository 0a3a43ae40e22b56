"""Medians over repeats, totals over videos, and the human-readable table of a bench run."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from scheduler.bench.measure import STAGES, VideoRun


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def summarize(name: str, info: dict[str, float], runs: list[VideoRun]) -> dict[str, Any]:
    """Median over the repeats of one video."""
    scan_wall = median([r.scan.wall for r in runs])
    scan_cpu = median([r.scan.cpu for r in runs])
    floor_wall = median([r.floor.wall for r in runs])
    floor_cpu = median([r.floor.cpu for r in runs])
    out: dict[str, Any] = {
        "video": name,
        **info,
        "error": runs[0].error,
        "wall_s": scan_wall,
        "cpu_s": scan_cpu,
        "breakdown": {k: median([r.stages[k] for r in runs]) for k in STAGES},
        "frames_decoded": runs[0].frames_decoded,
        "frames_used": runs[0].frames_used,
        "faces_found": runs[0].faces_found,
        "bytes_read": runs[0].bytes_read,
        "floor_wall_s": floor_wall,
        "floor_cpu_s": floor_cpu,
        "decode_floor_ratio": scan_wall / floor_wall if floor_wall > 0 else None,
        "decode_floor_ratio_cpu": scan_cpu / floor_cpu if floor_cpu > 0 else None,
        "realtime_factor_per_core": info["duration_s"] / scan_cpu if scan_cpu > 0 else None,
    }
    peers = [r.peer_cnn for r in runs if r.peer_cnn is not None]
    if peers:
        cnn_cpu = median([p.cpu for p in peers])
        shared = out["breakdown"]["fetch"] + out["breakdown"]["decode"] + out["breakdown"]["faces"]
        # Stage timings are wall; scale to CPU by the scan's own CPU/wall ratio.
        shared_cpu = shared * (scan_cpu / scan_wall if scan_wall > 0 else 1.0)
        out["peer_cnn_cpu_s"] = cnn_cpu
        out["peer_cnn_wall_s"] = median([p.wall for p in peers])
        out["peer_cpu_s"] = cnn_cpu + shared_cpu
        out["peer_ratio"] = out["peer_cpu_s"] / scan_cpu if scan_cpu > 0 else None
    else:
        out["peer_ratio"] = None
    return out


def overall(videos: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [v for v in videos if v["error"] is None]
    tot = {k: sum(v[k] for v in ok) for k in ("wall_s", "cpu_s", "floor_wall_s", "floor_cpu_s")}
    duration = sum(v["duration_s"] for v in ok)
    out: dict[str, Any] = {
        "videos": len(videos),
        "scanned": len(ok),
        "video_seconds": duration,
        **tot,
        "breakdown": {k: sum(v["breakdown"][k] for v in ok) for k in STAGES},
        "frames_decoded": sum(v["frames_decoded"] for v in ok),
        "frames_used": sum(v["frames_used"] for v in ok),
        "faces_found": sum(v["faces_found"] for v in ok),
        "face_rate": (
            sum(v["faces_found"] for v in ok) / max(1, sum(v["frames_used"] for v in ok))
        ),
        "bytes_read": sum(v["bytes_read"] for v in ok),
        "realtime_factor_per_core": duration / tot["cpu_s"] if tot["cpu_s"] > 0 else None,
        "realtime_factor_wall": duration / tot["wall_s"] if tot["wall_s"] > 0 else None,
        "decode_floor_ratio": (
            tot["wall_s"] / tot["floor_wall_s"] if tot["floor_wall_s"] > 0 else None
        ),
        "decode_floor_ratio_cpu": (
            tot["cpu_s"] / tot["floor_cpu_s"] if tot["floor_cpu_s"] > 0 else None
        ),
        "peer_ratio": None,
    }
    peers = [v for v in ok if v.get("peer_cpu_s") is not None]
    if peers:
        peer_cpu = sum(v["peer_cpu_s"] for v in peers)
        ours = sum(v["cpu_s"] for v in peers)
        out["peer_cpu_s"] = peer_cpu
        out["peer_cnn_cpu_s"] = sum(v["peer_cnn_cpu_s"] for v in peers)
        out["peer_ratio"] = peer_cpu / ours if ours > 0 else None
    return out


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def human(res: dict[str, Any]) -> str:
    lines = [
        f"{'VIDEO':40s} {'DUR':>6s} {'WALL':>7s} {'CPU':>7s} {'FLOOR':>7s} {'xFLOOR':>6s} "
        f"{'RT/CORE':>7s} {'DEC/USED':>9s} {'FACES':>5s} {'PEER':>6s}"
    ]
    for v in res["videos"]:
        lines.append(
            f"{v['video'][:40]:40s} {v['duration_s']:6.1f} {v['wall_s']:7.3f} {v['cpu_s']:7.3f} "
            f"{v['floor_wall_s']:7.3f} {_fmt(v['decode_floor_ratio']):>6s} "
            f"{_fmt(v['realtime_factor_per_core'], '.0f'):>7s} "
            f"{v['frames_decoded']:>4d}/{v['frames_used']:<4d} {v['faces_found']:5d} "
            f"{_fmt(v['peer_ratio'], '.1f'):>6s}" + (f"  error: {v['error']}" if v["error"] else "")
        )
    o = res["overall"]
    b = o["breakdown"]
    lines += [
        "",
        f"overall: {o['scanned']}/{o['videos']} videos, {o['video_seconds']:.1f} s of video in "
        f"{o['wall_s']:.2f} s wall / {o['cpu_s']:.2f} s CPU",
        f"  real-time factor per core: {_fmt(o['realtime_factor_per_core'], '.1f')}x "
        f"(wall {_fmt(o['realtime_factor_wall'], '.1f')}x)",
        f"  decode-only floor: {o['floor_wall_s']:.2f} s wall -> ratio "
        f"{_fmt(o['decode_floor_ratio'])} (CPU {_fmt(o['decode_floor_ratio_cpu'])})",
        "  stages (wall s): " + ", ".join(f"{k} {b[k]:.2f}" for k in STAGES),
        f"  frames decoded {o['frames_decoded']} for {o['frames_used']} used; faces in "
        f"{o['faces_found']} ({o['face_rate']:.1%}); {o['bytes_read'] / 1e6:.1f} MB read",
        f"  CNN peer: ratio {_fmt(o['peer_ratio'], '.1f')}x"
        + (f" ({res['peer']['skipped']})" if "skipped" in res["peer"] else ""),
    ]
    runs = res["scaling"]["runs"] if "scaling" in res else [res["startup"]]
    for r in runs:
        lines.append(
            f"  workers {r['workers']}: {r['wall_s']:.2f} s, {_fmt(r['videos_per_s'])} "
            f"videos/s (steady {_fmt(r['steady_videos_per_s'])}), "
            f"{r['cpu_per_video_s']:.3f} CPU-s/video, first result after "
            f"{_fmt(r['first_result_s'])} s; PSS {_fmt(r['pss_mb_per_worker'], '.0f')} MB "
            f"(USS {_fmt(r['uss_mb_per_worker'], '.0f')}) per worker, "
            f"{_fmt(r['total_pss_mb'], '.0f')} MB in all"
        )
    if "scaling" in res:
        sc = res["scaling"]
        lines.append(
            f"  speed-up: {_fmt(sc.get('speedup'))}x (steady {_fmt(sc.get('steady_speedup'))}x);"
            f" added PSS per extra worker {_fmt(sc.get('added_pss_mb_per_worker'), '.0f')} MB"
        )
    lines.append(f"  load average before {res['load_before']} after {res['load_after']}")
    return "\n".join(lines)


def queue_human(res: dict[str, Any]) -> str:
    """The lines of ``dfscan bench --queue-load`` / ``--distributed``."""
    lines = []
    if "submit" in res:
        sub, q = res["submit"], res["queue"]
        lines += [
            f"{res['tasks']} dry-run tasks, {res['workers']} worker processes",
            f"  submit: {sub['wall_s']:.1f} s; database {_fmt(sub['db_rows_per_s'], '.0f')} "
            f"rows/s, enqueue {_fmt(sub['enqueued_per_s'], '.0f')} tasks/s, "
            f"WAL {_fmt(sub['wal_bytes_per_task'], '.0f')} B/task",
            f"  queue: {_fmt(q['redis_bytes_per_task'], '.0f')} B of Redis memory per queued "
            f"task (message {q['message_bytes']} B)",
        ]
        drain = res["drain"]
    else:
        drain = res
        lines += [
            f"{res['videos']} videos scanned by a dfscan worker with {res['workers']} pool "
            f"processes: first result {_fmt(res['seconds_to_first_scan'])} s after launch, "
            f"{_fmt(res['cpu_per_video_s'], '.3f')} CPU-s/video",
            f"  PSS {_fmt(res['pss_mb_per_worker'], '.0f')} MB (USS "
            f"{_fmt(res['uss_mb_per_worker'], '.0f')}) per pool process, "
            f"{_fmt(res['total_pss_mb'], '.0f')} MB in all; "
            f"a scans row {_fmt(res['scan_row_bytes'], '.0f')} B",
        ]
    lines += [
        f"  drain: {drain['rows_written']} rows in {_fmt(drain['wall_s'])} s, "
        f"{_fmt(drain['tasks_per_s'], '.1f')} tasks/s"
        + ("" if drain["complete"] else " (INCOMPLETE: the time limit ended it)"),
        f"  per task: worker {_fmt(drain['worker_ms_per_task'])} ms CPU "
        f"({_fmt(drain['worker_wall_ms_per_task'])} ms of a worker's time), Redis "
        f"{_fmt(drain['redis_cpu_ms_per_task'], '.3f')} ms, Postgres "
        f"{_fmt(drain['postgres_cpu_ms_per_task'], '.3f')} ms; "
        f"{_fmt(drain['redis_commands_per_task'], '.1f')} Redis commands "
        f"({_fmt(drain['redis_commands_per_s'], '.0f')}/s), "
        f"WAL {_fmt(drain['wal_bytes_per_task'], '.0f')} B",
        f"  load average before {res['load_before']} after {res['load_after']}",
    ]
    return "\n".join(lines)
