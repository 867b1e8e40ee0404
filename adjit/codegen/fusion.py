"""Fusion planning: which values of a block are inlined into their consumers' loops.

Element-wise ops, conversions, broadcasts, iota, transposes, gathers and
unit-dim reshapes are index expressions. A value of such an op is *inlined*
(recomputed inside each consumer's loop) when that repeats no work: one consumer
iterating over as many elements, or an op that is only index arithmetic.
Otherwise it is materialized into an array by one loop nest. The plan also
records each value's last use, counting inlined uses where they are evaluated,
so that the generator knows when a buffer may be overwritten in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.core import Block, Op, Value
from ..ir.primitives import PRIMITIVES

INDEX_ONLY = {"broadcast", "iota", "transpose", "gather", "convert", "constant"}


def _unit_reshape(op: Op) -> bool:
    """A reshape that only inserts or drops size-1 dims: an index remap."""
    (x,) = op.operands
    return [d for d in x.type.shape if d != 1] == [d for d in op.result.type.shape if d != 1]


def fusible(op: Op) -> bool:
    if op.name == "constant":
        return op.result.type.size == 1
    if op.name == "reshape":
        return _unit_reshape(op)
    return PRIMITIVES[op.name].kind == "elementwise" or op.name in INDEX_ONLY


def _loop_consumer(op: Op, operand_index: int) -> bool:
    """Does `op` read this operand element by element inside a loop it emits?"""
    if fusible(op) or PRIMITIVES[op.name].kind == "reduction":
        return not (op.name == "gather" and operand_index > 0)
    if op.name in ("scatter", "scatter_add"):
        return operand_index == 1  # the value written; the target needs a buffer
    return op.name == "concatenate"


@dataclass
class BlockPlan:
    inline: set[Value] = field(default_factory=set)
    # 2-D transposes read only by matmuls: passed to BLAS as `x.T` views, never copied
    transposed_views: set[Value] = field(default_factory=set)
    last_use: dict[Value, int] = field(default_factory=dict)  # op index; len(ops) = results


def plan_block(block: Block) -> BlockPlan:
    producers = {r: op for op in block.ops for r in op.results}
    consumers: dict[Value, list[tuple[int, Op, int]]] = {}
    for i, op in enumerate(block.ops):
        for j, v in enumerate(op.operands):
            consumers.setdefault(v, []).append((i, op, j))
    plan = BlockPlan()
    returned = set(block.results)
    for op in block.ops:
        if not fusible(op):
            continue
        v = op.result
        uses = consumers.get(v, [])
        if (
            op.name == "transpose"
            and op.operands[0] not in plan.inline  # a view needs an array to view
            and _matrix_view(op, uses, returned)
        ):
            plan.transposed_views.add(v)
            continue
        if v in returned or not uses or not all(_loop_consumer(c, j) for _, c, j in uses):
            continue
        if v.type.ndim == 0 and op.name != "constant" and len(uses) > 1:
            continue
        cheap = op.name in INDEX_ONLY or op.name == "reshape"
        same_size = all(c.results[0].type.size == v.type.size or reduces(c) for _, c, _ in uses)
        if cheap or (len(uses) == 1 and same_size):
            plan.inline.add(v)

    _keep_work_unrepeated(block, plan, consumers)

    # An inlined value is evaluated where its consumers are, so its operands are
    # live until then (this keeps in-place buffer reuse safe).
    def effective_uses(v: Value) -> list[int]:
        positions = []
        for i, c, _ in consumers.get(v, []):
            if c.results and (c.results[0] in plan.inline or c.results[0] in plan.transposed_views):
                positions.extend(effective_uses(c.results[0]))
            else:
                positions.append(i)
        return positions

    for v in list(consumers) + list(producers):
        uses = effective_uses(v)
        plan.last_use[v] = max(uses, default=-1)
    for v in block.results:
        plan.last_use[v] = len(block.ops)
    return plan


def _keep_work_unrepeated(
    block: Block, plan: BlockPlan, consumers: dict[Value, list[tuple[int, Op, int]]]
) -> None:
    """Materialize inlined arithmetic that an index-only consumer would carry into a
    larger loop: cos(x) of a vector, reshaped and broadcast into a matrix, would be
    computed once per matrix element. Consumers are settled first (reverse order)."""
    evaluated: dict[Value, int] = {}  # loop size where an inlined value is computed
    for op in reversed(block.ops):
        v = op.results[0] if op.results else None
        if v not in plan.inline:
            continue
        sizes = []
        for _, c, _ in consumers.get(v, []):
            r = c.results[0]
            if r in plan.inline:
                sizes.append(evaluated[r])
            else:
                sizes.append(
                    v.type.size if reduces(c) or c.name.startswith("scatter") else r.type.size
                )
        evaluated[v] = max(sizes, default=v.type.size)
        cheap = op.name in INDEX_ONLY or op.name == "reshape"
        if not cheap and evaluated[v] > v.type.size:
            plan.inline.discard(v)
            evaluated[v] = v.type.size


def _matrix_view(op: Op, uses: list[tuple[int, Op, int]], returned: set[Value]) -> bool:
    """A swap of the last two axes that only matrix products read (BLAS takes it transposed)."""
    n = op.result.type.ndim
    matrix = n >= 2 and tuple(op.attrs["perm"]) == (*range(n - 2), n - 1, n - 2)
    only_products = bool(uses) and all(c.name == "matmul" for _, c, _ in uses)
    return matrix and only_products and op.result not in returned


def reduces(op: Op) -> bool:
    return PRIMITIVES[op.name].kind == "reduction"
