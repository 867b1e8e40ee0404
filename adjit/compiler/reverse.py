"""The adjoint pass: reverse-mode differentiation as an IR -> IR transformation.

The primal ops are re-emitted first (their results are reused by the adjoint,
never recomputed); then the ops are walked in reverse order and each primitive's
reverse rule (rules.py) turns the cotangent of its result into cotangents of
its operands. Cotangents reaching a value along several paths are summed. Only
"active" values get cotangents: float values that depend on a differentiated
input (so constants and integer index arithmetic cost nothing); inputs the
output does not depend on get zeros. A `cond` is differentiated branch by branch
(its adjoint is a `cond` of the branches' adjoints). A `for` loop with bounds
known when tracing records the state each iteration starts from (a tape, one
extra leading axis), and its adjoint is a `for` loop running backwards over
the tape, recomputing each iteration's body for its adjoint. `while` loops and
`for` loops with traced bounds do the same over a tape sized at run time, with
optional checkpointing (loop_tape.py).
User rules (custom.py) replace differentiation: a `custom_vjp` runs its fwd
region forward and its bwd region backward; a `custom_jvp` is pulled back
through the reverse pass of its jvp region, which is linear in the tangents.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import UnsupportedError
from ..ir.core import Block, Function, Op, Value
from ..ir.indexing import Dynamic
from ..ir.primitives import PRIMITIVES
from ..ir.types import TapeType, TensorType
from ..ir.verifier import verify
from . import custom, loop_tape, ops, rules
from .builder import Builder, building, current, derived_from, describe_location
from .inlining import inline_op


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
    active = _active(fn, wrt)
    env: dict[Value, Value] = dict(zip(fn.params, args))
    tapes: dict[Op, list[Value] | loop_tape.Record] = {}
    for op in fn.body.ops:
        if op.name in ("for", "while") and any(v in active for v in op.operands):
            static = (
                op.name == "for"
                and _static_bounds(op, env)
                and loop_tape.every(op) == 1
                and not any(isinstance(v.type, TapeType) for v in op.operands)
            )
            tapes[op] = _taped_for(op, env) if static else loop_tape.record(op, env)
        elif op.name == "custom_vjp" and any(v in active for v in op.operands):
            tapes[op] = custom.emit_fwd(op, env)
        else:
            inline_op(op, env)
    cts: dict[Value, Value] = {}

    def accumulate(v: Value, ct: Value) -> None:
        if v not in active:
            return
        ct = ops.convert(ct, v.type.dtype)
        if isinstance(v.type, TapeType) and v in cts:
            cts[v] = ops.tape_add(cts[v], ct)
            return
        cts[v] = ops.elementwise("add", cts[v], ct) if v in cts else ct

    def tape_adjoint(op: Op, ct: Value) -> None:
        """Tape ops are linear (reverse over reverse): a read's cotangent is added
        into one element of the tape's cotangent, in place; a write passes the
        element's cotangent to the value written, none to the element it replaces."""
        tape, *rest = op.operands
        if op.name == "tape_add":  # each operand its own copy: tapes are written in place
            accumulate(tape, ct)
            accumulate(rest[0], ops.tape_add(ct, ops.zeros(ct.type)))
            return
        i = env[rest[0]]
        if op.name == "tape_read":
            if tape in active:
                acc = cts[tape] if tape in cts else ops.zeros(tape.type)
                total = ops.elementwise("add", ops.tape_read(acc, i, op.loc), ct)
                cts[tape] = ops.tape_write(acc, i, total, op.loc)
            return
        value = rest[1]
        accumulate(value, ops.tape_read(ct, i, op.loc))
        if tape in active:
            accumulate(tape, ops.tape_write(ct, i, ops.zeros(value.type), op.loc))

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
        if op.name in ("for", "while"):
            record = tapes[op]
            if isinstance(record, loop_tape.Record):
                operand_cts = loop_tape.adjoint(op, env, out_cts, record)
            else:
                operand_cts = _for_adjoint(op, env, out_cts, record)
            for v, c in zip(op.operands, operand_cts):
                if c is not None:
                    accumulate(v, c)
            continue
        if op.name in custom.CUSTOM_OPS:
            custom.check_captures(op, active.__contains__)
            if op.name == "custom_vjp":
                operand_cts = custom.vjp_adjoint(op, env, out_cts, tapes[op])
            else:
                operand_cts = _custom_jvp_adjoint(op, env, out_cts, active)
            for v, c in zip(op.operands, operand_cts):
                if c is not None:
                    accumulate(v, c)
            continue
        if op.regions:
            raise UnsupportedError(
                f"reverse mode through {op.name} is not supported" + describe_location(op.loc)
            )
        if op.name in rules.TAPE_OPS:
            tape_adjoint(op, out_cts[0])
            continue
        rule = rules.vjp_rule_for(op.name, prim.kind) if prim.differentiable else None
        if rule is None:
            raise UnsupportedError(
                f"{op.name} is not differentiable and has no reverse rule"
                + describe_location(op.loc)
            )
        (ct,) = out_cts
        xs = [env[v] for v in op.operands]
        need = [v in active for v in op.operands]
        with derived_from(op.loc):
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
    b = current()  # operands from outside a region the adjoint is emitted into are captured
    operands = tuple(b.local(v) for v in (pred, *values, *cts))
    b.append(Op("cond", operands, results, {}, tuple(regions), op.loc))
    operand_cts: list[Value | None] = [None] * len(op.operands)
    for i, g in zip(wrt, results):
        operand_cts[1 + i] = g
    return operand_cts


