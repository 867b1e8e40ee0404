"""Derivative rules of each primitive, keyed by name: forward (JVP) and reverse (VJP).

A primitive's two rules sit side by side. A forward rule takes the op, its
operands `xs`, its result `out` and the operands' tangents `ts` (None: zero)
and returns the result's tangent (None: zero). A reverse rule takes the
cotangent `ct` of an op's result, the op, its operands `xs`, its result `out`
(values of the function being built) and which operands `need` a cotangent,
and returns one cotangent per operand, None where there is none (index
operands, conditions, constants). Cotangents computed but not needed are
dropped by dead-code elimination; rules skip them where that saves work.
Rules build IR through `ops`, like user code, so the adjoint is ordinary IR.

Element-wise primitives have no hand-written rule: their partials come from
their SymPy expressions (derivatives.py), for both modes. Primitives whose
results carry no derivative (comparisons, logic, iota) are listed in
NOT_DIFFERENTIABLE. Control flow is transformed by the passes themselves
(forward.py, reverse.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..ir.core import Op, Value
from ..ir.indexing import Dynamic, Slice, indexed_shape
from ..ir.primitives import ZERO_DERIVATIVE
from . import derivatives, ops, rules_linalg
from .builder import current

Cotangents = tuple[Value | None, ...]
Rule = Callable[[Value, Op, Sequence[Value], Value, Sequence[bool]], Cotangents]
Tangents = Sequence[Value | None]
JvpRule = Callable[[Op, Sequence[Value], Value, Tangents], Value | None]


def unbroadcast(ct: Value, shape: tuple[int, ...]) -> Value:
    """Sum `ct` over the dimensions that broadcasting added to reach its shape."""
    if ct.type.shape == tuple(shape):
        return ct
    lead = ct.type.ndim - len(shape)
    axes = list(range(lead))
    axes += [lead + i for i, d in enumerate(shape) if d == 1 and ct.type.shape[lead + i] != 1]
    summed = ops.reduce("reduce_sum", ct, axes) if axes else ct
    return ops.reshape(summed, shape)


def _keepdims(v: Value, shape: tuple[int, ...], axes: Sequence[int]) -> Value:
    """A reduced value broadcast back to the unreduced `shape`."""
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    return ops.broadcast_to(ops.reshape(v, kept), shape)


def _is_one(v: Value) -> bool:
    known = current().consts.get(v)
    return known is not None and bool(np.all(known == 1))


def times(ct: Value, p: Value) -> Value:
    """ct * p, skipping a factor known to be 1 (the seed of grad is the constant 1)."""
    if ct.type.shape == () and _is_one(ct):
        return p
    if p.type.shape == () and _is_one(p):
        return ct
    return ops.elementwise("mul", ct, p)


def _zero(like: Value) -> Value:
    return ops.constant(np.zeros((), like.type.np_dtype))


def _one(like: Value) -> Value:
    return ops.constant(np.ones((), like.type.np_dtype))


def _sum(terms: Sequence[Value | None], shape: tuple[int, ...]) -> Value | None:
    """The sum of the tangent terms that are not None, broadcast to `shape`."""
    present = [t for t in terms if t is not None]
    if not present:
        return None
    acc = present[0]
    for t in present[1:]:
        acc = ops.elementwise("add", acc, t)
    return ops.broadcast_to(acc, shape)


# ------------------------------------------------------------------ element-wise


def elementwise(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    """ct_i = unbroadcast(ct * d out / d x_i): Jacobians are diagonal, never formed."""
    if op.name in ZERO_DERIVATIVE:
        return (None,) * len(xs)
    cts: list[Value | None] = []
    for i, x in enumerate(xs):
        p = derivatives.partial(op.name, i, xs, out) if need[i] else None
        if p is None:
            cts.append(None)
            continue
        c = ct if p == 1 else ops.elementwise("neg", ct) if p == -1 else times(ct, p)
        cts.append(unbroadcast(c, x.type.shape))
    return tuple(cts)


def elementwise_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    """t_out = sum_i d out / d x_i * t_i."""
    if op.name in ZERO_DERIVATIVE:
        return None
    terms = []
    for i, t in enumerate(ts):
        p = derivatives.partial(op.name, i, xs, out) if t is not None else None
        if p is not None:
            terms.append(t if p == 1 else ops.elementwise("neg", t) if p == -1 else times(t, p))
    return _sum(terms, out.type.shape)


def _select(ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]) -> Cotangents:
    c, a, b = xs
    zero = _zero(ct)
    return (
        None,
        unbroadcast(ops.elementwise("select", c, ct, zero), a.type.shape),
        unbroadcast(ops.elementwise("select", c, zero, ct), b.type.shape),
    )


def _select_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    _, ta, tb = ts
    if ta is None and tb is None:
        return None
    a, b = (_zero(out) if t is None else t for t in (ta, tb))
    return ops.broadcast_to(ops.elementwise("select", xs[0], a, b), out.type.shape)


# -------------------------------------------------------------------- reductions


def _reduce_sum(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    (x,) = xs
    return (_keepdims(ct, x.type.shape, op.attrs["axes"]),)


def _extremum_mask(x: Value, out: Value, axes: Sequence[int]) -> tuple[Value, Value]:
    """1.0 where x equals its slice's extremum `out`, and the count of those per slice."""
    chosen = ops.elementwise("eq", x, _keepdims(out, x.type.shape, axes))
    mask = ops.convert(chosen, x.type.dtype)
    return mask, ops.reduce("reduce_sum", mask, axes)


