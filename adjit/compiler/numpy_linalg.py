"""np.linalg on traced arrays: solve, inv, det, slogdet, cholesky, eigh, svd, qr, pinv, norm.

Each function checks and broadcasts its arguments as NumPy does, then builds IR
from the linear-algebra primitives (ops_linalg.py), whose derivative rules are
in rules_linalg.py; inv is a solve against the identity, pinv a composition of
the SVD's factors, norm a composition of reductions (and singular values for
ord 2, -2 and 'nuc'). Leading axes are a
batch, as in NumPy. Integer inputs become float64. cholesky and eigh read the
lower triangle (eigh's UPLO='U': the upper), so they are applied to the
symmetric matrix built from it, and derivatives are those of that function.
Registered with NumPy's dispatch by importing this module from numpy_api.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from ..errors import ShapeError, UnsupportedError
from . import ops
from . import ops_linalg as la
from .builder import located
from .numpy_api import (
    _axes,
    _max,
    _min,
    _moveaxis,
    _root_of_squares,
    _sum,
    asarray,
    astype,
    implements,
    reshape,
    wrap,
)

SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = namedtuple("QRResult", ["Q", "R"])


def float_matrix(a: Any, func: str, square: bool = True) -> Any:
    """a as a traced float array of at least 2 dims (square if asked), NumPy's errors."""
    x = asarray(a)
    if x.dtype.kind != "f":
        x = astype(x, np.float64)
    if x.ndim < 2:
        raise located(
            ShapeError(
                f"{func}: {x.ndim}-dimensional array given. Array must be at least two-dimensional"
            )
        )
    if square and x.shape[-1] != x.shape[-2]:
        raise located(
            ShapeError(f"{func}: last 2 dimensions of the array must be square, got {x.shape}")
        )
    return x


def _common(a: Any, b: Any) -> tuple[Any, Any]:
    dt = np.promote_types(a.dtype, b.dtype)
    return (a if a.dtype == dt else astype(a, dt)), (b if b.dtype == dt else astype(b, dt))


def solve_matrices(a: Any, b: Any, func: str, solve: Any) -> Any:
    """`solve(a, b)` on values, with NumPy 2's rules for b: a vector if 1-D, else
    (..., n, k); batch axes broadcast."""
    a = float_matrix(a, func)
    b = asarray(b)
    if b.dtype.kind != "f":
        b = astype(b, np.float64)
    a, b = _common(a, b)
    n = a.shape[-1]
    vector = b.ndim == 1
    if vector:
        b = reshape(b, (n, 1)) if b.shape == (n,) else b
    if b.ndim < 2 or b.shape[-2] != n:
        raise located(ShapeError(f"{func}: shapes {a.shape} and {b.shape} do not match"))
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise located(
            ShapeError(f"{func}: batch shapes of {a.shape} and {b.shape} do not broadcast")
        ) from None
    av = ops.broadcast_to(a.value, (*batch, n, n))
    bv = ops.broadcast_to(b.value, (*batch, *b.shape[-2:]))
    x = solve(av, bv)
    return wrap(ops.reshape(x, (*batch, n)) if vector else x)


@implements(np.linalg.solve)
def solve(a: Any, b: Any) -> Any:
    return solve_matrices(a, b, "np.linalg.solve", la.solve)


@implements(np.linalg.inv)
def inv(a: Any) -> Any:
    # a solve against the identity, as LAPACK's inverse is
    x = float_matrix(a, "np.linalg.inv")
    identity = ops.broadcast_to(la.eye(x.shape[-1], x.dtype), x.shape)
    return wrap(la.solve(x.value, identity))


@implements(np.linalg.det)
def det(a: Any) -> Any:
    return wrap(la.det(float_matrix(a, "np.linalg.det").value))


@implements(np.linalg.slogdet)
def slogdet(a: Any) -> Any:
    x = float_matrix(a, "np.linalg.slogdet").value
    return SlogdetResult(wrap(la.slogdet(x, "sign")), wrap(la.slogdet(x, "logabs")))


def _symmetric(a: Any, func: str, uplo: str = "L") -> Any:
    if uplo not in ("L", "U"):
        raise located(UnsupportedError(f"{func}: UPLO must be 'L' or 'U', got {uplo!r}"))
    x = float_matrix(a, func).value
    return la.symmetric_from_lower(x if uplo == "L" else la.mT(x))


@implements(np.linalg.cholesky)
def cholesky(a: Any, /, *, upper: bool = False) -> Any:
    factor = la.cholesky(_symmetric(a, "np.linalg.cholesky"))
    return wrap(la.mT(factor) if upper else factor)


@implements(np.linalg.eigh)
def eigh(a: Any, UPLO: str = "L") -> Any:
    s = _symmetric(a, "np.linalg.eigh", UPLO)
    return EighResult(wrap(la.eigh(s, "values")), wrap(la.eigh(s, "vectors")))


@implements(np.linalg.eigvalsh)
def eigvalsh(a: Any, UPLO: str = "L") -> Any:
    return wrap(la.eigh(_symmetric(a, "np.linalg.eigvalsh", UPLO), "values"))