def _custom_jvp_adjoint(
    op: Op, env: dict[Value, Value], out_cts: list[Value | None], active: set[Value]
) -> list[Value | None]:
    """The adjoint of a `custom_jvp`: the reverse pass of its jvp region with respect to
    the tangents (zeros: the tangent outputs are linear in them), seeded at the tangent
    outputs; the primal inputs are constants there."""
    n = op.attrs["inputs"]
    xs = [env[v] for v in op.operands]
    wrt = [n + i for i in range(n) if op.operands[i] in active]
    zeros = [ops.zeros(x.type) for x in xs[:n]]
    seeds = [None] * len(op.results) + list(out_cts)
    _, grads = emit_adjoint(
        Function(op.name, op.regions[1]), [*xs[:n], *zeros, *xs[n:]], seeds, wrt
    )
    operand_cts: list[Value | None] = [None] * len(op.operands)
    for i, g in zip(wrt, grads):
        operand_cts[i - n] = g
    return operand_cts


def _static_bounds(op: Op, env: dict[Value, Value]) -> bool:
    consts = current().consts
    return all(env[v] in consts for v in op.operands[:2])


def _loop_bounds(op: Op, env: dict[Value, Value]) -> tuple[int, int]:
    consts = current().consts
    bounds = [consts.get(env[v]) for v in op.operands[:2]]
    if any(b is None for b in bounds):
        raise UnsupportedError(
            "reverse mode through fori_loop needs bounds known when tracing (Python "
            "ints or values computed from them), to size the record of the loop's "
            "states; forward mode (adjit.jvp, adjit.jacfwd) takes any bounds"
            + describe_location(op.loc)
        )
    return int(bounds[0]), int(bounds[1])


def _varying(body: Block) -> list[int]:
    """State positions the body changes (the rest, like captures, it yields as is)."""
    return [k for k, r in enumerate(body.results) if r is not body.args[1 + k]]


