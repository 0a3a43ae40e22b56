"""The ``dfscan`` command: one front for scanning, training, evaluation and the batch system."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from common.settings import Settings, load_settings
from common.types import ScanResult
from scheduler.options import extraction_overrides, training_reading

EXIT_SOME_ERRORS = 3


def _settings(ctx: click.Context, **overrides: object) -> Settings:
    """Settings built once per invocation, from env plus the options given."""
    base: Settings = ctx.obj["settings"]
    clean = {k: v for k, v in overrides.items() if v is not None}
    return base.model_copy(update=clean) if clean else base


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dfscan")
@click.pass_context
def main(ctx: click.Context) -> None:
    """dfscan: CPU-only deepfake video scanner (classical artifacts + SVM)."""
    ctx.ensure_object(dict)
    ctx.obj["settings"] = load_settings()


def _top_family(r: ScanResult) -> str:
    if not r.families:
        return ""
    name, val = max(r.families.items(), key=lambda kv: kv[1])
    return f"{name} (+{val:.2f})" if val > 0 else ""


def _table(results: list[ScanResult]) -> str:
    rows = [("TARGET", "VERDICT", "SCORE", "FRAMES", "FACES", "SECONDS", "DRIVEN BY / ERROR")]
    for r in results:
        target = r.target if len(r.target) <= 60 else "…" + r.target[-59:]
        if r.error:
            rows.append(
                (
                    target,
                    "error",
                    "-",
                    str(r.frames_used),
                    str(r.faces_found),
                    f"{r.seconds:.2f}",
                    f"{r.error['code']}: {r.error['message']}",
                )
            )
        else:
            rows.append(
                (
                    target,
                    str(r.label),
                    f"{r.score:.3f}",
                    str(r.frames_used),
                    str(r.faces_found),
                    f"{r.seconds:.2f}",
                    _top_family(r),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def _public(r: ScanResult) -> dict[str, object]:
    d = r.as_json()
    d.pop("content_sha256", None)
    return d


@main.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of results.")
@click.option("--frames", type=int, help="Frames sampled per video (default 16).")
@extraction_overrides
@click.option("--model", "model_path", type=click.Path(path_type=Path), help="Model bundle folder.")
@click.option("--workers", type=int, help="Processes (default: all cores).")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    help="Label fake at P(fake) >= this (default: the model's threshold).",
)
@click.option(
    "--db", "database_url", help="SQLAlchemy URL for results (default sqlite:///dfscan.db)."
)
@click.pass_context
def scan(
    ctx: click.Context,
    targets: tuple[str, ...],
    as_json: bool,
    frames: int | None,
    sampling: str | None,
    tracking: str | None,
    model_path: Path | None,
    workers: int | None,
    threshold: float | None,
    database_url: str | None,
) -> None:
    """Scan videos, frame folders, images, http(s)/s3 URLs or list files (.txt/.csv/.jsonl).

    Exit status: 0 all scanned (fake verdicts included), 3 some targets could not be scanned
    (each has an error code in the output), 2 usage errors.
    """
    from tqdm import tqdm

    from scheduler.embedded import run_embedded
    from scheduler.targets import expand

    settings = _settings(
        ctx,
        frames_per_video=frames,
        sampling=sampling,
        tracking=tracking,
        model_path=model_path,
        workers=workers,
        threshold=threshold,
        database_url=database_url,
    )
    expanded = [t for raw in targets for t in expand(raw)]
    bar = tqdm(
        total=len(expanded),
        unit="video",
        file=sys.stderr,
        disable=None if len(expanded) > 1 else True,
    )
    results = run_embedded(expanded, settings, on_result=lambda _r: bar.update())
    bar.close()
    if as_json:
        click.echo(json.dumps([_public(r) for r in results], indent=2))
    else:
        click.echo(_table(results))
    if any(r.error for r in results):
        ctx.exit(EXIT_SOME_ERRORS)


def _manifest_options(fn: Callable[..., None]) -> Callable[..., None]:
    """--manifest (repeatable) and --root, shared by train and evaluate."""
    fn = click.option(
        "--root",
        type=click.Path(exists=True, path_type=Path),
        help="Folder that relative manifest paths start from (default: the manifest's).",
    )(fn)
    return click.option(
        "--manifest",
        "manifests",
        type=click.Path(exists=True, path_type=Path),
        multiple=True,
        required=True,
        help="Manifest CSV (repeatable).",
    )(fn)


def _load_items(manifests: tuple[Path, ...], root: Path | None) -> list:
    from models.manifest import read_manifest

    return [it for m in manifests for it in read_manifest(m, root=root)]


@main.command()
@_manifest_options
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Bundle folder.")
@click.option("--name", default="dfscan", show_default=True)
@click.option("--self-blend", is_flag=True, help="Add self-blended pseudo-fakes of the reals.")
@click.option(
    "--pseudo-only",
    is_flag=True,
    help="Ignore the manifest's fakes; learn from self-blends only (implies --self-blend).",
)
@click.option(
    "--augment",
    type=int,
    default=0,
    show_default=True,
    help="Degraded copies of each real clip (and of its self-blend) to add.",
)
@click.option(
    "--box-jitter",
    type=(float, float),
    default=None,
    metavar="SHIFT LOG_SCALE",
    help="Move every training face box at random before cropping: standard deviations of "
    "the shift (face sides, per axis) and of the log size change, e.g. 0.035 0.1.",
)
@click.option("--families", help="Comma-separated feature families (default: all).")
@click.option("--no-temporal", is_flag=True, help="Leave out the temporal family.")
@click.option(
    "--threshold",
    "threshold_rule",
    default="frr:0.01",
    show_default=True,
    help="'eer' or 'frr:<rate>' (false-flag rate on real dev videos).",
)
@click.option(
    "--dev-split",
    default="val",
    show_default=True,
    help="Manifest split used only to fix the threshold.",
)
@click.option("--frames", type=int, default=16, show_default=True)
@training_reading
@click.option("--detector", type=click.Choice(["dlib", "haar"]), default="dlib", show_default=True)
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=Path(".cache/features"),
    show_default=True,
    help="Feature cache folder.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--describe", default="", help="Training-data description for the model card.")
@click.pass_context
def train(
    ctx: click.Context,
    manifests: tuple[Path, ...],
    root: Path | None,
    out: Path,
    name: str,
    self_blend: bool,
    pseudo_only: bool,
    augment: int,
    box_jitter: tuple[float, float] | None,
    families: str | None,
    no_temporal: bool,
    threshold_rule: str,
    dev_split: str,
    frames: int,
    sampling: str,
    tracking: str,
    detector: str,
    cache: Path,
    seed: int,
    describe: str,
) -> None:
    """Train an SVM bundle from manifests (grouped CV, threshold on the dev split)."""
    from common.features import FAMILY_NAMES
    from models.training import TrainOptions, run_training

    settings = _settings(ctx)
    opt = TrainOptions(
        out=out,
        name=name,
        families=tuple(families.split(",")) if families else FAMILY_NAMES,
        temporal=not no_temporal,
        self_blend=self_blend or pseudo_only,
        pseudo_only=pseudo_only,
        augment=augment,
        box_jitter=box_jitter,
        threshold_rule=threshold_rule,
        dev_split=dev_split,
        detector=detector,
        frames=frames,
        sampling=sampling,
        tracking=tracking,
        seed=seed,
        cache=cache,
        workers=settings.workers,
        data_description=describe or ", ".join(str(m) for m in manifests),
    )
    card = run_training(_load_items(manifests, root), settings, opt)
    click.echo(
        f"wrote {out} ({card['model_version']}); CV AUC {card['cv_auc']:.3f}; "
        f"threshold {card['threshold']:.4f}"
    )
    if "dev" in card:
        d = card["dev"]
        click.echo(
            f"dev: AUC {d['auc']:.3f} EER {d['eer']:.3f} FAR {d['far']:.3f} FRR {d['frr']:.3f}"
        )


@main.group()
def dataset() -> None:
    """Write manifests from standard dataset layouts."""


@dataset.command("deepfaketimit")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True)
def dataset_deepfaketimit(root: Path, out: Path) -> None:
    """DeepfakeTIMIT/VidTIMIT frame folders ({split}/{label}/{subject}/{sentence}/)."""
    from models.manifest import deepfaketimit_items, write_manifest

    n = write_manifest(deepfaketimit_items(root.resolve()), out)
    click.echo(f"{n} clips -> {out}")


@main.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fake", is_flag=True, help="Paste a degraded copy of the face back (a crude swap).")
@click.option("--frames", type=int, default=50, show_default=True)
def sample(out: Path, fake: bool, frames: int) -> None:
    """Write a small H.264 face video to try dfscan on (no research data needed)."""
    from models.samples import make_sample

    make_sample(out, fake=fake, frames=frames)
    click.echo(str(out))


def _write_dataset(kind: str, root: Path, out: Path, **kw: object) -> None:
    from models.datasets import ADAPTERS
    from models.manifest import write_manifest

    n = write_manifest(ADAPTERS[kind](root, **kw), out)  # type: ignore[call-arg]
    click.echo(f"{n} videos -> {out}")


@dataset.command("ffpp")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--compression", type=click.Choice(["raw", "c23", "c40"]), default="c23")
def dataset_ffpp(root: Path, out: Path, compression: str) -> None:
    """FaceForensics++ (original_sequences/, manipulated_sequences/, train|val|test.json)."""
    _write_dataset("ffpp", root, out, compression=compression)


@dataset.command("celebdf")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True)
def dataset_celebdf(root: Path, out: Path) -> None:
    """Celeb-DF v2 (Celeb-real/, Celeb-synthesis/, YouTube-real/, List_of_testing_videos.txt)."""
    _write_dataset("celebdf", root, out)


@dataset.command("dfdc")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True)
def dataset_dfdc(root: Path, out: Path) -> None:
    """DFDC parts (folders with metadata.json), found anywhere under ROOT."""
    _write_dataset("dfdc", root, out)


@main.command()
@_manifest_options
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Report folder.")
@click.option("--model", "model_path", type=click.Path(path_type=Path), help="Model bundle folder.")
@click.option("--split", help="Evaluate only this manifest split (e.g. val, test).")
@click.option("--frames", type=int, help="Frames per video (default: the model's).")
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=Path(".cache/features"),
    show_default=True,
    help="Feature cache folder.",
)
@click.option("--no-control", is_flag=True, help="Skip the background shortcut control.")
@click.option("--workers", type=int, help="Processes (default: all cores).")
@click.pass_context
def evaluate(
    ctx: click.Context,
    manifests: tuple[Path, ...],
    root: Path | None,
    out: Path,
    model_path: Path | None,
    split: str | None,
    frames: int | None,
    cache: Path,
    no_control: bool,
    workers: int | None,
) -> None:
    """Score labelled manifests; write scores.csv, metrics.json, roc.png, det.png, report.md."""
    from models.evaluation import EvalOptions
    from models.evaluation import evaluate as run_evaluate

    settings = _settings(ctx, workers=workers)
    opt = EvalOptions(
        out=out,
        model=model_path or settings.model_path,
        split=split,
        frames=frames,
        cache=cache,
        control=not no_control,
        workers=settings.workers,
        progress=True,
    )
    m = run_evaluate(_load_items(manifests, root), settings, opt, manifests=manifests)
    v, c = m["video"], m["control"]

    def f(x: object) -> str:
        return "-" if x is None else f"{x:.4f}"  # type: ignore[str-format]

    click.echo(
        f"video: AUC {f(v.get('auc'))} EER {f(v.get('eer'))} FAR {f(v.get('far'))} "
        f"FRR {f(v.get('frr'))} HTER {f(v.get('hter'))} at threshold {f(v.get('threshold'))} "
        f"(n_real {v.get('n_real')}, n_fake {v.get('n_fake')}, errors {m['meta']['n_errors']})"
    )
    if "verdict" in c:
        click.echo(f"control: background AUC {f(c.get('auc'))}. {c['verdict']}")
    click.echo(f"wrote {out}/report.md")


def _register_bench() -> None:
    from scheduler.bench.harness import register

    register(main)


_register_bench()


def _register_distributed() -> None:
    from scheduler.commands_distributed import register

    register(main)


_register_distributed()

if __name__ == "__main__":
    main()
