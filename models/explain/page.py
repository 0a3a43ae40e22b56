"""Write an explain page: ``DIR/index.html``, ``DIR/explain.json`` and the PNGs beside them.

The page opens from disk in any browser: no server, no script. Its numbers are those of
``explain.json`` (see ``models.pages.html``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.explain.analysis import Explanation, FamilyView
from models.explain.compare import differences
from models.pages import figures
from models.pages.html import slug, write_page

JSON_NAME = "explain.json"


@dataclass(frozen=True, slots=True)
class Role:
    """A video on the page: ``video`` (examined) or ``real`` (the --against reference)."""

    key: str
    explanation: Explanation


def _family_json(view: FamilyView) -> dict[str, Any]:
    return {
        "reference": view.reference,
        "in_model": view.push is not None,
        "push": view.push,
        "own_picture": view.own_picture,
        "picture_frame": view.frame,
        "columns": len(view.columns),
        "measures": {m: float(v.mean()) for m, v in view.measures.items()},
        "distance": None if view.distance is None else float(view.distance.mean()),
    }


def _video_json(role: Role) -> dict[str, Any]:
    ex = role.explanation
    r = ex.result
    return {
        "role": role.key,
        "target": r.target,
        "score": r.score,
        "label": r.label,
        "threshold": ex.threshold,
        "model_version": r.model_version,
        "frames_used": r.frames_used,
        "faces_found": r.faces_found,
        "seconds": r.seconds,
        "error": r.error,
        "frames": ex.frames,
        "pushes": dict(r.families),
        "families": {v.name: _family_json(v) for v in ex.families},
    }


def _family_names(roles: Sequence[Role]) -> list[str]:
    return list(dict.fromkeys(v.name for r in roles for v in r.explanation.families))


def _draw_family(name: str, roles: Sequence[Role], out: Path, labels: bool) -> dict[str, str]:
    """The family's picture and its curves over the frames; the files written, by kind."""
    views = [(r, r.explanation.family(name)) for r in roles]
    views = [(r, v) for r, v in views if v is not None]
    files = {}
    shown = []
    for role, view in views:
        face = next((f for f in role.explanation.faces if f.frame_index == view.frame), None)
        shown.append(figures.Shown(role.key if labels else "", view.picture, face))
    picture = f"family-{slug(name)}.png"
    figures.draw_picture(shown, out / picture)
    files["picture"] = picture
    curves = []
    for role, view in views:
        frames = role.explanation.frames
        # A clip family's measures are one number per clip: no curve over the frames.
        values = {m: v for m, v in view.measures.items() if len(v) == len(frames)}
        if view.distance is not None:
            values = {"SDs from training mean": view.distance, **values}
        if values:
            curves.append(figures.Curves(role.key if labels else "", frames, values))
    if curves:
        files["curves"] = f"curves-{slug(name)}.png"
        figures.draw_curves(curves, out / files["curves"], f"{name} over the sampled frames")
    return files


def _draw(roles: Sequence[Role], out: Path) -> dict[str, Any]:
    ok = [r for r in roles if r.explanation.faces]
    if not ok:
        return {}
    labels = len(ok) > 1
    images: dict[str, Any] = {"crops": "crops.png", "pushes": "pushes.png", "families": {}}
    figures.draw_crops([(r.key, r.explanation.faces) for r in ok], out / images["crops"])
    figures.draw_pushes([(r.key, r.explanation.result.families) for r in ok], out / "pushes.png")
    for name in _family_names(ok):
        images["families"][name] = _draw_family(name, ok, out, labels)
    return images


def write_explain(out: Path, video: Explanation, real: Explanation | None = None) -> Path:
    """Write the page of ``video`` (side by side with ``real`` when given); return its path."""
    roles = [Role("video", video)] + ([Role("real", real)] if real is not None else [])
    out.mkdir(parents=True, exist_ok=True)
    images = _draw(roles, out)
    diffs = []
    if real is not None and video.faces and real.faces:
        diffs = [d.as_json() for d in differences(video, real)]
    data = {
        "videos": [_video_json(r) for r in roles],
        "families": _family_names(roles),
        "pushed": list(dict.fromkeys(k for r in roles for k in r.explanation.result.families)),
        "differences": diffs,
    }
    return write_page(out, "explain.html.j2", data, JSON_NAME, images=images)
