"""What ``dfscan bench`` measures per video: the scan, the decode-only floor, the CNN peer.

Everything runs in this process on one core's worth of threads (OpenCV and torch at one
thread, as the embedded pool's workers run), so CPU seconds are per-core costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.settings import Settings

STAGES = ("fetch", "decode", "faces", "features", "classify", "write")


def loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


@dataclass(slots=True)
class Clock:
    """Wall and CPU seconds of a block."""

    wall: float = 0.0
    cpu: float = 0.0

    @classmethod
    def run(cls, fn: Callable[[], Any]) -> tuple[Clock, Any]:
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        return cls(time.perf_counter() - t0, time.process_time() - c0), out


@dataclass(slots=True)
class VideoRun:
    """One measurement of one video (medians over repeats are taken later)."""

    scan: Clock
    floor: Clock
    stages: dict[str, float]
    frames_decoded: int
    frames_used: int
    faces_found: int
    bytes_read: int
    error: str | None = None
    peer_cnn: Clock | None = None
    extra: dict[str, float] = field(default_factory=dict)


def probe(path: Path) -> dict[str, float]:
    """Duration, frame count and size of a video (PyAV; outside the timed blocks)."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = float(s.guessed_rate or s.average_rate or 25)
        frames = int(s.frames or 0)
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif c.duration:
            duration = c.duration / 1e6
        else:
            duration = frames / rate
        return {
            "duration_s": duration or frames / rate,
            "frames": frames,
            "fps": rate,
            "width": s.codec_context.width,
            "height": s.codec_context.height,
            "file_bytes": path.stat().st_size,
        }


class Bench:
    """Holds what a worker holds once per process: the scanner, the database, the peer."""

    def __init__(self, settings: Settings, db_url: str, peer: bool) -> None:
        import cv2

        from common.db import init_db, make_engine, session_factory
        from models.scanner import Scanner

        cv2.setNumThreads(1)  # as in scheduler.embedded._init_worker
        self.settings = settings
        self.setup, self.scanner = Clock.run(lambda: Scanner(settings, local_files=True))
        self.engine = make_engine(db_url)
        init_db(self.engine)
        self.factory = session_factory(self.engine)
        self.peer = None
        self.peer_note: str | None = None
        if peer:
            from scheduler.bench import peer as peer_mod

            if peer_mod.available():
                self.peer = peer_mod.XceptionPeer(threads=1)
            else:
                self.peer_note = (
                    "torch is not installed: peer skipped "
                    "(pip install -e '.[peer]' or pip install torch)"
                )

    def close(self) -> None:
        self.engine.dispose()

    def _write(self, path: Path, result: Any) -> None:
        from common.db import session_scope, upsert_scan, upsert_video

        with session_scope(self.factory) as s:
            vid = upsert_video(s, str(path.resolve()))
            upsert_scan(s, vid, result)

    def floor(self, path: Path) -> Clock:
        """Decode exactly the frames the scan samples, by the scan's own reader."""
        from common.frames import SampleLimits, iter_video

        n, sampling = self.scanner.cfg.frames, self.scanner.cfg.sampling
        clock, _ = Clock.run(lambda: sum(1 for _ in iter_video(path, n, SampleLimits(), sampling)))
        return clock

    def scan(self, path: Path) -> VideoRun:
        from common.decode_stats import collect_decode_stats

        def go() -> tuple[Any, Any]:
            with collect_decode_stats() as stats:
                result = self.scanner.scan(str(path))
            t0 = time.perf_counter()
            self._write(path, result)
            result.timings["write"] = time.perf_counter() - t0
            return result, stats

        clock, (result, stats) = Clock.run(go)
        return VideoRun(
            scan=clock,
            floor=Clock(),
            stages={k: float(result.timings.get(k, 0.0)) for k in STAGES},
            frames_decoded=stats.frames_decoded,
            frames_used=result.frames_used,
            faces_found=result.faces_found,
            bytes_read=stats.bytes_read,
            error=None if result.error is None else result.error["code"],
        )

    def peer_cnn(self, path: Path) -> Clock | None:
        """The CNN's own cost on the scan's face crops (299x299); decode/detect not counted."""
        if self.peer is None:
            return None
        from common.faces import crop_square, make_detector, track_faces
        from common.frames import SampleLimits, iter_video

        cfg = self.scanner.cfg
        frames = list(iter_video(path, cfg.frames, SampleLimits(), cfg.sampling))
        faces = track_faces(frames, make_detector(cfg.detector), cfg.crop_size, cfg.tracking)
        by_index = {f.index: f for f in frames}
        from scheduler.bench.peer import INPUT_SIZE

        crops = [crop_square(by_index[f.frame_index].image, f.box, INPUT_SIZE)[0] for f in faces]
        if not crops:
            return None
        peer = self.peer
        clock, _ = Clock.run(lambda: peer.score(crops))
        return clock
