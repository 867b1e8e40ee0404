"""NumPy's scans, sorts and searches on traced arrays (issue 15).

`cumsum` and `cumprod` are the `linear_scan` primitive (h[k] = a[k] h[k-1] +
b[k]): its derivatives are scans too and divide by nothing, so cumprod's
gradient is exact where x has zeros. `argsort` is a primitive (stable: ties keep
their order); `sort`, `partition` and `take_along_axis` gather through its
permutation, so a cotangent goes back to the element that was moved there (of
tied elements, the first in the input gets the first sorted slot's). argmax,
argmin and searchsorted are comparisons and reductions of existing primitives.
The integer results carry no derivative and may index differentiated arrays.
Registered with NumPy's dispatch by importing this module from numpy_api.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError, UnsupportedError
from . import ops
from .builder import located
from .numpy_api import (
    ARRAY_METHODS,
    _max,
    _min,
    _sum,
    asarray,
    astype,
    concatenate,
    implements,
    ravel,
    reshape,
    where,
    wrap,
)
from .numpy_shapes import _along, _axis, _static

_SORT_KINDS = (None, "quicksort", "mergesort", "heapsort", "stable")


def _flat_or_axis(x: Any, axis: Any, func: str) -> tuple[Any, int]:
    """(x, axis) with axis=None meaning the flattened array's only axis."""
    if axis is None:
        return ravel(x), 0
    if x.ndim == 0:
        raise located(ShapeError(f"{func}: axis {axis} is out of bounds for a 0-d array"))
    return x, _axis(axis, x.ndim, func)


# scans --------------------------------------------------------------------------


def _scan_input(a: Any, axis: Any, dtype: Any, func: str) -> tuple[Any, int]:
    x = asarray(a)
    if dtype is not None:
        x = astype(x, dtype)
    elif x.dtype == np.bool_ or (x.dtype.kind == "i" and x.dtype.itemsize < 8):
        x = astype(x, np.int64)  # NumPy accumulates small integers in the platform int
    return _flat_or_axis(x, axis, func)


@implements(np.cumsum)
def cumsum(a: Any, axis: Any = None, dtype: Any = None) -> Any:
    x, ax = _scan_input(a, axis, dtype, "np.cumsum")
    if x.shape[ax] == 0:
        return x
    one = ops.constant(np.ones((), x.dtype))
    return wrap(ops.linear_scan(one, x.value, ax))


@implements(np.cumprod)
def cumprod(a: Any, axis: Any = None, dtype: Any = None) -> Any:
    # h[k] = x[k] h[k-1], started by x[0]: the recurrence's b is x at k = 0 only
    x, ax = _scan_input(a, axis, dtype, "np.cumprod")
    if x.shape[ax] == 0:
        return x
    first = wrap(ops.elementwise("eq", ops.iota(x.shape, ax), 0))
    start = where(first, x, np.zeros((), x.dtype))
    return wrap(ops.linear_scan(x.value, start.value, ax))


def _cumulative(scan: Any, identity: float, func: str) -> Any:
    """NumPy 2's array-API cumulative_sum/cumulative_prod: axis needed above 1-D,
    and include_initial puts the identity in front."""

    def apply(x: Any, /, *, axis: Any = None, dtype: Any = None, include_initial: bool = False):
        x = asarray(x)
        if axis is None and x.ndim > 1:
            raise located(
                ShapeError(f"{func}: for arrays of more than one dimension axis is required")
            )
        out = scan(x, 0 if axis is None else axis, dtype)
        if not include_initial:
            return out
        ax = _axis(0 if axis is None else axis, out.ndim, func)
        shape = out.shape[:ax] + (1,) + out.shape[ax + 1 :]
        first = wrap(ops.broadcast_to(ops.constant(np.asarray(identity, out.dtype)), shape))
        return concatenate([first, out], ax)

    apply.__name__ = func[3:]
    return apply


if hasattr(np, "cumulative_sum"):  # NumPy >= 2.1
    implements(np.cumulative_sum)(_cumulative(cumsum, 0, "np.cumulative_sum"))
    implements(np.cumulative_prod)(_cumulative(cumprod, 1, "np.cumulative_prod"))


# sorting ------------------------------------------------------------------------


