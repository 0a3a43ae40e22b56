"""``dfscan train``, ``dfscan evaluate`` and ``dfscan dataset``: models from manifests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from common.types import DETECTORS
from scheduler.options import BadList, settings_for, training_reading


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


# Features are cached per content and feature version, for train and evaluate alike.
_cache_option = click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=Path(".cache/features"),
    show_default=True,
    help="Feature cache folder.",
)


def _load_items(manifests: tuple[Path, ...], root: Path | None) -> list:
    """Every manifest's items; a malformed or empty one is a usage error (one line)."""
    from models.manifest import read_manifest

    try:
        items = [it for m in manifests for it in read_manifest(m, root=root)]
    except ValueError as exc:  # a row without path or label, or not text
        raise BadList(str(exc)) from None
    if not items:
        raise BadList(f"{', '.join(map(str, manifests))}: no videos listed")
    return items


@click.command()
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
@click.option(
    "--families",
    help="Comma-separated feature families (default: all but colour and upsampling, which are "
    "opt-in).",
)
@click.option("--no-temporal", is_flag=True, help="Leave out the temporal family.")
@click.option(
    "--no-spread",
    is_flag=True,
    help="Describe each frame family by its mean over frames alone (no spread columns).",
)
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
@click.option(
    "--measure-every",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Measure the frame families on every k-th face of the track (every face is still "
    "followed); recorded in the bundle.",
)
@training_reading
@click.option("--detector", type=click.Choice(DETECTORS), default="dlib", show_default=True)
@_cache_option
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
    no_spread: bool,
    threshold_rule: str,
    dev_split: str,
    frames: int,
    measure_every: int,
    sampling: str,
    tracking: str,
    detector: str,
    cache: Path,
    seed: int,
    describe: str,
) -> None:
    """Train an SVM bundle from manifests (grouped CV, threshold on the dev split)."""
    from common.features import DEFAULT_FAMILIES
    from models.training import TrainOptions, run_training

    settings = settings_for(ctx)
    opt = TrainOptions(
        out=out,
        name=name,
        families=tuple(families.split(",")) if families else DEFAULT_FAMILIES,
        temporal=not no_temporal,
        spread=not no_spread,
        self_blend=self_blend or pseudo_only,
        pseudo_only=pseudo_only,
        augment=augment,
        box_jitter=box_jitter,
        threshold_rule=threshold_rule,
        dev_split=dev_split,
        detector=detector,
        frames=frames,
        measure_every=measure_every,
        sampling=sampling,
        tracking=tracking,
        seed=seed,
        cache=cache,
        workers=settings.workers,
        data_description=describe or ", ".join(str(m) for m in manifests),
    )
    from models.bundle import bundle_digest
    from models.training import TrainingDataError

    try:
        card = run_training(_load_items(manifests, root), settings, opt)
    except TrainingDataError as exc:
        raise BadList(str(exc)) from None
    click.echo(
        f"wrote {out} ({card['model_version']}); CV AUC {card['cv_auc']:.3f}; "
        f"threshold {card['threshold']:.4f}"
    )
    # What an operator sets to load this bundle (a pickle runs code: models/trusted.py).
    click.echo(f"bundle digest: DFSCAN_MODEL_SHA256={bundle_digest(out)}")
    if "dev" in card:
        d = card["dev"]
        click.echo(
            f"dev: AUC {d['auc']:.3f} EER {d['eer']:.3f} FAR {d['far']:.3f} FRR {d['frr']:.3f}"
        )


@click.group()
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


@click.command()
@_manifest_options
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Report folder.")
@click.option("--model", "model_path", type=click.Path(path_type=Path), help="Model bundle folder.")
@click.option("--split", help="Evaluate only this manifest split (e.g. val, test).")
@click.option("--frames", type=int, help="Frames per video (default: the model's).")
@_cache_option
@click.option("--no-control", is_flag=True, help="Skip the background shortcut control.")
@click.option(
    "--no-nuisance",
    is_flag=True,
    help="Skip the nuisance control (face size, frame size, bitrate, length against labels).",
)
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
    no_nuisance: bool,
    workers: int | None,
) -> None:
    """Score labelled manifests; write scores.csv, nuisance.csv, metrics.json, roc.png, det.png
    and report.md."""
    from models.evaluation import EvalOptions
    from models.evaluation import evaluate as run_evaluate

    settings = settings_for(ctx, workers=workers)
    opt = EvalOptions(
        out=out,
        model=model_path or settings.model_path,
        split=split,
        frames=frames,
        cache=cache,
        control=not no_control,
        nuisance=not no_nuisance,
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
    if "verdict" in m["nuisance"]:
        click.echo(f"nuisance: {m['nuisance']['verdict']}")
    click.echo(f"wrote {out}/report.md")


def register(group: click.Group) -> None:
    group.add_command(train)
    group.add_command(evaluate)
    group.add_command(dataset)
