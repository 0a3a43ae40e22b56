"""Memos that let the feature families share per-crop work without changing a signature.

Every family is a pure function of its arguments; the frame families of one frame vector all
take the same crop and mask, and the clip families read the same crops and masks again as a
track. A memo remembers a function's results for the last inputs it saw, compared by
content (never by identity: a mutated or different array is recomputed), per thread, and
makes the results read-only. It keeps one entry: the families of one frame vector share it.
A memo made with ``track=True`` keeps up to the capacity of a :func:`sharing` block while
one runs, so that the clip families find again what the frame families computed for each
face of the track; the extra entries are dropped when the block ends, so a worker does not
hold them between scans. Only memos the clip families read are made so (memory).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")

# The fingerprint samples every _STRIDE-th value: a prime, so on an image it falls in every
# column, and masks of neighbouring frames, which differ in a few pixels of their outline,
# rarely share one (each shared fingerprint costs a full comparison; ~3 us on a 128 px mask).
_STRIDE = 7
_scope = threading.local()
_memos: weakref.WeakSet[last_input_memo] = weakref.WeakSet()


def _capacity() -> int:
    return getattr(_scope, "capacity", 1)


def _same(key: np.ndarray, arr: np.ndarray) -> bool:
    return key.shape == arr.shape and key.dtype == arr.dtype and np.array_equal(key, arr)


def _fingerprint(arr: np.ndarray) -> bytes:
    return arr.reshape(-1)[::_STRIDE].tobytes()


class last_input_memo(Generic[T]):  # noqa: N801 - used as a decorator
    """Remember ``fn``'s results for the last inputs (arrays), checked by content, per thread.

    An input is compared in full (shape, dtype, ``np.array_equal``) with a private copy of
    the input an entry was computed from: the newest entry first, then, where several are
    kept, those whose fingerprint (a sparse sample of the values) matches. Entries are kept
    most recent last: one, or with ``track`` at most :func:`sharing`'s capacity. A memo
    made with ``frame=False`` (one family per frame reads it, the clip families again)
    remembers nothing outside a block, where it would only cost a copy.
    """

    def __init__(
        self, fn: Callable[[np.ndarray], T], *, track: bool = False, frame: bool = True
    ) -> None:
        self.fn, self.track, self.frame = fn, track, frame
        self._local = threading.local()
        self.__doc__ = fn.__doc__
        _memos.add(self)

    def _entries(self) -> list[list[Any]]:  # [fingerprint or None, input copy, result]
        st = self._local
        try:
            return st.entries
        except AttributeError:
            st.entries = []
            return st.entries

    def __call__(self, arr: np.ndarray) -> T:
        entries = self._entries()
        # The families of one frame vector ask for the newest entry: compared first, in full
        # (inline: this runs several times per crop).
        if entries:
            key = entries[-1][1]
            if key.shape == arr.shape and key.dtype == arr.dtype and np.array_equal(key, arr):
                return entries[-1][2]
        keep = _capacity() if self.track else 1
        if keep == 1 and not self.frame:
            return self.fn(arr)  # only a track block has a second use for it
        if keep > 1 and len(entries) > 1:
            fp = _fingerprint(arr)
            for i in range(len(entries) - 2, -1, -1):
                entry = entries[i]
                if entry[0] is None:
                    entry[0] = _fingerprint(entry[1])
                if entry[0] == fp and _same(entry[1], arr):
                    entries.append(entries.pop(i))
                    return entry[2]
        value = self.fn(arr)
        entries.append([None, np.array(arr, copy=True), value])
        del entries[: max(0, len(entries) - keep)]
        return value

    def trim(self, keep: int) -> None:
        """Drop this thread's entries but the newest ``keep`` (none for ``frame=False``)."""
        entries = self._entries()
        keep = keep if self.frame or keep > 1 else 0
        del entries[: max(0, len(entries) - keep)]


@contextmanager
def sharing(capacity: int) -> Iterator[None]:
    """Within the block, every ``track`` memo keeps the results of up to ``capacity`` inputs
    (this thread); afterwards it is back to what it kept before (one entry outside any block)."""
    before = _capacity()
    _scope.capacity = max(before, capacity)
    try:
        yield
    finally:
        _scope.capacity = before
        for memo in list(_memos):
            if memo.track:
                memo.trim(before)
