"""What an explain page shows of one video: its scan, faces, and every family's view of them.

One :class:`Explanation` per video. It comes from :meth:`models.scanner.Scanner.examine`,
the scan itself, so its score, verdict and family pushes (the ablation of
``ModelBundle.score_explained``) are those ``dfscan scan`` gives. Every family of the registry
is shown, also one the model does not use, and every other family of the model's layout
(the clip-level temporal family, and any family measured once per clip).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from common.errors import ScanError
from common.extract import Extraction, FaceTransform, extract
from common.features import (
    CLIP_FAMILIES,
    FAMILIES,
    TEMPORAL,
    ClipFamily,
    FeatureFamily,
    clip_vector,
    frame_slices,
)
from common.features.clip_pictures import clip_picture_of
from common.features.pictures import Picture, column_names, picture_of, values_picture
from common.types import Face, FaceTrack, ScanResult
from models.scanner import Scanner


@dataclass(slots=True)
class FamilyView:
    """One family on one video.

    ``values``: (T, L) per sampled frame, or (1, L) for a family measured once per clip.
    ``picture``: the family's own picture of its most typical frame (``frame``), or the
    generic one of its values. ``measures``: each named measure per frame. ``distance``:
    per frame, how far the family's values lie from the model's training average (root mean
    square over its columns, in training standard deviations); None when the model does not
    use the family. ``push``: the ablation's push towards "fake" (None: not in the model).
    """

    name: str
    reference: str
    values: np.ndarray
    columns: tuple[str, ...]
    picture: Picture
    own_picture: bool
    frame: int | None
    measures: dict[str, np.ndarray] = field(default_factory=dict)
    distance: np.ndarray | None = None
    push: float | None = None


@dataclass(slots=True)
class Explanation:
    """A video's scan result, the threshold it was judged at, its faces and family views."""

    result: ScanResult
    threshold: float
    faces: list[Face] = field(default_factory=list)
    families: list[FamilyView] = field(default_factory=list)
    # The model's video vector and its scaler (training mean and SD): differences between
    # two videos are read in training standard deviations.
    vector: np.ndarray | None = None
    scale: np.ndarray | None = None
    layout: dict[str, list[int]] = field(default_factory=dict)

    @property
    def frames(self) -> list[int]:
        return [f.frame_index for f in self.faces]

    def family(self, name: str) -> FamilyView | None:
        return next((f for f in self.families if f.name == name), None)


def _typical(values: np.ndarray) -> int:
    """The row nearest the rows' mean, each column in units of its spread over the rows."""
    z = (values - values.mean(axis=0)) / (values.std(axis=0) + 1e-9)
    return int(np.argmin(np.sqrt((z**2).mean(axis=1))))


def _frame_view(fam: FeatureFamily, values: np.ndarray, faces: list[Face]) -> FamilyView:
    draw = picture_of(fam.name)
    cols = column_names(fam.name, fam.length, fam.fn)
    if draw is None:
        pic = values_picture(fam.name, values, [f.frame_index for f in faces], cols)
        return FamilyView(fam.name, fam.reference, values, cols, pic, False, None)
    pictures = [draw(f.crop, f.mask) for f in faces]
    k = _typical(values)
    measures = {m: np.array([p.measures[m] for p in pictures]) for m in pictures[k].measures}
    return FamilyView(
        fam.name, fam.reference, values, cols, pictures[k], True, faces[k].frame_index, measures
    )


def _clip_columns(name: str, length: int, model_families: tuple[FeatureFamily, ...]) -> tuple:
    if name == TEMPORAL and length == 2 * len(model_families):
        return tuple(
            f"{f.name} {part}" for f in model_families for part in ("log step", "step/spread")
        )
    return column_names(name, length)


