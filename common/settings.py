"""One settings object for every entry point (CLI, Celery worker, scheduler).

Built once at each entry point with :func:`load_settings` and passed down; the pure modules
below it (frames, faces, features) never read the environment themselves.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.types import Detector, Sampling, Tracking


class Settings(BaseSettings):
    """dfscan configuration, read from ``DFSCAN_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="DFSCAN_", extra="ignore")

    # Transport and storage. No broker means the embedded mode (in-process pool).
    database_url: str = Field(default="sqlite:///dfscan.db", description="SQLAlchemy URL")
    broker_url: str | None = Field(default=None, description="Redis URL; unset = embedded mode")
    result_backend: str | None = None

    # S3 (and S3-compatible servers such as MinIO or moto_server).
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    # Model and how it reads videos. A model bundle records how it was trained
    # (models.bundle.ModelBundle.extract_config):
    # - face_detector and crop_size: the bundle's own win (its features depend on them); a
    #   setting is used only for a bundle that records none, and one that differs from the
    #   bundle's is ignored with a warning.
    # - sampling and tracking: unset = the bundle's; set, the setting wins, with a warning
    #   that the model's threshold may then not hold.
    model_path: Path | None = Field(default=None, description="model bundle; unset = bundled")
    # A bundle other than the bundled model is unpickled only if the operator vouches for it
    # (models.trusted): by its digest (sha256 of its SHA256SUMS, printed by `dfscan train`),
    # or by an Ed25519 signature (SHA256SUMS.sig) checked with this public key (PEM file).
    model_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    model_public_key: Path | None = Field(default=None, description="Ed25519 public key, PEM")
    # An operator's own operating point: P(fake) at or above it is labelled fake. Unset = the
    # model's threshold (fixed at training for a low false-flag rate on real videos).
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    frames_per_video: int = Field(default=16, ge=1, le=256)
    face_detector: Detector | None = Field(default=None, description="unset = the model's")
    crop_size: int | None = Field(default=None, ge=64, le=512, description="unset = the model's")
    sampling: Sampling | None = Field(default=None, description="unset = the model's")
    tracking: Tracking | None = Field(default=None, description="unset = the model's")

    # Limits on hostile or oversized input.
    max_bytes: int = Field(default=2 * 1024**3, ge=1)
    max_duration_s: float = Field(default=4 * 3600.0, gt=0)
    max_pixels: int = Field(default=4096 * 4096, ge=1)
    timeout_s: float = Field(default=600.0, gt=0, description="per-video time limit")
    fetch_timeout_s: float = Field(default=30.0, gt=0, description="per-request socket timeout")

    # Fetch safety: URLs resolving to private/loopback/link-local addresses are refused
    # unless listed here (CIDRs or host names). Tests allow 127.0.0.1 explicitly.
    allowed_schemes: list[str] = Field(default_factory=lambda: ["http", "https", "s3", "file"])
    allow_private_hosts: list[str] = Field(default_factory=list)
    # Distributed workers read local paths and file:// URLs only inside this folder (unset:
    # none; `dfscan submit` refuses such lines then). The embedded `dfscan scan` reads any
    # local file its user names. See common.target_policy.
    local_root: Path | None = Field(default=None, description="folder workers may read")

    # Workers.
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    # A load test of the queue path (worker.dry_run): a dry-run worker takes tasks from the
    # dry-run queue only, scans nothing, and records unscored rows under the model version
    # "dry-run". Never the default; `dfscan worker --dry-run` sets it.
    dry_run: bool = False
    task_max_retries: int = Field(default=3, ge=0)
    # How long a finished result waits for an unavailable database (the task goes back to the
    # queue with it, with backoff) before it is dropped; its row then stays pending for the
    # recovery sweep. Outages shorter than this lose nothing.
    db_wait_s: float = Field(default=3600.0, gt=0)
    # The recovery sweep (worker.recovery): rows pending longer than recover_after_s with no
    # task in the broker are sent again, every recover_every_s (dfscan beat) or on demand
    # (dfscan recover); a row that lost its task recover_max times is recorded failed.
    recover_after_s: float = Field(default=300.0, ge=0)
    recover_every_s: float = Field(default=60.0, gt=0)
    recover_max: int = Field(default=3, ge=0)
    # Redis hands an unacknowledged task to another worker after this long (its worker died
    # mid-scan), so it must exceed the longest scan. None = derived from timeout_s.
    visibility_timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("database_url")
    @classmethod
    def _a_database_url(cls, value: str) -> str:
        # SQLAlchemy's form, dialect[+driver]://...; a bare file path is the usual slip, and
        # SQLAlchemy would only say so with a traceback when the first command connects.
        if not re.match(r"^[A-Za-z][\w+.-]*://", value):
            raise ValueError(
                "not a database URL: give sqlite:///FILE for a file (sqlite:////abs/path) or "
                "postgresql+psycopg://USER@HOST/DB"
            )
        return value


def problems(exc: ValidationError, options: Collection[str] = ()) -> str:
    """One line per bad setting, with the value given, named as the operator set it: its
    ``DFSCAN_*`` variable, or for the fields in ``options`` (set by a command-line option)
    the field. What an entry point prints instead of a traceback."""
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "settings"
        name = f"{field} (option)" if field in options else f"DFSCAN_{field.upper()}"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {msg} (got {err.get('input')!r})")
    return "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides from the CLI."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]


def as_environment(settings: Settings) -> dict[str, str]:
    """The ``DFSCAN_*`` variables that build ``settings`` again in a child process (the
    workers a benchmark starts); unset fields are left out."""
    out = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is not None:
            out[f"DFSCAN_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return out