@implements(np.linalg.svd)
def svd(
    a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False
) -> Any:
    x = float_matrix(a, "np.linalg.svd", square=False)
    if hermitian:
        raise located(
            UnsupportedError("np.linalg.svd with hermitian=True is not supported: use eigh")
        )
    if not compute_uv:
        return wrap(la.svd(x.value, "s"))
    m, n = x.shape[-2:]
    if full_matrices and m != n:
        raise located(
            UnsupportedError(
                "np.linalg.svd of a non-square matrix with full_matrices=True is not "
                "supported: pass full_matrices=False (the thin SVD)"
            )
        )
    return SVDResult(*(wrap(la.svd(x.value, part)) for part in ("u", "s", "vt")))


if hasattr(np.linalg, "svdvals"):

    @implements(np.linalg.svdvals)
    def _svdvals(x: Any, /) -> Any:
        return wrap(la.svd(float_matrix(x, "np.linalg.svdvals", square=False).value, "s"))


@implements(np.linalg.pinv)
def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = None) -> Any:
    # NumPy's: V diag(1/s) U^T over the singular values above rcond * max(s)
    # (hermitian=True changes only how NumPy factors; the SVD serves as well)
    x = float_matrix(a, "np.linalg.pinv", square=False)
    if rcond is None:
        rcond = rtol if rtol is not None else max(x.shape[-2:]) * np.finfo(x.dtype).eps
    u, sv, vt = (wrap(la.svd(x.value, part)) for part in ("u", "s", "vt"))
    cutoff = _max(sv, axis=-1, keepdims=True) * asarray(rcond)[..., None]
    large = sv > cutoff
    s_inv = np.where(large, 1.0 / np.where(large, sv, 1.0), 0.0)
    return wrap(ops.matmul(la.mT(vt.value), (s_inv[..., None] * wrap(la.mT(u.value))).value))


@implements(np.linalg.qr)
def qr(a: Any, mode: str = "reduced") -> Any:
    x = float_matrix(a, "np.linalg.qr", square=False)
    m, n = x.shape[-2:]
    if mode == "r":
        return wrap(la.qr(x.value, "r"))
    if mode not in ("reduced", "complete") or (mode == "complete" and m > n):
        raise located(
            UnsupportedError(
                f"np.linalg.qr with mode={mode!r} is not supported here: use mode='reduced' "
                "(or 'r'; 'complete' only where rows <= columns)"
            )
        )
    return QRResult(wrap(la.qr(x.value, "q")), wrap(la.qr(x.value, "r")))


# ---------------------------------------------------------------------- norm


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Any:
    if isinstance(ord, str):
        raise located(UnsupportedError(f"np.linalg.norm: invalid norm order {ord!r} for vectors"))
    if ord is None or ord == 2:
        return _root_of_squares(_sum(x * x, axis=axis, keepdims=keepdims))
    magnitude = np.abs(x)
    if ord == np.inf:
        return _max(magnitude, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return _min(magnitude, axis=axis, keepdims=keepdims)
    if ord == 0:  # the count of nonzeros: piecewise constant, zero derivative
        return _sum(astype(x != 0, x.dtype), axis=axis, keepdims=keepdims)
    if ord == 1:
        return _sum(magnitude, axis=axis, keepdims=keepdims)
    p = float(ord)
    return _sum(magnitude**p, axis=axis, keepdims=keepdims) ** (1.0 / p)


def _matrix_norm(x: Any, ord: Any, axes: tuple[int, int], keepdims: bool) -> Any:
    row, col = axes
    if ord is None or ord == "fro":
        out = _root_of_squares(_sum(x * x, axis=axes, keepdims=True))
    else:
        m = _moveaxis(x, (row, col), (-2, -1))  # the matrices in the last two axes
        if ord in ("nuc", 2, -2):
            s = wrap(la.svd(m.value, "s"))
            out = _sum(s, axis=-1) if ord == "nuc" else s[..., 0] if ord == 2 else s[..., -1]
        elif ord in (1, -1, np.inf, -np.inf):
            # 1: the largest column sum of |x|; inf: the largest row sum
            summed = _sum(np.abs(m), axis=-2 if ord in (1, -1) else -1)
            out = _max(summed, axis=-1) if ord in (1, np.inf) else _min(summed, axis=-1)
        else:
            raise located(
                UnsupportedError(f"np.linalg.norm: invalid norm order {ord!r} for matrices")
            )
        kept = [1 if i in (row, col) else d for i, d in enumerate(x.shape)]
        out = reshape(out, kept)
    if keepdims:
        return out
    return reshape(out, [d for i, d in enumerate(x.shape) if i not in (row, col)])


@implements(np.linalg.norm)
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    x = asarray(x)
    if x.dtype.kind != "f":
        x = astype(x, np.float64)
    if axis is None and ord is None:  # every element: the 2-norm of the flattened array
        return _root_of_squares(_sum(x * x, axis=None, keepdims=keepdims))
    if axis is None:
        if x.ndim not in (1, 2):
            raise located(ShapeError("np.linalg.norm: improper number of dimensions to norm"))
        axis = tuple(range(x.ndim))
    raw = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if len(raw) == 1:
        return _vector_norm(x, ord, _axes(raw[0], x.ndim)[0], keepdims)
    if len(raw) == 2:
        row, col = (_axes(a, x.ndim)[0] for a in raw)
        if row == col:
            raise located(ShapeError("np.linalg.norm: duplicate axes given"))
        return _matrix_norm(x, ord, (row, col), keepdims)
    raise located(ShapeError("np.linalg.norm: improper number of dimensions to norm"))
