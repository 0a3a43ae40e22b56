"""The research data of ``../shared/data`` as manifest items, with the source of each video.

One place that knows the layout of the four sets (DeepfakeTIMIT-LQ, pristine, FF++ c40 and the
dev set), for the generalization harness and for ``scripts/train-default``. Every item's
``method`` is ``"<source>:<what>"`` (``ffpp-c23:Deepfakes``, ``dft:vidtimit``,
``talking-heads``...): :func:`source_of` reads the source back, training keeps one threshold
per source of reals, and the leave-one-dataset-out folds leave sources out. Groups are
identity keys; FF++ ids are shared between c23 and c40 (``ffpp:183`` in both), so a fold that
holds one out drops the same people from the other.

Research data under research-only terms: read here, never copied into the repository.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from models.manifest import Item, deepfaketimit_items, write_manifest

# The held-out units of the leave-one-dataset-out study, and the reals they are scored with.
TEST_SOURCES = ("ffpp-c23", "ffpp-c40", "celebdf", "dft")
TALKING_HEADS = "talking-heads"


def source_of(item: Item) -> str:
    return item.method.split(":", 1)[0]


def talking_head_source(item: Item) -> str:
    """The repository or corpus a dev talking head comes from (its group's prefix)."""
    return item.group.split(":", 1)[0]


def available(data: Path) -> bool:
    return all((data / d).is_dir() for d in ("deepfaketimit_lq", "pristine", "ffpp_c40", "dev"))


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="") as fh:
        yield from csv.DictReader(fh)


def dft_items(data: Path) -> Iterator[Item]:
    for it in deepfaketimit_items(data / "deepfaketimit_lq"):
        yield Item(it.target, it.label, f"dft:{it.group}", it.split, f"dft:{it.method}")


def pristine_items(data: Path) -> Iterator[Item]:
    for r in _rows(data / "pristine/manifest.csv"):
        yield Item(str(data / r["path"]), "real", f"pristine:{r['group']}", "train", "pristine")


def ffpp_c40_items(data: Path) -> Iterator[Item]:
    for r in _rows(data / "ffpp_c40/manifest.csv"):
        what = r["method"] if r["label"] == "fake" else "original"
        yield Item(str(data / r["path"]), r["label"], r["group"], "train", f"ffpp-c40:{what}")


def dev_items(data: Path) -> Iterator[Item]:
    """The dev set: FF++ c23 and Celeb-DF benchmark clips, and the talking heads."""
    for r in _rows(data / "dev/manifest.csv"):
        path, ds = str(data / "dev" / r["path"]), r["dataset"]
        if ds.startswith("FaceForensics"):
            what = r["method"] if r["label"] == "fake" else "original"
            method = f"ffpp-c23:{what}"
        elif ds.startswith("Celeb-DF"):
            method = f"celebdf:{r['method']}"
        else:
            method = TALKING_HEADS
        yield Item(path, r["label"], r["group"], "train", method)


def all_items(data: Path) -> list[Item]:
    return [
        *dev_items(data),
        *ffpp_c40_items(data),
        *pristine_items(data),
        *dft_items(data),
    ]


def main() -> int:
    """Write the manifest of all research data (``python -m research.shared_data DATA OUT``)."""
    import sys

    if len(sys.argv) != 3:
        print("usage: python -m research.shared_data DATA OUT.csv", file=sys.stderr)
        return 2
    data, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    if not available(data):
        print(f"no research data at {data} (need deepfaketimit_lq, pristine, ffpp_c40, dev)")
        return 2
    n = write_manifest(all_items(data), out)
    print(f"{n} items -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
