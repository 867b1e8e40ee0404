"""Constant folding: an op whose operands are all known becomes a `constant`.

Only small results are folded (FOLD_LIMIT elements): a folded constant is stored
in the IR text and the generated code, while `broadcast` of a scalar and `iota`
describe large known arrays compactly, so those are never folded themselves.
Powers by a known 1 or 0 become their base and ones (IEEE pow: x**0 = 1 for every
x, NaN included); derivatives of powers produce both.
"""

from __future__ import annotations

import numpy as np

from ...ir.core import Function, Op, Value
from ...ir.primitives import evaluate
from ...ir.types import TapeType
from .rewrite import OpRewriter, rewrite_function

FOLD_LIMIT = 256
_NEVER_FOLDED = {"constant", "broadcast", "iota"}


def _fold_rewriter() -> OpRewriter:
    known: dict[Value, np.ndarray] = {}

    def rewrite(op: Op, subst: dict[Value, Value]) -> list[Op]:
        if op.name == "pow" and op.operands[1] in known:
            trivial = _trivial_power(op, known[op.operands[1]], subst)
            if trivial is not None:
                return trivial
        if op.regions or not all(v in known for v in op.operands):
            return [op]
        result = op.result
        if op.name not in _NEVER_FOLDED and result.type.size > FOLD_LIMIT:
            return [op]  # known, but too large to store as a literal
        # broadcast and iota values are NumPy views: cheap to keep even when large
        known[result] = evaluate(op.name, [known[v] for v in op.operands], op.attrs, result.type)
        if op.name in _NEVER_FOLDED or isinstance(result.type, TapeType):  # no literal form
            return [op]
        return [Op("constant", (), (result,), {"value": np.array(known[result])}, (), op.loc)]

    return rewrite


def _trivial_power(op: Op, exponent: np.ndarray, subst: dict[Value, Value]) -> list[Op] | None:
    """x**1 -> x, x**0 -> ones, for a scalar exponent and a base of the result's type."""
    base, result = op.operands[0], op.result
    if exponent.shape != () or exponent[()] not in (0, 1) or base.type != result.type:
        return None
    if exponent[()] == 1:
        subst[result] = base
        return []
    ones = {"value": np.ones((), result.type.np_dtype)}
    if result.type.ndim == 0:
        return [Op("constant", (), (result,), ones, (), op.loc)]
    one = Value(result.type.with_shape(()))
    return [
        Op("constant", (), (one,), ones, (), op.loc),
        Op("broadcast", (one,), (result,), {"shape": result.type.shape}, (), op.loc),
    ]


def constant_fold(fn: Function) -> Function:
    return rewrite_function(fn, _fold_rewriter)