def _sort_args(kind: Any, order: Any, stable: Any, func: str) -> None:
    if order is not None:
        raise located(UnsupportedError(f"{func} with order= (structured arrays) is not supported"))
    if kind not in _SORT_KINDS:
        raise located(
            UnsupportedError(f"{func}: kind={kind!r} is not one of {', '.join(_SORT_KINDS[1:])}")
        )
    if stable not in (None, True, False):
        raise located(UnsupportedError(f"{func}: stable must be a bool, got {stable!r}"))


def _sortable(a: Any, axis: Any, func: str) -> tuple[Any, int]:
    x, ax = _flat_or_axis(asarray(a), axis, func)
    if x.dtype == np.bool_:
        x = astype(x, np.int64)
    return x, ax


@implements(np.argsort)
def argsort(
    a: Any, axis: Any = -1, kind: Any = None, order: Any = None, *, stable: Any = None
) -> Any:
    """Always stable (every kind): tied elements keep their order."""
    _sort_args(kind, order, stable, "np.argsort")
    x, ax = _sortable(a, axis, "np.argsort")
    return wrap(ops.argsort(x.value, ax))


@implements(np.sort)
def sort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, *, stable: Any = None) -> Any:
    _sort_args(kind, order, stable, "np.sort")
    x, ax = _flat_or_axis(asarray(a), axis, "np.sort")
    return take_along_axis(x, argsort(x, ax), ax)


def _kth(kth: Any, n: int, func: str) -> None:
    kth = np.asarray(_static(kth, func, "kth"))
    if kth.dtype.kind not in "iu" or kth.ndim > 1:
        raise located(UnsupportedError(f"{func}: kth must be an integer or a sequence of them"))
    bad = (kth < -n) | (kth >= n)
    if bad.any():
        raise located(ShapeError(f"{func}: kth(={int(kth[bad].flat[0])}) out of bounds ({n})"))


@implements(np.partition)
def partition(
    a: Any, kth: Any, axis: Any = -1, kind: str = "introselect", order: Any = None
) -> Any:
    """The array sorted along axis: a valid partition for every kth."""
    _sort_args(None, order, None, "np.partition")
    x, ax = _flat_or_axis(asarray(a), axis, "np.partition")
    _kth(kth, x.shape[ax], "np.partition")
    return sort(x, ax)


@implements(np.argpartition)
def argpartition(
    a: Any, kth: Any, axis: Any = -1, kind: str = "introselect", order: Any = None
) -> Any:
    _sort_args(None, order, None, "np.argpartition")
    x, ax = _flat_or_axis(asarray(a), axis, "np.argpartition")
    _kth(kth, x.shape[ax], "np.argpartition")
    return argsort(x, ax)


@implements(np.take_along_axis)
def take_along_axis(arr: Any, indices: Any, axis: Any = -1) -> Any:
    x, idx = asarray(arr), asarray(indices)
    if idx.dtype.kind not in "iu":
        raise located(
            UnsupportedError(f"np.take_along_axis: indices must be integers, got {idx.dtype}")
        )
    if axis is None:
        if idx.ndim != 1:
            raise located(ShapeError("np.take_along_axis: when axis=None, indices must be 1-D"))
        x, axis = ravel(x), 0
    if idx.ndim != x.ndim:
        raise located(
            ShapeError(
                f"np.take_along_axis: indices of {idx.ndim} dimensions and arr of {x.ndim} "
                "must have the same number of dimensions"
            )
        )
    ax = _axis(axis, x.ndim, "np.take_along_axis")
    # every other axis indexed by its own ramp: one gather, all indices advanced
    index = tuple(
        idx if d == ax else np.arange(n).reshape([-1 if e == d else 1 for e in range(x.ndim)])
        for d, n in enumerate(x.shape)
    )
    return x[index]


# extrema and searches -----------------------------------------------------------


def _arg_extremum(a: Any, axis: Any, keepdims: bool, largest: bool, func: str) -> Any:
    """The first position of the extremum along axis (of a NaN, if any, as NumPy)."""
    x0 = asarray(a)
    x, ax = _flat_or_axis(x0, axis, func)
    if x.shape[ax] == 0:
        raise located(ShapeError(f"{func}: attempt to get {func[3:]} of an empty sequence"))
    extremum = (_max if largest else _min)(x, ax, keepdims=True)
    hit = x == extremum
    if x.dtype.kind == "f":
        hit = hit | (x != x)
    position = wrap(ops.iota(x.shape, ax))
    first = _min(where(hit, position, x.shape[ax]), ax, keepdims=keepdims)
    if keepdims and axis is None:
        return reshape(first, (1,) * x0.ndim)
    return first


