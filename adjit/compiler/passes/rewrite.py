"""Shared machinery of the passes: rebuild a block op by op with value substitution."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ...ir.core import Block, Function, Op, Value

# Given an op whose operands are already substituted, return the op(s) to keep
# (possibly none) and record replacements for its results in `subst`.
OpRewriter = Callable[[Op, dict[Value, Value]], list[Op]]


def substitute(op: Op, subst: dict[Value, Value]) -> Op:
    operands = tuple(subst.get(v, v) for v in op.operands)
    if operands == op.operands:
        return op
    return replace(op, operands=operands)


def rewrite_block(block: Block, rewriter: Callable[[], OpRewriter]) -> Block:
    """Apply a fresh rewriter (one per block: blocks are isolated scopes) to every op."""
    rewrite = rewriter()
    subst: dict[Value, Value] = {}
    ops: list[Op] = []
    for op in block.ops:
        op = substitute(op, subst)
        if op.regions:
            op = replace(op, regions=tuple(rewrite_block(r, rewriter) for r in op.regions))
        ops.extend(rewrite(op, subst))
    results = tuple(subst.get(v, v) for v in block.results)
    return Block(block.args, tuple(ops), results)


def rewrite_function(fn: Function, rewriter: Callable[[], OpRewriter]) -> Function:
    return Function(fn.name, rewrite_block(fn.body, rewriter))
