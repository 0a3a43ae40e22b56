"""The artifacts, measured: FF++ c23 face swaps against their own originals (docs/artifacts.md).

Step 2 of the method: compare genuine videos with their deepfake counterparts to find the
artifacts that make the difference. The dev set's FaceForensics++ c23 fakes are paired with
the original of their identity (the manifest's ``group``: a fake ``<target>_<source>`` is
the target's original with another face pasted in), and every video is read exactly as
``dfscan explain`` reads it (the shipped model, its sampling and face crops). Per family:

- every column of the model's input (the video vector, in training standard deviations):
  the paired effect size d_z = mean / SD of the fake-minus-original differences;
- the named measures of the family's picture (``common.features.pictures``): the ratio of
  fake to original (geometric mean), d_z of the log ratio, a Wilcoxon signed-rank p, and
  the share of identities whose fake is higher, also per manipulation method;
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
import tempfile
import time
from collections import defaultdict
from contextlib import chdir
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.settings import load_settings
from models.explain.analysis import Explanation, explain_target, vector_columns
from models.scanner import Scanner

ROOT = Path(__file__).resolve().parents[1]
FFPP = "FaceForensics++ (c23)"
LARGE, MEDIUM = 0.8, 0.5  # |d_z| of a "large" and a "medium" paired effect (Cohen)
ALPHA = 0.05  # family-wise, over the named measures (Holm)
PICTURES = ("crops", "pushes", "family-frequency", "family-quality", "family-boundary")
PICTURES += ("family-texture", "curves-boundary")


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
    """What a video's explain page shows, as numbers: its scan and every family's view."""

    score: float
    z: np.ndarray  # the video vector in training SDs
    pushes: dict[str, float]
    measures: dict[str, dict[str, float]]  # family -> measure -> mean over the frames


def measured(ex: Explanation) -> Measured | None:
    if ex.result.error or ex.vector is None or ex.scale is None:
        return None
    return Measured(
        score=float(ex.result.score or 0.0),
        z=ex.vector / ex.scale,  # the scaler's mean cancels in a difference
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


def analyse(pairs: list[Pair], seen: dict[Path, Measured], scanner: Scanner) -> dict:
    kept = [p for p in pairs if p.fake in seen and p.original in seen]
    columns = vector_columns(scanner.cfg.families, scanner.cfg.temporal)
    layout = scanner_layout(scanner)
    z = by_identity(kept, [seen[p.fake].z - seen[p.original].z for p in kept])
    families = {}
    for name, cols in layout.items():
        d_z = np.array([paired(z[:, c])["d_z"] for c in cols])
        order = np.argsort(-np.nan_to_num(np.abs(d_z)))
        pushes = by_identity(
            kept,
            [np.array(seen[p.fake].pushes[name] - seen[p.original].pushes[name]) for p in kept],
        )
        families[name] = {
            "columns": len(cols),
            "large": int(np.sum(np.abs(np.nan_to_num(d_z)) >= LARGE)),
            "medium": int(np.sum(np.abs(np.nan_to_num(d_z)) >= MEDIUM)),
            "top": [{"column": columns[name][k], "d_z": float(d_z[k])} for k in order[:3]],
            "d_z": {columns[name][k]: float(d_z[k]) for k in range(len(cols))},
            "push": paired(pushes),
            "push_fake": float(np.mean([seen[p.fake].pushes[name] for p in kept])),
            "push_original": float(np.mean([seen[p.original].pushes[name] for p in kept])),
        }
    return {
        "pairs": len(kept),
        "identities": len({p.group for p in kept}),
        "methods": dict(sorted(_count(p.method for p in kept).items())),
        "failed": sorted(
            {str(p) for p in {*(q.fake for q in pairs), *(q.original for q in pairs)} - set(seen)}
        ),
        "score": paired(
            by_identity(kept, [np.array(seen[p.fake].score - seen[p.original].score) for p in kept])
        ),
        "families": families,
        "measures": measure_effects(kept, seen),
    }


def scanner_layout(scanner: Scanner) -> dict[str, list[int]]:
    from common.features import video_layout

    return video_layout(scanner.cfg.families, scanner.cfg.temporal)


def _count(items) -> dict[str, int]:  # type: ignore[no-untyped-def]
    out: dict[str, int] = defaultdict(int)
    for it in items:
        out[it] += 1
    return dict(out)


def _log_ratio(pair: Pair, seen: dict[Path, Measured], family: str, measure: str) -> float:
    a, b = seen[pair.fake].measures[family][measure], seen[pair.original].measures[family][measure]
    return float(np.log(max(a, 1e-12) / max(b, 1e-12)))


def measure_effects(kept: list[Pair], seen: dict[Path, Measured]) -> list[dict]:
    """Each named measure: fake/original ratio and paired statistics, overall and per method."""
    first = seen[kept[0].fake].measures
    out = []
    for family, measures in first.items():
        for measure in measures:
            logs = [np.array(_log_ratio(p, seen, family, measure)) for p in kept]
            stats = paired(by_identity(kept, logs))
            row = {
                "family": family,
                "measure": measure,
                **stats,
                "ratio": float(np.exp(stats["mean"])),
            }
            row["methods"] = {}
            for method in sorted({p.method for p in kept}):
                sel = [(p, lr) for p, lr in zip(kept, logs, strict=True) if p.method == method]
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


# --------------------------------------------------------------------------- pictures


def _small_png(src: Path, dst: Path, width: int | None = None) -> None:
    """A palette PNG (and narrower, when asked): docs pictures at a third of the bytes."""
    from PIL import Image

    img = Image.open(src).convert("RGB")
    if width and img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)


def pictures(docs: Path, seed: int) -> dict:
    """The sample video and its self-blend, side by side, into docs/artifacts/; the sample's
    own explain page, screenshot in headless Chromium, as docs/explain.png."""
    from models.explain.compare import differences
    from models.explain.page import write_explain
    from models.pages import figures
    from models.pages.browser import BrowserError, screenshot
    from models.samples import make_sample
    from models.selfblend import SelfBlender

    out = docs.resolve() / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    scanner = Scanner(load_settings(workers=1))
    with tempfile.TemporaryDirectory(prefix="dfscan-artifacts-") as tmp, chdir(tmp):
        # Relative: the page names the video as the README's commands do.
        sample = str(make_sample(Path("sample.mp4")))
        real = explain_target(sample, scanner)
        blend = explain_target(sample, scanner, transform=SelfBlender(seed))
        pair = write_explain(Path(tmp) / "pair", blend, real).parent
        for name in PICTURES:
            if name == "crops":  # four frames of each: the page's full grid is too heavy here
                shown = [("self-blend", blend.faces[:4]), ("sample", real.faces[:4])]
                figures.draw_crops(shown, pair / "crops.png", per_row=4)
            _small_png(pair / f"{name}.png", out / f"{name}.png")
        solo = write_explain(Path(tmp) / "solo", real)
        try:
            shot = screenshot(solo, Path(tmp) / "shot.png", (1100, 1500))
            _small_png(shot, out.parent / "explain.png", width=800)
        except BrowserError as exc:
            print(f"no screenshot: {exc}", file=sys.stderr)
        diffs = [d.as_json() for d in differences(blend, real)]
    return {
        "sample_score": real.result.score,
        "self_blend_score": blend.result.score,
        "threshold": scanner.threshold,
        "model": scanner.model_version,
        "seed": seed,
        "differences": diffs,
    }


# --------------------------------------------------------------------------- report


def _f(x: float, spec: str = ".2f") -> str:
    return "–" if x is None or not np.isfinite(x) else format(x, spec)


def _p(x: float) -> str:
    return "–" if not np.isfinite(x) else ("<0.001" if x < 0.001 else f"{x:.3f}")


def write_markdown(path: Path, res: dict | None, pics: dict) -> None:
    lines = [
        "# The artifacts, measured",
        "",
        "Generated by `python -m research.artifacts` (do not edit by hand). Step 2 of the "
        "method: compare genuine videos with their deepfake counterparts to find the artifacts "
        "that make the difference. `dfscan explain VIDEO --against REAL_VIDEO` shows them for "
        "one pair; this page measures them over many.",
        "",
    ]
    if res is not None:
        lines += _effects(res)
    lines += _pictures_section(pics)
    if res is not None and "seconds" in res:
        lines += ["", f"The measurements took {res['seconds'] / 60:.1f} min on this machine."]
    path.write_text("\n".join(lines) + "\n")


def _effects(res: dict) -> list[str]:
    methods = ", ".join(f"{m} {n}" for m, n in res["methods"].items())
    s = res["score"]
    lines = [
        "## FaceForensics++ c23 fakes against their own originals",
        "",
        f"The dev set's FF++ c23 fakes, each paired with the original of its identity "
        f"(the manifest's `group`): {res['pairs']} pairs ({methods}) over "
        f"{res['identities']} identities. Every video is read as `dfscan explain` reads it "
        "(the shipped model, 16 frames). A fake and its original share the person, "
        "background, camera and encoding: what differs is the swap. Differences are fake "
        "minus original, averaged per identity; **d_z** is their mean over their standard "
        "deviation across identities (paired Cohen's d; |d_z| >= 0.8 is large), **p** a "
        "Wilcoxon signed-rank test across identities."
        + (f" Not scanned: {len(res['failed'])} videos." if res["failed"] else ""),
        "",
        f"Scores: the fake scores {_f(s['mean'], '+.3f')} above its original on average "
        f"(d_z {_f(s['d_z'])}, p {_p(s['p'])}, higher for {100 * s['share_higher']:.0f}% "
        "of identities).",
        "",
        "### Per family: the model's input",
        "",
        "How many columns of the video vector (in training SDs) have a medium or large paired "
        "effect, the three largest, and the family's push towards \"fake\" (the model's "
        "ablation) on fakes and on originals.",
        "",
        "| family | columns | medium (\\|d_z\\| >= 0.5) | large (\\|d_z\\| >= 0.8) | "
        "largest effects (d_z) | push: fakes | push: originals | push d_z |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, f in res["families"].items():
        top = "; ".join(f"{t['column']} ({_f(t['d_z'], '+.2f')})" for t in f["top"])
        lines.append(
            f"| {name} | {f['columns']} | {f['medium']} | {f['large']} | {top} | "
            f"{_f(f['push_fake'], '+.3f')} | "
            f"{_f(f['push_original'], '+.3f')} | {_f(f['push']['d_z'], '+.2f')} |"
        )
    methods_cols = list(res["methods"])
    lines += [
        "",
        "### Named measures: which differ",
        "",
        "The measures each family's picture names (`common.features.pictures`), mean over "
        "the frames; ratio = fake / original (geometric mean over identities), then the "
        "same ratio per method.",
        "",
        "| family | measure | ratio | d_z | p (Holm) | fake higher | "
        + " | ".join(methods_cols)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(methods_cols),
    ]
    for m in res["measures"]:
        per = " | ".join(
            f"{_f(m['methods'][k]['ratio'])}" if k in m["methods"] else "–" for k in methods_cols
        )
        lines.append(
            f"| {m['family']} | {m['measure']} | {_f(m['ratio'])}× | {_f(m['d_z'], '+.2f')} | "
            f"{_p(m['p_holm'])} | {100 * m['share_higher']:.0f}% | {per} |"
        )
    return lines + _findings(res)


def _findings(res: dict) -> list[str]:
    """What the tables say, in words generated from their numbers."""
    differ = [m for m in res["measures"] if np.isfinite(m["p_holm"]) and m["p_holm"] < ALPHA]
    named = ", ".join(
        f"{m['family']} {m['measure']} {_f(m['ratio'])}× (d_z {_f(m['d_z'], '+.2f')})"
        for m in differ
    )
    lower = sum(m["ratio"] < 1 for m in differ)
    lines = [
        "",
        f"Measures that differ (Wilcoxon p < {ALPHA} after Holm's correction over the "
        f"{len(res['measures'])} named measures): {named or 'none'}"
        + (f"; {lower} of {len(differ)} lower in the fakes." if differ else "."),
    ]
    for method in res["methods"]:
        ranked = sorted(
            (m for m in res["measures"] if method in m["methods"]),
            key=lambda m: -abs(np.log(m["methods"][method]["ratio"])),
        )
        if ranked:
            m = ranked[0]
            r = m["methods"][method]
            lines.append(
                f"- {method} ({r['n']} pairs): farthest from its originals in "
                f"{m['family']} {m['measure']}, {_f(r['ratio'])}×."
            )
    moved = [
        (k, f) for k, f in res["families"].items() if abs(np.nan_to_num(f["push"]["d_z"])) >= 0.2
    ]
    if moved:
        lines += [
            "",
            "The model's pushes, fakes against their originals: "
            + "; ".join(
                f"{k} {_f(f['push_fake'], '+.3f')} vs {_f(f['push_original'], '+.3f')} "
                f"(d_z {_f(f['push']['d_z'], '+.2f')})"
                for k, f in moved
            )
            + ' (a negative d_z: the family pushes the fakes less towards "fake" than their '
            "originals).",
        ]
    return [*lines, ""]


def _pictures_section(pics: dict) -> list[str]:
    notable = [d for d in pics["differences"] if d["notable"] and d["measure"]][:5]
    named = "; ".join(f"{d['family']}: {d['text']}" for d in notable) or "none beyond a quarter"
    return [
        "## What the families see: the sample video and its self-blend",
        "",
        "Research media and crops of it must not be committed, so the pictures come from "
        "the project's own sample video (`dfscan sample`, the astronaut photo) and its "
        "self-blend (`models.selfblend`, the pseudo-fake the shipped model is trained on: the "
        f"face blended onto a colour-, scale- and blur-shifted copy of itself; seed "
        f"{pics['seed']}). Model {pics['model']}: the sample scores "
        f"{_f(pics['sample_score'], '.3f')}, its self-blend {_f(pics['self_blend_score'], '.3f')}"
        f" (threshold {_f(pics['threshold'], '.3f')}). Largest named differences: {named}. "
        "Red: the self-blend; blue: the sample.",
        "",
        "Face crops (white: the inner-face mask's edge; tinted between dashed lines: the blend "
        "band, where a swapped face is pasted):",
        "",
        "![face crops](artifacts/crops.png)",
        "",
        'Each family\'s push towards "fake":',
        "",
        "![pushes](artifacts/pushes.png)",
        "",
        "**frequency**: the azimuthal spectrum curves the family reads (inner face and whole "
        "crop) and the inner face's 2-D log spectrum:",
        "",
        "![frequency](artifacts/family-frequency.png)",
        "",
        "**quality**: what a blur takes away (the reference of the quality measures) and the "
        "measures' inner/outer log ratios:",
        "",
        "![quality](artifacts/family-quality.png)",
        "",
        "**boundary**: noise residual and sharpness with the blend band outlined, and the "
        "family's inner/band/outer contrasts; then over the frames:",
        "",
        "![boundary](artifacts/family-boundary.png)",
        "",
        "![boundary over the frames](artifacts/curves-boundary.png)",
        "",
        "**texture**: each pixel's LBP code and the histograms of the inner face and the "
        "ring outside it:",
        "",
        "![texture](artifacts/family-texture.png)",
    ]


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
    scanner = Scanner(load_settings(workers=1))
    seen: dict[Path, Measured] = {}
    videos = sorted({p.fake for p in pairs} | {p.original for p in pairs})
    for i, path in enumerate(videos, 1):
        m = measured(explain_target(str(path), scanner))
        if m is not None:
            seen[path] = m
        print(f"{i}/{len(videos)} {path.relative_to(dev)}", file=sys.stderr, flush=True)
    return analyse(pairs, seen, scanner)


if __name__ == "__main__":
    sys.exit(main())
