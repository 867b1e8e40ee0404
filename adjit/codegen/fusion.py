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
# Arithmetic that one consumer may read twice: a repeated `(a - b)` costs nothing
# (LLVM's value numbering merges identical arithmetic on identical loads); a
# materialized one costs a store and a load per element.
REPEATABLE = {"add", "sub", "mul", "neg"}
# Bounds of one inlined expression, in IR ops: nesting depth and total count.
MAX_DEPTH = 32
MAX_SIZE = 256


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
        # `d * d` repeats d's expression in one statement, which LLVM computes once
        one_consumer = len(uses) == 1 or (
            op.name in REPEATABLE and len({id(c) for _, c, _ in uses}) == 1
        )
        if cheap or (one_consumer and same_size):
            plan.inline.add(v)

    _keep_work_unrepeated(block, plan, consumers)
    _bound_expressions(block, plan)

    # An inlined value is evaluated where its consumers are, so its operands are
    # live until then (this keeps in-place buffer reuse safe). Consumers come
    # after their operands: in reverse order, a consumer's position is known.
    def evaluated_at(i: int, c: Op) -> int:
        r = c.results[0] if c.results else None
        return plan.last_use[r] if r in plan.inline or r in plan.transposed_views else i

    for op in reversed(block.ops):
        for r in op.results:
            plan.last_use[r] = max(
                (evaluated_at(i, c) for i, c, _ in consumers.get(r, [])), default=-1
            )
    for v in consumers:
        if v not in producers:  # block arguments and values from enclosing blocks
            plan.last_use[v] = max(evaluated_at(i, c) for i, c, _ in consumers[v])
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


def _bound_expressions(block: Block, plan: BlockPlan) -> None:
    """Materialize an inlined value whose expression would nest more than MAX_DEPTH
    operators or hold more than MAX_SIZE of them: an unrolled loop inlines a chain
    as long as the program, which Python's parser and Numba cannot take (and the
    generator would recurse that deep). The value then heads a new expression."""
    depth: dict[Value, int] = {}
    size: dict[Value, int] = {}
    for op in block.ops:
        v = op.results[0] if op.results else None
        if v not in plan.inline:
            continue
        inlined = [u for u in op.operands if u in plan.inline]
        depth[v] = 1 + max((depth[u] for u in inlined), default=0)
        size[v] = 1 + sum(size[u] for u in inlined)
        if depth[v] > MAX_DEPTH or size[v] > MAX_SIZE:
            plan.inline.discard(v)


def _matrix_view(op: Op, uses: list[tuple[int, Op, int]], returned: set[Value]) -> bool:
    """A swap of the last two axes that only matrix products read (BLAS takes it transposed)."""
    n = op.result.type.ndim
    matrix = n >= 2 and tuple(op.attrs["perm"]) == (*range(n - 2), n - 1, n - 2)
    only_products = bool(uses) and all(c.name == "matmul" for _, c, _ in uses)
    return matrix and only_products and op.result not in returned


def reduces(op: Op) -> bool:
    return PRIMITIVES[op.name].kind == "reduction"
