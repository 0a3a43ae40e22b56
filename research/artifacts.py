"""The artifacts, measured: FF++ c23 face swaps against their own originals (docs/artifacts.md).

Step 2 of the method: compare genuine videos with their deepfake counterparts to find the
artifacts that make the difference. The dev set's FaceForensics++ c23 fakes are paired with
the original of their identity (the manifest's ``group``: a fake ``<target>_<source>`` is
the target's original with another face pasted in), and every video is read exactly as
``dfscan explain`` reads it (the shipped model, its sampling and face crops). Per family:

- every column of the model's input (the video vector, in training standard deviations):
  the paired effect size d_z = mean / SD of the fake-minus-original differences;
- the named measures of the family's picture (``common.features.pictures`` and
  ``clip_pictures``): the ratio of fake to original (geometric mean), d_z of the log ratio,
  a Wilcoxon signed-rank p, and the share of identities whose fake is higher, also per
  manipulation method;
- the family's push towards "fake" (the model's ablation), fake minus original.

Fakes of one original share it, so differences are averaged per identity first and the
statistics run over identities (methods alone: one fake per identity each).

    .venv/bin/python -m research.artifacts [--data ../shared/data] [--out docs/artifacts.md]
    .venv/bin/python -m research.artifacts --pictures-only

Only numbers come from the research data. The pictures (``docs/artifacts/``, and the
README's ``docs/explain.png``) are drawn from the project's own sample video (``dfscan
sample``) and its self-blend (``models.selfblend``), never from research media.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.features import FAMILY_NAMES
from common.settings import load_settings
from models.explain.analysis import Explanation, explain_target
from models.scanner import Scanner
from research.artifacts_doc import pictures, write_markdown

ROOT = Path(__file__).resolve().parents[1]
FFPP = "FaceForensics++ (c23)"
LARGE, MEDIUM = 0.8, 0.5  # |d_z| of a "large" and a "medium" paired effect (Cohen)


@dataclass(frozen=True, slots=True)
class Pair:
    fake: Path
    original: Path
    method: str
    group: str


def ffpp_pairs(dev: Path) -> list[Pair]:
    """Each FF++ c23 fake of the dev manifest with the original of its identity."""
    with (dev / "manifest.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["dataset"].startswith(FFPP)]
    originals = {r["group"]: dev / r["path"] for r in rows if r["label"] == "real"}
    return [
        Pair(dev / r["path"], originals[r["group"]], r["method"], r["group"])
        for r in rows
        if r["label"] == "fake" and r["group"] in originals
    ]


@dataclass(frozen=True, slots=True)
class Measured:
    """What a video's explain page shows, as numbers: its scan and every family's view.

    ``values``: per family, a frame family's mean then spread over the frames (what a model
    reads of it), or a clip-level family's values; ``columns`` names them.
    """

    score: float
    values: dict[str, np.ndarray]
    columns: dict[str, tuple[str, ...]]
    pushes: dict[str, float]
    measures: dict[str, dict[str, float]]  # family -> measure -> mean over the frames


def measured(ex: Explanation) -> Measured | None:
    if ex.result.error:
        return None
    values, columns = {}, {}
    for v in ex.families:
        if v.name in FAMILY_NAMES:
            values[v.name] = np.concatenate([v.values.mean(axis=0), v.values.std(axis=0)])
            columns[v.name] = (
                *(f"mean {c}" for c in v.columns),
                *(f"spread {c}" for c in v.columns),
            )
        else:
            values[v.name], columns[v.name] = v.values[0], v.columns
    return Measured(
        score=float(ex.result.score or 0.0),
        values=values,
        columns=columns,
        pushes=dict(ex.result.families),
        measures={v.name: {m: float(x.mean()) for m, x in v.measures.items()} for v in ex.families},
    )


def paired(diffs: np.ndarray) -> dict[str, float]:
    """Paired statistics of differences (fake minus original), one per identity."""
    from scipy.stats import wilcoxon

    diffs = np.asarray(diffs, dtype=np.float64)
    n = len(diffs)
    sd = float(diffs.std(ddof=1)) if n > 1 else 0.0
    p = float(wilcoxon(diffs).pvalue) if n >= 6 and np.any(diffs != 0) else float("nan")
    return {
        "n": n,
        "mean": float(diffs.mean()) if n else float("nan"),
        "d_z": float(diffs.mean() / sd) if sd > 0 else float("nan"),
        "p": p,
        "share_higher": float((diffs > 0).mean()) if n else float("nan"),
    }


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and is not counted)."""
    p = np.asarray(pvalues, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(p))
    out = np.full(len(p), np.nan)
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok])]):
        running = max(running, min(1.0, (len(ok) - rank) * p[i]))
        out[i] = running
    return out.tolist()


def by_identity(pairs: list[Pair], diffs: list[np.ndarray]) -> np.ndarray:
    """The differences averaged over the fakes of each identity: (identities, ...)."""
    groups: dict[str, list[np.ndarray]] = defaultdict(list)
    for pair, d in zip(pairs, diffs, strict=True):
        groups[pair.group].append(d)
    return np.stack([np.mean(v, axis=0) for _, v in sorted(groups.items())])


