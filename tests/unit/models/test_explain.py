"""``dfscan explain`` on the shipped model and videos made here (the astronaut's face).

The page must say what ``dfscan scan`` says (same score, verdict and pushes), link only
images that exist, show the numbers of its JSON, escape untrusted text, give bad input the
scan's error code, and show every family of the registry, also one added later.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest
from _media import no_face_bgr, write_face_video, write_garbage, write_image, write_zero_byte
from _pages import assert_images_exist, assert_numbers_match
from click.testing import CliRunner

from common.features import CLIP_NAMES, FAMILIES, FAMILY_NAMES, TEMPORAL, FeatureFamily
from common.settings import Settings
from models.explain import analysis
from models.explain.analysis import explain_target
from models.explain.page import JSON_NAME, write_explain
from models.scanner import Scanner
from scheduler.cli import EXIT_SOME_ERRORS, main

FRAMES = 6


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("explain_media")
    return {
        "real": write_face_video(d / "real.mp4", n=12),
        "fake": write_face_video(d / "fake.mp4", n=12, fake=True),
    }


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(Settings(frames_per_video=FRAMES, workers=1), local_files=True)


@pytest.fixture(scope="module")
def pair(videos: dict[str, Path], scanner: Scanner, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    fake = explain_target(str(videos["fake"]), scanner)
    real = explain_target(str(videos["real"]), scanner)
    page = write_explain(tmp_path_factory.mktemp("page"), fake, real)
    return fake, real, page


def test_explanation_is_the_scan(videos: dict[str, Path], scanner: Scanner, pair) -> None:  # type: ignore[no-untyped-def]
    fake, real, _ = pair
    for ex, name in ((fake, "fake"), (real, "real")):
        scanned = scanner.scan(str(videos[name]))
        assert ex.result.score == scanned.score and ex.result.label == scanned.label
        assert ex.result.families == scanned.families
        assert len(ex.faces) == scanned.faces_found == FRAMES
    assert (fake.result.label, real.result.label) == ("fake", "real")


def test_page_shows_every_family_with_existing_pictures(pair) -> None:  # type: ignore[no-untyped-def]
    _, _, page = pair
    data = json.loads((page.parent / JSON_NAME).read_text())
    # Every family of the registry, also those the shipped model does not use.
    assert data["families"] == [*FAMILY_NAMES, TEMPORAL, *CLIP_NAMES]
    # crops + pushes + a picture per family + curves per frame family
    files = assert_images_exist(page, at_least=2 + len(data["families"]) + len(FAMILY_NAMES))
    names = {f.name for f in files}
    assert {f"family-{n}.png" for n in data["families"]} <= names
    assert {f"curves-{n}.png" for n in FAMILY_NAMES} <= names
    shown = assert_numbers_match(page, page.parent / JSON_NAME, at_least=30)
    assert shown >= 2 * (5 + 6)  # per video: pushes and the verdict table at least
    video, real = data["videos"]
    assert video["pushes"] == pytest.approx(pair[0].result.families)
    assert real["role"] == "real" and video["threshold"] == real["threshold"]


def test_against_names_the_differences(pair) -> None:  # type: ignore[no-untyped-def]
    _, _, page = pair
    diffs = json.loads((page.parent / JSON_NAME).read_text())["differences"]
    by_measure = {(d["family"], d["measure"]): d for d in diffs}
    # The sample fake pastes a blurred, noisy copy of the face: what a blur removes is
    # much less inside its face than inside the real one's.
    blur = by_measure[("quality", "blur residual")]
    assert blur["ratio"] < 0.5 and blur["notable"]
    assert "× the real's" in blur["text"]
    assert blur["text"] in html.unescape(page.read_text())
    distances = [d for d in diffs if not d["measure"]]
    assert {d["family"] for d in distances} == set(pair[0].layout)  # the model's families
    assert all(d["value"] >= 0 for d in distances)


def _cli_explain(*args: str) -> tuple[int, str]:
    env = {"DFSCAN_FRAMES_PER_VIDEO": str(FRAMES), "DFSCAN_WORKERS": "1"}
    result = CliRunner().invoke(main, ["explain", *args], env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda d: write_zero_byte(d / "empty.mp4"), "empty_file"),
        (lambda d: write_garbage(d / "garbage.mp4"), "unreadable"),
        (lambda d: write_image(d / "coffee.png", no_face_bgr()), "no_face"),
        (lambda d: d / "missing.mp4", "not_found"),
    ],
    ids=["empty", "garbage", "no_face", "missing"],
)
def test_bad_input_gets_the_scans_error_code(
    make, code: str, tmp_path: Path, scanner: Scanner
) -> None:  # type: ignore[no-untyped-def]
    target = make(tmp_path)
    assert scanner.scan(str(target)).error["code"] == code  # type: ignore[index]
    out = tmp_path / "page"
    status, output = _cli_explain(str(target), "--out", str(out))
    assert status == EXIT_SOME_ERRORS, output
    data = json.loads((out / JSON_NAME).read_text())
    assert data["videos"][0]["error"]["code"] == code
    text = (out / "index.html").read_text()
    assert f"error code <code>{code}</code>" in text
    assert_images_exist(out / "index.html", at_least=0)


def test_a_reference_that_fails_leaves_the_video_shown(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "page"
    missing = tmp_path / "original.mp4"
    status, _ = _cli_explain(str(videos["fake"]), "--against", str(missing), "--out", str(out))
    assert status == EXIT_SOME_ERRORS
    data = json.loads((out / JSON_NAME).read_text())
    video, real = data["videos"]
    assert video["error"] is None and real["error"]["code"] == "not_found"
    assert data["differences"] == [] and data["pushed"] == list(video["pushes"])
    assert_images_exist(out / "index.html", at_least=8)
    assert_numbers_match(out / "index.html", out / JSON_NAME, at_least=10)


def test_untrusted_target_appears_as_text(tmp_path: Path, scanner: Scanner) -> None:
    target = str(tmp_path / "<script>alert(1)</script>.mp4")
    page = write_explain(tmp_path / "page", explain_target(target, scanner))
    text = page.read_text()
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.mp4" in text


def test_cli_against_and_usage_errors(videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "page"
    status, output = _cli_explain(
        str(videos["fake"]), "--against", str(videos["real"]), "--out", str(out)
    )
    assert status == 0, output
    assert "fake" in output and (out / "index.html").is_file()
    # A folder of two videos is many targets: explain takes one.
    status, output = _cli_explain(str(videos["fake"].parent), "--out", str(out))
    assert status == 2 and "explain takes one" in output
    status, _ = _cli_explain(str(videos["fake"]))  # no --out
    assert status == 2


def _mean_tint(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A family added after this page was written: the inner face's mean colour."""
    return crop[mask > 0.5].mean(axis=0).astype(np.float32)


