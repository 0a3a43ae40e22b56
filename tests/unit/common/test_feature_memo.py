"""The feature memos: shared work between families never changes a vector."""

from __future__ import annotations

import numpy as np
from _media import astronaut_bgr

from common.faces import crop_square, face_mask
from common.features import CLIP_FAMILIES, FAMILIES, clip_vector, frame_vector
from common.features.memo import last_input_memo, sharing
from common.types import Box, Face, FaceTrack

S = 128


def _counting() -> tuple[last_input_memo[float], list[int]]:
    calls: list[int] = []

    def total(a: np.ndarray) -> float:
        calls.append(1)
        return float(a.sum())

    return last_input_memo(total, track=True), calls


def test_track_memo_keeps_a_block_of_inputs_then_one() -> None:
    memo, calls = _counting()
    inputs = [np.full((8, 8), float(i), np.float32) for i in range(5)]
    with sharing(5):
        assert [memo(a) for a in inputs] == [0.0, 64.0, 128.0, 192.0, 256.0]
        # Equal content in another array object is found again, whatever its age.
        assert [memo(a.copy()) for a in inputs[::-1]] == [256.0, 192.0, 128.0, 64.0, 0.0]
        assert len(calls) == 5
    # After the block only the newest entry is kept (inputs[0], the last asked for).
    assert memo(inputs[0].copy()) == 0.0 and len(calls) == 5
    assert memo(inputs[3]) == 192.0 and len(calls) == 6


def test_memo_compares_content_not_identity() -> None:
    memo, calls = _counting()
    a, b = np.zeros((32, 32), np.float32), np.ones((32, 32), np.float32)
    with sharing(8):
        assert memo(a) == 0.0 and memo(b) == 1024.0
        a[3, 5] = 1.0  # mutated in place, where the fingerprint (every 7th value) cannot see
        assert memo(a) == 1.0
        assert memo(np.zeros((32, 32), np.float64)) == 0.0  # same values, another dtype
        assert memo(np.zeros((16, 64), np.float32)) == 0.0  # same values, another shape
    assert len(calls) == 5


def test_plain_memo_keeps_one_entry_in_a_block() -> None:
    calls: list[int] = []
    memo = last_input_memo(lambda a: calls.append(1) or float(a.sum()))
    a, b = np.zeros(4, np.float32), np.ones(4, np.float32)
    with sharing(8):
        memo(a), memo(b), memo(a)
    assert len(calls) == 3


def test_track_only_memo_remembers_nothing_outside_a_block() -> None:
    calls: list[int] = []
    memo = last_input_memo(lambda a: calls.append(1) or float(a.sum()), track=True, frame=False)
    a, b = np.zeros(4, np.float32), np.ones(4, np.float32)
    memo(a), memo(a)
    assert len(calls) == 2
    with sharing(2):
        memo(a), memo(b), memo(a), memo(b)
    assert len(calls) == 4
    memo(b)  # nothing kept after the block
    assert len(calls) == 5


def _track() -> FaceTrack:
    rng = np.random.default_rng(7)
    base, _ = crop_square(astronaut_bgr(), Box(178, 66, 94, 94), S)
    faces, lm = [], rng.uniform(30, 100, (68, 2))
    for i in range(6):
        noise = rng.integers(-6, 7, base.shape)
        crop = np.clip(base.astype(int) + noise, 0, 255).astype(np.uint8)
        mask = face_mask(S, Box(24 + i % 3, 24, 80, 80 + i), None)
        lm = lm + rng.normal(0, 0.5, (68, 2))
        faces.append(Face(i, Box(0, 0, S, S), crop, mask, lm.astype(np.float32)))
    return FaceTrack.of(faces)


def test_vectors_are_the_same_shared_or_alone() -> None:
    # Each family called alone, in another order, outside any block, gives the vector the
    # extraction computes with the memos shared across the track.
    tr = _track()
    with sharing(len(tr)):
        shared = [frame_vector(c, m, FAMILIES) for c, m in zip(tr.crops, tr.masks, strict=True)]
        shared_clip = clip_vector(tr, CLIP_FAMILIES)
    for fam_i, fam in enumerate(FAMILIES):
        start = sum(f.length for f in FAMILIES[:fam_i])
        for t in reversed(range(len(tr))):
            alone = np.asarray(fam.fn(tr.crops[t].copy(), tr.masks[t].copy()), np.float32)
            np.testing.assert_array_equal(
                np.nan_to_num(alone, nan=0.0, posinf=0.0, neginf=0.0),
                shared[t][start : start + fam.length],
            )
    for fam in CLIP_FAMILIES:
        start = sum(f.length for f in CLIP_FAMILIES[: CLIP_FAMILIES.index(fam)])
        np.testing.assert_array_equal(
            np.asarray(fam.fn(tr), np.float32), shared_clip[start : start + fam.length]
        )
