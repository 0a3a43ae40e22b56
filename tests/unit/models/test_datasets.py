"""Dataset adapters on tiny generated trees (empty files: adapters only list, never decode)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from models.datasets import celebdf_items, dfdc_items, ffpp_items
from models.manifest import read_manifest
from scheduler.cli import main


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _by_name(items):
    return {Path(it.target).name if "/" in it.target else it.target: it for it in items}


def _ffpp_tree(root: Path) -> None:
    for comp in ("c23", "c40"):
        for vid in ("000", "003", "071", "054"):
            _touch(root / "original_sequences/youtube" / comp / "videos" / f"{vid}.mp4")
        _touch(root / "original_sequences/actors" / comp / "videos/01__kitchen_pan.mp4")
        for method in ("Deepfakes", "FaceSwap"):
            for pair in ("000_003", "003_000", "071_054", "054_071"):
                _touch(root / "manipulated_sequences" / method / comp / "videos" / f"{pair}.mp4")
        _touch(
            root
            / "manipulated_sequences/DeepFakeDetection"
            / comp
            / "videos"
            / "01_02__kitchen_pan__ABCD1234.mp4"
        )
    (root / "train.json").write_text(json.dumps([["000", "003"]]))
    (root / "val.json").write_text(json.dumps([["071", "054"]]))
    (root / "test.json").write_text("[]")


def test_ffpp_layout_splits_and_groups(tmp_path: Path) -> None:
    _ffpp_tree(tmp_path)
    items = list(ffpp_items(tmp_path, "c23"))
    assert len(items) == 4 + 1 + 8 + 1
    assert all("/c23/" in it.target for it in items)
    assert all(Path(it.target).is_absolute() for it in items)
    names = _by_name(items)
    assert names["000.mp4"].label == "real" and names["000.mp4"].split == "train"
    assert names["071.mp4"].split == "val"
    # A fake and both of its originals share the pair's group, whichever way round.
    g = names["000.mp4"].group
    assert g == names["003.mp4"].group == "ffpp:000_003"
    fakes = [
        it for it in items if it.label == "fake" and Path(it.target).stem in ("000_003", "003_000")
    ]
    assert len(fakes) == 4 and {it.group for it in fakes} == {g}
    assert {it.split for it in fakes} == {"train"}
    assert {it.method for it in items if it.label == "fake"} == {
        "Deepfakes",
        "FaceSwap",
        "DeepFakeDetection",
    }
    assert names["01__kitchen_pan.mp4"].group == "dfd:01"
    assert names["01_02__kitchen_pan__ABCD1234.mp4"].group == "dfd:01"
    # No group straddles two splits.
    splits: dict[str, set[str]] = {}
    for it in items:
        splits.setdefault(it.group, set()).add(it.split)
    assert all(len(s) == 1 for s in splits.values())


def test_celebdf_layout(tmp_path: Path) -> None:
    for rel in (
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id1_0001.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4",
        "Celeb-synthesis/id1_id0_0003.mp4",
        "YouTube-real/00000.mp4",
        "YouTube-real/00170.mp4",
    ):
        _touch(tmp_path / rel)
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n1 Celeb-real/id1_0001.mp4\n"
    )
    items = list(celebdf_items(tmp_path))
    names = _by_name(items)
    assert len(items) == 6
    assert names["id0_id1_0000.mp4"].label == "fake"
    assert names["id0_id1_0000.mp4"].split == "test"
    assert names["id1_id0_0003.mp4"].split == "train"
    assert names["00170.mp4"].split == "test" and names["00170.mp4"].label == "real"
    assert names["id1_0001.mp4"].split == "test"
    assert names["id0_0000.mp4"].group == names["id0_id1_0000.mp4"].group == "celebdf:id0"
    assert names["00000.mp4"].group != names["00170.mp4"].group
    assert names["id0_id1_0000.mp4"].method == "celeb-synthesis"


def test_dfdc_layout(tmp_path: Path) -> None:
    for part, meta in {
        "dfdc_train_part_0": {
            "aaa.mp4": {"label": "REAL", "split": "train", "original": None},
            "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
            "gone.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
        },
        "dfdc_train_part_1": {
            "ccc.mp4": {"label": "FAKE", "split": "train", "original": "ddd.mp4"},
            "ddd.mp4": {"label": "REAL", "split": "train", "original": None},
        },
    }.items():
        for name in meta:
            if name != "gone.mp4":
                _touch(tmp_path / part / name)
        (tmp_path / part / "metadata.json").write_text(json.dumps(meta))
    items = list(dfdc_items(tmp_path))
    names = _by_name(items)
    assert set(names) == {"aaa.mp4", "bbb.mp4", "ccc.mp4", "ddd.mp4"}  # missing file skipped
    assert names["aaa.mp4"].label == "real" and names["bbb.mp4"].label == "fake"
    assert names["aaa.mp4"].group == names["bbb.mp4"].group == "dfdc:aaa"
    assert names["ccc.mp4"].group == names["ddd.mp4"].group == "dfdc:ddd"
    assert names["ccc.mp4"].split == "train"


def test_cli_dataset_commands_write_readable_manifests(tmp_path: Path) -> None:
    _ffpp_tree(tmp_path / "ffpp")
    timit = tmp_path / "timit"
    for split, label, subj in (("train", "real", "s1"), ("val", "fake", "s2")):
        _touch(timit / split / label / subj / "sa1" / "000.jpg")
    runner = CliRunner()
    out_dir = tmp_path / "manifests"
    for args, n in (
        (["ffpp", str(tmp_path / "ffpp"), "--compression", "c40"], 14),
        (["deepfaketimit", str(timit)], 2),
    ):
        out = out_dir / f"{args[0]}.csv"
        res = runner.invoke(main, ["dataset", *args, "--out", str(out)])
        assert res.exit_code == 0, res.output
        items = read_manifest(out)
        assert len(items) == n
        # Absolute paths: the manifest works from any folder.
        assert all(Path(it.target).exists() for it in items)
