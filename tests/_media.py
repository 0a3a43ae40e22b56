"""Test media made on the spot, and a local HTTP server to fetch it from.

Nothing here touches ../shared/data. Videos are small H.264 MP4s written with PyAV; the face
is scikit-image's bundled ``astronaut`` photograph. "Index" videos carry their own frame
number as an 8-bit barcode, so a test can check that the sampler returned the frame it
claims. The HTTP server binds 127.0.0.1 only and records every request it receives.

Import the fixtures into a test module with ``from _media import media_server``.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

import cv2
import numpy as np
import pytest

if TYPE_CHECKING:
    import av

# --------------------------------------------------------------------------- images


def astronaut_bgr() -> np.ndarray:
    """scikit-image's astronaut photo (512x512 BGR); the face is about x 180-275, y 65-170."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


# Where both detectors put the astronaut's face in astronaut_bgr() (measured once, by eye
# and by both backends): centre and side in pixels.
ASTRONAUT_FACE_CENTRE = (226.0, 118.0)
ASTRONAUT_FACE_SIDE = 94.0


def no_face_bgr() -> np.ndarray:
    """A photo without a face: scikit-image's coffee cup (400x600 BGR)."""
    from skimage import data

    return cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)


def gradient_bgr(w: int = 320, h: int = 240) -> np.ndarray:
    """A flat horizontal grey ramp: nothing a face detector could fire on."""
    ramp = np.tile(np.linspace(30, 220, w, dtype=np.float32), (h, 1)).astype(np.uint8)
    return cv2.cvtColor(ramp, cv2.COLOR_GRAY2BGR)


def face_frames(n: int, size: tuple[int, int] = (640, 480), fake: bool = False) -> list:
    """The astronaut's face drifting over a textured background (models.samples)."""
    from models.samples import sample_frames

    return sample_frames(n, size=size, fake=fake)


