"""scipy.special on traced arrays: its ufuncs and its softmax family.

SciPy's special functions that are ufuncs (expit, erf, gammaln, xlogy, ...) reach
adjit through NumPy's `__array_ufunc__` dispatch; `UFUNCS` maps them to IR.
logsumexp, softmax and log_softmax are Python functions that call NumPy (and
the array API) internally, where a traced array would be converted to a NumPy
array: traced code sees adjit's versions instead (`FUNCTIONS`), substituted by
identity in the user's globals and in views of the `scipy.special` module (see
frontend.py). This module imports SciPy; it is imported only once the user's
program has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.special as sc

from ..errors import UnsupportedError
from . import numpy_api as npa
from .builder import located


def _float(x: Any) -> Any:
    """x as a traced float array (ints become f64, as SciPy's functions do)."""
    return npa.wrap(npa._float_arg(x))


def _unary(prim: str) -> Callable[[Any], Any]:
    return lambda x: npa._ew(prim, npa._float_arg(x))


def _logit(p: Any) -> Any:
    # log(p / (1 - p)) with log1p: accurate for p near 1 as well as near 0
    p = npa._float_arg(p)
    return npa._ew("sub", npa._ew("log", p), npa._ew("log1p", npa._ew("neg", p)))


def _x_times_log(log: str, out_of_domain: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    """xlogy / xlog1py: x * log(y), 0 where x == 0 and y is not NaN (SciPy).

    Where the log is finite the product itself is taken, so that d/dx = log(y) also
    at x = 0; only where x == 0 and log(y) is not finite (y <= 0 or y = inf for
    xlogy) is y replaced by a point with log 0: there the value is 0, the slope 0.
    """

    def apply(x: Any, y: Any) -> Any:
        x, y = _float(x), _float(y)
        bad = (x == 0) & out_of_domain(y)
        neutral = 1.0 if log == "log" else 0.0
        return x * npa._ew(log, npa.where(bad, neutral, y))

    return apply


UFUNCS: dict[np.ufunc, Callable[..., Any]] = {
    sc.expit: _unary("logistic"),
    sc.logit: _logit,
    sc.erf: _unary("erf"),
    sc.erfc: _unary("erfc"),
    sc.gammaln: _unary("gammaln"),
    sc.psi: _unary("digamma"),  # scipy.special.digamma is psi
    sc.xlogy: _x_times_log("log", lambda y: (y <= 0) | (y == np.inf)),
    sc.xlog1py: _x_times_log("log1p", lambda y: (y <= -1) | (y == np.inf)),
}


def _shift(x: Any, axis: Any) -> Any:
    """max(x) over `axis` (kept), 0 where it is not finite (all -inf: no NaN from
    -inf - -inf). Subtracting it changes neither value nor derivative in exact
    arithmetic; it keeps exp from overflowing."""
    m = npa._max(x, axis, keepdims=True)
    return npa.where(npa._ew("lt", npa._ew("abs", m), np.inf), m, 0.0)


def _logsumexp(
    a: Any, axis: Any = None, b: Any = None, keepdims: bool = False, return_sign: bool = False
) -> Any:
    if return_sign:
        raise located(
            UnsupportedError("scipy.special.logsumexp with return_sign=True is not supported")
        )
    x = _float(a)
    if b is not None:
        b = _float(b)
        shape = np.broadcast_shapes(x.shape, b.shape)
        x, b = npa.broadcast_to(x, shape), npa.broadcast_to(b, shape)
    m = _shift(x, axis)
    e = np.exp(x - m)
    if b is not None:
        e = b * e
    out = np.log(npa._sum(e, axis, keepdims=True)) + m
    return out if keepdims else npa.squeeze(out, npa._axes(axis, x.ndim))


def _softmax(x: Any, axis: Any = None) -> Any:
    x = _float(x)
    e = np.exp(x - _shift(x, axis))
    return e / npa._sum(e, axis, keepdims=True)


def _log_softmax(x: Any, axis: Any = None) -> Any:
    x = _float(x)
    shifted = x - _shift(x, axis)
    return shifted - np.log(npa._sum(np.exp(shifted), axis, keepdims=True))


_IMPLS: dict[Callable, Callable[..., Any]] = {
    sc.logsumexp: _logsumexp,
    sc.softmax: _softmax,
    sc.log_softmax: _log_softmax,
}


def traced(func: Callable, impl: Callable, namespace: str) -> Callable[..., Any]:
    """SciPy's `func` as traced code sees it: adjit's `impl` when an argument is
    traced; `namespace` (scipy.special, scipy.linalg) names it in errors."""
    name = f"{namespace}.{func.__name__}"

    def call(*args: Any, **kwargs: Any) -> Any:
        if not (npa._contains_tracer(list(args)) or npa._contains_tracer(list(kwargs.values()))):
            return func(*args, **kwargs)
        args, kwargs = npa._arguments(func, impl, name, args, kwargs)
        return impl(*args, **kwargs)

    call.__name__ = call.__qualname__ = func.__name__
    call.__doc__ = func.__doc__
    return call


FUNCTIONS: dict[Callable, Callable[..., Any]] = {
    f: traced(f, i, "scipy.special") for f, i in _IMPLS.items()
}
