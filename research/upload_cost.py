"""What a long upload costs a worker: bytes fetched and CPU, for docs/capacity.md.

Makes a long 1080p H.264 clip without encoding it all: 10 s of the astronaut (models.samples)
are encoded once (libx264 ``--crf``, keyframe every 250 frames as x264 sets by default) and
their packets are written again and again with shifted timestamps, up to ``--minutes``. The
default CRF 19 gives ~10 Mbit/s on these frames, about what platforms ask of a 1080p upload
(YouTube recommends 8 Mbit/s at 24-30 fps); CRF 23 gives ~0.4 Mbit/s. Then, in this process
on one thread (as a pool worker):

- ``fetch``: the clip downloaded over HTTP from 127.0.0.1 by the workers' own code
  (``common.media.open_media``: checked connection, byte limit, SHA-256, temp file), CPU
  and wall, repeated. The server runs in another process, so the CPU is the worker's alone;
- ``scan``: the scan of the local file (``models.scanner.Scanner``), CPU and wall, repeated
  after one untimed warm-up scan, and what its reader did (bytes demuxed, pictures decoded).

    .venv/bin/python -m research.upload_cost --minutes 10 --repeat 3

Medians; the load average is printed beside them. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SIZE = (1920, 1080)
BASE_S = 10
FPS = 25
MB = 1e6


def long_clip(path: Path, minutes: float, crf: int) -> Path:
    """``minutes`` of 1080p H.264: a 10 s encode, its packets repeated."""
    import av

    from models.samples import sample_frames, write_video

    base = sample_frames(50, size=SIZE, seed=1)
    cycle = base + base[::-1]
    frames = [cycle[i % len(cycle)] for i in range(BASE_S * FPS)]
    short = write_video(path.with_suffix(".base.mp4"), frames, fps=FPS, crf=crf)
    with av.open(str(short)) as src:
        stream = src.streams.video[0]
        packets = [p for p in src.demux(stream) if p.dts is not None]
        stamps = [(p.pts, p.dts) for p in packets]  # muxing may rewrite a packet's own
        step = int(round(BASE_S / stream.time_base))
        with av.open(str(path), "w") as dst:
            out = dst.add_stream_from_template(stream)
            for k in range(int(minutes * 60 / BASE_S)):
                for p, (pts, dts) in zip(packets, stamps, strict=True):
                    p.pts, p.dts = pts + k * step, dts + k * step
                    p.time_base, p.stream = stream.time_base, out
                    dst.mux(p)
    short.unlink()
    return path


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 from another process (its CPU is not ours)."""
    cmd = [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"]
    proc = subprocess.Popen(
        [*cmd, "--directory", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""  # "Serving HTTP on ... port N"
        port = int(line.split(" port ")[1].split()[0])
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


def _container_overhead(path: Path) -> int:
    """Bytes of the MP4's top-level boxes other than the media data (ftyp, moov: the index
    a ranged reader would fetch first)."""
    total, size = 0, path.stat().st_size
    with path.open("rb") as f:
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(16)
            box, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if box == 1:  # a 64-bit size follows the type
                box = int.from_bytes(head[8:16], "big")
            elif box == 0:  # to the end of the file
                box = size - pos
            if kind != b"mdat":
                total += box
            pos += box
    return total


def ranged_bytes(path: Path, frames: int) -> int:
    """What a reader that fetched only byte ranges would need for a ``segments`` sample of
    ``frames`` frames: the MP4 index, and the packets of each run (2 pictures past its end
    for a B-picture's forward reference), by the scanner's own choice of runs."""
    import av

    from common.frame_indices import segment_indices

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        packets = sorted(
            (p.pts, p.size, p.is_keyframe) for p in c.demux(stream) if p.pts is not None
        )
    keys = [i for i, (_, _, key) in enumerate(packets) if key]
    picked = segment_indices(len(packets), frames, keys)
    needed = {j for i in picked for j in range(i, min(i + 3, len(packets)))}
    return _container_overhead(path) + sum(packets[j][1] for j in needed)


def _timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Median CPU and wall seconds of ``repeat`` calls."""
    cpu, wall = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return {"cpu_s": statistics.median(cpu), "wall_s": statistics.median(wall)}


def measure(clip: Path, repeat: int) -> dict[str, Any]:
    import cv2

    from common.decode_stats import collect_decode_stats
    from common.media import open_media
    from common.settings import Settings
    from models.scanner import Scanner
    from scheduler.bench.measure import loadavg, probe

    cv2.setNumThreads(1)
    settings = Settings(allow_private_hosts=["127.0.0.1"])
    scanner = Scanner(settings, local_files=True)
    scanner.scan(str(clip))  # warm-up: lazy imports, the detector's first call
    with collect_decode_stats() as stats:
        result = scanner.scan(str(clip))
    load_before = loadavg()
    with served(clip.parent) as base:

        def fetch() -> None:
            with open_media(f"{base}/{clip.name}", settings):
                pass

        fetch_t = _timed(fetch, repeat)
    scan_t = _timed(lambda: scanner.scan(str(clip)), repeat)
    info = probe(clip)
    size = info["file_bytes"]
    return {
        "video": info,
        "bitrate_mbit_s": 8 * size / info["duration_s"] / MB,
        "bytes_fetched": size,
        # A fetch of only what the scan decodes (not how workers fetch today: an estimate).
        "bytes_if_ranged": ranged_bytes(clip, scanner.cfg.frames),
        "sampling": scanner.cfg.sampling,
        "fetch": {**fetch_t, "cpu_ms_per_mb": 1000 * fetch_t["cpu_s"] / (size / MB)},
        "scan": {**scan_t, "cpu_s_per_video_minute": scan_t["cpu_s"] / (info["duration_s"] / 60)},
        "scan_bytes_demuxed": stats.bytes_read,
        "frames_decoded": stats.frames_decoded,
        "faces_found": result.faces_found,
        "error": result.error,
        "load_before": load_before,
        "load_after": loadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--crf", type=int, default=19, help="x264 CRF of the 10 s base encode")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dfscan-upload-") as tmp:
        clip = long_clip(Path(tmp) / "upload.mp4", args.minutes, args.crf)
        print(json.dumps({"crf": args.crf, **measure(clip, args.repeat)}, indent=2))


if __name__ == "__main__":
    main()
