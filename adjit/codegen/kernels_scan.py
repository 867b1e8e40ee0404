"""Native kernels for scans and sorts along one axis, which the loop emitter does not express.

The generated code views each C-contiguous operand as (outer, n, inner), n the
scanned axis, and calls these helpers (compiled once, cached by Numba like the
pairwise sums). `linear_scan` walks the axis once with the inner axis innermost
(contiguous reads); `argsort` copies each line into a buffer and sorts it with
a stable merge sort, so ties keep their order as in np.argsort(kind="stable").
"""

from __future__ import annotations

import numpy as np

from .native_cache import njit_cached


@njit_cached(error_model="numpy")
def linear_scan(a, b, out, reverse):
    """out[:, j] = a[:, j] * out[:, j -+ 1] + b[:, j] along axis 1; the first is b's."""
    outer, n, inner = b.shape
    if n == 0:
        return
    first = n - 1 if reverse else 0
    for i in range(outer):
        for k in range(inner):
            out[i, first, k] = b[i, first, k]
        for t in range(1, n):
            j = n - 1 - t if reverse else t
            p = j + 1 if reverse else j - 1
            for k in range(inner):
                out[i, j, k] = a[i, j, k] * out[i, p, k] + b[i, j, k]


@njit_cached(error_model="numpy")
def argsort(x, out):
    """out[i, :, k] = the stable sorting permutation of x[i, :, k]."""
    outer, n, inner = x.shape
    line = np.empty(n, dtype=x.dtype)
    for i in range(outer):
        for k in range(inner):
            for j in range(n):
                line[j] = x[i, j, k]
            order = np.argsort(line, kind="mergesort")
            for j in range(n):
                out[i, j, k] = order[j]
