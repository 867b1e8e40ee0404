"""IR builders for the linear-algebra primitives and the masks their rules use.

Used by the NumPy-facing functions (numpy_linalg.py) and by the derivative
rules (rules_linalg.py), so that both build the same IR. Operands are float
arrays whose last two axes are the matrix and whose leading axes are one batch.
"""

from __future__ import annotations

import numpy as np

from ..ir.core import Value
from . import ops
from .builder import current


def solve(a: Value, b: Value) -> Value:
    """x with a @ x = b (b: (..., n, k))."""
    return current().emit("solve", (a, b))


def solve_triangular(a: Value, b: Value, lower: bool, unit_diagonal: bool = False) -> Value:
    attrs = {"lower": bool(lower), "unit_diagonal": bool(unit_diagonal)}
    return current().emit("solve_triangular", (a, b), attrs)


def cholesky(a: Value) -> Value:
    return current().emit("cholesky", (a,))


def det(a: Value) -> Value:
    return current().emit("det", (a,))


def slogdet(a: Value, part: str) -> Value:
    return current().emit("slogdet", (a,), {"part": part})


def eigh(a: Value, part: str) -> Value:
    return current().emit("eigh", (a,), {"part": part})


def svd(a: Value, part: str) -> Value:
    return current().emit("svd", (a,), {"part": part})


def qr(a: Value, part: str) -> Value:
    return current().emit("qr", (a,), {"part": part})


def mT(x: Value) -> Value:
    """x with its last two axes swapped."""
    n = x.type.ndim
    return ops.transpose(x, (*range(n - 2), n - 1, n - 2))


def mask(n: int, m: int, dtype: np.dtype, keep: str) -> Value:
    """An (n, m) 0/1 matrix: 1 where row `keep` column ("eq", "ge", "gt", "le", "lt")."""
    rows, cols = ops.iota((n, m), 0), ops.iota((n, m), 1)
    return ops.convert(ops.elementwise(keep, rows, cols), dtype)


def eye(n: int, dtype: np.dtype) -> Value:
    return mask(n, n, dtype, "eq")


def triangle(x: Value, lower: bool, strict: bool = False) -> Value:
    """x's lower (upper) triangle, zeros elsewhere; `strict` drops the diagonal."""
    keep = ("gt" if strict else "ge") if lower else ("lt" if strict else "le")
    n, m = x.type.shape[-2:]
    return ops.elementwise("mul", x, mask(n, m, x.type.np_dtype, keep))


def symmetric_from_lower(x: Value) -> Value:
    """The symmetric matrix whose lower triangle is x's (LAPACK's UPLO='L')."""
    return ops.elementwise("add", triangle(x, True), mT(triangle(x, True, strict=True)))


def diagonal(x: Value) -> Value:
    """The diagonal of each matrix (square x): (..., n, n) -> (..., n)."""
    n = x.type.shape[-1]
    return ops.reduce(
        "reduce_sum", ops.elementwise("mul", x, eye(n, x.type.np_dtype)), [x.type.ndim - 1]
    )


def batch_matrix(v: Value, shape: tuple[int, ...]) -> Value:
    """A value of shape (...) broadcast as (..., 1, 1) against matrices of `shape`."""
    return ops.broadcast_to(ops.reshape(v, (*v.type.shape, 1, 1)), shape)
