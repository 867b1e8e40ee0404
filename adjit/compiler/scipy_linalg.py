"""scipy.linalg on traced arrays: solve_triangular, cho_solve, cho_factor, cholesky.

SciPy's functions convert their arguments to NumPy arrays, so traced code sees
adjit's versions instead (`FUNCTIONS`), substituted like scipy.special's (see
frontend.py). They are built from the linear-algebra primitives; cho_solve is
two triangular solves with the factor, so its derivatives are theirs. Leading
axes are a batch, as in NumPy's np.linalg. This module imports SciPy; it is
imported only once the user's program has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import scipy.linalg as sl

from ..errors import UnsupportedError
from . import numpy_api as npa
from . import ops_linalg as la
from .builder import located
from .numpy_linalg import _symmetric, solve_matrices
from .scipy_special import traced

_TRANS = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}


def _solve_triangular(
    a: Any,
    b: Any,
    trans: Any = 0,
    lower: bool = False,
    unit_diagonal: bool = False,
    overwrite_b: bool = False,
    check_finite: bool = True,
) -> Any:
    if trans not in _TRANS:
        raise located(UnsupportedError(f"scipy.linalg.solve_triangular: invalid trans {trans!r}"))
    transposed = _TRANS[trans]  # real matrices: 'C' is 'T'

    def solve(av: Any, bv: Any) -> Any:
        if transposed:  # a^T is triangular in the other triangle
            return la.solve_triangular(la.mT(av), bv, not lower, unit_diagonal)
        return la.solve_triangular(av, bv, lower, unit_diagonal)

    return solve_matrices(a, b, "scipy.linalg.solve_triangular", solve)


def _cho_solve(
    c_and_lower: Any, b: Any, overwrite_b: bool = False, check_finite: bool = True
) -> Any:
    c, lower = c_and_lower

    def solve(cv: Any, bv: Any) -> Any:
        # lower: c c^T x = b; upper: c^T c x = b
        first, second = (cv, la.mT(cv)) if lower else (la.mT(cv), cv)
        y = la.solve_triangular(first, bv, lower=True)
        return la.solve_triangular(second, y, lower=False)

    return solve_matrices(c, b, "scipy.linalg.cho_solve", solve)


def _cholesky(
    a: Any, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True
) -> Any:
    factor = la.cholesky(_symmetric(a, "scipy.linalg.cholesky"))
    return npa.wrap(factor if lower else la.mT(factor))


def _cho_factor(
    a: Any, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True
) -> Any:
    # SciPy leaves the other triangle as it was; here it is zero (cho_solve never reads it)
    return _cholesky(a, lower=lower), lower


_IMPLS: dict[Callable, Callable[..., Any]] = {
    sl.solve_triangular: _solve_triangular,
    sl.cho_solve: _cho_solve,
    sl.cholesky: _cholesky,
    sl.cho_factor: _cho_factor,
}


FUNCTIONS: dict[Callable, Callable[..., Any]] = {
    f: traced(f, i, "scipy.linalg") for f, i in _IMPLS.items()
}