def _reduce_extremum(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    # routed to the selected element; ties share it equally (as the autograd package)
    (x,) = xs
    axes = op.attrs["axes"]
    mask, count = _extremum_mask(x, out, axes)
    share = ops.elementwise("div", ct, count)
    return (ops.elementwise("mul", mask, _keepdims(share, x.type.shape, axes)),)


def _reduce_extremum_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    # the mean of the tangents at the selected elements
    axes = op.attrs["axes"]
    mask, count = _extremum_mask(xs[0], out, axes)
    total = ops.reduce("reduce_sum", ops.elementwise("mul", mask, ts[0]), axes)
    return ops.elementwise("div", total, count)


def _prod_partials(x: Value, axes: Sequence[int]) -> Value:
    """d prod / d x_i: the product of the others in x_i's slice.

    out / x_i is NaN at a zero, so: no zero in the slice -> out / x_i; one zero ->
    the product of the nonzeros at the zero, 0 elsewhere; two or more -> 0.
    """
    shape = x.type.shape
    zero, one = _zero(x), _one(x)
    is_zero = ops.elementwise("eq", x, zero)
    nonzero = ops.elementwise("select", is_zero, one, x)
    others = _keepdims(ops.reduce("reduce_prod", nonzero, axes), shape, axes)
    zeros = _keepdims(
        ops.reduce("reduce_sum", ops.convert(is_zero, x.type.dtype), axes), shape, axes
    )
    at_zero = ops.elementwise("select", ops.elementwise("eq", zeros, one), others, zero)
    elsewhere = ops.elementwise(
        "select", ops.elementwise("eq", zeros, zero), ops.elementwise("div", others, nonzero), zero
    )
    return ops.elementwise("select", is_zero, at_zero, elsewhere)


def _reduce_prod(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    (x,) = xs
    axes = op.attrs["axes"]
    return (ops.elementwise("mul", _keepdims(ct, x.type.shape, axes), _prod_partials(x, axes)),)


def _reduce_prod_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    axes = op.attrs["axes"]
    return ops.reduce(
        "reduce_sum", ops.elementwise("mul", _prod_partials(xs[0], axes), ts[0]), axes
    )


# -------------------------------------------------------------------- structural


def _linear_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    """An op linear in its float operands maps tangents as it maps values.

    broadcast, reshape, transpose, reduce_sum, gather, scatter, scatter_add,
    concatenate and float conversions: the op itself, applied to the tangents
    (zeros for operands without one), with the same index operands.
    """
    operands = [
        t if t is not None else ops.zeros(x.type) if x.type.is_float else x for x, t in zip(xs, ts)
    ]
    return current().emit(op.name, operands, op.attrs, loc=op.loc)


def _broadcast(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    return (unbroadcast(ct, xs[0].type.shape),)


def _reshape(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    return (ops.reshape(ct, xs[0].type.shape),)


def _transpose(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    inverse = np.argsort(op.attrs["perm"])
    return (ops.transpose(ct, inverse),)


def _swap_last(v: Value) -> Value:
    n = v.type.ndim
    return ops.transpose(v, (*range(n - 2), n - 1, n - 2))


def _matmul(ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]) -> Cotangents:
    # promote 1-D operands to matrices as NumPy does, then
    # ct_a = ct @ b^T and ct_b = a^T @ ct, summed over broadcast batch dimensions
    a, b = xs
    if a.type.ndim <= 2 and b.type.ndim <= 2 and 1 in (a.type.ndim, b.type.ndim):
        return _matmul_vector(ct, a, b, need)
    a2 = ops.reshape(a, (1, *a.type.shape)) if a.type.ndim == 1 else a
    b2 = ops.reshape(b, (*b.type.shape, 1)) if b.type.ndim == 1 else b
    batch = np.broadcast_shapes(a2.type.shape[:-2], b2.type.shape[:-2])
    ct2 = ops.reshape(ct, (*batch, a2.type.shape[-2], b2.type.shape[-1]))
    ct_a = ct_b = None
    if need[0]:
        ct_a = ops.reshape(_summed_matmul(ct2, _swap_last(b2), a2.type.shape), a.type.shape)
    if need[1]:
        ct_b = ops.reshape(_summed_matmul(_swap_last(a2), ct2, b2.type.shape), b.type.shape)
    return (ct_a, ct_b)


def _summed_matmul(x: Value, y: Value, shape: tuple[int, ...]) -> Value:
    """unbroadcast(x @ y, shape): the cotangent of an operand broadcast over batch dims.

    A batch dim that is summed away is folded into the contracted axis instead:
    sum_s x[s] @ y[s] is one product of x's rows laid side by side with y's
    columns stacked, so the gradient of `Q[None] @ v[:, :, :, None]` with respect to
    Q is one (d, n) @ (n, d) product per component, not n outer products summed."""
    batch = tuple(np.broadcast_shapes(x.type.shape[:-2], y.type.shape[:-2]))
    lead = len(batch) - (len(shape) - 2)
    summed = [i for i in range(len(batch)) if i < lead or (shape[i - lead] == 1 < batch[i])]
    xb = x.type.shape[:-2][-len(batch) :] if len(batch) else ()
    yb = y.type.shape[:-2][-len(batch) :] if len(batch) else ()
    full = len(xb) == len(yb) == len(batch) and all(xb[i] == yb[i] == batch[i] for i in summed)
    if not summed or not full:
        return unbroadcast(ops.matmul(x, y), shape)
    rest = [i for i in range(len(batch)) if i not in summed]
    nb, size = len(batch), int(np.prod([batch[i] for i in summed]))
    m, p, n = x.type.shape[-2], x.type.shape[-1], y.type.shape[-1]
    x2 = ops.transpose(x, (*rest, nb, *summed, nb + 1))  # (rest, m, summed, p)
    x2 = ops.reshape(x2, (*(xb[i] for i in rest), m, size * p))
    y2 = ops.transpose(y, (*rest, *summed, nb, nb + 1))  # (rest, summed, p, n)
    y2 = ops.reshape(y2, (*(yb[i] for i in rest), size * p, n))
    return ops.reshape(ops.matmul(x2, y2), shape)


def _matmul_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    (a, b), (ta, tb) = xs, ts
    return _sum(
        [
            ops.matmul(ta, b) if ta is not None else None,
            ops.matmul(a, tb) if tb is not None else None,
        ],
        out.type.shape,
    )


def _matmul_vector(ct: Value, a: Value, b: Value, need: Sequence[bool]) -> Cotangents:
    """Products with a vector: the cotangents are matrix-vector products and outer
    products (element-wise), never matrix products of an n-by-1 matrix."""

    def outer(u: Value, w: Value) -> Value:  # u[:, None] * w[None, :]
        return ops.elementwise("mul", ops.reshape(u, (*u.type.shape, 1)), w)

    if a.type.ndim == 1 and b.type.ndim == 1:  # dot product: ct is a scalar
        return (times(ct, b) if need[0] else None, times(ct, a) if need[1] else None)
    if b.type.ndim == 1:  # (m, k) @ (k,) -> (m,)
        ct_a = outer(ct, b) if need[0] else None
        ct_b = ops.matmul(_swap_last(a), ct) if need[1] else None
        return (ct_a, ct_b)
    # (k,) @ (k, n) -> (n,)
    ct_a = ops.matmul(b, ct) if need[0] else None
    ct_b = outer(a, ct) if need[1] else None
    return (ct_a, ct_b)


def _concatenate(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    # each operand gets the slice of ct it produced
    axis = op.attrs["axis"]
    full = [Slice(0, d, 1) for d in ct.type.shape]
    cts, start = [], 0
    for x in xs:
        stop = start + x.type.shape[axis]
        full[axis] = Slice(start, stop, 1)
        cts.append(ops.gather(ct, tuple(full)))
        start = stop
    return tuple(cts)


def _gather(ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]) -> Cotangents:
    # scatter-add into zeros: repeated indices accumulate
    x, *index = xs
    spec = op.attrs["index"]
    zeros = ops.zeros(x.type)
    return (ops.scatter(zeros, spec, ct, index, add=True), *(None,) * len(index))


def _scatter(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    # x[idx] = v: overwritten entries of x get nothing, v gets what reached them
    x, v, *index = xs
    spec = op.attrs["index"]
    ct_x = ops.scatter(ct, spec, _zero(ct), index)
    reached = ops.gather(ct, spec, index)
    if any(isinstance(e, (np.ndarray, Dynamic)) for e in spec):
        reached = ops.elementwise("select", _last_writes(x, spec, index), reached, _zero(ct))
    return (ct_x, unbroadcast(reached, v.type.shape), *(None,) * len(index))


def _last_writes(x: Value, spec: tuple, index: Sequence[Value]) -> Value:
    """Which elements of x[spec] = v survive: with repeated indices NumPy keeps the
    last write, so only that element of v reaches the result."""
    region = indexed_shape(x.type.shape, spec, [i.type.shape for i in index])
    size = int(np.prod(region, dtype=np.int64))
    order = ops.reshape(ops.iota((size,), 0), region)
    writer = ops.scatter(ops.zeros(x.type.with_dtype("i64")), spec, order, index)
    return ops.elementwise("eq", ops.gather(writer, spec, index), order)


def _scatter_add(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    x, v, *index = xs
    ct_v = unbroadcast(ops.gather(ct, op.attrs["index"], index), v.type.shape)
    return (ct, ct_v, *(None,) * len(index))


def _convert(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    (x,) = xs
    return (ops.convert(ct, x.type.dtype) if x.type.is_float else None,)


def _shifted(v: Value, axis: int, reverse: bool) -> Value:
    """v[k - 1] along axis, 0 at k = 0 (reverse: v[k + 1], 0 at the end): the
    neighbour a scan step reads."""
    n = v.type.shape[axis]
    zero_shape = v.type.shape[:axis] + (1,) + v.type.shape[axis + 1 :]
    zero = ops.broadcast_to(_zero(v), zero_shape)
    if n == 1:
        return zero
    full = [Slice(0, d, 1) for d in v.type.shape]
    full[axis] = Slice(1, n, 1) if reverse else Slice(0, n - 1, 1)
    kept = ops.gather(v, tuple(full))
    return ops.concatenate([kept, zero] if reverse else [zero, kept], axis)


def _linear_scan(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    # h[k] = a[k] h[k-1] + b[k]: the adjoint runs the other way,
    # g[k] = ct[k] + a[k+1] g[k+1], and then ct_b = g, ct_a[k] = g[k] h[k-1]
    a, _ = xs
    axis, reverse = op.attrs["axis"], op.attrs["reverse"]
    # a scan's first step reads no a: a uniform a (cumsum's ones) is its own shift
    known = current().consts.get(a)
    uniform = known is not None and (known.size == 0 or bool(np.all(known == known.flat[0])))
    a_next = a if uniform else _shifted(a, axis, not reverse)
    g = ops.linear_scan(a_next, ct, axis, not reverse)
    ct_a = ops.elementwise("mul", g, _shifted(out, axis, reverse)) if need[0] else None
    return (ct_a, g)


def _linear_scan_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    # t_h[k] = a[k] t_h[k-1] + (t_a[k] h[k-1] + t_b[k])
    (a, _), (ta, tb) = xs, ts
    axis, reverse = op.attrs["axis"], op.attrs["reverse"]
    drive = _sum(
        [ops.elementwise("mul", ta, _shifted(out, axis, reverse)) if ta is not None else None, tb],
        out.type.shape,
    )
    return None if drive is None else ops.linear_scan(a, drive, axis, reverse)


def _source(ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]) -> Cotangents:
    return ()


JVP_RULES: dict[str, JvpRule] = {
    "tape_write": _linear_jvp,  # the tangent of a tape is the tape of the tangents
    "tape_read": _linear_jvp,
    "tape_add": _linear_jvp,
    "select": _select_jvp,
    "reduce_sum": _linear_jvp,
    "reduce_max": _reduce_extremum_jvp,
    "reduce_min": _reduce_extremum_jvp,
    "reduce_prod": _reduce_prod_jvp,
    "broadcast": _linear_jvp,
    "reshape": _linear_jvp,
    "transpose": _linear_jvp,
    "matmul": _matmul_jvp,
    "concatenate": _linear_jvp,
    "gather": _linear_jvp,
    "scatter": _linear_jvp,
    "scatter_add": _linear_jvp,
    "convert": _linear_jvp,
    "linear_scan": _linear_scan_jvp,
}

VJP_RULES: dict[str, Rule] = {
    "select": _select,
    "reduce_sum": _reduce_sum,
    "reduce_max": _reduce_extremum,
    "reduce_min": _reduce_extremum,
    "reduce_prod": _reduce_prod,
    "broadcast": _broadcast,
    "reshape": _reshape,
    "transpose": _transpose,
    "matmul": _matmul,
    "concatenate": _concatenate,
    "gather": _gather,
    "scatter": _scatter,
    "scatter_add": _scatter_add,
    "convert": _convert,
    "constant": _source,
    "linear_scan": _linear_scan,
}

# linear algebra (solve, cholesky, det, eigh, ...): rules_linalg.py
JVP_RULES.update(rules_linalg.JVP_RULES)
VJP_RULES.update(rules_linalg.VJP_RULES)

# Results are bool or integer: no cotangent ever reaches them.
NOT_DIFFERENTIABLE = frozenset("lt le gt ge eq ne and or not iota argsort".split())

# Ops with regions: the forward pass extends each region with tangents
# (forward.py); the reverse pass differentiates `cond` branch by branch and a
# `for` loop backwards over a record of its states (reverse.py). `custom_vjp` and
# `custom_jvp` carry the user's rules in their regions (custom.py).
REGION_OPS = frozenset(("cond", "while", "for", "custom_vjp", "custom_jvp"))

# The record a loop keeps for its reverse sweep (loop_tape.py). Linear in the
# tapes: forward rules above (the tangent of a tape is a tape of tangents); the
# reverse pass handles them itself (reverse.py), as a read's cotangent is added
# into one element of the tape's cotangent, in place, not into a new tape.
TAPE_OPS = frozenset(("tape_new", "tape_write", "tape_read", "tape_add"))


def vjp_rule_for(name: str, kind: str) -> Rule | None:
    """The reverse rule of primitive `name` (None if it has none)."""
    if name in VJP_RULES:
        return VJP_RULES[name]
    if kind == "elementwise" and name not in NOT_DIFFERENTIABLE:
        return elementwise
    return None


def jvp_rule_for(name: str, kind: str) -> JvpRule | None:
    """The forward rule of primitive `name` (None if it has none: constants, non-floats)."""
    if name in JVP_RULES:
        return JVP_RULES[name]
    if kind == "elementwise" and name not in NOT_DIFFERENTIABLE:
        return elementwise_jvp
    return None
