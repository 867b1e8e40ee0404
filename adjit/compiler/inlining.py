"""Inlining: a Function's ops emitted into the current builder, regions cloned fresh."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from ..ir.core import Block, Function, Op, Value
from .builder import current


def _clone_block(block: Block, env: dict[Value, Value]) -> Block:
    args = tuple(Value(a.type, a.hint) for a in block.args)
    env.update(zip(block.args, args))
    body = tuple(clone_op(op, env, lambda v: v) for op in block.ops)
    return Block(args, body, tuple(env[v] for v in block.results))


def clone_op(op: Op, env: dict[Value, Value], local: Callable[[Value], Value]) -> Op:
    """A copy of a control-flow op with fresh values (a function may be inlined twice)."""
    operands = tuple(local(env[v]) for v in op.operands)
    regions = tuple(_clone_block(r, env) for r in op.regions)
    results = tuple(Value(r.type, r.hint) for r in op.results)
    env.update(zip(op.results, results))
    return replace(op, operands=operands, results=results, regions=regions)


def inline_op(op: Op, env: dict[Value, Value]) -> None:
    """Emit one op into the current builder, its operands looked up in `env`."""
    b = current()
    if op.regions:
        b.append(clone_op(op, env, b.local))
    else:
        env[op.result] = b.emit(op.name, [env[v] for v in op.operands], op.attrs, loc=op.loc)


def inline(fn: Function, args: Sequence[Value]) -> dict[Value, Value]:
    """Emit `fn`'s ops into the current builder; map fn's values to the new ones."""
    env: dict[Value, Value] = dict(zip(fn.params, args))
    for op in fn.body.ops:
        inline_op(op, env)
    return env
