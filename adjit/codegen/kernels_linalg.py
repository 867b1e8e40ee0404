"""Numba callees of the linear-algebra primitives: LAPACK through Numba's np.linalg.

The generated code reshapes each operand to (batch, rows, cols) (its arrays are
C-contiguous) and calls the function named as the primitive, which loops over
the batch. A factorization with several results (slogdet, eigh, svd, qr)
returns all of them, in the order of its `part`s (PARTS in
ir/primitives_linalg.py): one call serves all its parts. Numba's np.linalg
raises numpy.linalg.LinAlgError for a singular or non-positive-definite matrix,
as NumPy does; the triangular solve (substitution, which Numba's np.linalg lacks)
raises it for a zero on the diagonal, as SciPy does. Compiled once (Numba's
cache, beside this file), like the other helpers.
"""

from __future__ import annotations

import numpy as np

from .native_cache import njit_cached


@njit_cached()
def solve(a, b):
    out = np.empty_like(b)
    for i in range(a.shape[0]):
        out[i] = np.linalg.solve(a[i], b[i])
    return out


@njit_cached()
def solve_triangular(a, b, lower, unit_diagonal):
    # forward (lower) or back (upper) substitution, all right-hand sides at once;
    # scalar loops: no temporary per step, the innermost over contiguous columns
    out = np.empty_like(b)
    n, k = b.shape[1], b.shape[2]
    for i in range(a.shape[0]):
        for step in range(n):
            r = step if lower else n - 1 - step
            for j in range(k):
                out[i, r, j] = b[i, r, j]
            lo, hi = (0, r) if lower else (r + 1, n)
            for c in range(lo, hi):
                arc = a[i, r, c]
                for j in range(k):
                    out[i, r, j] -= arc * out[i, c, j]
            if not unit_diagonal:
                d = a[i, r, r]
                if d == 0:
                    raise np.linalg.LinAlgError("singular matrix: a zero on the diagonal")
                for j in range(k):
                    out[i, r, j] /= d
    return out


@njit_cached()
def cholesky(a):
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        out[i] = np.tril(np.linalg.cholesky(a[i]))
    return out


@njit_cached()
def det(a):
    out = np.empty(a.shape[0], a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.det(a[i])
    return out


@njit_cached()
def slogdet(a):
    sign = np.empty(a.shape[0], a.dtype)
    logabs = np.empty(a.shape[0], a.dtype)
    for i in range(a.shape[0]):
        sign[i], logabs[i] = np.linalg.slogdet(a[i])
    return sign, logabs


@njit_cached()
def eigh(a):
    values = np.empty(a.shape[:2], a.dtype)
    vectors = np.empty_like(a)
    for i in range(a.shape[0]):
        values[i], vectors[i] = np.linalg.eigh(a[i])
    return values, vectors


@njit_cached()
def svd(a):
    k = min(a.shape[1], a.shape[2])
    u = np.empty((a.shape[0], a.shape[1], k), a.dtype)
    s = np.empty((a.shape[0], k), a.dtype)
    vt = np.empty((a.shape[0], k, a.shape[2]), a.dtype)
    for i in range(a.shape[0]):
        u[i], s[i], vt[i] = np.linalg.svd(a[i], False)
    return u, s, vt


@njit_cached()
def qr(a):
    k = min(a.shape[1], a.shape[2])
    q = np.empty((a.shape[0], a.shape[1], k), a.dtype)
    r = np.empty((a.shape[0], k, a.shape[2]), a.dtype)
    for i in range(a.shape[0]):
        q[i], r[i] = np.linalg.qr(a[i])
    return q, r
