"""IR -> IR passes. Each is a pure function of a Function; `simplify` runs the standard set."""

from __future__ import annotations

from ...ir.core import Function
from ...ir.verifier import verify
from .algebraic import algebraic_simplify
from .constant_fold import constant_fold
from .cse import cse
from .dce import dce

__all__ = ["algebraic_simplify", "constant_fold", "cse", "dce", "simplify"]


def simplify(fn: Function) -> Function:
    """Constant folding, common subexpressions, dead code, then SymPy on element-wise
    regions (which needs exact use counts, hence after DCE) and a second CSE/DCE to
    merge and drop what it replaced; verified."""
    fn = dce(cse(constant_fold(fn)))
    return verify(dce(cse(algebraic_simplify(fn))))
