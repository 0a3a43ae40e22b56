"""Leave-one-dataset-out folds: train without a source, score it; metrics with intervals.

A candidate is trained exactly as ``dfscan train`` trains (``models.training.fit_rows``: grouped
model selection, calibrated SVM, the threshold rule per source of reals, out-of-fold), once per
held-out source and once per fold of talking-head sources. Test videos are read as a scan
reads them (no box jitter, no self-blend). Intervals come from a bootstrap over identity
groups within each source and class, the same resamples for every candidate (paired).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from models.featurize import Featurized, matrix_for
from models.manifest import Item
from models.metrics import auc, far_at_frr
from models.training import TrainOptions, fit_rows
from research.shared_data import TALKING_HEADS, TEST_SOURCES, source_of, talking_head_source

Log = Callable[[str], None]


@dataclass
class Scored:
    """A candidate's held-out scores (P(fake)) and the threshold of the model that gave each."""

    scores: dict[str, float] = field(default_factory=dict)  # target -> score
    threshold: dict[str, float] = field(default_factory=dict)  # target -> its model's threshold
    params: dict[str, dict] = field(default_factory=dict)  # fold -> chosen hyper-parameters


def test_items(items: Sequence[Item], source: str) -> list[Item]:
    """The videos a source is scored on: DeepfakeTIMIT's val split, every other source whole."""
    return [
        it for it in items if source_of(it) == source and (source != "dft" or it.split == "val")
    ]


def excluded(items: Sequence[Item], held_out: Sequence[Item], source: str | None) -> set[str]:
    """Targets a fold must not train on: the held-out videos, everyone sharing an identity
    with them, and (for DeepfakeTIMIT) the whole dataset."""
    groups = {it.group for it in held_out}
    out = {it.target for it in items if it.group in groups}
    if source == "dft":
        out |= {it.target for it in items if source_of(it) == "dft"}
    return out | {it.target for it in held_out}


def talking_head_folds(items: Sequence[Item], k: int = 5, seed: int = 0) -> list[list[Item]]:
    """The dev talking heads in ``k`` folds by source (repository or corpus)."""
    heads = [it for it in items if source_of(it) == TALKING_HEADS]
    sources = sorted({talking_head_source(it) for it in heads})
    order = [sources[i] for i in np.random.default_rng(seed).permutation(len(sources))]
    return [[it for it in heads if talking_head_source(it) in order[j::k]] for j in range(k)]


def folds(items: Sequence[Item]) -> list[tuple[str, list[Item], str | None]]:
    """(name, held-out items, held-out source) of every fold: the four test sources, then the
    talking-head folds (no source dropped beyond their identities)."""
    out: list[tuple[str, list[Item], str | None]] = [
        (src, test_items(items, src), src) for src in TEST_SOURCES
    ]
    out += [(f"talking-heads {j}", f, None) for j, f in enumerate(talking_head_folds(items))]
    return out


def _fit_and_score(
    train_rows: list[Featurized],
    test_rows: list[Featurized],
    opt: TrainOptions,
    grid: list[dict] | None,
    out: Scored,
    fold: str,
) -> None:
    fitted = fit_rows(train_rows, opt, grid)
    x, _, kept = matrix_for(test_rows, opt)
    for r, s in zip(kept, fitted.result.pipeline.predict_proba(x)[:, 1], strict=True):
        out.scores[r.item.target] = float(s)
        out.threshold[r.item.target] = fitted.result.threshold
    out.params[fold] = fitted.result.params


def run_folds(
    items: Sequence[Item],
    train_rows: list[Featurized],
    test_rows: list[Featurized],
    opt: TrainOptions,
    *,
    keep: Callable[[Featurized], bool] = lambda r: True,
    grid: list[dict] | None = None,
    log: Log = print,
) -> Scored:
    """Every LODO fold and every talking-head fold of one candidate.

    ``train_rows``: all items as training reads them (recipes and box jitter included);
    ``test_rows``: all items as a scan reads them. ``keep`` filters training rows (e.g. drops
    real deepfakes a candidate does not learn from).
    """
    out = Scored()
    by_target = {r.item.target: r for r in test_rows}
    for name, held, source in folds(items):
        drop = excluded(items, held, source)
        rows = [r for r in train_rows if r.item.target not in drop and keep(r)]
        test = [by_target[it.target] for it in held if it.target in by_target]
        _fit_and_score(rows, test, opt, grid, out, name)
        log(f"  fold {name}: trained on {len(rows)} rows, scored {len(test)}")
    return out


# --------------------------------------------------------------------------------- metrics


@dataclass
class SourceView:
    """One source's held-out videos: labels, identity groups and targets, in one order."""

    targets: list[str]
    y: np.ndarray
    groups: list[str]


