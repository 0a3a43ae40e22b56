"""Feature extraction over a manifest, cached per (content, feature version, recipe).

Frame matrices of *all* frame families are cached, so retraining, family ablations and
threshold changes never decode a video twice; video vectors for any family subset are made
from the cached matrices.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from common.errors import ScanError
from common.extract import ExtractConfig, extract
from common.features import (
    CLIP_FAMILIES,
    CLIP_NAMES,
    FAMILIES,
    FEATURE_VERSION,
    clip_slices,
    frame_slices,
    select,
    select_clips,
    video_vector,
)
from common.media import IMAGE_SUFFIXES
from common.nuisance import Nuisance
from common.settings import Settings
from models.augment import AUGMENT_VERSION, BoxJitter, Degrader
from models.manifest import Item
from models.selfblend import SelfBlender


@dataclass(frozen=True, slots=True)
class Recipe:
    """How a training row is made from its item: as is, self-blended, degraded, or both;
    with box jitter, its face boxes are moved at random before the crops are cut."""

    blend_seed: int | None = None
    degrade_seed: int | None = None
    jitter: BoxJitter | None = None

    @property
    def method(self) -> str | None:
        parts = ["self-blend"] if self.blend_seed is not None else []
        parts += ["degraded"] if self.degrade_seed is not None else []
        return "+".join(parts) or None

    def transform(self):  # type: ignore[no-untyped-def]
        blend = SelfBlender(self.blend_seed) if self.blend_seed is not None else None
        if self.degrade_seed is None:
            return blend
        return Degrader(self.degrade_seed, then=blend)

    def jittered(self, target: str, box_jitter: tuple[float, float] | None) -> Recipe:
        if box_jitter is None:
            return self
        seed = seed_for(f"{target}|{self.blend_seed}|{self.degrade_seed}", 104729)
        return replace(self, jitter=BoxJitter(seed, *box_jitter))


@dataclass(slots=True)
class Featurized:
    item: Item
    matrix: np.ndarray | None  # (faces, D_all) or None on error
    error: str | None = None
    recipe: Recipe = Recipe()
    nuisance: Nuisance | None = None  # face size, frame size, length... (never a feature)
    clip: np.ndarray | None = None  # every clip family's vector (common.features.CLIP_FAMILIES)


def content_key(target: str) -> str:
    """Cheap identity of local content (path, sizes, mtimes); URLs are keyed by themselves."""
    p = Path(target)
    if "://" in target or not p.exists():
        return target
    if p.is_dir():
        stats = [(c.name, c.stat()) for c in sorted(p.iterdir())]
        parts = [f"{name}:{st.st_size}:{st.st_mtime_ns}" for name, st in stats]
        return f"{p.resolve()}|" + ",".join(parts)
    st = p.stat()
    return f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _may_be_video(target: str) -> bool:
    """False for a local frame folder or image file, which every sampling reads alike."""
    p = Path(target)
    if "://" in target or not p.exists():
        return True
    return not (p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES)


def cache_key(target: str, cfg: ExtractConfig, recipe: Recipe) -> str:
    key: dict[str, object] = {
        "fv": FEATURE_VERSION,
        "det": cfg.detector,
        "crop": cfg.crop_size,
        "frames": cfg.frames,
        "blend": recipe.blend_seed,
        **(
            {"degrade": recipe.degrade_seed, "aug_v": AUGMENT_VERSION}
            if recipe.degrade_seed is not None
            else {}
        ),
        "content": content_key(target),
    }
    if cfg.region != "face":  # face keys stay as they were, so existing caches stay warm
        key["region"] = cfg.region
    if cfg.sampling != "spread" and _may_be_video(target):
        # Likewise; frame folders and images are always spread, so their keys are shared.
        key["sampling"] = cfg.sampling
        key["spread_fallback"] = 1  # common.extract: too few faces in the runs -> spread
    if cfg.tracking != "detect":
        key["tracking"] = cfg.tracking
    if recipe.jitter is not None:
        key["jitter"] = asdict(recipe.jitter)
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def seed_for(target: str, seed: int) -> int:
    """A 32-bit seed drawn from (``seed``, ``target``): the same per video on every run."""
    return int.from_bytes(hashlib.sha256(f"{seed}|{target}".encode()).digest()[:4], "little")


_WORKER: dict[str, object] = {}


def _init(settings: Settings, cfg: ExtractConfig, cache: Path | None, nuisance: bool) -> None:
    _WORKER.update(settings=settings, cfg=cfg, cache=cache, nuisance=nuisance)


def nuisance_path(matrix_path: Path) -> Path:
    """Where the nuisance measures of a cached frame matrix are kept: beside it, so caches
    written before they existed stay valid (a missing file is filled in on demand)."""
    return matrix_path.with_suffix(".nuisance.json")


def clip_path(matrix_path: Path) -> Path:
    """Where the clip families' vector of a cached frame matrix is kept: beside it."""
    return matrix_path.with_suffix(".clip")


