"""Common-subexpression elimination: an op identical to an earlier one reuses its result."""

from __future__ import annotations

from ...ir.core import Function, Op, Value, attr_key
from ...ir.types import TapeType
from .rewrite import OpRewriter, rewrite_function


def _cse_rewriter() -> OpRewriter:
    seen: dict[tuple, Op] = {}

    def rewrite(op: Op, subst: dict[Value, Value]) -> list[Op]:
        if op.regions:  # control flow is kept as is (its regions are CSE'd inside)
            return [op]
        if isinstance(op.result.type, TapeType):  # each tape owns its buffer, written in place
            return [op]
        key = (op.name, op.operands, attr_key(sorted(op.attrs.items())), op.result.type)
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = op
            return [op]
        subst[op.result] = earlier.result
        return []

    return rewrite


def cse(fn: Function) -> Function:
    return rewrite_function(fn, _cse_rewriter)
