"""Static index specs for gather/scatter ops: NumPy indexing with every bound known.

A spec is a tuple of entries, one per indexed position, each being
  - `Slice(start, stop, step)`: normalised basic slice (stop None = past the front),
  - an `int`: a non-negative integer index (drops the axis),
  - `None`: np.newaxis,
  - an int64 `np.ndarray`: a constant integer index array (advanced indexing).
Specs are resolved against the operand shape when traced, so they contain no
negative indices, no Ellipsis and no open bounds.
"""

from __future__ import annotations

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


IndexEntry = Union[Slice, int, None, np.ndarray]
IndexSpec = tuple  # tuple[IndexEntry, ...]


def to_numpy_index(spec: IndexSpec) -> tuple:
    """The spec as an index NumPy understands."""
    return tuple(e.to_slice() if isinstance(e, Slice) else e for e in spec)


def indexed_shape(shape: tuple[int, ...], spec: IndexSpec) -> tuple[int, ...]:
    """Shape of `x[spec]` for an `x` of `shape`, computed without touching data."""
    probe = np.broadcast_to(np.zeros((), dtype=np.bool_), shape)
    return probe[to_numpy_index(spec)].shape


def is_basic(spec: IndexSpec) -> bool:
    """True when the spec has no index arrays (so x[spec] is a view in NumPy)."""
    return not any(isinstance(e, np.ndarray) for e in spec)


def normalize_slice(s: slice, dim: int) -> Slice:
    start, stop, step = s.indices(dim)
    if step < 0 and stop < 0:
        return Slice(start, None, step)
    return Slice(start, stop, step)