def _save(path: Path, write) -> None:  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # concurrent runs never collide
    with tmp.open("wb") as fh:
        write(fh)
    tmp.replace(path)


def _one(job: tuple[Item, Recipe]) -> Featurized:
    item, recipe = job
    settings: Settings = _WORKER["settings"]  # type: ignore[assignment]
    cfg: ExtractConfig = _WORKER["cfg"]  # type: ignore[assignment]
    cache: Path | None = _WORKER["cache"]  # type: ignore[assignment]
    path = cache / f"{cache_key(item.target, cfg, recipe)}.npy" if cache else None
    ready = path is not None and path.exists() and clip_path(path).exists()
    cached = np.load(path) if ready else None
    clip = np.load(clip_path(path)) if ready else None
    if cached is not None and path is not None:
        side = nuisance_path(path)
        # Measures belong to the clip: its self-blended or degraded copies need none.
        if not _WORKER["nuisance"] or recipe.method is not None:
            return Featurized(item, cached, None, recipe, clip=clip)
        if side.exists():
            measures = Nuisance.from_json(json.loads(side.read_text()))
            return Featurized(item, cached, None, recipe, measures, clip=clip)
        # A matrix cached before nuisance measures were kept: read the clip once more for
        # them; the cached matrix stays as it is.
    try:
        ex = extract(
            item.target, settings, cfg, transform=recipe.transform(), reframe=recipe.jitter
        )
    except ScanError as exc:
        if cached is not None:
            return Featurized(item, cached, None, recipe, clip=clip)
        return Featurized(item, None, exc.code, recipe)
    if path is not None:
        if cached is None:
            _save(path, lambda fh: np.save(fh, ex.frame_matrix))
            _save(clip_path(path), lambda fh: np.save(fh, ex.clip))
        if ex.nuisance is not None:
            text = json.dumps(ex.nuisance.as_json()).encode()
            _save(nuisance_path(path), lambda fh: fh.write(text))
    if cached is None:
        cached, clip = ex.frame_matrix, ex.clip
    return Featurized(item, cached, None, recipe, ex.nuisance, clip=clip)


def featurize(
    items: Sequence[Item],
    settings: Settings,
    cfg: ExtractConfig,
    *,
    self_blend_seed: int | None = None,
    augment: int = 0,
    box_jitter: tuple[float, float] | None = None,
    cache: Path | None = None,
    workers: int = 1,
    progress: bool = False,
    nuisance: bool = False,
) -> list[Featurized]:
    """Frame matrices for every item, read as ``cfg`` says; with a seed, self-blended
    pseudo-fakes of the reals too.

    The matrices hold *every* frame family whatever ``cfg.families`` says, and ``clip``
    every clip family (that is what the cache keeps; :func:`video_matrix` picks a subset).
    Pseudo-fakes come back as extra rows labelled "fake" with method "self-blend", made only
    from items labelled real.
    ``augment`` adds that many degraded copies of each real item (label real, method
    "degraded") and, with a blend seed, of its pseudo-fake. ``box_jitter`` (shift, log-scale
    standard deviations, see models.augment.BoxJitter) moves the face boxes of every row at
    random, one draw per row.

    ``nuisance``: every row of a clip as it is (not its self-blends or degraded copies) that
    has a face carries its nuisance measures (face size, frame size, length...;
    :class:`common.nuisance.Nuisance`). They are cached beside the matrices;
    a matrix cached without them is read once more to fill them in. Without the flag, rows
    read fresh carry them and cached ones may not.
    """
    # Every face is measured too: :func:`video_matrix` takes every k-th row for a model that
    # measures every k-th face (the same rows: a frame vector depends on its face alone).
    cfg = replace(cfg, families=FAMILIES, temporal=True, clips=CLIP_FAMILIES, measure_every=1)
    jobs = [
        (it, recipe.jittered(it.target, box_jitter))
        for it in items
        for recipe in _recipes(it, self_blend_seed, augment)
    ]
    results = list(_run(jobs, settings, cfg, cache, workers, progress, nuisance))
    for r in results:
        method = r.recipe.method
        if method is not None:
            it = r.item
            label = "fake" if r.recipe.blend_seed is not None else it.label
            r.item = Item(it.target, label, it.group, it.split, method)
    return results


