"""``dfscan train``: from manifests to a checksummed model bundle and its model card."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from common.extract import ExtractConfig
from common.features import DEFAULT_FAMILIES, FAMILIES, FEATURE_VERSION
from common.settings import Settings
from common.types import Detector, Sampling, Tracking
from models.bundle import ModelBundle, save_bundle
from models.featurize import Featurized, featurize, matrix_for
from models.manifest import Item
from models.metrics import auc, eer, rates_at
from models.selection import TrainResult, train


@dataclass
class TrainOptions:
    out: Path
    name: str = "dfscan"
    families: tuple[str, ...] = DEFAULT_FAMILIES
    temporal: bool = True
    spread: bool = True  # frame families by mean and spread over frames (False: mean only)
    measure_every: int = 1  # frame families on every k-th face (ExtractConfig.measure_every)
    self_blend: bool = False
    pseudo_only: bool = False  # drop the manifest's fakes: learn from self-blends only
    augment: int = 0  # degraded copies of each real clip (and of its self-blend)
    threshold_rule: str = "frr:0.01"
    dev_split: str = "val"
    detector: Detector = "dlib"
    crop_size: int = 128
    frames: int = 16
    sampling: Sampling = "spread"
    tracking: Tracking = "detect"
    box_jitter: tuple[float, float] | None = None  # models.augment.BoxJitter (shift, log-scale)
    # The manifest's own fakes together weigh this much relative to all self-blends (None: one
    # video, one weight): a few dozen real deepfakes are otherwise lost among the self-blends.
    real_fake_weight: float | None = None
    seed: int = 0
    cache: Path | None = None
    workers: int = 1
    data_description: str = ""


class TrainingDataError(ValueError):
    """The rows cannot make a model (none could be read, or one class only): the manifests'
    fault, not the code's; ``dfscan train`` says it in one line."""


def _groups(rows: list[Featurized]) -> np.ndarray:
    return np.array([r.item.group or r.item.target for r in rows])


def _domains(rows: list[Featurized]) -> np.ndarray:
    """The source of each video, for a threshold that holds per source of real videos."""
    return np.array([r.item.method or r.item.split or "unknown" for r in rows])


def _counts(rows: list[Featurized]) -> dict[str, int]:
    return dict(Counter(f"{r.item.label}:{r.item.method or '-'}" for r in rows))


def extract_config(opt: TrainOptions) -> ExtractConfig:
    """How training reads videos (every family; :func:`video_matrix` picks the model's)."""
    return ExtractConfig(
        FAMILIES,
        detector=opt.detector,
        crop_size=opt.crop_size,
        frames=opt.frames,
        sampling=opt.sampling,
        tracking=opt.tracking,
        measure_every=opt.measure_every,
    )


def featurize_for(
    items: list[Item], settings: Settings, opt: TrainOptions, progress: bool = True
) -> list[Featurized]:
    """Feature rows of the training items (with their self-blended, degraded and box-jittered
    copies) and of the dev split (as a scan reads them: no box jitter)."""
    kw: dict[str, Any] = dict(
        self_blend_seed=opt.seed if opt.self_blend else None,
        augment=opt.augment,
        cache=opt.cache,
        workers=opt.workers,
        progress=progress,
    )
    cfg = extract_config(opt)
    dev_items = [it for it in items if it.split == opt.dev_split]
    train_items = [it for it in items if it.split != opt.dev_split]
    rows = featurize(train_items, settings, cfg, **kw, box_jitter=opt.box_jitter)
    # The threshold is set on dev clips cropped as a scan crops them: no box jitter.
    return rows + (featurize(dev_items, settings, cfg, **kw) if dev_items else [])


def real_fake_weights(rows: list[Featurized], weight: float | None) -> np.ndarray | None:
    """Row weights that give the manifest's fakes ``weight`` x the self-blends' total."""
    if weight is None:
        return None
    fake = np.array([r.item.label == "fake" for r in rows])
    blend = np.array(["self-blend" in (r.item.method or "") for r in rows])
    real_fake = fake & ~blend
    w = np.ones(len(rows))
    if real_fake.any() and blend.any():
        w[real_fake] = weight * blend.sum() / real_fake.sum()
    return w * len(w) / w.sum()


@dataclass
class Fitted:
    """A fitted model and what its card needs, from :func:`fit_rows`."""

    result: TrainResult
    y: np.ndarray
    kept: list[Featurized]
    dev: tuple[np.ndarray, np.ndarray] | None
    failed: Counter[str]


def fit_rows(
    rows: list[Featurized],
    opt: TrainOptions,
    grid: list[dict[str, list[Any]]] | None = None,
) -> Fitted:
    """Select and fit on the non-dev rows, and fix the threshold (dev split and out-of-fold)."""
    failed = Counter(r.error for r in rows if r.matrix is None)
    if opt.pseudo_only:
        rows = [r for r in rows if r.item.label == "real" or "self-blend" in r.item.method]
    dev_rows = [r for r in rows if r.item.split == opt.dev_split]
    train_rows = [r for r in rows if r.item.split != opt.dev_split]
    if not any(r.matrix is not None for r in train_rows):
        raise TrainingDataError(f"no training video could be read (errors: {dict(failed)})")
    x, y, kept = matrix_for(train_rows, opt)
    if len(set(y.tolist())) < 2:
        raise TrainingDataError("training needs both real and fake videos (or --self-blend)")
    dev = dev_domains = None
    if dev_rows:
        xd, yd, dkept = matrix_for(dev_rows, opt)
        dev, dev_domains = (xd, yd), _domains(dkept)
    res = train(
        x,
        y,
        _groups(kept),
        dev=dev,
        threshold_rule=opt.threshold_rule,
        domains=_domains(kept),
        dev_domains=dev_domains,
        seed=opt.seed,
        grid=grid,
        n_jobs=opt.workers,
        sample_weight=real_fake_weights(kept, opt.real_fake_weight),
    )
    return Fitted(res, y, kept, dev, failed)


