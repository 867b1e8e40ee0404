"""IR -> IR passes. Each is a pure function of a Function; `simplify` runs the standard set."""

from __future__ import annotations

from ...ir.core import Function
from ...ir.verifier import verify
from .algebraic import algebraic_simplify
from .constant_fold import constant_fold
from .cse import cse
from .dce import dce
from .lift_constants import lift_constants
from .sum_of_products import sum_before_product

__all__ = [
    "algebraic_simplify",
    "constant_fold",
    "cse",
    "dce",
    "lift_constants",
    "simplify",
    "sum_before_product",
]


def simplify(fn: Function) -> Function:
    """Constant folding, common subexpressions, dead code, then the rewrites that need
    exact use counts (row sums of products; SymPy on element-wise regions) and a
    second CSE/DCE to merge and drop what they replaced; verified."""
    fn = dce(cse(constant_fold(fn)))
    return verify(dce(cse(algebraic_simplify(sum_before_product(fn)))))
