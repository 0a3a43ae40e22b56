"""The generalization harness: leave-one-dataset-out table of docs/generalize.md.

    .venv/bin/python -m research.generalize [--data ../shared/data] [--out docs/generalize.md]
        [--candidates NAME,...] [--baseline-model DIR --baseline-sha256 HEX]
        [--bundle NAME=DIR ...] [--workers 2] [--boot 2000] [--json results.json]

For each candidate (what a model learns from, its families, frames per video), every test
source (FF++ c23 dev, FF++ c40, Celeb-DF dev, DeepfakeTIMIT val) is scored by a model trained
without it, and the dev talking heads by models trained without their source
(``research.lodo``). Today's model is scored as it ships (``--baseline-model``, default the
bundled one), and so is each ``--bundle`` (a model trained on none of the test sources, such
as the shipped recipe with another face stage). The rule that chooses among candidates is
written at the top of docs/generalize.md, above the marker this command writes below; the
cheaper-face-stage candidates (``SPEED_CANDIDATES``) are judged by the rule in docs/speed.md,
against the candidate named in their ``against``.

Reads ../shared/data (research data, never copied into the repository); says so and exits
when it is absent. Features come from the disk cache (.cache/features): a rerun is fast.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from common.settings import load_settings
from common.types import Tracking
from models.bundle import ModelBundle, bundle_digest, load_bundle
from models.featurize import Featurized, featurize, matrix_for
from models.manifest import Item
from models.training import TrainOptions, extract_config, featurize_for
from models.trusted import Trust
from research import lodo, pooling
from research.generalize_report import render
from research.shared_data import TALKING_HEADS, TEST_SOURCES, all_items, available, source_of

ROOT = Path(__file__).resolve().parents[1]
TODAY = ("frequency", "quality", "boundary", "texture")
NEW = ("surround", "flicker", "landmarks")
MORE = ("colour", "upsampling")  # amendment 2
# Searched inside every fold (the shipped grid's rbf part that every fold chose from).
GRID = [{"svm__kernel": ["rbf"], "svm__C": [1.0, 3.0, 10.0], "svm__gamma": ["scale", 0.003]}]


@dataclass(frozen=True)
class Candidate:
    name: str
    note: str
    families: tuple[str, ...] = TODAY
    frames: int = 16
    real_fakes: bool = False  # learn from the real deepfakes of the other sources too
    real_fake_weight: float | None = None
    pooling: str | None = None  # frame scores pooled (research.pooling); None: video vector
    spread: bool = True  # frame families by mean and spread (False: mean only; amendment 2)
    tracking: Tracking = "landmarks"
    every: int = 1  # frame families on every k-th face (ExtractConfig.measure_every)
    against: str | None = None  # the baseline of its rule, besides today's model


CANDIDATES = {
    c.name: c
    for c in (
        Candidate("sbi", "self-blends of all training reals; today's families"),
        Candidate("sbi+fakes", "as sbi, plus the real deepfakes", real_fakes=True),
        Candidate(
            "sbi+fakes*1",
            "as sbi+fakes, the real deepfakes weighing as much as the self-blends",
            real_fakes=True,
            real_fake_weight=1.0,
        ),
        Candidate("sbi+surround", "as sbi, plus face vs surround", (*TODAY, "surround")),
        Candidate("sbi+flicker", "as sbi, plus flicker", (*TODAY, "flicker")),
        Candidate("sbi+landmarks", "as sbi, plus landmark motion", (*TODAY, "landmarks")),
        Candidate("sbi+new", "as sbi, plus all three new families", (*TODAY, *NEW)),
        Candidate("sbi+new@32", "as sbi+new, 32 frames (4 runs of 8)", (*TODAY, *NEW), 32),
        Candidate("sbi+surround@32", "as sbi+surround, 32 frames", (*TODAY, "surround"), 32),
        Candidate("sbi+new@8", "as sbi+new, 8 frames (4 runs of 2)", (*TODAY, *NEW), 8),
        Candidate(
            "sbi+new/mean",
            "as sbi+new, frame scores pooled by their mean (research.pooling)",
            (*TODAY, *NEW),
            pooling="mean",
        ),
        Candidate(
            "sbi+new/top",
            "as sbi+new, frame scores pooled by the mean of the top quarter",
            (*TODAY, *NEW),
            pooling="top",
        ),
        # Amendment 2 (docs/generalize.md), written before these ran.
        Candidate(
            "sbi+new/means",
            "as sbi+new, frame families by their mean over frames only",
            (*TODAY, *NEW),
            spread=False,
        ),
        Candidate(
            "sbi+all",
            "as sbi+new, plus colour mismatch and upsampling traces",
            (*TODAY, *NEW, *MORE),
        ),
        Candidate(
            "sbi+all/means",
            "as sbi+all, frame families by their mean over frames only",
            (*TODAY, *NEW, *MORE),
            spread=False,
        ),
    )
}


# The rule for a cheaper face stage and its amendment (docs/speed.md), written before these ran.
SPEED_CANDIDATES = {
    c.name: c
    for c in (
        Candidate(
            "sbi@follow",
            "as sbi, faces followed through the sample (docs/speed.md (c); for information)",
            tracking="follow",
            against="sbi",
        ),
        Candidate(
            "sbi@follow/2",
            "as sbi@follow, frame families on every second face (docs/speed.md (d))",
            tracking="follow",
            every=2,
            against="sbi",
        ),
    )
}
KNOWN = {**CANDIDATES, **SPEED_CANDIDATES}


def options(c: Candidate, cache: Path, workers: int) -> TrainOptions:
    """How the candidate trains: the shipped recipe (self-blends, 2 degraded copies, box
    jitter, segments sampling, landmark tracking, threshold FRR <= 1% per source of reals)."""
    return TrainOptions(
        out=Path("-"),
        families=c.families,
        self_blend=True,
        pseudo_only=False,
        augment=2,
        threshold_rule="frr:0.01",
        dev_split="-",  # no dev split: the threshold comes from out-of-fold scores
        frames=c.frames,
        sampling="segments",
        tracking=c.tracking,
        measure_every=c.every,
        box_jitter=(0.035, 0.1),
        seed=1,
        cache=cache,
        workers=workers,
        real_fake_weight=c.real_fake_weight,
        spread=c.spread,
    )


def learns_from(c: Candidate, source: dict[str, str]):  # type: ignore[no-untyped-def]
    """Which training rows a candidate keeps: reals and self-blends always; real deepfakes
    only if it learns from them, and never DeepfakeTIMIT's (their codec differs from their
    reals', so they teach the codec)."""

    def keep(r: Featurized) -> bool:
        if r.item.label == "real" or "self-blend" in (r.item.method or ""):
            return True
        return c.real_fakes and source[r.item.target] != "dft"

    return keep


