"""Batching: an IR -> IR transformation that maps a function over a new leading axis.

Some arguments carry an extra leading axis of length `size`; every op that
touches one of them is rewritten to act on all `size` slices at once (the batch
axis is kept in front), and ops that touch none are emitted once, unbatched.
This is how a Jacobian is computed in one compiled function: the tangent
function (or the cotangent function) batched over the basis directions, with
the primal computation shared by all of them; the unit directions stay sparse
while the ops allow it (banded.py). It is also `adjit.vmap`.

Index operands may depend on the batched arguments (x[argsort(x)]): each slice
then gathers with its own indices. The bounds of `for` loops must not. A `cond`
whose predicate does runs both branches and selects per slice; a `while` whose
condition does runs until every slice is done, each slice keeping its state
once its own condition fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import UnsupportedError
from ..ir.core import Block, Function, Op, Value
from ..ir.indexing import Dynamic, Slice, indexed_shape
from ..ir.primitives_linalg import LINALG
from ..ir.types import TapeType, TensorType
from . import ops
from .banded import Banded, banded_rule
from .builder import Builder, building, current, describe_location
from .inlining import inline_op

Batched = Value | Banded


def emit_batched(
    fn: Function, args: Sequence[Batched], batched: Sequence[bool], size: int
) -> tuple[list[Value], list[bool]]:
    """Emit fn mapped over the leading axis of the `batched` args into the current builder.

    Batched args may be `Banded`. Returns fn's results and whether each is
    batched (has the leading axis).
    """
    results, flags = _emit_block(fn.body, args, batched, size)
    return [r.dense() if isinstance(r, Banded) else r for r in results], flags


def _emit_block(
    block: Block, args: Sequence[Batched], batched: Sequence[bool], n: int
) -> tuple[list[Batched], list[bool]]:
    env: dict[Value, Batched] = dict(zip(block.args, args))
    bat = {a for a, on in zip(block.args, batched) if on}
    for op in block.ops:
        flags = [v in bat for v in op.operands]
        if not any(flags):  # untouched by the batch: emitted once
            inline_op(op, env)
            continue
        xs = [env[v] for v in op.operands]
        sparse = not op.regions and any(isinstance(x, Banded) for x in xs)
        out = banded_rule(op, xs, flags) if sparse else None
        if out is not None:
            outs, out_flags = [out], [True]
        else:
            xs = [x.dense() if isinstance(x, Banded) else x for x in xs]
            for v, x in zip(op.operands, xs):
                env[v] = x  # made dense once
            if op.regions:
                outs, out_flags = _CONTROL[op.name](op, xs, flags, n)
            else:
                rule = _RULES.get(op.name, _elementwise)
                outs, out_flags = [rule(op, xs, flags, n)], [True]
        env.update(zip(op.results, outs))
        bat.update(r for r, on in zip(op.results, out_flags) if on)
    return [env[r] for r in block.results], [r in bat for r in block.results]


def _unsupported(what: str, op: Op) -> UnsupportedError:
    return UnsupportedError(
        f"cannot batch {op.name}: {what} depends on the batched input" + describe_location(op.loc)
    )


def _emit(op: Op, operands: Sequence[Value], **attrs: object) -> Value:
    return current().emit(op.name, operands, {**op.attrs, **attrs}, op.loc)


def _pad(x: Value, rank: int) -> Value:
    """Batched x (n, *s) as (n, 1, ..., 1, *s) of `rank` dims: its batch axis then
    lines up with the front when broadcast against unbatched operands."""
    n, *core = x.type.shape
    return ops.reshape(x, (n, *(1,) * (rank - 1 - len(core)), *core))


def materialize(x: Value, batched: bool, n: int) -> Value:
    """x with the batch axis: an unbatched x repeated n times."""
    if batched:
        return x
    if isinstance(x.type, TapeType):
        return _batched_tape(x, n)
    return ops.broadcast_to(x, (n, *x.type.shape))


def _batched_tape(x: Value, n: int) -> Value:
    """An empty tape (a loop's record, made before the loop) as one of batched elements.

    A tape that is a region's argument is a loop's state: the loop's fixed point
    of batched state batches it, and its initial value, an empty tape, is made
    batched here at the loop; within the region a fresh tape stands for it while
    the fixed point is sought."""
    b = current()
    made = next((op for op in reversed(b.ops) if x in op.results), None)
    if made is None and x in b.args:
        return ops.tape_new(_batched_type(x.type, n).element, 0)
    if made is None or made.name != "tape_new":
        raise UnsupportedError(
            "cannot batch a loop's record of states written before the batched values "
            "reached it" + describe_location(made.loc if made else None)
        )
    return ops.tape_new(_batched_type(x.type, n).element, made.operands[0], made.loc)


# ------------------------------------------------------------------ rules
# A rule takes the op, its operands (batched ones with the leading axis), which
# are batched, and n; it returns the batched result.


def _elementwise(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    rank = op.result.type.ndim + 1
    return _emit(op, [_pad(x, rank) if on else x for x, on in zip(xs, flags)])


def _reduce(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    return _emit(op, xs, axes=tuple(a + 1 for a in op.attrs["axes"]))


def _broadcast(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    shape = op.attrs["shape"]
    return ops.broadcast_to(_pad(xs[0], len(shape) + 1), (n, *shape))


def _reshape(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    return ops.reshape(xs[0], (n, *op.attrs["shape"]))


def _transpose(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    return ops.transpose(xs[0], (0, *(p + 1 for p in op.attrs["perm"])))


def _convert(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    return _emit(op, xs)


def _matmul(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    (a, b), (fa, fb) = xs, flags
    out_shape = (n, *op.result.type.shape)
    # one matrix product for all the slices where the layout allows it
    if fa and not fb and b.type.ndim <= 2:  # (n, ..., k) @ B: rows stacked
        k = a.type.shape[-1]
        return ops.reshape(ops.matmul(ops.reshape(a, (a.type.size // k, k)), b), out_shape)
    if fb and not fa and a.type.ndim == 2 and b.type.ndim == 2:  # A @ v_i = (v @ A^T)_i
        return ops.matmul(b, ops.transpose(a, (1, 0)))
    core_a = a.type.ndim - fa
    core_b = b.type.ndim - fb
    if core_a == 1 or core_b == 1:
        return _vector_product(a, b, fa, fb, core_a, core_b)
    # line the batch axis up in front, multiply matrices
    rank = max(core_a, core_b) + 1
    a = _pad(a, rank) if fa else a
    b = _pad(b, rank) if fb else b
    return ops.reshape(ops.matmul(a, b), out_shape)


def _vector_product(a: Value, b: Value, fa: bool, fb: bool, core_a: int, core_b: int) -> Value:
    """A batch of products with a vector, as a product of elements summed over the
    shared axis: one fused loop nest, not a BLAS call per small slice."""
    if core_b == 1:  # (..., m, k) @ (k,): sum over the last axis
        if fb:
            b = _pad(b, core_a + 1)
        return ops.reduce(
            "reduce_sum", ops.elementwise("mul", a, b), (max(a.type.ndim, b.type.ndim) - 1,)
        )
    # (k,) @ (..., k, p): sum over the second-to-last axis
    k = a.type.shape[-1]
    a = ops.reshape(a, (*a.type.shape[:-1], k, 1))
    if fa:
        a = _pad(a, core_b + 1)
    product = ops.elementwise("mul", a, b)
    return ops.reduce("reduce_sum", product, (product.type.ndim - 2,))


def _concatenate(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    values = [materialize(x, on, n) for x, on in zip(xs, flags)]
    return _emit(op, values, axis=op.attrs["axis"] + 1)


def _batched_index(op: Op, x_shape: tuple[int, ...], index: Sequence[Value], n: int):
    """The index spec with the batch axis in front, the indexed shape, and where
    NumPy puts the batch axis in it (not in front when advanced indices are split
    by a slice: they then move to the front)."""
    spec = (Slice(0, n, 1), *op.attrs["index"])
    probe = max((*x_shape, *(d for v in index for d in v.type.shape), n)) + 2
    shapes = [v.type.shape for v in index]
    probed = indexed_shape((probe, *x_shape), (Slice(0, probe, 1), *spec[1:]), shapes)
    return spec, indexed_shape((n, *x_shape), spec, shapes), probed.index(probe)


def _move_to_front(x: Value, axis: int) -> Value:
    perm = [axis, *(i for i in range(x.type.ndim) if i != axis)]
    return ops.transpose(x, perm)


def _move_from_front(x: Value, axis: int) -> Value:
    perm = list(range(1, x.type.ndim))
    perm.insert(axis, 0)
    return ops.transpose(x, perm)


def _per_slice_index(
    op: Op, index: Sequence[Value], flags: Sequence[bool], n: int
) -> tuple[tuple, list[Value]]:
    """Spec and index operands of an op whose index operands depend on the batch
    (x[argsort(x)], say): an iota over the batch joins the advanced indices in
    front, and each batched index is padded so that its batch axis lines up with
    it. Slices before the advanced block become index ranges of their own axes,
    so that the block, and with it the batch axis, comes first (NumPy keeps an
    unbroken block in place; a block split by slices is not supported)."""
    spec = op.attrs["index"]
    advanced = [isinstance(e, (Dynamic, np.ndarray, int)) for e in spec]
    first = advanced.index(True)
    last = len(spec) - 1 - advanced[::-1].index(True)
    if not all(advanced[first : last + 1]) or not all(isinstance(e, Slice) for e in spec[:first]):
        raise _unsupported("an index (with slices or new axes between advanced indices)", op)
    cores = [v.type.shape[1:] if on else v.type.shape for v, on in zip(index, flags)]
    block = np.broadcast_shapes(*cores, *(e.shape for e in spec if isinstance(e, np.ndarray)))
    shape = op.operands[0].type.shape
    ranges = []
    for d, e in enumerate(spec[:first]):
        picked = np.arange(shape[d])[e.to_slice()]
        ranges.append(picked.reshape((1,) * d + (-1,) + (1,) * (first - 1 - d + len(block))))
    rank = 1 + first + len(block)
    padded = [_pad(v, rank) if on else v for v, on in zip(index, flags)]
    batch = ops.iota((n, *(1,) * (rank - 1)), 0)
    return (Dynamic(len(index)), *ranges, *spec[first:]), [*padded, batch]


def _gather(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    x, *index = xs
    if any(flags[1:]):
        spec, index = _per_slice_index(op, index, flags[1:], n)
        x = materialize(x, flags[0], n)
        return current().emit("gather", [x, *index], {"index": spec}, op.loc)
    spec, _, at = _batched_index(op, x.type.shape[1:], index, n)
    out = current().emit("gather", [x, *index], {"index": spec}, op.loc)
    return _move_to_front(out, at) if at else out


def _scatter(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    x, v, *index = xs
    x = materialize(x, flags[0], n)
    if any(flags[2:]):
        spec, index = _per_slice_index(op, index, flags[2:], n)
        rank = len(indexed_shape(x.type.shape, spec, [i.type.shape for i in index]))
        v = _pad(v, rank) if flags[1] else v
        return current().emit(op.name, [x, v, *index], {"index": spec}, op.loc)
    spec, target, at = _batched_index(op, x.type.shape[1:], index, n)
    if at:  # the values, batch axis in front, moved to where the index puts it
        core = target[:at] + target[at + 1 :]
        v = ops.broadcast_to(_pad(v, len(core) + 1) if flags[1] else v, (n, *core))
        v = _move_from_front(v, at)
    elif flags[1]:
        v = _pad(v, len(target))
    return current().emit(op.name, [x, v, *index], {"index": spec}, op.loc)


def _scan(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    values = [materialize(x, on, n) for x, on in zip(xs, flags)]
    return _emit(op, values, axis=op.attrs["axis"] + 1)


def _tape_position(op: Op, flags: Sequence[bool]) -> None:
    if flags[1]:
        raise UnsupportedError(
            f"cannot batch {op.name}: the position in the record of a loop's states "
            "differs across the batch (reverse mode through a while loop whose trip "
            "count differs across the batch); differentiate inside the map instead: "
            "adjit.grad(lambda a: adjit.vmap(f)(a).sum())" + describe_location(op.loc)
        )


def _tape_write(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    _tape_position(op, flags)
    tape, i, v = xs
    v = materialize(v, flags[2], n)
    return ops.tape_write(materialize(tape, flags[0], n), i, v, op.loc)


def _tape_read(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    _tape_position(op, flags)
    return ops.tape_read(*xs, loc=op.loc)


def _tape_add(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    return ops.tape_add(*(materialize(x, on, n) for x, on in zip(xs, flags)), op.loc)


def _linalg(op: Op, xs: Sequence[Value], flags: Sequence[bool], n: int) -> Value:
    # the linear-algebra primitives map over leading axes that all operands share
    return _emit(op, [materialize(x, on, n) for x, on in zip(xs, flags)])


_RULES: dict[str, Callable[[Op, Sequence[Value], Sequence[bool], int], Value]] = {
    "tape_add": _tape_add,
    "tape_write": _tape_write,
    "tape_read": _tape_read,
    "reduce_sum": _reduce,
    "reduce_prod": _reduce,
    "reduce_max": _reduce,
    "reduce_min": _reduce,
    "broadcast": _broadcast,
    "reshape": _reshape,
    "transpose": _transpose,
    "convert": _convert,
    "matmul": _matmul,
    "concatenate": _concatenate,
    "gather": _gather,
    "scatter": _scatter,
    "scatter_add": _scatter,
    "linear_scan": _scan,
    "argsort": _scan,
    **dict.fromkeys(LINALG, _linalg),
}


# ------------------------------------------------------------------ control flow


class _Region:
    """A region re-traced with some of its arguments batched."""

    def __init__(self, block: Block, batched: Sequence[bool], n: int) -> None:
        self.n = n
        self.builder = Builder(current())
        with building(self.builder):
            args = [
                self.builder.add_arg(_batched_type(a.type, n) if on else a.type, a.hint)
                for a, on in zip(block.args, batched)
            ]
            self.results, self.batched = _emit_block(block, args, batched, n)

    def finish(self, batched: Sequence[bool]) -> Block:
        """The block yielding its results, batched where `batched` says."""
        with building(self.builder):
            results = [
                materialize(r, was, self.n) if on else r
                for r, was, on in zip(self.results, self.batched, batched)
            ]
            block = self.builder.block(results)
        assert not self.builder.captures, "regions are isolated"
        return block


def _batched_type(t: TensorType, n: int) -> TensorType:
    return t.with_shape((n, *t.shape))


def _emit_control(
    op: Op, operands: Sequence[Value], regions: Sequence[Block], batched: Sequence[bool], n: int
) -> list[Value]:
    b = current()
    types = [_batched_type(r.type, n) if on else r.type for r, on in zip(op.results, batched)]
    results = tuple(Value(t, r.hint) for t, r in zip(types, op.results))
    operands = tuple(b.local(v) for v in operands)
    b.append(Op(op.name, operands, results, op.attrs, tuple(regions), op.loc))
    return list(results)


def _cond(op: Op, xs: list[Value], flags: list[bool], n: int) -> tuple[list[Value], list[bool]]:
    if flags[0]:
        return _both_branches(op, xs, flags, n), [True] * len(op.results)
    branches = [_Region(block, flags[1:], n) for block in op.regions]
    out = [any(r.batched[i] for r in branches) for i in range(len(op.results))]
    regions = [r.finish(out) for r in branches]
    return _emit_control(op, xs, regions, out, n), out


def _both_branches(op: Op, xs: list[Value], flags: list[bool], n: int) -> list[Value]:
    """A cond whose predicate differs across the batch: both branches run on the
    whole batch and each slice takes its own branch's result (a select)."""
    pred, *values = xs
    outs = []
    for block in op.regions:
        results, batched = _emit_block(block, values, flags[1:], n)
        outs.append([_dense(r, on, n) for r, on in zip(results, batched)])
    selected = []
    for a, b in zip(*outs):
        mask = ops.reshape(pred, (n, *(1,) * (a.type.ndim - 1)))
        selected.append(ops.elementwise("select", mask, a, b))
    return selected


def _dense(v: Batched, batched: bool, n: int) -> Value:
    return v.dense() if isinstance(v, Banded) else materialize(v, batched, n)


def _loop(
    op: Op, xs: list[Value], flags: list[bool], n: int, skip: int
) -> tuple[list[Value], list[bool]]:
    """while (skip 0: no leading operands) and for (skip 2: the bounds; the body
    also takes the counter first). The batched state is a fixed point: the init's
    batched values and all the state they reach through the body."""
    if any(flags[:skip]):
        raise _unsupported("a loop bound", op)
    body = op.regions[-1]
    state = flags[skip:]
    lead = [False] * (1 if skip else 0)
    while True:
        region = _Region(body, lead + state, n)
        reached = [a or r for a, r in zip(state, region.batched)]
        if reached == state:
            break
        state = reached
    regions = [region.finish(state)]
    if op.name == "while":
        test = _Region(op.regions[0], state, n)
        if test.batched[0]:
            return _masked_while(op, xs, flags, n)
        regions.insert(0, test.finish([False]))
    operands = [
        *xs[:skip],
        *(materialize(x, on, n) if s else x for x, on, s in zip(xs[skip:], flags[skip:], state)),
    ]
    return _emit_control(op, operands, regions, state, n), state


def _masked_while(
    op: Op, xs: list[Value], flags: list[bool], n: int
) -> tuple[list[Value], list[bool]]:
    """A while loop whose condition differs across the batch: it runs while any
    slice's condition holds, and a slice whose condition is false keeps its state."""
    test, body = op.regions
    state = [materialize(x, on, n) for x, on in zip(xs, flags)]
    everything = [True] * len(state)

    def region(build: Callable[[list[Value], Value], list[Value]]) -> Block:
        builder = Builder(current())
        with building(builder):
            args = [builder.add_arg(v.type) for v in state]
            ((pred, on),) = zip(*_emit_block(test, args, everything, n))
            block = builder.block(build(args, _dense(pred, on, n)))
        assert not builder.captures, "regions are isolated"
        return block

    def step(args: list[Value], pred: Value) -> list[Value]:
        outs, batched = _emit_block(body, args, everything, n)
        kept = []
        for arg, out, on in zip(args, outs, batched):
            mask = ops.reshape(pred, (n, *(1,) * (arg.type.ndim - 1)))
            kept.append(ops.elementwise("select", mask, _dense(out, on, n), arg))
        return kept

    any_running = region(lambda args, pred: [ops.reduce("reduce_max", pred, (0,))])
    regions = [any_running, region(step)]
    return _emit_control(op, state, regions, everything, n), everything


def _custom(op: Op, xs: list[Value], flags: list[bool], n: int) -> tuple[list[Value], list[bool]]:
    """custom_vjp/custom_jvp with every operand and region value batched: a later
    reverse pass feeds bwd cotangents whose batching is not known now."""
    xs = [materialize(x, on, n) for x, on in zip(xs, flags)]
    regions = [
        _Region(block, [True] * len(block.args), n).finish([True] * len(block.results))
        for block in op.regions
    ]
    out = [True] * len(op.results)
    return _emit_control(op, xs, regions, out, n), out


_CONTROL = {
    "custom_vjp": _custom,
    "custom_jvp": _custom,
    "cond": _cond,
    "while": lambda op, xs, flags, n: _loop(op, xs, flags, n, 0),
    "for": lambda op, xs, flags, n: _loop(op, xs, flags, n, 2),
}