def family_effects(name: str, kept: list[Pair], seen: dict[Path, Measured]) -> dict:
    """Paired effect sizes of one family's columns (d_z is the same in any units) and, for a
    family the model uses, of its push."""
    first = seen[kept[0].fake]
    diffs = by_identity(
        kept, [seen[p.fake].values[name] - seen[p.original].values[name] for p in kept]
    )
    d_z = np.array([paired(diffs[:, c])["d_z"] for c in range(diffs.shape[1])])
    order = np.argsort(-np.nan_to_num(np.abs(d_z)))
    names = first.columns[name]
    out = {
        "columns": len(names),
        "in_model": name in first.pushes,
        "large": int(np.sum(np.abs(np.nan_to_num(d_z)) >= LARGE)),
        "medium": int(np.sum(np.abs(np.nan_to_num(d_z)) >= MEDIUM)),
        "top": [{"column": names[k], "d_z": float(d_z[k])} for k in order[:3]],
        "d_z": {names[k]: float(d_z[k]) for k in range(len(names))},
    }
    if out["in_model"]:
        push = [np.array(seen[p.fake].pushes[name] - seen[p.original].pushes[name]) for p in kept]
        out["push"] = paired(by_identity(kept, push))
        out["push_fake"] = float(np.mean([seen[p.fake].pushes[name] for p in kept]))
        out["push_original"] = float(np.mean([seen[p.original].pushes[name] for p in kept]))
    return out


def analyse(pairs: list[Pair], seen: dict[Path, Measured]) -> dict:
    kept = [p for p in pairs if p.fake in seen and p.original in seen]
    videos = {*(q.fake for q in pairs), *(q.original for q in pairs)}
    scores = [np.array(seen[p.fake].score - seen[p.original].score) for p in kept]
    return {
        "pairs": len(kept),
        "identities": len({p.group for p in kept}),
        "methods": dict(sorted(Counter(p.method for p in kept).items())),
        "failed": sorted(str(p) for p in videos - set(seen)),
        "score": paired(by_identity(kept, scores)),
        "families": {n: family_effects(n, kept, seen) for n in seen[kept[0].fake].values},
        "measures": measure_effects(kept, seen),
    }


def _log_ratio(pair: Pair, seen: dict[Path, Measured], family: str, measure: str) -> float:
    a, b = seen[pair.fake].measures[family][measure], seen[pair.original].measures[family][measure]
    return float(np.log(max(a, 1e-12) / max(b, 1e-12)))


def _named(kept: list[Pair], seen: dict[Path, Measured]) -> dict[str, list[str]]:
    """Every named measure of any video, by family, in the order first met."""
    names: dict[str, dict[str, None]] = defaultdict(dict)
    for p in kept:
        for video in (p.fake, p.original):
            for family, measures in seen[video].measures.items():
                names[family].update(dict.fromkeys(measures))
    return {family: list(m) for family, m in names.items()}


def _having(kept: list[Pair], seen: dict[Path, Measured], family: str, measure: str) -> list:
    """The pairs where both videos have the measure (a clip family's can be undefined: no
    consecutive frames, no landmarks)."""
    return [
        p
        for p in kept
        if all(measure in seen[v].measures.get(family, {}) for v in (p.fake, p.original))
    ]


def measure_effects(kept: list[Pair], seen: dict[Path, Measured]) -> list[dict]:
    """Each named measure: fake/original ratio and paired statistics, overall and per method,
    over the pairs where both videos have it."""
    out = []
    for family, measures in _named(kept, seen).items():
        for measure in measures:
            have = _having(kept, seen, family, measure)
            if not have:
                continue
            logs = [np.array(_log_ratio(p, seen, family, measure)) for p in have]
            stats = paired(by_identity(have, logs))
            row = {
                "family": family,
                "measure": measure,
                **stats,
                "ratio": float(np.exp(stats["mean"])),
            }
            row["methods"] = {}
            for method in sorted({p.method for p in have}):
                sel = [(p, lr) for p, lr in zip(have, logs, strict=True) if p.method == method]
                m = paired(np.array([lr for _, lr in sel]))
                row["methods"][method] = {
                    "n": m["n"],
                    "ratio": float(np.exp(m["mean"])),
                    "d_z": m["d_z"],
                }
            out.append(row)
    for row, adjusted in zip(out, holm([r["p"] for r in out]), strict=True):
        row["p_holm"] = adjusted
    return sorted(out, key=lambda r: -abs(np.nan_to_num(r["d_z"])))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "artifacts.md")
    ap.add_argument("--json", type=Path, default=ROOT / "docs" / "artifacts.json")
    ap.add_argument("--seed", type=int, default=0, help="the self-blend's recipe")
    ap.add_argument(
        "--pictures-only",
        action="store_true",
        help="redraw the pictures (no research data needed), keeping the numbers of --json",
    )
    args = ap.parse_args()
    t0 = time.time()
    res = None
    if args.pictures_only:
        if args.json.is_file():
            res = json.loads(args.json.read_text()).get("ffpp")
    else:
        dev = args.data / "dev"
        if not (dev / "manifest.csv").is_file():
            print(f"no dev set at {dev}: nothing to measure (pass --data)", file=sys.stderr)
            return 2
        res = measure_ffpp(dev)
        res["seconds"] = time.time() - t0
    pics = pictures(args.out.parent, args.seed)
    write_markdown(args.out, res, pics)
    if not args.pictures_only:
        args.json.write_text(json.dumps({"ffpp": res, "pictures": pics}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def measure_ffpp(dev: Path) -> dict:
    pairs = ffpp_pairs(dev)
    scanner = Scanner(load_settings(workers=1), local_files=True)
    seen: dict[Path, Measured] = {}
    videos = sorted({p.fake for p in pairs} | {p.original for p in pairs})
    for i, path in enumerate(videos, 1):
        m = measured(explain_target(str(path), scanner))
        if m is not None:
            seen[path] = m
        print(f"{i}/{len(videos)} {path.relative_to(dev)}", file=sys.stderr, flush=True)
    return analyse(pairs, seen)


if __name__ == "__main__":
    sys.exit(main())