def scored_items(items: list[Item]) -> list[Item]:
    """The videos a candidate is scored on: the test sources and the talking heads."""
    tests = {it.target for src in TEST_SOURCES for it in lodo.test_items(items, src)}
    return [it for it in items if it.target in tests or source_of(it) == TALKING_HEADS]


def _rows(items, settings, opt, args):  # type: ignore[no-untyped-def]
    """Training and test rows at ``opt``'s frame count. They hold every family (the cache
    keeps them all), so candidates that differ only in families share one read."""
    train_rows = featurize_for(items, settings, opt, progress=True)
    return train_rows, _test_rows(items, settings, args, opt)


def _test_rows(items, settings, args, opt=None):  # type: ignore[no-untyped-def]
    """The scored videos' rows with their nuisance measures (default: 16 frames)."""
    opt = opt or options(CANDIDATES["sbi"], args.cache, args.workers)
    return featurize(
        scored_items(items),
        settings,
        extract_config(opt),
        cache=opt.cache,
        workers=args.workers,
        progress=True,
        nuisance=True,
    )


def baseline(items: list[Item], args: argparse.Namespace, cache: Path) -> tuple[lodo.Scored, dict]:
    """Today's model as it ships: every test video and talking head at its own threshold."""
    trust = Trust(digest=args.baseline_sha256) if args.baseline_sha256 else None
    return as_shipped(items, args, cache, load_bundle(args.baseline_model, trust))


def as_shipped(
    items: list[Item], args: argparse.Namespace, cache: Path, bundle: ModelBundle
) -> tuple[lodo.Scored, dict]:
    """A model trained on none of the test sources, scored on all of them as it ships."""
    settings = load_settings()
    cfg = bundle.extract_config(settings, int(bundle.meta["frames_per_video"]))
    rows = featurize(
        scored_items(items), settings, cfg, cache=cache, workers=args.workers, progress=True
    )
    x, _, kept = matrix_for(rows, bundle)
    out = lodo.Scored()
    for r, s in zip(kept, bundle.score(x), strict=True):
        out.scores[r.item.target] = float(s)
        out.threshold[r.item.target] = bundle.threshold
    return out, {"version": bundle.version, "frames": cfg.frames, "note": "as shipped"}


