"""Render a static page in headless Chromium (Debian's ``chromium``): a screenshot, or the
DOM after load. Used by the page tests and to make the README's screenshot.

Each call starts a fresh browser with its own profile folder, deleted afterwards, and with
everything that reaches out to the network at start-up switched off. ``--no-sandbox`` is
needed as root (CI), where Chromium's sandbox refuses to start.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Containers often give /dev/shm 64 MB, too little for a tall page's tiles.
    "--disable-dev-shm-usage",
)


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    """The Chromium binary on PATH (or /usr/bin/chromium), None when there is none."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _run(args: list[str], timeout: float, binary: str | None) -> subprocess.CompletedProcess[str]:
    binary = binary or find_chromium()
    if binary is None:
        raise BrowserError("no Chromium found (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="dfscan-chromium-") as profile:
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise BrowserError(f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def screenshot(
    page: Path,
    png: Path,
    size: tuple[int, int] = (1280, 2400),
    *,
    binary: str | None = None,
    timeout: float = 120,
) -> Path:
    """A PNG of ``page`` (a local HTML file) as Chromium draws it, ``size`` = (width, height);
    ``binary``: the Chromium to run (default: found on PATH)."""
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={png.resolve()}",
            page.resolve().as_uri(),
        ],
        timeout,
        binary,
    )
    if not png.is_file():
        raise BrowserError(f"chromium wrote no screenshot to {png}")
    return png


def dump_dom(
    page: Path,
    *,
    binary: str | None = None,
    timeout: float = 120,
    allow_file_access: bool = False,
) -> str:
    """The page's DOM as Chromium has it after load (after the page's own scripts ran);
    ``allow_file_access``: let a local page read other local files (an iframe's DOM)."""
    extra = ["--allow-file-access-from-files"] if allow_file_access else []
    # A virtual time budget lets the load (and the page's own timers) finish first.
    args = [*extra, "--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri()]
    return _run(args, timeout, binary).stdout