def views(items: Sequence[Item], scored: Scored) -> dict[str, SourceView]:
    out = {}
    for src in TEST_SOURCES:
        its = [it for it in test_items(items, src) if it.target in scored.scores]
        out[src] = SourceView(
            [it.target for it in its], np.array([it.y for it in its]), [it.group for it in its]
        )
    return out


def source_row(view: SourceView, scored: Scored) -> dict[str, float]:
    s = np.array([scored.scores[t] for t in view.targets])
    thr = np.array([scored.threshold[t] for t in view.targets])
    y = view.y
    return {
        "auc": auc(s, y),
        "far_frr5": far_at_frr(s, y, 0.05).far,
        "far_frr1": far_at_frr(s, y, 0.01).far,
        "far_thr": float(np.mean(s[y == 1] < thr[y == 1])),
        "frr_thr": float(np.mean(s[y == 0] >= thr[y == 0])),
        "n_fake": int(y.sum()),
        "n_real": int((y == 0).sum()),
    }


def methods(items: Sequence[Item]) -> dict[str, str]:
    """Each video's manipulation method without its source prefix ("ffpp-c23:FaceSwap")."""
    return {it.target: (it.method or "").split(":", 1)[-1] for it in items}


def fakes_by_method(items: Sequence[Item], view: SourceView) -> dict[str, list[str]]:
    """A source's held-out fakes grouped by manipulation method, methods sorted by name."""
    method = methods(items)
    out: dict[str, list[str]] = {}
    for t in sorted(
        (t for t, y in zip(view.targets, view.y, strict=True) if y == 1), key=lambda t: method[t]
    ):
        out.setdefault(method[t], []).append(t)
    return out


def method_aucs(items: Sequence[Item], view: SourceView, scored: Scored) -> dict[str, float]:
    """AUC of each manipulation method's fakes against all of the source's reals, for a
    source whose fakes come from more than one method (else empty)."""
    groups = fakes_by_method(items, view)
    if len(groups) < 2:
        return {}
    reals = [t for t, y in zip(view.targets, view.y, strict=True) if y == 0]
    real_s = [scored.scores[t] for t in reals]
    out = {}
    for name, fakes in groups.items():
        fake_s = [scored.scores[t] for t in fakes]
        y = np.r_[np.zeros(len(real_s), int), np.ones(len(fake_s), int)]
        out[name] = auc(np.array(real_s + fake_s), y)
    return out


def head_frr(items: Sequence[Item], scored: Scored) -> tuple[float, int]:
    """FRR of the talking heads held out by source, each at its own fold's threshold."""
    heads = [it.target for it in items if source_of(it) == TALKING_HEADS]
    flags = [scored.scores[t] >= scored.threshold[t] for t in heads if t in scored.scores]
    return (float(np.mean(flags)) if flags else float("nan")), len(flags)


def pooled_auc(items: Sequence[Item], scored: Scored, sources: Sequence[str]) -> float:
    """All held-out fakes of ``sources`` against all their reals and the talking heads."""
    keep = [
        it
        for it in items
        if it.target in scored.scores
        and (source_of(it) == TALKING_HEADS or source_of(it) in sources)
        and (source_of(it) != "dft" or it.split == "val")
    ]
    s = np.array([scored.scores[it.target] for it in keep])
    return auc(s, np.array([it.y for it in keep]))


def bootstrap_means(
    vs: dict[str, SourceView], scored: dict[str, Scored], n: int = 2000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Per candidate, ``n`` resampled means over sources of the within-source AUC.

    Each resample draws identity groups with replacement within each source and class; every
    candidate sees the same draws, so differences between candidates are paired.
    """
    rng = np.random.default_rng(seed)
    plans = []
    for v in vs.values():
        by_group: dict[tuple[int, str], list[int]] = {}
        for i, (yy, g) in enumerate(zip(v.y, v.groups, strict=True)):
            by_group.setdefault((int(yy), g), []).append(i)
        plans.append((v, [[k for k in by_group if k[0] == c] for c in (0, 1)], by_group))
    arrays = {
        name: [np.array([sc.scores[t] for t in v.targets]) for v in vs.values()]
        for name, sc in scored.items()
    }
    out = {name: np.empty(n) for name in scored}
    for b in range(n):
        idx_per_source = []
        for _v, keys, by_group in plans:
            idx: list[int] = []
            for ks in keys:
                for j in rng.integers(0, len(ks), len(ks)):
                    idx += by_group[ks[j]]
            idx_per_source.append(np.array(idx))
        for name, per_source in arrays.items():
            out[name][b] = np.mean(
                [
                    auc(s[idx], v.y[idx])
                    for s, v, idx in zip(per_source, vs.values(), idx_per_source, strict=True)
                ]
            )
    return out