def _frame_family(
    fam: FeatureFamily, ex: Extraction, scanner: Scanner, pushes: dict[str, float]
) -> FamilyView:
    """A frame family, from the model's frame vectors when it uses the family."""
    cfg = scanner.cfg
    in_model = {f.name: sl for f, sl in zip(cfg.families, frame_slices(cfg.families), strict=True)}
    if fam.name not in in_model:
        values = np.stack([np.asarray(fam.fn(f.crop, f.mask), np.float64) for f in ex.faces])
        return _frame_view(fam, np.nan_to_num(values), ex.faces)
    values = ex.frame_matrix[:, in_model[fam.name]].astype(np.float64)
    view = _frame_view(fam, values, ex.faces)
    scaler = scanner.bundle.pipeline.named_steps["scale"]
    layout = cfg.layout()
    means = layout[fam.name][: fam.length]  # the mean columns, then the spread ones
    z = (values - scaler.mean_[means]) / scaler.scale_[means]
    view.distance = np.sqrt((z**2).mean(axis=1))
    view.push = pushes.get(fam.name)
    return view


def _clip_family(
    fam: ClipFamily, ex: Extraction, scanner: Scanner, pushes: dict[str, float]
) -> FamilyView:
    """A clip family over the face track, from the model's vector when it uses the family."""
    layout = scanner.cfg.layout()
    track = FaceTrack.of(ex.faces)
    if fam.name in layout:
        values = ex.vector[layout[fam.name]].astype(np.float64)
    else:
        values = clip_vector(track, (fam,)).astype(np.float64)
    cols = column_names(fam.name, fam.length, fam.fn)
    draw = clip_picture_of(fam.name)
    pic = draw(track) if draw is not None else values_picture(fam.name, values[None], None, cols)
    measures = {m: np.array([v]) for m, v in pic.measures.items()}
    return FamilyView(
        fam.name,
        fam.reference,
        values[None],
        cols,
        pic,
        draw is not None,
        None,
        measures,
        push=pushes.get(fam.name),
    )


def family_views(ex: Extraction, scanner: Scanner, pushes: dict[str, float]) -> list[FamilyView]:
    """Every registry family on the faces of ``ex``, in the video vector's order: the frame
    families, the temporal family and any other the model has, then the clip families."""
    cfg = scanner.cfg
    views = [_frame_family(fam, ex, scanner, pushes) for fam in FAMILIES]
    known = {f.name for f in (*FAMILIES, *CLIP_FAMILIES)}
    for name, cols in cfg.layout().items():
        if name in known:
            continue
        values = ex.vector[cols][None, :].astype(np.float64)
        columns = _clip_columns(name, len(cols), cfg.families)
        pic = values_picture(name, values, None, columns)
        views.append(FamilyView(name, "", values, columns, pic, False, None, push=pushes.get(name)))
    views += [_clip_family(fam, ex, scanner, pushes) for fam in CLIP_FAMILIES]
    return views


def explain_target(
    target: str, scanner: Scanner, *, transform: FaceTransform | None = None
) -> Explanation:
    """Scan ``target`` as ``dfscan scan`` does and gather what its explain page shows.

    A target that cannot be scanned gives an Explanation with the scan's error and no
    families. ``transform`` edits the face crops before they are measured (the project's
    self-blend, for pictures of a blend).
    """
    result, ex = scanner.examine(target, transform=transform)
    out = Explanation(result, scanner.threshold)
    if ex is None:
        return out
    scaler = scanner.bundle.pipeline.named_steps["scale"]
    out.faces = ex.faces
    out.families = family_views(ex, scanner, result.families)
    out.vector, out.scale = ex.vector.astype(np.float64), np.asarray(scaler.scale_)
    out.layout = scanner.cfg.layout()
    return out


def face_thumbnail(target: str, scanner: Scanner) -> tuple[Face | None, str]:
    """The first face of a few frames of ``target`` (a review page's thumbnail), or None and
    the scan's error code."""
    cfg = replace(scanner.cfg, frames=3)
    try:
        scanner.check_target(target)  # read only what the scanner itself may read
        ex = extract(target, scanner.settings, cfg)
    except ScanError as exc:
        return None, exc.code
    return ex.faces[0], ""
