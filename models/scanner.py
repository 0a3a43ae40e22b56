"""The scan of one target: the core below both front ends.

The embedded pool (``scheduler.embedded``) and the Celery task (``worker.tasks``) both run
:class:`Scanner`. It imports no Celery: a front end whose runtime interrupts a scan with its
own exception (Celery's soft time limit) names that exception in ``timeouts``, and the scan
records it as a ``timeout`` here, the one place that maps timeouts.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from common.errors import ScanError, ScanTimeout, from_os_error, internal_error, utf8_safe
from common.extract import ExtractConfig, Extraction, FaceTransform, extract
from common.image_size import preload as preload_image_headers
from common.settings import Settings
from common.target_policy import check_worker_target
from common.types import ScanResult
from models.bundle import ModelBundle, load_bundle
from models.trusted import Trust

log = logging.getLogger(__name__)

# The warm-up clip's frame size: small, and its face (0.85 of the height) found at once.
WARM_UP_SIZE = (320, 240)


def config_for(bundle: ModelBundle, settings: Settings) -> ExtractConfig:
    """Crops and detector as the model was trained; frames per video from settings."""
    return bundle.extract_config(settings, settings.frames_per_video)


class Scanner:
    """Loads the model once; ``scan`` turns a target into a ScanResult.

    Bad input never raises: its error is recorded in the result. With ``raise_retryable``,
    retryable errors (network) propagate, so the caller (a Celery task) can retry them.

    A scanner reads what a distributed worker may (common.target_policy: URLs, local files
    only under DFSCAN_LOCAL_ROOT) unless built with ``local_files=True``, as the embedded
    ``dfscan scan`` is: there the user names the files on their own machine.
    """

    def __init__(
        self,
        settings: Settings,
        bundle: ModelBundle | None = None,
        *,
        timeouts: tuple[type[BaseException], ...] = (),
        local_files: bool = False,
    ) -> None:
        self.settings = settings
        self.timeouts = timeouts
        self.local_files = local_files
        self.bundle = bundle or load_bundle(settings.model_path, Trust.from_settings(settings))
        self.cfg = config_for(self.bundle, settings)
        preload_image_headers()  # start-up cost, not the first scan's
        self.threshold = (
            settings.threshold if settings.threshold is not None else self.bundle.threshold
        )

    @property
    def model_version(self) -> str:
        return self.bundle.version

    def check_target(self, target: str) -> None:
        """Raise the policy's error (``blocked_path``...) if this scanner may not read it."""
        if not self.local_files:
            check_worker_target(target, self.settings)

    def preload(self) -> None:
        """Load now what the first scan would load: the face detector with dlib's landmark
        model (~100 MB, ~0.9 CPU-s) and the video decoder's library (PyAV).

        A parent process calls this before it forks its workers, so that they share these
        pages (copy-on-write) instead of each loading its own copy, and start scanning at
        once. It starts no thread, so a fork after it is safe.
        """
        import av  # noqa: F401 - loaded for the forked workers

        from common.faces import make_detector

        make_detector(self.cfg.detector)

    def warm_up(self) -> None:
        """Run the whole scan once on a small generated clip (``models.samples``: the
        astronaut photo, as ``dfscan sample`` makes), so that what a first scan sets up
        lazily (the decoder's and OpenCV's static tables, the feature families' cached
        geometry, the classifier's first call) is set up in this process.

        A parent that then forks its workers shares those pages with them (~27 MB per
        worker, measured) and their first scans run at full speed. Best effort: a bundle
        that finds no face in it is merely not warmed. Starts no thread that outlives it.
        """
        from models.samples import sample_frames, write_video

        with tempfile.TemporaryDirectory(prefix="dfscan-warm-up-") as tmp:
            frames = sample_frames(self.cfg.frames, size=WARM_UP_SIZE)
            clip = write_video(Path(tmp) / "warm-up.mp4", frames, threads=1)
            try:
                ex = extract(str(clip), self.settings, self.cfg)
                self.bundle.score_explained(ex.vector)
            except ScanError as exc:
                log.info("warm-up scan: %s (the workers warm up on their first scan)", exc)

    def scan(self, target: str, *, raise_retryable: bool = False) -> ScanResult:
        return self.examine(target, raise_retryable=raise_retryable)[0]

    def examine(
        self,
        target: str,
        *,
        raise_retryable: bool = False,
        transform: FaceTransform | None = None,
    ) -> tuple[ScanResult, Extraction | None]:
        """:meth:`scan`, and the extraction it scored (None when the scan failed): the faces
        and frame vectors behind the score, for explain pages. ``transform`` edits each face
        crop before it is measured (a self-blend, to show what a blend looks like)."""
        t0 = time.perf_counter()
        shown = utf8_safe(target)  # a file name's stray bytes, escaped for output and storage
        result = ScanResult(target=shown, model_version=self.model_version)
        ex = None
        try:
            self.check_target(target)
            ex = extract(target, self.settings, self.cfg, transform=transform)
            t1 = time.perf_counter()
            scores, result.families = self.bundle.score_explained(ex.vector)
            score = float(scores[0])
            ex.timings["classify"] = time.perf_counter() - t1
            result.score = score
            result.label = "fake" if score >= self.threshold else "real"
            result.frames_used, result.faces_found = ex.frames_used, ex.faces_found
            result.timings, result.content_sha256 = ex.timings, ex.sha256
        except self.timeouts:
            # A front end's time limit (Celery's soft limit is a plain Exception raised
            # wherever the task happens to be) would otherwise be an internal_error.
            result.error = ScanTimeout("scan exceeded the task time limit").as_dict()
        except ScanError as exc:
            if exc.retryable and raise_retryable:
                raise
            result.error = exc.as_dict()
        except OSError as exc:  # the file system changed under the scan (a folder deleted)
            result.error = from_os_error(shown, exc).as_dict()
        except Exception as exc:  # a decoder or library bug must not take the worker down
            log.exception("unexpected failure scanning %s", shown)
            result.error = internal_error(exc).as_dict()
        result.seconds = time.perf_counter() - t0
        return result, (None if result.error else ex)


def pool_scanner(
    settings: Settings,
    *,
    timeouts: tuple[type[BaseException], ...] = (),
    local_files: bool = False,
) -> Scanner:
    """A whole Scanner for a pool of worker processes, loaded in the calling process.

    One worker process per core, so OpenCV and the BLAS under numpy run on one thread (their
    own pools of threads would only oversubscribe the cores); the settings are per process,
    and forked workers inherit them. One BLAS thread also makes a score the same on every
    machine: a threaded BLAS splits sums by its thread count, which moves the last bits.
    """
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    scanner = Scanner(settings, timeouts=timeouts, local_files=local_files)
    scanner.preload()
    # After the model's unpickling: a BLAS that scikit-learn's imports load (SciPy's own
    # OpenBLAS) is limited only if it is loaded by then.
    threadpool_limits(limits=1)
    return scanner