def test_a_new_family_and_one_without_picture_plug_in(
    videos: dict[str, Path], scanner: Scanner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = FeatureFamily("tint", _mean_tint, 3, "a test family")
    monkeypatch.setattr(analysis, "FAMILIES", (*FAMILIES, new))
    monkeypatch.setattr(
        analysis, "picture_of", lambda name: None if name == "texture" else _own(name)
    )
    ex = explain_target(str(videos["fake"]), scanner)
    tint, texture = ex.family("tint"), ex.family("texture")
    assert tint is not None and texture is not None
    assert not tint.own_picture and tint.push is None  # the model does not use it
    assert tint.values.shape == (FRAMES, 3) and tint.picture.panels[0].kind == "curve"
    assert not texture.own_picture and texture.push is not None
    assert ex.result.score == scanner.scan(str(videos["fake"])).score
    page = write_explain(tmp_path / "page", ex)
    files = {f.name for f in assert_images_exist(page, at_least=8)}
    assert {"family-tint.png", "family-texture.png"} <= files
    assert "(not used by this model)" in page.read_text()
    assert_numbers_match(page, page.parent / JSON_NAME, at_least=10)


def _own(name: str):  # type: ignore[no-untyped-def]
    from common.features.pictures import picture_of

    return picture_of(name)
