"""Dry runs: the queue path of the distributed mode without the scan, for load tests.

A worker started with ``dfscan worker --dry-run`` (``DFSCAN_DRY_RUN=1``; never the default)
takes tasks from its own queue only, :data:`QUEUE`, never the scan queue, and runs each one
through the real task (delivery, retries, the upsert, the acknowledgement) with
:class:`DryRunScanner` in place of the scanner: nothing is fetched, decoded or scored.
``dfscan submit --dry-run`` sends a list to that queue, and ``dfscan bench --queue-load N``
drives both to measure what each task costs the broker, the database and the worker.

A dry run never writes a score: its rows are recorded under the model version
:data:`VERSION` (so they never stand for, or stand in the way of, a real scan of the same
URL), with status ``failed`` and the error code ``dry_run``. A real task that reached a dry
worker, or a dry task that reached a real one, is recorded ``model_mismatch`` by the task's
version check, unscored.
"""

from __future__ import annotations

import time

from common.errors import ScanError
from common.settings import Settings
from common.target_policy import check_worker_target
from common.types import ScanResult

VERSION = "dry-run"
QUEUE = "dfscan.dry-run"
CODE = "dry_run"
MESSAGE = "dry run: nothing fetched or scanned (a load test of the queue path)"


class DryRunScanner:
    """Stands in for :class:`models.scanner.Scanner` in a dry-run worker.

    It checks the target against the workers' policy, as a scan does before it fetches,
    and records :data:`CODE` for every target that passes.
    """

    model_version = VERSION

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def warm_up(self) -> None:
        """Nothing to load or warm: a dry run scans nothing."""

    def scan(self, target: str, *, raise_retryable: bool = False) -> ScanResult:
        t0 = time.perf_counter()
        result = ScanResult(target=target, model_version=VERSION)
        try:
            check_worker_target(target, self.settings)
            result.error = {"code": CODE, "message": MESSAGE}
        except ScanError as exc:
            result.error = exc.as_dict()
        result.seconds = time.perf_counter() - t0
        return result
