"""The hand LBP of common.features.texture against scikit-image's, for equality and speed.

    .venv/bin/python -m research.lbp_skimage

On a 128x128 grey face crop (scikit-image's public-domain astronaut photo, so no research
data is needed): the share of pixels whose riu2 code agrees with
``skimage.feature.local_binary_pattern(P=8, R, method="uniform")``, and the CPU time of each
per crop (single thread, median of repeats). The result is quoted in the texture docstring.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy: one core, as a worker runs

import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402
from skimage.feature import local_binary_pattern  # noqa: E402

from common.features.texture import RADII, P, lbp_riu2  # noqa: E402


def _ms(fn: Callable[[], object], repeats: int = 5, n: int = 100) -> float:
    fn()
    runs = []
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        runs.append((time.process_time() - t0) / n * 1e3)
    return statistics.median(runs)


def main() -> int:
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    crop = cv2.resize(grey[0:300, 120:420], (128, 128), interpolation=cv2.INTER_AREA)
    for r in RADII:
        hand = lbp_riu2(crop, r)
        lib = local_binary_pattern(crop, P, r, method="uniform").astype(np.int64)
        inner = (slice(r, -r), slice(r, -r))
        print(
            f"R={r}: equal codes {np.mean(hand == lib):.1%} of pixels "
            f"({np.mean(hand[inner] == lib[inner]):.1%} away from the border); "
            f"hand {_ms(lambda r=r: lbp_riu2(crop, r)):.3f} ms, scikit-image "
            f"{_ms(lambda r=r: local_binary_pattern(crop, P, r, method='uniform')):.3f} ms "
            "per crop"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
