"""Resolve a user's NumPy index (`x[1:, None, [0, 2], ...]`) into a static IR index spec.

Negative indices, Ellipsis and open slice bounds are resolved against the static
shape; constant boolean masks become the integer arrays of `np.nonzero`. Traced
integer indices (arrays or scalars) become index operands of the gather/scatter
op, with negative values wrapped by IR ops as NumPy does. Traced boolean masks
are refused: they give data-dependent shapes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError, UnsupportedError
from ..ir.core import Value
from ..ir.indexing import Dynamic, IndexSpec, Slice, normalize_slice
from . import ops
from .builder import located

__all__ = ["resolve", "is_view"]


class IndexOutOfBounds(ShapeError, IndexError):
    """An index is outside the array (an IndexError, as in NumPy)."""


class _Traced:
    """A run-time index entry (a traced integer array or scalar)."""

    def __init__(self, value: Value) -> None:
        self.value = value


def _known(entry: Any) -> Any:
    """A traced index entry as a constant when known while tracing, else _Traced."""
    from .tracer import Tracer

    if isinstance(entry, Tracer):
        const = entry.const
        if const is not None:
            return const
        if entry.dtype == np.bool_:
            raise located(
                UnsupportedError(
                    "indexing with a traced boolean mask gives an array whose shape "
                    "depends on the data, which a static IR cannot express; use "
                    "np.where(mask, x, 0) (and reduce) instead of x[mask]"
                )
            )
        if entry.dtype.kind not in "iu":
            raise located(
                UnsupportedError(
                    f"arrays used as indices must be of integer type, got {entry.dtype}"
                )
            )
        return _Traced(entry.value)
    if isinstance(entry, list) and any(isinstance(e, Tracer) for e in entry):
        from .numpy_api import array

        return _known(array(entry))
    if isinstance(entry, list):  # as NumPy reads it: [True, False] is a mask, [] no index
        arr = np.asarray(entry)
        return arr.astype(np.int64) if arr.size == 0 else arr
    return entry


def is_view(spec: IndexSpec, dynamic: list[Value]) -> bool:
    """Whether NumPy would return a view: no index arrays (traced scalars act as ints)."""
    return not any(isinstance(e, np.ndarray) for e in spec) and all(
        v.type.ndim == 0 for v in dynamic
    )


def resolve(index: Any, shape: tuple[int, ...]) -> tuple[IndexSpec, list[Value]]:
    """The static spec of `x[index]` for an x of `shape`, and its run-time index operands."""
    entries = list(index) if isinstance(index, tuple) else [index]
    expanded: list[Any] = []
    for entry in (_known(e) for e in entries):
        if isinstance(entry, np.ndarray) and entry.dtype == np.bool_ and entry.ndim > 0:
            expanded.extend(np.nonzero(entry))  # a constant mask is a static gather
        else:
            expanded.append(entry)

    used = sum(1 for e in expanded if e is not None and e is not Ellipsis)
    if sum(1 for e in expanded if e is Ellipsis) > 1:
        raise located(IndexOutOfBounds("an index can only have a single ellipsis ('...')"))
    if used > len(shape):
        raise located(
            IndexOutOfBounds(
                f"too many indices for array: array is {len(shape)}-dimensional, "
                f"but {used} were indexed"
            )
        )
    if Ellipsis in [e for e in expanded if not isinstance(e, (np.ndarray, _Traced))]:
        at = next(i for i, e in enumerate(expanded) if e is Ellipsis)
        expanded[at : at + 1] = [slice(None)] * (len(shape) - used)

    spec: list[Any] = []
    dynamic: list[Value] = []
    axis = 0
    for entry in expanded:
        if entry is None:
            spec.append(None)
            continue
        dim = shape[axis] if axis < len(shape) else 0
        if isinstance(entry, _Traced):
            spec.append(Dynamic(len(dynamic)))
            dynamic.append(_wrap_negative(entry.value, dim))
        else:
            spec.append(_resolve_entry(entry, dim, axis))
        axis += 1
    spec.extend(Slice(0, d, 1) for d in shape[axis:])
    return tuple(spec), dynamic


def _wrap_negative(index: Value, dim: int) -> Value:
    """NumPy's reading of a run-time index: i < 0 means i + dim."""
    index = ops.convert(index, "i64")
    negative = ops.elementwise("lt", index, 0)
    return ops.elementwise("select", negative, ops.elementwise("add", index, dim), index)


def _resolve_entry(entry: Any, dim: int, axis: int) -> Any:
    if isinstance(entry, slice):
        for bound in (entry.start, entry.stop, entry.step):
            if bound is not None and not isinstance(bound, (int, np.integer)):
                raise located(UnsupportedError(f"slice bounds must be Python ints, got {bound!r}"))
        return normalize_slice(entry, dim)
    if isinstance(entry, (bool, np.bool_)):
        raise located(UnsupportedError("indexing with a Python bool is not supported"))
    if isinstance(entry, (int, np.integer)) or (isinstance(entry, np.ndarray) and entry.ndim == 0):
        i = int(entry)
        if not -dim <= i < dim:
            raise located(
                IndexOutOfBounds(f"index {i} is out of bounds for axis {axis} with size {dim}")
            )
        return i + dim if i < 0 else i
    arr = np.asarray(entry)
    if arr.dtype.kind not in "iu":
        raise located(
            UnsupportedError(
                f"only integers, slices, None, Ellipsis and integer or boolean arrays are "
                f"valid indices, got {entry!r}"
            )
        )
    bad = (arr < -dim) | (arr >= dim)
    if bad.any():
        raise located(
            IndexOutOfBounds(
                f"index {int(arr[bad].flat[0])} is out of bounds for axis {axis} with size {dim}"
            )
        )
    return np.where(arr < 0, arr + dim, arr).astype(np.int64)
