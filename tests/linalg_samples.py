"""Inputs and one-op bodies of the linear-algebra primitives, for the tests that
check every primitive's rules (test_forward, test_grad through the reference
interpreter; test_compiled_primitives through compiled code) and test_linalg.

Well-conditioned matrices: a random matrix plus a multiple of the identity; SPD
ones: m m^T plus the identity. cholesky and eigh take the symmetric matrix
built from the lower triangle, as the NumPy functions pass it. Eigenvectors
enter squared: their signs are LAPACK's choice and may differ between NumPy
and Numba.
"""

from __future__ import annotations

import numpy as np
from samples import normal

from adjit.compiler import ops
from adjit.compiler import ops_linalg as la


def well_conditioned(*shape: int, seed: int) -> np.ndarray:
    n = shape[-1]
    return normal(*shape, seed=seed) + 3.0 * np.eye(n)


def spd(*shape: int, seed: int) -> np.ndarray:
    m = normal(*shape, seed=seed)
    return m @ np.swapaxes(m, -1, -2) + np.eye(shape[-1])


WELL = well_conditioned(2, 3, 3, seed=31)
SPD = spd(2, 3, 3, seed=32)
RHS = normal(2, 3, 2, seed=33)


def _squared(v):
    return ops.elementwise("mul", v, v)


def _squared_vectors(a):
    return _squared(la.eigh(la.symmetric_from_lower(a), "vectors"))


LINALG_STRUCTURAL = {
    "solve": (la.solve, WELL, RHS),
    "solve_triangular[lower]": (lambda a, b: la.solve_triangular(a, b, True), WELL, RHS),
    "solve_triangular[upper, unit]": (
        lambda a, b: la.solve_triangular(a, b, False, True),
        WELL,
        RHS,
    ),
    "cholesky": (lambda a: la.cholesky(la.symmetric_from_lower(a)), SPD),
    "det": (la.det, WELL),
    "slogdet": (lambda a: la.slogdet(a, "logabs"), WELL),
    "eigh[values]": (lambda a: la.eigh(la.symmetric_from_lower(a), "values"), SPD),
    "eigh[vectors squared]": (_squared_vectors, SPD),
    "svd[s]": (lambda a: la.svd(a, "s"), normal(2, 4, 3, seed=34)),
    "svd[u squared, tall]": (lambda a: _squared(la.svd(a, "u")), normal(2, 4, 3, seed=37)),
    "svd[vt squared, tall]": (lambda a: _squared(la.svd(a, "vt")), normal(4, 3, seed=38)),
    "svd[u squared, wide]": (lambda a: _squared(la.svd(a, "u")), normal(3, 5, seed=39)),
    "svd[vt squared, wide]": (lambda a: _squared(la.svd(a, "vt")), normal(2, 3, 5, seed=40)),
    "qr[q]": (lambda a: la.qr(a, "q"), normal(2, 4, 3, seed=35)),
    "qr[r]": (lambda a: la.qr(a, "r"), normal(4, 4, seed=36)),
}
