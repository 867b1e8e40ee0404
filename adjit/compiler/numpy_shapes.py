"""NumPy's shape and array-manipulation functions on traced arrays.

Each is lowered to the tracer's existing operations (slices, index gathers and
scatters, concatenate, broadcast, reshape, transpose, select, iota), so that
derivatives, batching and code generation need nothing new. Arguments that fix
the result's shape (shifts, repeats, pad widths, split points) must be known
while tracing; a traced one raises UnsupportedError naming the argument.
Registered with NumPy's dispatch by importing this module from numpy_api.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError, UnsupportedError
from . import indexing, ops
from .builder import located
from .numpy_api import (
    ARRAY_METHODS,
    _all_known,
    _axes,
    _contains_tracer,
    _known_values,
    _moveaxis,
    apply_function,
    asarray,
    concatenate,
    copy,
    implements,
    is_tracer,
    ravel,
    reshape,
    stack,
    transpose,
    where,
    wrap,
)


def _static(x: Any, func: str, arg: str) -> Any:
    """`x` with its traced parts replaced by their values, which must be known."""
    if _contains_tracer(x if isinstance(x, (list, tuple)) else [x]):
        if not _all_known(x if isinstance(x, (list, tuple)) else [x]):
            raise located(
                UnsupportedError(
                    f"{func} with a traced {arg} is not supported: {arg} sets the shape "
                    "of the result, so it must be known when tracing"
                )
            )
        return _known_values(x)
    return x


def _axis(axis: Any, ndim: int, func: str) -> int:
    axis = _static(axis, func, "axis")
    if not isinstance(axis, (int, np.integer)):
        raise located(UnsupportedError(f"{func} with axis={axis!r}: axis must be an integer"))
    return _axes(int(axis), ndim)[0]


def _along(axis: int, index: Any) -> tuple:
    return (slice(None),) * axis + (index,)


# flips and rotations ------------------------------------------------------------


@implements(np.flip)
def flip(m: Any, axis: Any = None) -> Any:
    x = asarray(m)
    axes = _axes(_static(axis, "np.flip", "axis"), x.ndim)
    return x[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(x.ndim))]


@implements(np.fliplr)
def _fliplr(m: Any) -> Any:
    x = asarray(m)
    if x.ndim < 2:
        raise located(ShapeError("np.fliplr: the input must be >= 2-d"))
    return flip(x, 1)


@implements(np.flipud)
def _flipud(m: Any) -> Any:
    x = asarray(m)
    if x.ndim < 1:
        raise located(ShapeError("np.flipud: the input must be >= 1-d"))
    return flip(x, 0)


@implements(np.rot90)
def _rot90(m: Any, k: int = 1, axes: Any = (0, 1)) -> Any:
    x = asarray(m)
    k = int(_static(k, "np.rot90", "k")) % 4
    axes = tuple(_static(axes, "np.rot90", "axes"))
    if len(axes) != 2:
        raise located(ShapeError("np.rot90: len(axes) must be 2"))
    if x.ndim < 2:
        raise located(ShapeError("np.rot90: the array must be at least 2-d"))
    a0, a1 = (_axes(a, x.ndim)[0] for a in axes)
    if a0 == a1:
        raise located(ShapeError(f"np.rot90: axes must be different, got {axes}"))
    if k == 0:
        return x[...]
    if k == 2:
        return flip(flip(x, a0), a1)
    perm = list(range(x.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(flip(x, a1), perm)
    return flip(transpose(x, perm), a1)


@implements(np.roll)
def _roll(a: Any, shift: Any, axis: Any = None) -> Any:
    x = asarray(a)
    shift = _static(shift, "np.roll", "shift")
    axis = _static(axis, "np.roll", "axis")
    if axis is None:
        return reshape(_roll(ravel(x), shift, 0), x.shape)
    shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
    if shifts.ndim > 1:
        raise located(ShapeError("np.roll: 'shift' and 'axis' should be scalars or 1D sequences"))
    total = dict.fromkeys(range(x.ndim), 0)
    for s, ax in zip(shifts.ravel(), axes.ravel()):
        total[_axes(int(ax), x.ndim)[0]] += int(s)
    for ax, s in total.items():
        n = x.shape[ax]
        if n == 0 or s % n == 0:
            continue
        s %= n
        x = concatenate([x[_along(ax, slice(n - s, None))], x[_along(ax, slice(None, n - s))]], ax)
    return copy(x)


@implements(np.rollaxis)
def _rollaxis(a: Any, axis: int, start: int = 0) -> Any:
    x = asarray(a)
    n = x.ndim
    axis = _axis(axis, n, "np.rollaxis")
    start = int(_static(start, "np.rollaxis", "start"))
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise located(ShapeError(f"np.rollaxis: 'start' arg requires {-n} <= start < {n + 1}"))
    if axis < start:
        start -= 1
    if axis == start:
        return x[...]
    order = [i for i in range(n) if i != axis]
    order.insert(start, axis)
    return transpose(x, order)


# diagonals and triangles --------------------------------------------------------


@implements(np.diagonal)
def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    x = asarray(a)
    if x.ndim < 2:
        raise located(
            ShapeError(f"np.diagonal: needs an array of at least 2 dimensions, got {x.shape}")
        )
    offset = int(_static(offset, "np.diagonal", "offset"))
    i, j = _axis(axis1, x.ndim, "np.diagonal"), _axis(axis2, x.ndim, "np.diagonal")
    if i == j:
        raise located(ShapeError(f"np.diagonal: axis1 and axis2 cannot be the same ({axis1})"))
    x = transpose(x, [k for k in range(x.ndim) if k not in (i, j)] + [i, j])
    n = max(0, min(x.shape[-2] - max(0, -offset), x.shape[-1] - max(0, offset)))
    rows = np.arange(n) + max(0, -offset)
    return x[..., rows, rows + offset]


@implements(np.diag)
def _diag(v: Any, k: int = 0) -> Any:
    x = asarray(v)
    k = int(_static(k, "np.diag", "k"))
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise located(ShapeError(f"np.diag: input must be 1- or 2-d, got shape {x.shape}"))
    n = x.shape[0] + abs(k)
    rows = np.arange(x.shape[0]) + max(0, -k)
    spec, dynamic = indexing.resolve((rows, rows + k), (n, n))
    zeros = ops.broadcast_to(ops.constant(np.zeros((), x.dtype)), (n, n))
    return wrap(ops.scatter(zeros, spec, x.value, dynamic))


def _triangle(m: Any, k: Any, func: str, lower: bool) -> Any:
    x = asarray(m)
    k = int(_static(k, func, "k"))
    if x.ndim == 0:
        raise located(ShapeError(f"{func}: the input must be at least 1-d"))
    shape = x.shape[-2:] if x.ndim >= 2 else (x.shape[0], x.shape[0])
    # element (i, j) is kept when j - i <= k (lower) or j - i >= k (upper)
    above = ops.elementwise("sub", ops.iota(shape, 1), ops.iota(shape, 0))
    keep = ops.elementwise("le" if lower else "ge", above, k)
    return where(wrap(keep), x, ops.constant(np.zeros((), x.dtype)))


@implements(np.tril)
def _tril(m: Any, k: int = 0) -> Any:
    return _triangle(m, k, "np.tril", lower=True)


@implements(np.triu)
def _triu(m: Any, k: int = 0) -> Any:
    return _triangle(m, k, "np.triu", lower=False)


# repetition ---------------------------------------------------------------------


@implements(np.tile)
def _tile(A: Any, reps: Any) -> Any:
    x = asarray(A)
    reps = _static(reps, "np.tile", "reps")
    reps = tuple(int(r) for r in (reps if isinstance(reps, (tuple, list, np.ndarray)) else (reps,)))
    if any(r < 0 for r in reps):
        raise located(ShapeError(f"np.tile: negative dimensions are not allowed, got reps={reps}"))
    d = max(len(reps), x.ndim)
    reps = (1,) * (d - len(reps)) + reps
    shape = (1,) * (d - x.ndim) + x.shape
    # (r0, s0, r1, s1, ...) by broadcasting, then merged pairwise
    spread = reshape(x, [v for s in shape for v in (1, s)])
    tiled = wrap(ops.broadcast_to(spread.value, [v for rs in zip(reps, shape) for v in rs]))
    return copy(reshape(tiled, [r * s for r, s in zip(reps, shape)]))


@implements(np.repeat)
def _repeat(a: Any, repeats: Any, axis: Any = None) -> Any:
    x = asarray(a)
    repeats = np.asarray(_static(repeats, "np.repeat", "repeats"))
    if repeats.dtype.kind not in "iub":
        raise located(UnsupportedError(f"np.repeat: repeats must be integers, got {repeats.dtype}"))
    if np.any(repeats < 0):
        raise located(ShapeError("np.repeat: negative dimensions are not allowed"))
    if axis is None:
        x, axis = ravel(x), 0
    ax = _axis(axis, x.ndim, "np.repeat")
    n = x.shape[ax]
    if repeats.ndim == 0 or repeats.shape == (1,):
        r = int(repeats.reshape(()))
        inner = x.shape[: ax + 1] + (1,) + x.shape[ax + 1 :]
        spread = wrap(
            ops.broadcast_to(reshape(x, inner).value, inner[: ax + 1] + (r,) + inner[ax + 2 :])
        )
        return copy(reshape(spread, x.shape[:ax] + (n * r,) + x.shape[ax + 1 :]))
    if repeats.shape != (n,):
        raise located(
            ShapeError(f"np.repeat: repeats of shape {repeats.shape} cannot be broadcast to ({n},)")
        )
    return x[_along(ax, np.repeat(np.arange(n), repeats))]


# padding ------------------------------------------------------------------------

_PAD_BY_INDEX = ("edge", "reflect", "symmetric", "wrap")


def _pairs(x: Any, ndim: int, what: str) -> np.ndarray:
    try:
        return np.broadcast_to(np.asarray(x), (ndim, 2))
    except ValueError:
        raise located(
            ShapeError(f"np.pad: {what} {x!r} cannot be broadcast to ({ndim}, 2)")
        ) from None


@implements(np.pad)
def _pad(array: Any, pad_width: Any, mode: Any = "constant", **kwargs: Any) -> Any:
    x = asarray(array)
    if not isinstance(mode, str) or mode not in ("constant", *_PAD_BY_INDEX):
        raise located(
            UnsupportedError(
                f"np.pad with mode={mode!r} is not supported: use one of "
                f"'constant', {', '.join(repr(m) for m in _PAD_BY_INDEX)}"
            )
        )
    allowed = {"constant_values"} if mode == "constant" else {"reflect_type"}
    for name in kwargs:
        if name not in allowed:
            raise located(UnsupportedError(f"np.pad with mode={mode!r} takes no argument {name}"))
    if kwargs.get("reflect_type", "even") != "even":
        raise located(UnsupportedError("np.pad with reflect_type='odd' is not supported"))
    width = _pairs(_static(pad_width, "np.pad", "pad_width"), x.ndim, "pad_width")
    if width.dtype.kind not in "iu":
        raise located(UnsupportedError(f"np.pad: pad_width must be integers, got {width.dtype}"))
    if np.any(width < 0):
        raise located(ShapeError("np.pad: index can't contain negative values"))
    if mode == "constant":
        values = kwargs.get("constant_values", 0)
        fill = (
            None
            if is_tracer(values)
            else _pairs(_static(values, "np.pad", "constant_values"), x.ndim, "constant_values")
        )
    for ax in range(x.ndim):
        before, after = (int(w) for w in width[ax])
        if before == after == 0:
            continue
        if mode != "constant":
            if x.shape[ax] == 0:
                raise located(
                    ShapeError(f"np.pad: can't extend empty axis {ax} using mode {mode!r}")
                )
            x = x[_along(ax, np.pad(np.arange(x.shape[ax]), (before, after), mode=mode))]
            continue
        parts = []
        for side, count in ((0, before), (1, after)):
            shape = x.shape[:ax] + (count,) + x.shape[ax + 1 :]
            value = values if fill is None else fill[ax, side]
            block = ops.as_value(
                asarray(value).astype(x.dtype).value
                if is_tracer(value)
                else np.asarray(value, x.dtype)
            )
            parts.append(wrap(ops.broadcast_to(block, shape)))
        x = concatenate([parts[0], x, parts[1]], ax)
    return copy(x)


# grids, splits and joins --------------------------------------------------------


@implements(np.meshgrid)
def _meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> Any:
    if indexing not in ("xy", "ij"):
        raise located(ShapeError("np.meshgrid: valid values for `indexing` are 'xy' and 'ij'"))
    n = len(xi)
    xs = [ravel(x) for x in xi]
    outs = []
    for i, x in enumerate(xs):
        shape = [1] * n
        shape[i] = -1
        if indexing == "xy" and n > 1 and i < 2:
            shape[0], shape[1] = shape[1], shape[0]
        outs.append(reshape(x, shape))
    if not sparse:
        full = np.broadcast_shapes(*(o.shape for o in outs))
        outs = [wrap(ops.broadcast_to(o.value, full)) for o in outs]
    return tuple(_copy(o) for o in outs) if copy or not sparse else tuple(outs)


def _copy(x: Any) -> Any:
    return wrap(x.value)


def _split_points(n: int, sections: Any, func: str, equal: bool) -> list[int]:
    sections = _static(sections, func, "indices_or_sections")
    if np.ndim(sections) == 0:
        count = int(sections)
        if count <= 0:
            raise located(ShapeError(f"{func}: number of sections must be larger than 0"))
        if equal and n % count:
            raise located(ShapeError(f"{func}: array split does not result in an equal division"))
        each, extra = divmod(n, count)
        sizes = [0] + extra * [each + 1] + (count - extra) * [each]
        return [int(p) for p in np.cumsum(sizes)]
    return [0, *(int(i) for i in sections), n]


def _split(x: Any, sections: Any, axis: Any, func: str, equal: bool) -> list[Any]:
    ax = _axis(axis, x.ndim, func)
    points = _split_points(x.shape[ax], sections, func, equal)
    return [x[_along(ax, slice(lo, hi))] for lo, hi in zip(points[:-1], points[1:])]


@implements(np.split)
def _split_equal(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    return _split(asarray(ary), indices_or_sections, axis, "np.split", equal=True)


@implements(np.array_split)
def _array_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    return _split(asarray(ary), indices_or_sections, axis, "np.array_split", equal=False)


def _split_along(name: str, min_ndim: int, axis: Callable[[int], int]) -> Callable[..., Any]:
    def split(ary: Any, indices_or_sections: Any) -> list[Any]:
        x = asarray(ary)
        if x.ndim < min_ndim:
            raise located(
                ShapeError(f"np.{name} only works on arrays of {min_ndim} or more dimensions")
            )
        return _split(x, indices_or_sections, axis(x.ndim), f"np.{name}", equal=True)

    split.__name__ = name
    return split


implements(np.hsplit)(_split_along("hsplit", 1, lambda nd: 1 if nd > 1 else 0))
implements(np.vsplit)(_split_along("vsplit", 2, lambda nd: 0))
implements(np.dsplit)(_split_along("dsplit", 3, lambda nd: 2))


@implements(np.append)
def _append(arr: Any, values: Any, axis: Any = None) -> Any:
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], 0)
    return concatenate([asarray(arr), asarray(values)], axis)


@implements(np.column_stack)
def _column_stack(tup: Sequence[Any]) -> Any:
    xs = [asarray(a) for a in tup]
    return concatenate([reshape(x, (-1, 1)) if x.ndim < 2 else x for x in xs], 1)


@implements(np.atleast_3d)
def _atleast_3d(*arys: Any) -> Any:
    out = []
    for a in arys:
        x = asarray(a)
        if x.ndim == 0:
            x = reshape(x, (1, 1, 1))
        elif x.ndim == 1:
            x = reshape(x, (1, x.shape[0], 1))
        elif x.ndim == 2:
            x = reshape(x, x.shape + (1,))
        out.append(x)
    return out[0] if len(out) == 1 else tuple(out)


# differences and products --------------------------------------------------------


@implements(np.diff)
def _diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Any:
    x = asarray(a)
    n = int(_static(n, "np.diff", "n"))
    if n < 0:
        raise located(ShapeError(f"np.diff: order must be non-negative but got {n}"))
    if x.ndim == 0:
        raise located(ShapeError("np.diff requires input that is at least one dimensional"))
    ax = _axis(axis, x.ndim, "np.diff")
    parts = []
    for extra in (prepend, x, append):
        if extra is None:
            continue
        e = asarray(extra)
        if e.ndim == 0:
            shape = x.shape[:ax] + (1,) + x.shape[ax + 1 :]
            e = wrap(ops.broadcast_to(e.value, shape))
        parts.append(e)
    x = concatenate(parts, ax) if len(parts) > 1 else x
    for _ in range(n):
        hi, lo = x[_along(ax, slice(1, None))], x[_along(ax, slice(None, -1))]
        x = hi != lo if x.dtype == np.bool_ else hi - lo
    return x


@implements(np.cross)
def _cross(
    a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: Any = None
) -> Any:
    if axis is not None:
        axisa = axisb = axisc = axis
    x, y = asarray(a), asarray(b)
    if x.ndim == 0 or y.ndim == 0:
        raise located(ShapeError("np.cross: a and b must be arrays of vectors"))
    x = _moveaxis(x, _axis(axisa, x.ndim, "np.cross"), -1)
    y = _moveaxis(y, _axis(axisb, y.ndim, "np.cross"), -1)
    for arg, v in (("a", x), ("b", y)):
        if v.shape[-1] != 3:
            raise located(
                UnsupportedError(
                    f"np.cross with {arg} of {v.shape[-1]}-vectors is not supported: only "
                    "3-vectors are (NumPy deprecates 2-vectors)"
                )
            )
    x0, x1, x2 = (x[..., i] for i in range(3))
    y0, y1, y2 = (y[..., i] for i in range(3))
    c = stack([x1 * y2 - x2 * y1, x2 * y0 - x0 * y2, x0 * y1 - x1 * y0], axis=-1)
    return _moveaxis(c, -1, _axis(axisc, c.ndim, "np.cross"))


@implements(np.kron)
def _kron(a: Any, b: Any) -> Any:
    x, y = asarray(a), asarray(b)
    nd = max(x.ndim, y.ndim)
    xs, ys = (1,) * (nd - x.ndim) + x.shape, (1,) * (nd - y.ndim) + y.shape
    # a[i] * b[j] at (i0, j0, i1, j1, ...), then each pair merged
    xr = reshape(x, [v for s in xs for v in (s, 1)])
    yr = reshape(y, [v for s in ys for v in (1, s)])
    return reshape(xr * yr, [p * q for p, q in zip(xs, ys)])


@implements(np.select)
def _select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Any:
    if len(condlist) != len(choicelist):
        raise located(
            ShapeError("np.select: list of cases must be same length as list of conditions")
        )
    if not condlist:
        raise located(ShapeError("np.select: select with an empty condition list is not possible"))
    for i, c in enumerate(condlist):
        if asarray(c).dtype != np.bool_:
            raise located(
                UnsupportedError(
                    f"np.select: invalid entry {i} in condlist: should be boolean ndarray"
                )
            )
    dtype = np.result_type(*(asarray(c).dtype for c in choicelist), asarray(default).dtype)
    result = asarray(default).astype(dtype)
    for cond, choice in zip(reversed(condlist), reversed(choicelist)):
        result = where(cond, asarray(choice).astype(dtype), result)
    shape = np.broadcast_shapes(*(asarray(v).shape for v in (*condlist, *choicelist, default)))
    return copy(wrap(ops.broadcast_to(result.value, shape)))


@implements(np.nan_to_num)
def _nan_to_num(
    x: Any, copy: bool = True, nan: Any = 0.0, posinf: Any = None, neginf: Any = None
) -> Any:
    v = asarray(x)
    if v.dtype.kind != "f":
        return _copy(v)
    info = np.finfo(v.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    out = where(v != v, nan, v)
    out = where(v == math.inf, posinf, out)
    return where(v == -math.inf, neginf, out).astype(v.dtype)


# the array methods that mirror these functions (x.repeat(2) == np.repeat(x, 2))
ARRAY_METHODS.update({"repeat": _repeat, "diagonal": diagonal})


# NumPy functions whose argument is a Python list of traced values -----------------


def _listable(func: Callable) -> Callable[..., Any]:
    """`func` as traced code sees it: a list holding tracers (which NumPy's dispatch
    does not look into) goes to adjit's implementation too."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if _contains_tracer(list(args)) or _contains_tracer(list(kwargs.values())):
            return apply_function(func, args, kwargs)
        return func(*args, **kwargs)

    call.__name__ = func.__name__
    call.__doc__ = func.__doc__
    return call


# the real function -> what traced code sees (frontend.py)
LISTABLE: dict[Callable, Callable[..., Any]] = {
    f: _listable(f) for f in (np.mean, np.std, np.linalg.norm, np.sum, np.var, np.max, np.min)
}
# a view of a view (a transform nested in a trace) keeps the wrapper
LISTABLE.update({wrapper: wrapper for wrapper in list(LISTABLE.values())})
