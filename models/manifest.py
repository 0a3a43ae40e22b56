"""Manifests: the common currency of datasets (CSV with path|url, label, group, split, method)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

LABELS = ("real", "fake")


@dataclass(frozen=True, slots=True)
class Item:
    """One video (or clip folder) with its ground truth."""

    target: str
    label: str
    group: str = ""
    split: str = ""
    method: str = ""

    @property
    def y(self) -> int:
        return 1 if self.label == "fake" else 0


def read_manifest(path: Path, *, root: Path | None = None) -> list[Item]:
    """Read a manifest CSV; relative paths resolve against ``root`` (default: its folder)."""
    base = root or path.parent
    items = []
    with path.open(newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            target = (row.get("path") or row.get("url") or "").strip()
            label = (row.get("label") or "").strip().lower()
            if not target or label not in LABELS:
                raise ValueError(f"{path}:{n}: need path|url and label in {LABELS}, got {row}")
            if "://" not in target and not Path(target).is_absolute():
                target = str(base / target)
            items.append(
                Item(
                    target,
                    label,
                    (row.get("group") or "").strip(),
                    (row.get("split") or "").strip(),
                    (row.get("method") or "").strip(),
                )
            )
    return items


def write_manifest(items: Iterable[Item], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in fields(Item)]
    count = 0
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", *names[1:]])
        for it in items:
            w.writerow([getattr(it, n) for n in names])
            count += 1
    return count


def deepfaketimit_items(root: Path) -> Iterator[Item]:
    """DeepfakeTIMIT/VidTIMIT frame folders: ``{split}/{label}/{subject}/{sentence}/*.jpg``.

    One clip folder = one video. The group is the subject, so identity never crosses folds.
    """
    for clip in sorted(root.glob("*/*/*/*")):
        if not clip.is_dir():
            continue
        split, label, subject = clip.parts[-4], clip.parts[-3], clip.parts[-2]
        if label not in LABELS:
            continue
        method = "faceswap-gan" if label == "fake" else "vidtimit"
        yield Item(str(clip), label, subject, split, method)
