"""Static index specs for gather/scatter ops: NumPy indexing with every bound known.

A spec is a tuple of entries, one per indexed position, each being
  - `Slice(start, stop, step)`: normalised basic slice (stop None = past the front),
  - an `int`: a non-negative integer index (drops the axis),
  - `None`: np.newaxis,
  - an int64 `np.ndarray`: a constant integer index array (advanced indexing),
  - `Dynamic(k)`: the k-th index operand of the op, an integer array (or scalar)
    known only at run time, printed `$k`.
Specs are resolved against the operand shape when traced, so they contain no
Ellipsis and no open bounds; constant indices are non-negative (dynamic ones are
wrapped by explicit IR ops before indexing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np


@dataclass(frozen=True)
class Slice:
    start: int
    stop: int | None
    step: int

    def to_slice(self) -> slice:
        return slice(self.start, self.stop, self.step)

    def __str__(self) -> str:
        stop = "" if self.stop is None else str(self.stop)
        return f"{self.start}:{stop}:{self.step}"


@dataclass(frozen=True)
class Dynamic:
    position: int  # which index operand (0 = the first after the indexed array)

    def __str__(self) -> str:
        return f"${self.position}"


IndexEntry = Union[Slice, int, None, np.ndarray, Dynamic]
IndexSpec = tuple  # tuple[IndexEntry, ...]


def num_dynamic(spec: IndexSpec) -> int:
    return sum(isinstance(e, Dynamic) for e in spec)


def to_numpy_index(spec: IndexSpec, dynamic: Sequence[np.ndarray] = ()) -> tuple:
    """The spec as an index NumPy understands, with run-time index arrays filled in."""
    out = []
    for e in spec:
        if isinstance(e, Slice):
            out.append(e.to_slice())
        elif isinstance(e, Dynamic):
            out.append(dynamic[e.position])
        else:
            out.append(e)
    return tuple(out)


def indexed_shape(
    shape: tuple[int, ...], spec: IndexSpec, dynamic_shapes: Sequence[tuple[int, ...]] = ()
) -> tuple[int, ...]:
    """Shape of `x[spec]` for an `x` of `shape`, computed without touching data."""
    probe = np.broadcast_to(np.zeros((), dtype=np.bool_), shape)
    dummies = [np.zeros(s, dtype=np.int64) for s in dynamic_shapes]
    return probe[to_numpy_index(spec, dummies)].shape


def normalize_slice(s: slice, dim: int) -> Slice:
    start, stop, step = s.indices(dim)
    if not range(start, stop, step):
        # empty: s.indices may give start -1 (x[-2::-1] of size 1), which as a
        # slice would mean the last element
        return Slice(0, 0, 1)
    if step < 0 and stop < 0:
        return Slice(start, None, step)
    return Slice(start, stop, step)
