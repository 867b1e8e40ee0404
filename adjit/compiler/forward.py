"""The tangent pass: forward-mode differentiation as an IR -> IR transformation.

Ops are walked in program order. Each primal op is re-emitted and, when one of
its operands carries a tangent, followed by its forward rule (rules.py), which
maps the operands' tangents to the result's tangent; element-wise rules come
from the SymPy partials, as in reverse mode. Values without a tangent
(constants, integers, values that do not depend on the differentiated inputs)
cost nothing. Control flow carries tangents along: a `cond` yields its
branches' tangents, and a `while` or `for` loop carries the tangents of its
loop state as extra state, so forward mode goes through loops. A `custom_jvp`
runs the user's jvp region instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UnsupportedError
from ..ir.core import Block, Function, Op, Value
from ..ir.primitives import PRIMITIVES
from ..ir.verifier import verify
from . import custom, ops, rules
from .builder import Builder, building, current, derived_from, describe_location
from .inlining import inline_op

Tangent = Value | None


def emit_tangent(
    fn: Function, args: Sequence[Value], tangents: Sequence[Tangent]
) -> tuple[list[Value], list[Tangent]]:
    """Emit fn(args) and its JVP into the current builder.

    `tangents` holds one tangent per parameter of fn (None: zero). Returns fn's
    results and their tangents (None where a result does not depend on a tangent).
    """
    return _emit_block(fn.body, args, tangents)


def _emit_block(
    block: Block, args: Sequence[Value], tangents: Sequence[Tangent]
) -> tuple[list[Value], list[Tangent]]:
    b = current()
    env: dict[Value, Value] = dict(zip(block.args, args))
    tan: dict[Value, Value] = {
        a: t for a, t in zip(block.args, tangents) if t is not None and a.type.is_float
    }
    for op in block.ops:
        ts = [tan.get(v) for v in op.operands]
        if all(t is None for t in ts):  # no tangent flows through: the primal op only
            inline_op(op, env)
            continue
        xs = [env[v] for v in op.operands]
        if op.regions:
            outs, touts = _CONTROL[op.name](op, xs, ts)
        else:
            out = b.emit(op.name, xs, op.attrs, loc=op.loc)
            outs, touts = [out], [_tangent(op, xs, out, ts)]
        env.update(zip(op.results, outs))
        tan.update((r, t) for r, t in zip(op.results, touts) if t is not None)
    return [env[r] for r in block.results], [tan.get(r) for r in block.results]


def _tangent(op: Op, xs: list[Value], out: Value, ts: list[Tangent]) -> Tangent:
    if not out.type.is_float:
        return None
    prim = PRIMITIVES[op.name]
    rule = rules.jvp_rule_for(op.name, prim.kind) if prim.differentiable else None
    if rule is None:
        raise UnsupportedError(
            f"{op.name} is not differentiable and has no forward rule" + describe_location(op.loc)
        )
    with derived_from(op.loc):
        return rule(op, xs, out, ts)


# ------------------------------------------------------------------ control flow


class _Region:
    """A region re-traced with tangents: args (values, tangents of the active ones)."""

    def __init__(self, block: Block, active: Sequence[bool]) -> None:
        self.builder = Builder(current())
        with building(self.builder):
            args = [self.builder.add_arg(a.type, a.hint) for a in block.args]
            tangents = [
                self.builder.add_arg(a.type, f"d{a.hint}" if a.hint else None) if on else None
                for a, on in zip(block.args, active)
            ]
            self.results, self.tangents = _emit_block(block, args, tangents)

    @property
    def active(self) -> list[bool]:
        return [t is not None for t in self.tangents]

    def finish(self, active: Sequence[bool], extra: Sequence[Value] = ()) -> Block:
        """The block yielding its results, then the tangents of the `active` ones."""
        with building(self.builder):
            tangents = [
                ops.zeros(r.type) if t is None else t
                for r, t, on in zip(self.results, self.tangents, active)
                if on
            ]
            block = self.builder.block([*self.results, *tangents, *extra])
        assert not self.builder.captures, "regions are isolated"
        return block


def _emit_control(op: Op, operands: list[Value], regions: list[Block], types: list) -> list[Value]:
    b = current()
    results = tuple(Value(t) for t in types)
    operands = [b.local(v) for v in operands]
    b.append(Op(op.name, tuple(operands), results, op.attrs, tuple(regions), op.loc))
    return list(results)


def _tangents_of(values: Sequence[Value], ts: Sequence[Tangent], active: Sequence[bool]):
    """The initial tangents of the active values (zeros where a value has none yet)."""
    return [ops.zeros(v.type) if t is None else t for v, t, on in zip(values, ts, active) if on]


def _cond(op: Op, xs: list[Value], ts: list[Tangent]) -> tuple[list[Value], list[Tangent]]:
    pred, *values = xs
    active = [t is not None for t in ts[1:]]
    branches = [_Region(block, active) for block in op.regions]
    out_active = [any(r.active[i] for r in branches) for i in range(len(op.results))]
    regions = [r.finish(out_active) for r in branches]
    types = [r.type for r in op.results]
    types += [t for t, on in zip(types, out_active) if on]
    results = _emit_control(
        op, [pred, *values, *_tangents_of(values, ts[1:], active)], regions, types
    )
    return _split(results, len(op.results), out_active)


def _loop_active(body: Block, active: list[bool], skip: int) -> tuple[list[bool], _Region]:
    """The loop-state tangents to carry: those of the init, and every state a
    carried tangent reaches through the body (a fixed point)."""
    while True:
        region = _Region(body, [False] * skip + active)
        reached = [a or r for a, r in zip(active, region.active)]
        if reached == active:
            return active, region
        active = reached


def _while(op: Op, xs: list[Value], ts: list[Tangent]) -> tuple[list[Value], list[Tangent]]:
    test, body = op.regions
    active, body_region = _loop_active(body, [t is not None for t in ts], 0)
    test_region = _Region(test, active)
    regions = [test_region.finish([False]), body_region.finish(active)]
    types = [r.type for r in op.results]
    types += [t for t, on in zip(types, active) if on]
    results = _emit_control(op, [*xs, *_tangents_of(xs, ts, active)], regions, types)
    return _split(results, len(op.results), active)


def _for(op: Op, xs: list[Value], ts: list[Tangent]) -> tuple[list[Value], list[Tangent]]:
    (body,) = op.regions
    lo, hi, *state = xs
    active, region = _loop_active(body, [t is not None for t in ts[2:]], 1)
    types = [r.type for r in op.results]
    types += [t for t, on in zip(types, active) if on]
    operands = [lo, hi, *state, *_tangents_of(state, ts[2:], active)]
    results = _emit_control(op, operands, [region.finish(active)], types)
    return _split(results, len(op.results), active)


def _split(
    results: list[Value], n: int, active: Sequence[bool]
) -> tuple[list[Value], list[Tangent]]:
    carried = iter(results[n:])
    return results[:n], [next(carried) if on else None for on in active]


_CONTROL = {
    "cond": _cond,
    "while": _while,
    "for": _for,
    "custom_jvp": custom.jvp_tangent,
    "custom_vjp": custom.vjp_tangent,
}


def jvp_function(fn: Function, wrt: Sequence[int]) -> Function:
    """fn's JVP as a Function: (params, one tangent per parameter in `wrt`) ->
    (results, one tangent per result; zeros where a result does not depend on them)."""
    builder = Builder()
    with building(builder):
        params = [builder.add_arg(p.type, p.hint) for p in fn.params]
        tangents: list[Tangent] = [None] * len(params)
        for i in wrt:
            p = fn.params[i]
            tangents[i] = builder.add_arg(p.type, f"d{p.hint}" if p.hint else None)
        results, touts = emit_tangent(fn, params, tangents)
        touts = [ops.zeros(r.type) if t is None else t for r, t in zip(results, touts)]
        body = builder.block([*results, *touts])
    return verify(Function(f"{fn.name}_jvp", body))