def _recipes(item: Item, blend_seed: int | None, augment: int) -> list[Recipe]:
    out = [Recipe()]
    if item.label != "real":
        return out
    blend = seed_for(item.target, blend_seed) if blend_seed is not None else None
    if blend is not None:
        out.append(Recipe(blend_seed=blend))
    for copy in range(augment):
        deg = seed_for(item.target, 7919 * (copy + 1) + (blend_seed or 0))
        out.append(Recipe(degrade_seed=deg))
        if blend is not None:
            out.append(Recipe(blend_seed=blend, degrade_seed=deg))
    return out


def _run(jobs, settings, cfg, cache, workers, progress, nuisance) -> Iterator[Featurized]:  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), disable=not progress, unit="video", desc="features")
    init = (settings, cfg, cache, nuisance)
    if workers <= 1:
        _init(*init)
        for j in jobs:
            yield _one(j)
            bar.update()
    else:
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init, initargs=init) as pool:
            for r in pool.imap(_one, jobs, chunksize=2):
                yield r
                bar.update()
    bar.close()


def family_columns(families: Sequence[str]) -> np.ndarray:
    """Columns of the named families in an all-family frame matrix, in registry order."""
    all_slices = dict(zip([f.name for f in FAMILIES], frame_slices(FAMILIES), strict=True))
    return np.concatenate(
        [np.arange(all_slices[f.name].start, all_slices[f.name].stop) for f in select(families)]
    )


def clip_columns(families: Sequence[str]) -> np.ndarray:
    """Columns of the named clip families in an all-clip-family vector, in registry order."""
    all_slices = dict(zip(CLIP_NAMES, clip_slices(CLIP_FAMILIES), strict=True))
    parts = [
        np.arange(all_slices[f.name].start, all_slices[f.name].stop) for f in select_clips(families)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def row_vector(
    row: Featurized,
    families: Sequence[str],
    temporal: bool = True,
    *,
    spread: bool = True,
    every: int = 1,
) -> np.ndarray:
    """One row's video vector for a family subset (frame and clip families), from every
    ``every``-th face's frame vector (common.extract.ExtractConfig.measure_every)."""
    assert row.matrix is not None
    ccols = clip_columns(families)
    clip = None
    if len(ccols):
        if row.clip is None:
            raise ValueError(f"{row.item.target}: no clip-family vector in this row")
        clip = row.clip[ccols]
    sub = row.matrix[::every, family_columns(families)]
    return video_vector(sub, select(families), temporal, clip, spread=spread)


def video_matrix(
    rows: Sequence[Featurized],
    families: Sequence[str],
    temporal: bool = True,
    *,
    spread: bool = True,
    every: int = 1,
) -> tuple[np.ndarray, np.ndarray, list[Featurized]]:
    """(X, y, kept rows) for a family subset, from cached all-family frame matrices."""
    kept = [r for r in rows if r.matrix is not None]
    x = np.stack([row_vector(r, families, temporal, spread=spread, every=every) for r in kept])
    y = np.array([r.item.y for r in kept])
    return x, y, kept


class VectorRecipe(Protocol):
    """How a model makes its video vectors from frame matrices: a bundle, or training options."""

    @property
    def families(self) -> Sequence[str]: ...
    @property
    def temporal(self) -> bool: ...
    @property
    def spread(self) -> bool: ...
    @property
    def measure_every(self) -> int: ...


def matrix_for(
    rows: Sequence[Featurized], recipe: VectorRecipe
) -> tuple[np.ndarray, np.ndarray, list[Featurized]]:
    """:func:`video_matrix` as ``recipe`` (its families, temporal part, spread, faces measured)."""
    return video_matrix(
        rows, recipe.families, recipe.temporal, spread=recipe.spread, every=recipe.measure_every
    )
