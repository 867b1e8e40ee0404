"""Numba callees of the linear-algebra primitives: LAPACK through Numba's np.linalg.

The generated code reshapes each operand to (batch, rows, cols) (its arrays are
C-contiguous) and calls one of these, which loops over the batch; `KERNELS`
names the callee of each primitive and `part`. Numba's np.linalg raises
numpy.linalg.LinAlgError for a singular or non-positive-definite matrix, as
NumPy does; the triangular solve (substitution, which Numba's np.linalg lacks)
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
def slogdet_sign(a):
    out = np.empty(a.shape[0], a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.slogdet(a[i])[0]
    return out


@njit_cached()
def slogdet_logabs(a):
    out = np.empty(a.shape[0], a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.slogdet(a[i])[1]
    return out


@njit_cached()
def eigh_values(a):
    out = np.empty(a.shape[:2], a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.eigh(a[i])[0]
    return out


@njit_cached()
def eigh_vectors(a):
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        out[i] = np.linalg.eigh(a[i])[1]
    return out


@njit_cached()
def svd_u(a):
    k = min(a.shape[1], a.shape[2])
    out = np.empty((a.shape[0], a.shape[1], k), a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.svd(a[i], False)[0]
    return out


@njit_cached()
def svd_s(a):
    k = min(a.shape[1], a.shape[2])
    out = np.empty((a.shape[0], k), a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.svd(a[i], False)[1]
    return out


@njit_cached()
def svd_vt(a):
    k = min(a.shape[1], a.shape[2])
    out = np.empty((a.shape[0], k, a.shape[2]), a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.svd(a[i], False)[2]
    return out


@njit_cached()
def qr_q(a):
    k = min(a.shape[1], a.shape[2])
    out = np.empty((a.shape[0], a.shape[1], k), a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.qr(a[i])[0]
    return out


@njit_cached()
def qr_r(a):
    k = min(a.shape[1], a.shape[2])
    out = np.empty((a.shape[0], k, a.shape[2]), a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.qr(a[i])[1]
    return out