@implements(np.argmax)
def argmax(a: Any, axis: Any = None, *, keepdims: bool = False) -> Any:
    return _arg_extremum(a, axis, bool(keepdims), True, "np.argmax")


@implements(np.argmin)
def argmin(a: Any, axis: Any = None, *, keepdims: bool = False) -> Any:
    return _arg_extremum(a, axis, bool(keepdims), False, "np.argmin")


@implements(np.searchsorted)
def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None) -> Any:
    """How many elements of the sorted 1-D `a` lie before each v: a count of
    comparisons, which needs no sorted order of its own."""
    sorted_ = asarray(a)
    if sorted_.ndim != 1:
        raise located(ShapeError(f"np.searchsorted: a must be 1-D, got shape {sorted_.shape}"))
    if side not in ("left", "right"):
        raise located(ShapeError(f"np.searchsorted: side must be 'left' or 'right', got {side!r}"))
    if sorter is not None:
        sorted_ = sorted_[sorter]
    values = asarray(v)
    column = reshape(values, values.shape + (1,))
    before = sorted_ < column if side == "left" else sorted_ <= column
    return _sum(astype(before, np.int64), axis=-1)


# differences --------------------------------------------------------------------


def _spacings(varargs: tuple, count: int) -> list[Any]:
    if not varargs:
        return [1.0] * count
    if len(varargs) not in (1, count):
        raise located(ShapeError("np.gradient: invalid number of arguments (spacings)"))
    for h in varargs:
        if np.ndim(h) != 0:
            raise located(
                UnsupportedError(
                    "np.gradient with coordinate arrays is not supported: give scalar spacings"
                )
            )
    return list(varargs) * count if len(varargs) == 1 else list(varargs)


@implements(np.gradient)
def gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """Central differences inside, one-sided ones (first or second order) at the edges."""
    x = asarray(f)
    if x.dtype.kind != "f":
        x = astype(x, np.float64)
    edge_order = int(_static(edge_order, "np.gradient", "edge_order"))
    if edge_order not in (1, 2):
        raise located(ShapeError("np.gradient: 'edge_order' greater than 2 not supported"))
    axis = _static(axis, "np.gradient", "axis")
    axes = range(x.ndim) if axis is None else axis if isinstance(axis, (tuple, list)) else [axis]
    axes = [_axis(a, x.ndim, "np.gradient") for a in axes]
    out = []
    for ax, h in zip(axes, _spacings(varargs, len(axes))):
        n = x.shape[ax]
        if n < edge_order + 1:
            raise located(
                ShapeError(
                    "np.gradient: shape of array too small to calculate a numerical gradient, "
                    f"at least (edge_order + 1) = {edge_order + 1} elements are required"
                )
            )

        def at(i: Any, ax: int = ax) -> Any:
            return x[_along(ax, i)]

        inner = (at(slice(2, None)) - at(slice(None, -2))) / (2.0 * h)
        if edge_order == 1:
            first = (at(slice(1, 2)) - at(slice(0, 1))) / h
            last = (at(slice(-1, None)) - at(slice(-2, -1))) / h
        else:
            first = (-1.5 * at(slice(0, 1)) + 2.0 * at(slice(1, 2)) - 0.5 * at(slice(2, 3))) / h
            last = (
                0.5 * at(slice(-3, -2)) - 2.0 * at(slice(-2, -1)) + 1.5 * at(slice(-1, None))
            ) / h
        out.append(concatenate([first, inner, last], ax))
    return out[0] if len(out) == 1 else tuple(out)


# array methods ------------------------------------------------------------------


def _in_place(name: str) -> Any:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise located(
            UnsupportedError(
                f"x.{name}() {name}s the array in place, which adjit does not support: "
                f"use x = np.{name}(x, ...) instead"
            )
        )

    return refuse


ARRAY_METHODS.update(
    {
        "cumsum": cumsum,
        "cumprod": cumprod,
        "argsort": argsort,
        "argmax": argmax,
        "argmin": argmin,
        "argpartition": argpartition,
        "searchsorted": searchsorted,
        "sort": _in_place("sort"),
        "partition": _in_place("partition"),
    }
)
