"""Dataset adapters: manifests (models.manifest.Item rows) from the standard public layouts.

Each adapter walks a dataset's own folder layout and yields one :class:`Item` per video with
its label, split, manipulation method and a *group* that keeps identities on one side of any
split or cross-validation fold. Paths are absolute (the root is resolved first), so a manifest
can be written anywhere. Nothing is decoded here: adapters only list files.

- FaceForensics++ (Rössler et al., ICCV 2019): ``original_sequences/<youtube|actors>/<comp>/
  videos/*.mp4`` and ``manipulated_sequences/<method>/<comp>/videos/*.mp4`` with the official
  ``train.json`` / ``val.json`` / ``test.json`` (lists of ``[target, source]`` id pairs).
- Celeb-DF v2 (Li et al., CVPR 2020): ``Celeb-real/``, ``Celeb-synthesis/``, ``YouTube-real/``
  and ``List_of_testing_videos.txt``.
- DFDC (Dolhansky et al., 2020): part folders, each with ``metadata.json``.
- DeepfakeTIMIT / VidTIMIT frame folders: :func:`models.manifest.deepfaketimit_items`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from models.manifest import Item, deepfaketimit_items

log = logging.getLogger(__name__)

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def _videos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS)


# --- FaceForensics++ ------------------------------------------------------------------------

FFPP_SPLITS = ("train", "val", "test")


def _ffpp_pairs(root: Path) -> dict[str, tuple[str, str]]:
    """id -> (split, group) from the official split JSONs (in ``root`` or ``root/splits``)."""
    out: dict[str, tuple[str, str]] = {}
    for split in FFPP_SPLITS:
        path = next(
            (p for p in (root / f"{split}.json", root / "splits" / f"{split}.json") if p.is_file()),
            None,
        )
        if path is None:
            continue
        for pair in json.loads(path.read_text()):
            ids = [str(i) for i in pair]
            group = "ffpp:" + "_".join(sorted(ids))
            for i in ids:
                out[i] = (split, group)
    return out


def ffpp_items(root: Path, compression: str = "c23") -> Iterator[Item]:
    """FaceForensics++ at one compression level (``raw``, ``c23`` or ``c40``).

    YouTube originals and their four (or more) manipulations take the split of their id pair
    in the official JSONs, and the group ``ffpp:<a>_<b>`` of that pair, so a fake and both
    of its originals always share a group. Videos outside the JSONs (DeepFakeDetection actors
    and their fakes) get no split and the group of their (target) actor, ``dfd:<actor>``.
    """
    root = Path(root).resolve()
    pairs = _ffpp_pairs(root)
    orig = root / "original_sequences"
    for source in sorted(p.name for p in orig.iterdir() if p.is_dir()) if orig.is_dir() else []:
        for video in _videos(orig / source / compression / "videos"):
            vid = video.stem
            if source == "actors":
                split, group = "", f"dfd:{vid.split('__')[0]}"
            else:
                split, group = pairs.get(vid, ("", f"ffpp:{vid}"))
            yield Item(str(video), "real", group, split, f"original-{source}")
    manip = root / "manipulated_sequences"
    methods = sorted(p.name for p in manip.iterdir() if p.is_dir()) if manip.is_dir() else []
    for method in methods:
        for video in _videos(manip / method / compression / "videos"):
            stem = video.stem
            if "__" in stem:  # DeepFakeDetection: 01_02__scene__HASH, target actor first
                split, group = "", f"dfd:{stem.split('__')[0].split('_')[0]}"
            else:
                target = stem.split("_")[0]
                split, group = pairs.get(target, ("", f"ffpp:{target}"))
            yield Item(str(video), "fake", group, split, method)


# --- Celeb-DF v2 ----------------------------------------------------------------------------

CELEBDF_FOLDERS = {
    "Celeb-real": ("real", "celeb-real"),
    "YouTube-real": ("real", "youtube-real"),
    "Celeb-synthesis": ("fake", "celeb-synthesis"),
}
_CELEB_ID = re.compile(r"^(id\d+)_")


def _celebdf_test_list(root: Path) -> set[str]:
    path = root / "List_of_testing_videos.txt"
    if not path.is_file():
        log.warning("%s not found: every Celeb-DF video goes to split 'train'", path)
        return set()
    out = set()
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:  # "<1 real | 0 fake> <folder>/<file>.mp4"
            out.add(parts[-1].replace("\\", "/"))
    return out


def celebdf_items(root: Path) -> Iterator[Item]:
    """Celeb-DF (v2): videos in ``List_of_testing_videos.txt`` are split ``test``, others
    ``train``. The label comes from the folder (the list's own label column says the same).
    Group: the celebrity id ``idN`` of the target video (for a synthesis ``idA_idB_0000``,
    idA); YouTube-real clips have no celebrity id and form a group each."""
    root = Path(root).resolve()
    test = _celebdf_test_list(root)
    for folder, (label, method) in CELEBDF_FOLDERS.items():
        for video in _videos(root / folder):
            rel = f"{folder}/{video.name}"
            m = _CELEB_ID.match(video.stem)
            group = f"celebdf:{m.group(1)}" if m else f"celebdf-yt:{video.stem}"
            yield Item(str(video), label, group, "test" if rel in test else "train", method)


# --- DFDC -----------------------------------------------------------------------------------


def dfdc_items(root: Path) -> Iterator[Item]:
    """DFDC parts: every ``metadata.json`` under ``root`` describes the videos beside it
    (``{file: {"label": "REAL"|"FAKE", "original": file|null, "split": ...}}``). Group: the
    original's name (a real video is its own original), so a fake sits with its source. Videos
    listed but missing on disk are skipped with a warning."""
    root = Path(root).resolve()
    for meta_path in sorted(root.rglob("metadata.json")):
        meta = json.loads(meta_path.read_text())
        part = meta_path.parent
        missing = 0
        for name in sorted(meta):
            entry = meta[name]
            label = str(entry.get("label", "")).lower()
            if label not in ("real", "fake"):
                continue
            video = part / name
            if not video.is_file():
                missing += 1
                continue
            original = entry.get("original") or name
            group = f"dfdc:{Path(original).stem}"
            split = str(entry.get("split") or "")
            method = "dfdc" if label == "fake" else "dfdc-real"
            yield Item(str(video), label, group, split, method)
        if missing:
            log.warning("%s: %d listed videos are missing on disk", meta_path, missing)


def deepfaketimit(root: Path) -> Iterator[Item]:
    return deepfaketimit_items(Path(root).resolve())


ADAPTERS: dict[str, Callable[[Path], Iterator[Item]]] = {
    "ffpp": ffpp_items,
    "celebdf": celebdf_items,
    "dfdc": dfdc_items,
    "deepfaketimit": deepfaketimit,
}
