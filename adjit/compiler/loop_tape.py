"""Reverse mode through loops whose trip count is known only at run time.

A `while` loop, and a `for` loop whose bounds are traced values (or that asks
for checkpointing), is differentiated in two sweeps. The forward sweep runs the
loop and writes the state each iteration starts from onto a tape (`tape f64[3]`,
one per state position the body changes; ops `tape_new`, `tape_write`,
`tape_read`); a `while` also counts its iterations. The reverse sweep is a `for`
loop over the trip count, running backwards: iteration j reads the state of
step n-1-j off the tape, recomputes the body from it and pulls the state's
cotangent back through the body's adjoint (reverse.py). Branches the body takes
need no record of their own: the body is recomputed from the state it started
from, so each `cond` in it picks the same branch again.

Why a tape that grows, not a first pass that counts: counting the trip count of
a `while` before recording would run the whole loop twice; a tape the generated
code grows by doubling costs at most one extra copy of each element and twice
the memory, and keeps one forward sweep. A `for` loop knows its trip count when
it starts, so its tape is allocated at that size and never grows.

Checkpointing (`checkpoint=k` on `while_loop` / `fori_loop`) trades time for
memory: the forward sweep keeps every k-th state only (n/k states), and the
reverse sweep, segment by segment from the last, restores the segment's first
state, re-runs its (at most k) iterations onto a k-element tape, and runs their
adjoint. Peak memory is n/k + k states instead of n (k near sqrt(n) is best),
for one more forward sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..ir.core import Block, Function, Op, Value
from ..ir.types import TapeType, TensorType
from . import ops
from .builder import Builder, building, current
from .inlining import inline_op

I64 = TensorType("i64", ())
WHILE_CAPACITY = 16  # a while loop's tape starts this long and doubles


@dataclass
class Record:
    """What the forward sweep of a loop kept for its reverse sweep."""

    tapes: list[Value]  # one per position in `positions`
    positions: list[int]  # the state positions recorded
    count: Value  # the trip count, i64[]
    base: Value | None  # a `for` loop's lower bound: its counter is base + step
    every: int  # states kept: one every `every` steps


class _Loop:
    """A `while` or `for` op seen as: a body over (counter?, *state)."""

    def __init__(self, op: Op) -> None:
        self.op = op
        self.body = op.regions[-1]
        self.counted = op.name == "for"
        self.skip = 1 if self.counted else 0  # body arguments before the state
        self.first = 2 if self.counted else 0  # operands before the state
        self.state = op.operands[self.first :]
        changed = [
            k for k, r in enumerate(self.body.results) if r is not self.body.args[self.skip + k]
        ]
        # A tape in the state (an inner gradient's record, or a record of
        # cotangents) is not recorded in turn: the body writes each element at
        # one step, and what it reads back (a checkpoint slot it rewrites, a
        # cotangent it adds to) flows into linear ops only, on which no
        # derivative depends; the tape's final value stands in at every step.
        self.varying = [k for k in changed if not isinstance(self.state[k].type, TapeType)]
        self.appended = [k for k in changed if isinstance(self.state[k].type, TapeType)]

    def run_body(self, counter: Value | None, state: Sequence[Value]) -> list[Value]:
        inner = dict(zip(self.body.args, [counter][: self.skip] + list(state)))
        for op in self.body.ops:
            inline_op(op, inner)
        return [inner[r] for r in self.body.results]

    def body_function(self) -> Function:
        return Function(self.op.name, self.body)


def every(op: Op) -> int:
    """The checkpoint interval a loop asks for (1: keep every state)."""
    return int(op.attrs.get("checkpoint", 1))


def record(op: Op, env: dict[Value, Value]) -> Record:
    """Emit the forward sweep of loop `op`, mapping its results in env."""
    loop = _Loop(op)
    state = [env[v] for v in loop.state]
    k = every(op)
    if k == 1:  # a checkpoint restores the whole state; otherwise what the adjoint reads
        loop.varying = _read_by_adjoint(loop)
    if loop.counted:
        lo, hi = (env[v] for v in op.operands[:2])
        count = ops.elementwise("maximum", ops.elementwise("sub", hi, lo), 0)
        final, tapes = _record_counted(loop, state, lo, count, k)
    else:
        final, tapes, count = _record_while(loop, state, k)
        lo = None
    env.update(zip(op.results, final))
    return Record(tapes, loop.varying, count, lo, k)


def adjoint(
    op: Op, env: dict[Value, Value], out_cts: Sequence[Value | None], rec: Record
) -> list[Value | None]:
    """The cotangents of loop `op`'s operands, from those of its results.

    `state` below is what enters the loop, except for tapes in it: their final
    values (see _Loop)."""
    loop = _Loop(op)
    loop.varying = rec.positions
    state = [env[v] for v in loop.state]
    for k in loop.appended:
        state[k] = env[op.results[k]]
    floats = [k for k, s in enumerate(state) if s.type.is_float]
    cts = [out_cts[k] if out_cts[k] is not None else ops.zeros(state[k].type) for k in floats]
    if rec.every == 1:
        cts = _replay(loop, rec.tapes, rec.count, rec.base, state, floats, cts)
    else:
        cts = _replay_segments(loop, rec, state, floats, cts)
    operand_cts: list[Value | None] = [None] * len(op.operands)
    for k, ct in zip(floats, cts):
        operand_cts[loop.first + k] = ct
    return operand_cts


# ------------------------------------------------------------ forward sweep


def _read_by_adjoint(loop: _Loop) -> list[int]:
    """The changing state positions the body's adjoint reads: only those are taped
    (Newton's previous iterate, an event's last state before it, are not)."""
    from .reverse import emit_adjoint

    floats = [k for k, v in enumerate(loop.state) if v.type.is_float]
    builder = Builder(current())
    with building(builder):  # a draft, thrown away
        args = [builder.add_arg(a.type) for a in loop.body.args]
        seeds = [builder.add_arg(v.type) if v.type.is_float else None for v in loop.state]
        _, grads = emit_adjoint(loop.body_function(), args, seeds, [loop.skip + k for k in floats])
    live = set(grads)
    for op in reversed(builder.ops):
        if any(r in live for r in op.results):
            live.update(op.operands)
    return [k for k in loop.varying if args[loop.skip + k] in live]


def _keep(loop: _Loop, tapes: list[Value], step: Value, state: list[Value], k: int):
    """The tapes with the state starting `step` written (when step is a multiple of k)."""
    if k == 1:
        return [ops.tape_write(t, step, state[j], loop.op.loc) for t, j in zip(tapes, loop.varying)]
    slot = ops.elementwise("floordiv", step, k)
    first = ops.elementwise("eq", ops.elementwise("mod", step, k), 0)
    kept = []
    for t, j in zip(tapes, loop.varying):  # rewrite the slot's value unless it starts
        value = ops.elementwise("select", first, state[j], ops.tape_read(t, slot, loop.op.loc))
        kept.append(ops.tape_write(t, slot, value, loop.op.loc))
    return kept


def _new_tapes(loop: _Loop, state: list[Value], capacity: ops.Operand) -> list[Value]:
    return [ops.tape_new(state[j].type, capacity, loop.op.loc) for j in loop.varying]


def _record_counted(
    loop: _Loop, state: list[Value], base: Value, count: Value, k: int
) -> tuple[list[Value], list[Value]]:
    """`for m in range(count)` of the body at counter base + m, taped."""
    n = len(state)
    capacity = ops.elementwise("floordiv", ops.elementwise("add", count, k - 1), k)

    def body(m: Value, args: list[Value]) -> list[Value]:
        xs, tapes = args[:n], args[n:]
        tapes = _keep(loop, tapes, m, xs, k)
        counter = ops.elementwise("add", base, m) if loop.counted else None
        return loop.run_body(counter, xs) + tapes

    out = emit_for(0, count, [*state, *_new_tapes(loop, state, capacity)], body, loop.op.loc)
    return out[:n], out[n:]


def _record_while(
    loop: _Loop, state: list[Value], k: int
) -> tuple[list[Value], list[Value], Value]:
    n = len(state)
    test = loop.op.regions[0]

    def cond(args: list[Value]) -> Value:
        inner = dict(zip(test.args, args[:n]))
        for op in test.ops:
            inline_op(op, inner)
        return inner[test.results[0]]

    def body(args: list[Value]) -> list[Value]:
        xs, c, tapes = args[:n], args[n], args[n + 1 :]
        tapes = _keep(loop, tapes, c, xs, k)
        return [*loop.run_body(None, xs), ops.elementwise("add", c, 1), *tapes]

    zero = ops.as_value(0, I64.np_dtype)
    tapes = _new_tapes(loop, state, WHILE_CAPACITY)
    out = emit_while([*state, zero, *tapes], cond, body, loop.op.loc)
    return out[:n], out[n + 1 :], out[n]


# ------------------------------------------------------------ reverse sweep


def _replay(
    loop: _Loop,
    tapes: list[Value],
    count: Value,
    base: Value | None,
    state: list[Value],
    floats: list[int],
    cts: list[Value],
) -> list[Value]:
    """A `for` loop backwards over `count` taped steps: the state's cotangents
    before the first step, from `cts`, those after the last."""
    from .reverse import emit_adjoint

    fn = loop.body_function()

    def body(j: Value, carried: list[Value]) -> list[Value]:
        step = ops.elementwise("sub", ops.elementwise("sub", count, 1), j)
        values = list(state)  # the fixed positions: as they entered the loop, tapes final
        for t, k in zip(tapes, loop.varying):
            values[k] = ops.tape_read(t, step, loop.op.loc)
        seeds: list[Value | None] = [None] * len(state)
        for k, c in zip(floats, carried):
            seeds[k] = c
        counter = [ops.elementwise("add", base, step)] if loop.counted else []
        _, grads = emit_adjoint(fn, [*counter, *values], seeds, [loop.skip + k for k in floats])
        return grads

    return emit_for(0, count, cts, body, loop.op.loc)


def _replay_segments(
    loop: _Loop, rec: Record, state: list[Value], floats: list[int], cts: list[Value]
) -> list[Value]:
    """Checkpointed reverse sweep: segment by segment from the last, restore its
    first state, re-run it onto a tape of `every` steps, replay that."""
    k = rec.every
    segments = ops.elementwise("floordiv", ops.elementwise("add", rec.count, k - 1), k)

    def body(j: Value, carried: list[Value]) -> list[Value]:
        s = ops.elementwise("sub", ops.elementwise("sub", segments, 1), j)
        start = ops.elementwise("mul", s, k)
        length = ops.elementwise("minimum", ops.elementwise("sub", rec.count, start), k)
        first = list(state)
        for t, p in zip(rec.tapes, loop.varying):
            first[p] = ops.tape_read(t, s, loop.op.loc)
        base = ops.elementwise("add", rec.base, start) if loop.counted else None
        _, tapes = _record_counted(loop, first, base, length, 1)
        return _replay(loop, tapes, length, base, first, floats, carried)

    return emit_for(0, segments, cts, body, loop.op.loc)


# ------------------------------------------------------------ loop builders


def _region(types: Sequence[TensorType], build: Callable[[list[Value]], object]):
    builder = Builder(current())
    with building(builder):
        args = [builder.add_arg(t) for t in types]
        outs = build(args)
        outs = [builder.local(v) for v in (outs if isinstance(outs, list) else [outs])]
    return builder, args, outs


def _blocks(regions: list, carry: list[bool]) -> tuple[list[Block], list[Value]]:
    """Blocks of the regions, each given every value any of them captured as extra
    arguments (yielded unchanged where `carry`); returns them and those values."""
    captured: list[Value] = []
    for builder, _, _ in regions:
        captured.extend(v for v in builder.captures if v not in captured)
    blocks = []
    for (builder, args, outs), carried in zip(regions, carry):
        for v in captured:
            builder.local(v)
        cap_args = [builder.captures[v][1] for v in captured]
        yields = outs + cap_args if carried else outs
        blocks.append(Block(tuple(args + cap_args), tuple(builder.ops), tuple(yields)))
    return blocks, captured


def _append(name: str, operands: list[Value], blocks: list[Block], n: int, loc) -> list[Value]:
    b = current()
    operands = [b.local(v) for v in operands]
    results = tuple(Value(v.type) for v in operands[2 if name == "for" else 0 :])
    b.append(Op(name, tuple(operands), results, {}, tuple(blocks), loc))
    return list(results[:n])


def emit_for(
    lo: ops.Operand,
    hi: ops.Operand,
    init: list[Value],
    body: Callable[[Value, list[Value]], list[Value]],
    loc: str | None = None,
) -> list[Value]:
    """A `for` op: state = body(i, state) for i in range(lo, hi); values the body
    uses from outside are carried along as extra state."""
    region = _region([I64, *(v.type for v in init)], lambda a: body(a[0], a[1:]))
    (block,), captured = _blocks([region], [True])
    bounds = [ops.as_value(b, I64.np_dtype) for b in (lo, hi)]
    return _append("for", [*bounds, *init, *captured], [block], len(init), loc)


def emit_while(
    init: list[Value],
    cond: Callable[[list[Value]], Value],
    body: Callable[[list[Value]], list[Value]],
    loc: str | None = None,
) -> list[Value]:
    """A `while` op: state = body(state) while cond(state)."""
    types = [v.type for v in init]
    regions = [_region(types, cond), _region(types, body)]
    blocks, captured = _blocks(regions, [False, True])
    return _append("while", [*init, *captured], blocks, len(init), loc)