def textured_background(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A grey wavy texture with a little noise (BGR): no face in it, but not flat either."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 96 + 40 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
    base += np.random.default_rng(seed).normal(0, 3, base.shape)
    return cv2.cvtColor(np.clip(base, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def paste_face(frame: np.ndarray, side: int, centre: tuple[int, int]) -> np.ndarray:
    """The astronaut's head, scaled so her face is about ``side`` px wide, centred there."""
    head = astronaut_bgr()[40:200, 146:306]  # 160 px around the 94-px face
    k = side / ASTRONAUT_FACE_SIDE
    head = cv2.resize(head, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    hh, hw = head.shape[:2]
    x0, y0 = centre[0] - hw // 2, centre[1] - hh // 2
    frame[y0 : y0 + hh, x0 : x0 + hw] = head
    return frame


def small_face_frames(
    n: int, side: int = 44, size: tuple[int, int] = (1280, 720)
) -> list[np.ndarray]:
    """A wide shot: a face ``side`` px wide, drifting a little, in a large textured frame."""
    w, h = size
    return [
        paste_face(textured_background(w, h, t), side, (w // 3 + 2 * t, h // 2 + t % 3))
        for t in range(n)
    ]


def face_grid(
    sides: list[int], cols: int = 4, size: tuple[int, int] = (800, 450), dx: int = 0
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A video-call grid: one face per tile (``sides[i]`` px wide), row by row, shifted by
    ``dx``; returns the frame and the tile centres."""
    w, h = size
    rows = -(-len(sides) // cols)
    frame = textured_background(w, h)
    centres = []
    for i, side in enumerate(sides):
        c = (
            (i % cols) * w // cols + w // (2 * cols) + dx,
            (i // cols) * h // rows + h // (2 * rows),
        )
        paste_face(frame, side, c)
        centres.append(c)
    return frame, centres


def noise_crop(
    seed: int, size: int = 128, sigma: float = 0.8, mean: float = 128, std: float = 20
) -> np.ndarray:
    """A (size, size, 3) BGR crop of smoothed Gaussian noise, alike everywhere: a stand-in
    for skin and background whose inside and outside differ only by what a test pastes."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(0, 1, (size, size, 3)).astype(np.float32), (0, 0), sigma)
    return np.clip(mean + std * base / base.std(), 0, 255).astype(np.uint8)


def paste_inside(crop: np.ndarray, inside: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``crop`` with ``inside``'s pixels where the face mask is set: a hard-edged paste."""
    return np.where(mask[..., None] > 0.5, inside, crop).astype(np.uint8)


# --------------------------------------------------------------------------- index frames

BARCODE_BITS = 8


def index_frame(i: int, w: int = 160, h: int = 120) -> np.ndarray:
    """A frame whose 8 vertical stripes spell ``i`` in binary (white = 1), LSB on the left."""
    img = np.zeros((h, w, 3), np.uint8)
    cw = w // BARCODE_BITS
    for k in range(BARCODE_BITS):
        if (i >> k) & 1:
            img[:, k * cw : (k + 1) * cw] = 255
    return img


def read_index(img: np.ndarray) -> int:
    """Decode index_frame's barcode (the stripe centres survive H.264 at any sane quality)."""
    cw = img.shape[1] // BARCODE_BITS
    return sum(
        1 << k
        for k in range(BARCODE_BITS)
        if img[:, k * cw + cw // 4 : (k + 1) * cw - cw // 4].mean() > 128
    )


# --------------------------------------------------------------------------- writers


def h264_stream(
    container: av.container.OutputContainer,
    w: int,
    h: int,
    fps: int = 25,
    *,
    keyint: int | None = None,
    bframes: int | None = None,
) -> av.VideoStream:
    """A libx264 yuv420p stream of ``container`` (CRF 20, veryfast); with ``keyint``, a keyframe
    exactly every ``keyint`` frames and none at scene cuts; ``bframes`` sets x264's B-frames."""
    stream = container.add_stream("libx264", rate=Fraction(fps))
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    options = {"crf": "20", "preset": "veryfast"}
    params = [f"keyint={keyint}:min-keyint={keyint}:scenecut=0"] if keyint else []
    params += [f"bframes={bframes}"] if bframes is not None else []
    if params:
        options["x264-params"] = ":".join(params)
    stream.options = options
    return stream


def write_video(
    path: Path,
    frames: list[np.ndarray],
    fps: int = 25,
    *,
    faststart: bool = False,
    keyint: int | None = None,
    bframes: int | None = None,
) -> Path:
    """H.264/MP4 of BGR frames. ``faststart`` puts the moov atom first (web-style upload),
    so a file cut short still has its index; without it the index is at the end.
    ``keyint`` and ``bframes`` as for :func:`h264_stream`."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = h264_stream(container, w - w % 2, h - h % 2, fps, keyint=keyint, bframes=bframes)
        for img in frames:
            vf = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(img[: stream.height, : stream.width]), format="bgr24"
            )
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_mpeg_ps(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    """MPEG-1 video with an MP2 audio track in an MPEG program stream (``.mpg``), as the GRID
    corpus is: a container whose seeks land past the keyframe asked for."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    samples = 44100 // fps
    with av.open(str(path), "w", format="mpeg") as container:
        video = container.add_stream("mpeg1video", rate=Fraction(fps))
        video.width, video.height, video.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        video.bit_rate = 2_000_000
        video.codec_context.gop_size = 12
        audio = container.add_stream("mp2", rate=44100)
        audio.layout = "mono"
        for i, img in enumerate(frames):
            picture = np.ascontiguousarray(img[: video.height, : video.width])
            for packet in video.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")):
                container.mux(packet)
            sound = av.AudioFrame.from_ndarray(
                np.zeros((1, samples), np.int16), format="s16", layout="mono"
            )
            sound.sample_rate, sound.pts = 44100, i * samples
            for packet in audio.encode(sound):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                container.mux(packet)
    return path


def write_index_video(path: Path, n: int = 40, *, faststart: bool = False) -> Path:
    return write_video(path, [index_frame(i) for i in range(n)], faststart=faststart)


def write_face_video(path: Path, n: int = 12, *, fake: bool = False) -> Path:
    """A 640x480 clip (the face must be ~90 px for dlib's detector at its default scale)."""
    return write_video(path, face_frames(n, fake=fake))


def write_image(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix, img)
    assert ok, path
    path.write_bytes(buf.tobytes())
    return path


def write_frames_folder(folder: Path, frames: list[np.ndarray], ext: str = ".png") -> Path:
    """One image per frame, named so that sorted order is frame order."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(frames):
        write_image(folder / f"frame_{i:04d}{ext}", img)
    return folder


def write_zero_byte(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write_truncated(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of src: an interrupted upload."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def write_garbage(path: Path, nbytes: int = 64 * 1024, seed: int = 0) -> Path:
    """Random bytes under a video name."""
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, nbytes, np.uint8).tobytes())
    return path


def write_png_bomb(path: Path, side: int = 30000) -> Path:
    """A ~1 MB grey PNG declaring ``side`` x ``side`` pixels of zeros (a decompression bomb:
    900 MB once decoded at 30000), written with zlib and struct in well under a second.

    The deflate stream is one compressed block of 100 zero rows repeated: a full flush makes
    each copy byte-aligned and free of back-references. Adler-32 of n zero bytes is
    (n mod 65521) << 16 | 1."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"\0" * ((1 + side) * 100)  # each row: filter byte 0, then the pixels
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = z.compress(rows) + z.flush(zlib.Z_FULL_FLUSH)
    n = (1 + side) * side
    body = (
        b"\x78\xda" + block * (side // 100) + b"\x03\x00" + struct.pack(">I", (n % 65521) << 16 | 1)
    )
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit grey
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    path.write_bytes(png)
    return path


def write_text_as_video(path: Path) -> Path:
    """A text file renamed to .mp4."""
    path.write_text("this is not a video, just a note someone renamed\n" * 200)
    return path


# --------------------------------------------------------------------------- network


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ConnectLog:
    """Every outgoing TCP connection attempt made while installed (see ``connect_log``)."""

    attempts: list[tuple] = field(default_factory=list)

    def non_loopback(self) -> list[tuple]:
        return [a for a in self.attempts if a and a[0] not in ("127.0.0.1", "localhost")]


@pytest.fixture
def connect_log(monkeypatch: pytest.MonkeyPatch) -> ConnectLog:
    """Record every socket connect; refuse (without sending a packet) all but 127.0.0.1.

    Guards tests of the SSRF policy: even if the policy let a private address through, no
    traffic would leave this machine, and the test sees the attempt.
    """
    log = ConnectLog()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def _allowed(address: object) -> bool:
        return isinstance(address, tuple) and address[0] == "127.0.0.1"

    def connect(self: socket.socket, address: object) -> None:
        log.attempts.append(tuple(address) if isinstance(address, tuple) else (address,))
        if not _allowed(address):
            raise ConnectionRefusedError(f"test guard: no connections to {address!r}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        log.attempts.append(tuple(address) if isinstance(address, tuple) else (address,))
        if not _allowed(address):
            return 111  # ECONNREFUSED
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return log


HUGE_ANNOUNCED = 10**12


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes (``name`` is a file registered with MediaServer.add):

    - ``/f/<name>``        the file, with Content-Length and byte-range support (206)
    - ``/norange/<name>``  the file as a plain stream: Range ignored, no Accept-Ranges and
                           no Content-Length (close-delimited), like a naive upload server
    - ``/missing/...``     404
    - ``/error/<code>``    that HTTP status
    - ``/slow/<secs>``     sends nothing for ``secs`` seconds, then a short body
    - ``/huge``            announces 10^12 bytes in Content-Length, sends a few
    - ``/stream/<n>``      n bytes with no Content-Length (the limit must hold while reading)
    - ``/redirect?to=URL`` 302 to URL
    - ``/loop``            302 to itself, forever
    """

    protocol_version = "HTTP/1.0"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.server.requests.append((self.command, self.path, self.headers.get("Range")))
        self.server.authorizations.append(self.headers.get("Authorization"))
        parts = urlsplit(self.path)
        route, _, rest = parts.path.lstrip("/").partition("/")
        try:
            if route == "f" and rest in self.server.files:
                self._file(self.server.files[rest], ranges=True)
            elif route == "norange" and rest in self.server.files:
                self._file(self.server.files[rest], ranges=False)
            elif route == "error":
                self._status(int(rest))
            elif route == "slow":
                time.sleep(float(rest))
                self._body(b"late", length=True)
            elif route == "huge":
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(HUGE_ANNOUNCED))
                self.end_headers()
                self.wfile.write(b"\0" * 1024)
            elif route == "stream":
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.end_headers()
                left = int(rest)
                while left > 0:
                    chunk = min(left, 64 * 1024)
                    self.wfile.write(b"\0" * chunk)
                    left -= chunk
            elif route == "loop":
                self.send_response(302)
                self.send_header("Location", "/loop")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif route == "redirect":
                self.send_response(302)
                self.send_header("Location", parse_qs(parts.query)["to"][0])
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._status(404)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a size limit, a timeout): expected in these tests

    def _status(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _body(self, data: bytes, *, length: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if length:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _file(self, data: bytes, *, ranges: bool) -> None:
        rng = self.headers.get("Range") if ranges else None
        if rng and rng.startswith("bytes="):
            first, _, last = rng[6:].split(",")[0].partition("-")
            start = int(first) if first else max(0, len(data) - int(last))
            end = int(last) if first and last else len(data) - 1
            end = min(end, len(data) - 1)
            if start >= len(data) or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            self.wfile.write(data[start : end + 1])
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        if ranges:
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.authorizations: list[str | None] = []  # each request's Authorization header


@dataclass
class MediaServer:
    """A threaded HTTP server on 127.0.0.1 serving registered files (see _Handler)."""

    httpd: _Server

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def requests(self) -> list[tuple[str, str, str | None]]:
        return self.httpd.requests

    @property
    def authorizations(self) -> list[str | None]:
        return self.httpd.authorizations

    def add(self, name: str, data: bytes | Path) -> str:
        """Register a file; returns its /f/ URL (ranges supported)."""
        self.httpd.files[name] = data.read_bytes() if isinstance(data, Path) else data
        return self.url(f"/f/{name}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def redirect_to(self, target: str) -> str:
        return self.url(f"/redirect?to={quote(target, safe='')}")


@pytest.fixture
def media_server() -> Iterator[MediaServer]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield MediaServer(httpd)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def loopback_settings(**overrides: object):  # type: ignore[no-untyped-def]
    """Settings that allow fetching from the local test server (127.0.0.1 only)."""
    from common.settings import Settings

    base: dict[str, object] = {"allow_private_hosts": ["127.0.0.1"], "fetch_timeout_s": 5.0}
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]