def run_training(items: list[Item], settings: Settings, opt: TrainOptions) -> dict[str, Any]:
    """Featurize, select and fit, fix the threshold, save the bundle; return the card data."""
    fitted = fit_rows(featurize_for(items, settings, opt), opt)
    res, y, kept, dev, failed = fitted.result, fitted.y, fitted.kept, fitted.dev, fitted.failed
    card: dict[str, Any] = {
        "name": opt.name,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "feature_version": FEATURE_VERSION,
        "families": list(opt.families),
        "temporal": opt.temporal,
        # Recorded only when off, so every bundle trained before stays byte for byte.
        **({"spread": False} if not opt.spread else {}),
        "detector": opt.detector,
        "crop_size": opt.crop_size,
        "frames_per_video": opt.frames,
        # Recorded only when not the default, so spread bundles stay as they were.
        **({"sampling": opt.sampling} if opt.sampling != "spread" else {}),
        **({"tracking": opt.tracking} if opt.tracking != "detect" else {}),
        **({"measure_every": opt.measure_every} if opt.measure_every != 1 else {}),
        "threshold": res.threshold,
        "threshold_rule": res.threshold_rule,
        "threshold_set_on": (
            f"split '{opt.dev_split}' and out-of-fold training scores, per source of reals"
            if dev
            else "out-of-fold training scores, per source of reals"
        ),
        "params": {k.removeprefix("svm__"): v for k, v in res.params.items()},
        "cv_auc": res.cv_auc,
        "oof": {"auc": auc(res.oof_scores, y), "eer": eer(res.oof_scores, y).far},
        "training_data": {
            "description": opt.data_description,
            "counts": _counts(kept),
            "self_blend": opt.self_blend,
            "pseudo_only": opt.pseudo_only,
            "augment": opt.augment,
            **({"box_jitter": list(opt.box_jitter)} if opt.box_jitter else {}),
            **(
                {"real_fake_weight": opt.real_fake_weight}
                if opt.real_fake_weight is not None
                else {}
            ),
            "failed_extraction": dict(failed),
        },
        "cv_table": res.cv_table,
    }
    if dev is not None:
        s = res.pipeline.predict_proba(dev[0])[:, 1]
        at = rates_at(s, dev[1], res.threshold)
        both = len(set(dev[1].tolist())) == 2
        card["dev"] = {
            "auc": auc(s, dev[1]) if both else None,
            "eer": eer(s, dev[1]).far if both else None,
            "far": at.far,
            "frr": at.frr,
            "n": int(len(dev[1])),
        }
    bundle = ModelBundle(res.pipeline, {k: v for k, v in card.items() if k != "cv_table"})
    card["model_version"] = save_bundle(bundle, opt.out)
    write_card(card, opt.out / "card.md")
    return card


def write_card(card: dict[str, Any], path: Path) -> None:
    """A readable model card beside the bundle (not covered by the checksum: documentation)."""
    td = card["training_data"]
    lines = [
        f"# Model card: {card['model_version']}",
        "",
        f"- Trained: {card['trained_at']}; feature version {card['feature_version']}",
        f"- Families: {', '.join(card['families'])}"
        + (" + temporal" if card["temporal"] else "")
        + (
            "; frame families by their mean over frames only"
            if not card.get("spread", True)
            else ""
        ),
        f"- Face detector: {card['detector']}; crop {card['crop_size']} px; "
        f"{card['frames_per_video']} frames per video"
        + (f" ({card['sampling']} sampling)" if card.get("sampling") else "")
        + (f"; faces tracked by {card['tracking']}" if card.get("tracking") else "")
        + (
            f"; frame families on 1 face in {card['measure_every']}"
            if card.get("measure_every", 1) != 1
            else ""
        ),
        f"- Classifier: StandardScaler + SVC {card['params']}",
        f"- Cross-validated AUC (grouped by identity): {card['cv_auc']:.3f}; out-of-fold EER "
        f"{card['oof']['eer']:.3f}",
        f"- Threshold P(fake) >= {card['threshold']:.4f} ({card['threshold_rule']}, set on "
        f"{card['threshold_set_on']})",
        "",
        "## Training data",
        "",
        td["description"] or "(not described)",
        "",
        f"- Counts: {td['counts']}",
        f"- Self-blended pseudo-fakes: {td['self_blend']}; pseudo-fakes only: {td['pseudo_only']}; "
        f"degraded copies per real clip: {td.get('augment', 0)}"
        + (
            f"; box jitter (shift, log size): {tuple(td['box_jitter'])}"
            if td.get("box_jitter")
            else ""
        ),
        f"- Failed extraction: {td['failed_extraction'] or 'none'}",
    ]
    if "dev" in card:
        d = card["dev"]
        ranking = f"AUC {d['auc']:.3f}, EER {d['eer']:.3f}; " if d.get("auc") is not None else ""
        lines += [
            "",
            "## Dev split",
            "",
            "Scored as trained: with --pseudo-only its fakes are self-blends of the dev reals, "
            "not real deepfakes (dfscan evaluate measures those).",
            "",
            f"{ranking}at the threshold FAR {d['far']:.3f}, FRR {d['frr']:.3f} (n={d['n']})",
        ]
    extra = card.get("notes")
    if extra:
        lines += ["", "## Notes", "", extra]
    path.write_text("\n".join(lines) + "\n")
