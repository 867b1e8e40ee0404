"""The adjoint pass: reverse-mode differentiation as an IR -> IR transformation.

The primal ops are re-emitted first (their results are reused by the adjoint,
never recomputed); then the ops are walked in reverse order and each primitive's
reverse rule (rules.py) turns the cotangent of its result into cotangents of
its operands. Cotangents reaching a value along several paths are summed. Only
"active" values get cotangents: float values that depend on a differentiated
input (so constants and integer index arithmetic cost nothing); inputs the
output does not depend on get zeros. A `cond` is differentiated branch by branch
(its adjoint is a `cond` of the branches' adjoints); loops are not supported
yet (forward mode, forward.py, goes through them).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UnsupportedError
from ..ir.core import Function, Op, Value
from ..ir.primitives import PRIMITIVES
from ..ir.verifier import verify
from . import ops, rules
from .builder import Builder, building, current, describe_location
from .inlining import inline


def _active(fn: Function, wrt: Sequence[int]) -> set[Value]:
    """Float values that depend on a differentiated parameter."""
    active = {fn.params[i] for i in wrt if fn.params[i].type.is_float}
    for op in fn.body.ops:
        if any(v in active for v in op.operands):
            active.update(r for r in op.results if r.type.is_float)
    return active


def emit_adjoint(
    fn: Function,
    args: Sequence[Value],
    cotangents: Sequence[Value | None],
    wrt: Sequence[int],
) -> tuple[list[Value], list[Value]]:
    """Emit fn(args) and its VJP into the current builder.

    `cotangents` holds one cotangent per result of fn (None: zero). Returns the
    results of fn and the gradient of each parameter in `wrt`.
    """
    env = inline(fn, args)
    active = _active(fn, wrt)
    cts: dict[Value, Value] = {}

    def accumulate(v: Value, ct: Value) -> None:
        if v not in active:
            return
        ct = ops.convert(ct, v.type.dtype)
        cts[v] = ops.elementwise("add", cts[v], ct) if v in cts else ct

    for r, ct in zip(fn.results, cotangents):
        if ct is not None:
            accumulate(r, ops.broadcast_to(ct, r.type.shape))

    for op in reversed(fn.body.ops):
        out_cts = [cts.pop(r, None) for r in op.results]
        if all(c is None for c in out_cts):
            continue
        prim = PRIMITIVES[op.name]
        if op.name == "cond":
            operand_cts = _cond_adjoint(op, env, out_cts, active)
            for v, c in zip(op.operands, operand_cts):
                if c is not None:
                    accumulate(v, c)
            continue
        if op.regions:
            raise UnsupportedError(
                f"reverse mode through {op.name} is not supported yet; forward mode goes "
                "through loops (adjit.jvp, adjit.jacfwd)" + describe_location(op.loc)
            )
        rule = rules.vjp_rule_for(op.name, prim.kind) if prim.differentiable else None
        if rule is None:
            raise UnsupportedError(
                f"{op.name} is not differentiable and has no reverse rule"
                + describe_location(op.loc)
            )
        (ct,) = out_cts
        xs = [env[v] for v in op.operands]
        need = [v in active for v in op.operands]
        for v, c in zip(op.operands, rule(ct, op, xs, env[op.result], need)):
            if c is not None:
                accumulate(v, c)

    results = [env[r] for r in fn.results]
    grads = []
    for i in wrt:
        p = fn.params[i]
        g = cts.get(p)
        grads.append(ops.zeros(p.type) if g is None else ops.broadcast_to(g, p.type.shape))
    return results, grads


def _cond_adjoint(
    op: Op, env: dict[Value, Value], out_cts: list[Value | None], active: set[Value]
) -> list[Value | None]:
    """The adjoint of `cond` is a `cond` of the branches' adjoints.

    Each adjoint branch recomputes its primal branch (regions keep no values
    for later), then runs the reverse pass over it; both take the operands and
    the results' cotangents and yield the operands' cotangents.
    """
    pred, *values = (env[v] for v in op.operands)
    wrt = [i for i, v in enumerate(op.operands[1:]) if v in active]
    if not wrt:
        return [None] * len(op.operands)
    cts = [
        ct if ct is not None else ops.zeros(r.type)
        for ct, r in zip(out_cts, op.results)
        if r.type.is_float
    ]
    regions = []
    for block in op.regions:
        builder = Builder(current())
        with building(builder):
            args = [builder.add_arg(a.type, a.hint) for a in block.args]
            ct_args = iter([builder.add_arg(c.type) for c in cts])
            seeds = [next(ct_args) if r.type.is_float else None for r in block.results]
            _, grads = emit_adjoint(Function(op.name, block), args, seeds, wrt)
            region = builder.block(grads)
        assert not builder.captures, "cond regions are isolated"
        regions.append(region)
    results = tuple(Value(values[i].type) for i in wrt)
    current().append(Op("cond", (pred, *values, *cts), results, {}, tuple(regions), op.loc))
    operand_cts: list[Value | None] = [None] * len(op.operands)
    for i, g in zip(wrt, results):
        operand_cts[1 + i] = g
    return operand_cts


def vjp_function(fn: Function, wrt: Sequence[int]) -> Function:
    """fn's VJP as a Function: (params, one cotangent per result) -> (results, grads).

    The gradients, one per parameter in `wrt`, have that parameter's type.
    """
    builder = Builder()
    with building(builder):
        params = [builder.add_arg(p.type, p.hint) for p in fn.params]
        seeds = [builder.add_arg(r.type, f"ct{i}") for i, r in enumerate(fn.results)]
        results, grads = emit_adjoint(fn, params, seeds, wrt)
        body = builder.block([*results, *grads])
    return verify(Function(f"{fn.name}_vjp", body))