def _taped_for(op: Op, env: dict[Value, Value]) -> list[Value]:
    """Emit the `for` loop recording the state each iteration starts from.

    The record (tape) of a state of type T has type (n, *T) for n iterations;
    returns the tapes, one per varying state position, and maps op's results.
    """
    lo, hi = _loop_bounds(op, env)
    n = max(hi - lo, 0)
    if n == 0:  # no iteration: the state passes through
        env.update(zip(op.results, (env[v] for v in op.operands[2:])))
        return []
    (body,) = op.regions
    state = [env[v] for v in op.operands[2:]]
    varying = _varying(body)
    tape_types = [TensorType(state[k].type.dtype, (n, *state[k].type.shape)) for k in varying]
    builder = Builder(current())
    with building(builder):
        i, *args = [builder.add_arg(a.type, a.hint) for a in body.args]
        tapes = [builder.add_arg(t) for t in tape_types]
        step = [ops.elementwise("sub", i, lo)]
        recorded = [
            ops.scatter(tape, (Dynamic(0),), args[k], step) for tape, k in zip(tapes, varying)
        ]
        inner = dict(zip(body.args, [i, *args]))
        for inner_op in body.ops:
            inline_op(inner_op, inner)
        region = builder.block([*(inner[r] for r in body.results), *recorded])
    assert not builder.captures, "regions are isolated"
    b = current()
    inits = [ops.zeros(t) for t in tape_types]
    results = tuple(Value(r.type, r.hint) for r in op.results) + tuple(Value(t) for t in tape_types)
    operands = tuple(b.local(v) for v in (env[op.operands[0]], env[op.operands[1]], *state, *inits))
    b.append(Op("for", operands, results, op.attrs, (region,), op.loc))
    env.update(zip(op.results, results))
    return list(results[len(op.results) :])


def _for_adjoint(
    op: Op, env: dict[Value, Value], out_cts: list[Value | None], tapes: list[Value]
) -> list[Value | None]:
    """The adjoint of `for` is a `for` running backwards over the recorded states.

    Iteration i reads the state it started from off the tape, recomputes the
    body from it and pulls the state's cotangent back through the body's adjoint.
    Values the body yields unchanged (captured weights) accumulate their
    cotangent along the way.
    """
    lo, hi = _loop_bounds(op, env)
    n = max(hi - lo, 0)
    if n == 0:
        return [None, None, *out_cts]
    (body,) = op.regions
    state = [env[v] for v in op.operands[2:]]
    varying = _varying(body)
    floats = [k for k, s in enumerate(state) if s.type.is_float]
    cts = [out_cts[k] if out_cts[k] is not None else ops.zeros(state[k].type) for k in floats]
    fixed = [k for k in range(len(state)) if k not in varying]
    builder = Builder(current())
    with building(builder):
        j = builder.add_arg(TensorType("i64", ()), "j")
        ct_args = [builder.add_arg(c.type) for c in cts]
        tape_args = [builder.add_arg(t.type) for t in tapes]
        fixed_args = [builder.add_arg(state[k].type, state[k].hint) for k in fixed]
        step = ops.elementwise("sub", n - 1, j)  # iterations in reverse
        values: list[Value | None] = [None] * len(state)
        for k, tape in zip(varying, tape_args):
            values[k] = ops.reshape(ops.gather(tape, (Dynamic(0),), [step]), state[k].type.shape)
        for k, v in zip(fixed, fixed_args):
            values[k] = v
        seeds: list[Value | None] = [None] * len(state)
        for k, c in zip(floats, ct_args):
            seeds[k] = c
        i = ops.elementwise("add", step, lo)
        _, grads = emit_adjoint(Function("for", body), [i, *values], seeds, [1 + k for k in floats])
        region = builder.block([*grads, *tape_args, *fixed_args])
    assert not builder.captures, "regions are isolated"
    b = current()
    zero, count = (ops.constant(np.asarray(v, np.int64)) for v in (0, n))
    operands = (zero, count, *cts, *tapes, *(state[k] for k in fixed))
    types = [v.type for v in operands[2:]]
    results = [Value(t) for t in types]
    b.append(Op("for", tuple(b.local(v) for v in operands), tuple(results), {}, (region,), op.loc))
    operand_cts: list[Value | None] = [None] * len(op.operands)
    for k, ct in zip(floats, results):
        operand_cts[2 + k] = ct
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
