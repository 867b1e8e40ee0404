"""IR -> IR passes. Each is a pure function of a Function; `simplify` runs the standard set."""

from __future__ import annotations

from ...ir.core import Function
from ...ir.verifier import verify
from .constant_fold import constant_fold
from .cse import cse
from .dce import dce

__all__ = ["constant_fold", "cse", "dce", "simplify"]


def simplify(fn: Function) -> Function:
    """Constant folding, then common subexpressions, then dead code; verified."""
    return verify(dce(cse(constant_fold(fn))))
