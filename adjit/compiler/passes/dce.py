"""Dead-code elimination: drop ops none of whose results are used (all ops are pure)."""

from __future__ import annotations

from dataclasses import replace

from ...ir.core import Block, Function, Value


def _dce_block(block: Block) -> Block:
    live: set[Value] = set(block.results)
    kept = []
    for op in reversed(block.ops):
        if not any(r in live for r in op.results):
            continue
        if op.regions:
            op = replace(op, regions=tuple(_dce_block(r) for r in op.regions))
        live.update(op.operands)
        kept.append(op)
    return Block(block.args, tuple(reversed(kept)), block.results)


def dce(fn: Function) -> Function:
    return Function(fn.name, _dce_block(fn.body))
