"""Checksummed model bundles: the fitted pipeline plus everything needed to trust and use it.

A bundle is a folder with ``model.pkl`` (the scikit-learn Pipeline: scaler + SVM),
``meta.json`` (feature version, families, threshold, library versions, training data) and
``SHA256SUMS`` covering both. Before anything is unpickled, the checksums are verified, the
bundle must be trusted (``models.trusted``: the bundled model's digest is pinned in the code,
any other needs the operator's digest or signature) and the feature version must match: a
pickle can run code, and a model fed vectors of another feature version scores garbage
silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.extract import ExtractConfig
from common.features import FEATURE_VERSION, compatible, select, select_clips, video_layout
from common.settings import Settings
from models.trusted import SIGNATURE, Trust, UntrustedBundle, digest_of

PICKLE = "model.pkl"
META = "meta.json"
SUMS = "SHA256SUMS"
DEFAULT_BUNDLE = Path(__file__).resolve().parent / "default"

log = logging.getLogger(__name__)


class BundleError(RuntimeError):
    """The bundle is missing, tampered with, or made for other features."""


def library_versions() -> dict[str, str]:
    import cv2
    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "opencv": cv2.__version__,
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def version_of(meta: dict[str, Any]) -> str:
    return str(meta.get("model_version", "unversioned"))


@dataclass
class ModelBundle:
    """A fitted pipeline and its metadata; ``score`` gives P(fake) per video vector."""

    pipeline: Any
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(self.meta["families"])

    @property
    def temporal(self) -> bool:
        return bool(self.meta.get("temporal", True))

    @property
    def spread(self) -> bool:
        return bool(self.meta.get("spread", True))

    @property
    def measure_every(self) -> int:
        return int(self.meta.get("measure_every", 1))

    @property
    def threshold(self) -> float:
        return float(self.meta["threshold"])

    @property
    def version(self) -> str:
        return version_of(self.meta)

    def choice(self, key: str, setting: Any, default: Any) -> Any:
        """How to read videos (``sampling``, ``tracking``): as trained, unless a setting says.

        The explicit setting wins, with a warning when it differs from the model's own.
        """
        trained = self.meta.get(key, default)
        if setting is None or setting == trained:
            return trained
        log.warning(
            "%s=%s overrides model %s, trained with %s=%s: its scores and threshold may not hold",
            key,
            setting,
            self.version,
            key,
            trained,
        )
        return setting

    def recorded(self, key: str, setting: Any, default: Any) -> Any:
        """What the features depend on (``detector``, ``crop_size``): the model's own.

        A setting is used only when the bundle records none; one that differs from the
        bundle's is ignored, with a warning rather than silently.
        """
        if key not in self.meta:
            return default if setting is None else setting
        trained = self.meta[key]
        if setting is not None and setting != trained:
            log.warning(
                "%s=%s ignored: model %s was trained with %s=%s, which it keeps",
                key,
                setting,
                self.version,
                key,
                trained,
            )
        return trained

    def extract_config(self, settings: Settings, frames: int) -> ExtractConfig:
        """Crops, detector, sampling and tracking as the model was trained (see
        :meth:`recorded`; sampling and tracking overridable, see :meth:`choice`); ``frames``
        per video."""
        return ExtractConfig(
            families=select(self.families),
            temporal=self.temporal,
            spread=self.spread,
            detector=self.recorded("detector", settings.face_detector, "dlib"),
            crop_size=int(self.recorded("crop_size", settings.crop_size, 128)),
            frames=frames,
            sampling=self.choice("sampling", settings.sampling, "spread"),
            tracking=self.choice("tracking", settings.tracking, "detect"),
            clips=select_clips(self.families),
            measure_every=self.measure_every,
        )

    def score(self, x: np.ndarray) -> np.ndarray:
        """P(fake) for each row of a (N, D) matrix of video vectors."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        return self.pipeline.predict_proba(x)[:, 1]

    def explain(self, x: np.ndarray) -> dict[str, float]:
        """Per-family ablation: how much the score drops when a family is set to its mean.

        Positive values pushed this video towards "fake". The training mean is the scaler's
        ``mean_``, so an ablated family looks average, not absent.
        """
        return self.score_explained(x)[1]

    def score_explained(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """:meth:`score` and :meth:`explain` of the rows of ``x`` from one model call."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        mean = self.pipeline.named_steps["scale"].mean_
        layout = video_layout(
            select(self.families), self.temporal, select_clips(self.families), spread=self.spread
        )
        # One predict_proba call for the video and all its ablations: the calibrated SVM's
        # per-call overhead (input validation, 3 calibrators) costs more than the rows.
        stacked = np.repeat(x[None], 1 + len(layout), axis=0)
        for i, cols in enumerate(layout.values(), start=1):
            stacked[i][:, cols] = mean[cols]
        scores = self.score(stacked.reshape(-1, x.shape[1])).reshape(1 + len(layout), -1)
        drops = {
            name: float(np.mean(scores[0] - scores[i])) for i, name in enumerate(layout, start=1)
        }
        return scores[0], drops


def save_bundle(bundle: ModelBundle, folder: Path) -> str:
    """Write the bundle and its checksums; return the model version (name + hash prefix)."""
    folder.mkdir(parents=True, exist_ok=True)
    pkl = folder / PICKLE
    pkl.write_bytes(pickle.dumps(bundle.pipeline, protocol=pickle.HIGHEST_PROTOCOL))
    meta = dict(bundle.meta)
    meta.setdefault("feature_version", FEATURE_VERSION)
    meta["libraries"] = library_versions()
    meta["model_version"] = f"{meta.get('name', 'model')}-{_sha256(pkl)[:12]}"
    (folder / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    sums = "".join(f"{_sha256(folder / n)}  {n}\n" for n in (PICKLE, META))
    (folder / SUMS).write_text(sums)
    bundle.meta = meta
    return meta["model_version"]


def bundle_digest(folder: Path) -> str:
    """The digest an operator vouches for (DFSCAN_MODEL_SHA256): sha256 of SHA256SUMS."""
    return digest_of((folder / SUMS).read_bytes())


def _verify(folder: Path, trust: Trust) -> None:
    """Files match SHA256SUMS, and SHA256SUMS is one the trust policy accepts."""
    sums = folder / SUMS
    if not sums.is_file():
        raise BundleError(f"{folder}: no {SUMS}; refusing to load a bundle without checksums")
    raw = sums.read_bytes()
    expected = dict(
        reversed(line.split("  ", 1)) for line in raw.decode().splitlines() if line.strip()
    )
    for name in (PICKLE, META):
        if name not in expected:
            raise BundleError(f"{folder}/{SUMS} does not cover {name}")
        if not (folder / name).is_file():
            raise BundleError(f"{folder}: {name} is missing")
        if _sha256(folder / name) != expected[name]:
            raise BundleError(f"{folder}/{name}: checksum mismatch; the file was altered")
    signature = folder / SIGNATURE
    try:
        why = trust.check(raw, signature.read_bytes() if signature.is_file() else None)
    except UntrustedBundle as exc:
        raise BundleError(f"model {folder} is not trusted: {exc}") from exc
    log.debug("model %s trusted: %s", folder, why)


def check_bundle(folder: Path | None = None, trust: Trust | None = None) -> dict[str, Any]:
    """Everything :func:`load_bundle` checks, without unpickling; returns the bundle's meta.

    ``None`` is the bundled model. ``trust`` (from the settings: ``Trust.from_settings``)
    says which other bundles may load; without it, only the bundled model does.
    """
    folder = Path(folder) if folder is not None else DEFAULT_BUNDLE
    if not folder.is_dir():
        raise BundleError(f"no model bundle at {folder}")
    _verify(folder, trust or Trust())
    meta = json.loads((folder / META).read_text())
    used = [*meta.get("families", []), *(["temporal"] if meta.get("temporal", True) else [])]
    if not compatible(meta.get("feature_version"), used):
        raise BundleError(
            f"model {folder} was trained on feature version {meta.get('feature_version')!r}, "
            f"but this dfscan computes version {FEATURE_VERSION!r}: retrain it (dfscan train)"
        )
    try:
        select(meta["families"])  # unknown family names fail here, before unpickling
    except (KeyError, ValueError) as exc:
        raise BundleError(f"model {folder}: unusable feature families: {exc}") from exc
    return meta


def load_bundle(folder: Path | None = None, trust: Trust | None = None) -> ModelBundle:
    """Verify, check trust and the feature version (:func:`check_bundle`), then unpickle."""
    folder = Path(folder) if folder is not None else DEFAULT_BUNDLE
    meta = check_bundle(folder, trust)
    with (folder / PICKLE).open("rb") as fh:
        pipeline = pickle.load(fh)  # noqa: S301 - checksums and trust verified above
    return ModelBundle(pipeline=pipeline, meta=meta)