def _score(c, items, train_rows, test_rows, opt, keep, pooled) -> lodo.Scored:  # type: ignore[no-untyped-def]
    if c.pooling is None:
        return lodo.run_folds(items, train_rows, test_rows, opt, keep=keep, grid=GRID)
    key = (c.families, c.frames, c.real_fakes)
    if key not in pooled:
        pooled[key] = pooling.run_folds(items, train_rows, test_rows, c.families, keep=keep)
    return pooled[key][c.pooling]


def _saved(done: Path | None, name: str) -> lodo.Scored | None:
    """A candidate's scores from an earlier, interrupted run (``--done DIR``)."""
    f = done / f"{name.replace('/', '_')}.json" if done else None
    if f is None or not f.exists():
        return None
    return lodo.Scored(**json.loads(f.read_text()))


def _save(done: Path | None, name: str, s: lodo.Scored) -> None:
    if done:
        done.mkdir(parents=True, exist_ok=True)
        (done / f"{name.replace('/', '_')}.json").write_text(json.dumps(asdict(s), default=float))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "generalize.md")
    ap.add_argument("--json", type=Path, default=None, help="also write every number here")
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--baseline-model", type=Path, default=None, help="default: the bundled model")
    ap.add_argument("--baseline-sha256", default=None, help="vouch for a --baseline-model")
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache" / "features")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--done", type=Path, default=None, help="keep each candidate's scores here")
    ap.add_argument(
        "--bundle",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also score this model as it ships (its digest is trusted for this run only)",
    )
    args = ap.parse_args()
    if not available(args.data):
        print(f"no research data at {args.data}: nothing to measure (see ../shared/data)")
        return 2
    names = [n for n in args.candidates.split(",") if n]
    unknown = set(names) - set(KNOWN)
    if unknown:
        ap.error(f"unknown candidates {sorted(unknown)}; known: {', '.join(KNOWN)}")
    items = all_items(args.data.resolve())
    source = {it.target: source_of(it) for it in items}
    settings = load_settings()
    t0 = time.time()
    scored, info = {}, {}
    pooled: dict[tuple, dict[str, lodo.Scored]] = {}  # both poolings come from one fit
    read: dict[tuple[int, str], tuple[list[Featurized], list[Featurized]]] = {}  # per reading
    scored["today"], info["today"] = baseline(items, args, args.cache)
    # Kept beside the candidates (never read back: today's model is always scored afresh), so
    # that two renders can be compared video by video.
    _save(args.done, "today", scored["today"])
    for spec in args.bundle:
        name, folder = spec.split("=", 1)
        trust = Trust(digest=bundle_digest(Path(folder)))
        scored[name], info[name] = as_shipped(
            items, args, args.cache, load_bundle(Path(folder), trust)
        )
    for name in names:
        c = KNOWN[name]
        print(f"{name}: {c.note}", flush=True)
        opt = options(c, args.cache, args.workers)
        saved = _saved(args.done, name)
        if saved is None:  # rows are read only for candidates still to score
            reading = (c.frames, c.tracking)
            if reading not in read:
                read[reading] = _rows(items, settings, opt, args)
            saved = _score(c, items, *read[reading], opt, learns_from(c, source), pooled)
        scored[name] = saved
        _save(args.done, name, scored[name])
        info[name] = {
            "note": c.note,
            "families": list(c.families),
            "frames": c.frames,
            "real_fakes": c.real_fakes,
            "pooling": c.pooling,
            **({"tracking": c.tracking, "every": c.every} if name in SPEED_CANDIDATES else {}),
            **({"against": c.against} if c.against else {}),
        }
    # Clip facts (face size...) as today's reading finds the faces: any frame count's read of
    # the landmark tracking gives the same, another tracking does not (its boxes differ);
    # read for them alone (cached) if no candidate read that way.
    same = [rows for (_, tracking), (_, rows) in read.items() if tracking == "landmarks"]
    test_rows = same[0] if same else _test_rows(items, settings, args)
    nuisance = {r.item.target: r.nuisance for r in test_rows}
    results = render(items, scored, info, nuisance, args.boot, time.time() - t0)
    text = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(results.markdown(text))
    if args.json:
        args.json.write_text(json.dumps(results.data, indent=1, default=float))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
