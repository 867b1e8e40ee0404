"""np.linspace, np.logspace and np.geomspace with traced endpoints.

The number of points sets the result's shape, so it must be known while
tracing; the endpoints (and logspace's base) may be traced, and the result is
differentiable in them: point i of linspace is start + i * (stop - start) / div,
with the last point exactly `stop` when the endpoint is included, as NumPy has
it. With no traced argument NumPy computes the (constant) result itself.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ShapeError
from . import ops
from .builder import located
from .numpy_api import (
    CREATION,
    _constant_tracer,
    _contains_tracer,
    _moveaxis,
    asarray,
    astype,
    concatenate,
    implements,
    reshape,
    wrap,
)
from .numpy_shapes import _static


def _count(num: Any, func: str) -> int:
    num = operator.index(_static(num, func, "num"))
    if num < 0:
        raise located(ShapeError(f"{func}: number of samples, {num}, must be non-negative"))
    return num


def _float(x: Any) -> Any:
    x = asarray(x)
    return x if x.dtype.kind == "f" else astype(x, np.float64)


def _finish(y: Any, axis: Any, dtype: Any, func: str) -> Any:
    axis = int(_static(axis, func, "axis"))
    if axis != 0:
        y = _moveaxis(y, 0, axis)
    if dtype is not None and np.dtype(dtype) != y.dtype:
        if np.issubdtype(dtype, np.integer):
            y = np.floor(y)
        y = astype(y, dtype)
    return y


def _spaced(start: Any, stop: Any, num: int, endpoint: bool) -> tuple[Any, Any]:
    """linspace along a new leading axis, in float; and its step."""
    start, stop = _float(start), _float(stop)
    shape = np.broadcast_shapes(start.shape, stop.shape)
    div = num - 1 if endpoint else num
    delta = stop - start
    steps = wrap(ops.iota((num, *shape), 0, delta.dtype))
    step = delta / div if div > 0 else delta * np.nan
    y = steps * step + start if div > 0 else steps * delta + start
    if endpoint and num > 1:
        last = reshape(wrap(ops.broadcast_to(stop.value, shape)), (1, *shape))
        y = concatenate([y[:-1], astype(last, y.dtype)], 0)
    return y, step


@implements(np.linspace)
def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    num = _count(num, "np.linspace")
    y, step = _spaced(start, stop, num, endpoint)
    y = _finish(y, axis, dtype, "np.linspace")
    return (y, step) if retstep else y


@implements(np.logspace)
def logspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    base: Any = 10.0,
    dtype: Any = None,
    axis: int = 0,
) -> Any:
    num = _count(num, "np.logspace")
    start, stop, base = (_float(x) for x in (start, stop, base))
    # as NumPy: the three broadcast together, the points along a new first axis
    shape = np.broadcast_shapes(start.shape, stop.shape, base.shape)
    start, stop = (wrap(ops.broadcast_to(x.value, shape)) for x in (start, stop))
    y, _ = _spaced(start, stop, num, endpoint)
    y = np.power(reshape(base, (1, *base.shape)), y)
    return _finish(y, axis, dtype, "np.logspace")


@implements(np.geomspace)
def geomspace(
    start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None, axis: int = 0
) -> Any:
    # as NumPy: the sequence of |start| .. stop*sign(start) in log space, then the
    # sign put back, with the endpoints exactly start and stop (exp(log(x)) may
    # differ from x). A zero endpoint gives inf or NaN here (NumPy raises).
    num = _count(num, "np.geomspace")
    start, stop = _float(start), _float(stop)
    sign = np.sign(start)
    first, last = start * sign, stop * sign
    y, _ = _spaced(np.log10(first), np.log10(last), num, endpoint)
    y = np.power(10.0, y)
    shape = y.shape[1:]

    def row(x: Any) -> Any:
        return reshape(wrap(ops.broadcast_to(asarray(x).value, shape)), (1, *shape))

    if num > 0:
        inner = y[1:-1] if endpoint and num > 1 else y[1:]
        ends = [row(first), inner] + ([row(last)] if endpoint and num > 1 else [])
        y = concatenate(ends, 0)
    y = y * reshape(sign, (1, *sign.shape))
    return _finish(y, axis, dtype, "np.geomspace")


def _traceable(original: Callable, impl: Callable) -> Callable[..., Any]:
    """What `np.<name>` is in traced code: NumPy's constant result (a traced array
    that can be written into) when no argument is traced, else `impl`."""

    def create(*args: Any, **kwargs: Any) -> Any:
        if _contains_tracer(list(args)) or _contains_tracer(list(kwargs.values())):
            return impl(*args, **kwargs)
        out = original(*args, **kwargs)
        if isinstance(out, tuple):  # linspace(..., retstep=True)
            return (_constant_tracer(out[0]), *out[1:])
        return _constant_tracer(out)

    create.__name__ = original.__name__
    return create


CREATION.update(
    {
        "linspace": _traceable(np.linspace, linspace),
        "logspace": _traceable(np.logspace, logspace),
        "geomspace": _traceable(np.geomspace, geomspace),
    }
)
