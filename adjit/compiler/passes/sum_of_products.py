"""Sum the rows before the product: reduce_sum(a @ b, rows) -> (row-sum of a) @ b.

Summing a matrix product over its row axis equals multiplying the summed rows
of the left operand: sum_i (a @ b)[i, :] = (sum_i a[i, :]) @ b. The rewrite
replaces an (m, k) x (k, n) product by a (1, k) x (k, n) one (a negation in
between is carried along). Reverse mode
produces this shape whenever a broadcast operand feeds a matrix product (the
gradient of the means in a Gaussian mixture), so it pays there. The sums are
added in another order, so results may differ in the last bits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from ...ir.core import Block, Function, Op, Value
from ...ir.primitives import infer_type


def _op(name: str, operands: tuple[Value, ...], attrs: dict, loc: str | None) -> Op:
    types = [v.type for v in operands]
    return Op(name, operands, (Value(infer_type(name, types, attrs)),), attrs, (), loc)


def _is_row_sum_of_product(total: Op, product: Op) -> bool:
    if product.name != "matmul":
        return False
    a, b = product.operands
    m = product.result.type
    return (
        m.is_float
        and a.type.ndim == m.ndim >= 2
        and b.type.ndim >= 2
        and tuple(total.attrs["axes"]) == (m.ndim - 2,)
    )


def _sum_then_multiply(total: Op, product: Op, negate: bool) -> list[Op]:
    a, b = product.operands
    rows = a.type.ndim - 2
    summed = _op("reduce_sum", (a,), {"axes": (rows,)}, total.loc)
    as_row = a.type.shape[:rows] + (1, a.type.shape[-1])
    row = _op("reshape", (summed.result,), {"shape": as_row}, total.loc)
    new = [summed, row, _op("matmul", (row.result, b), {}, total.loc)]
    if negate:
        new.append(_op("neg", new[-1].results, {}, total.loc))
    shape = {"shape": total.result.type.shape}
    return [*new, Op("reshape", new[-1].results, total.results, shape, (), total.loc)]


def _rewrite(block: Block) -> Block:
    uses = Counter(v for op in block.ops for v in op.operands) + Counter(block.results)
    producers = {op.results[0]: op for op in block.ops if len(op.results) == 1}
    ops: list[Op] = []
    for op in block.ops:
        if op.regions:
            ops.append(replace(op, regions=tuple(_rewrite(r) for r in op.regions)))
            continue
        product = producers.get(op.operands[0]) if op.name == "reduce_sum" else None
        negate = product is not None and product.name == "neg" and uses[product.result] == 1
        if negate:  # the sum of -(a @ b), as reverse mode makes for `x - mean`
            product = producers.get(product.operands[0])
        if (
            product is not None
            and uses[product.result] == 1
            and _is_row_sum_of_product(op, product)
        ):
            ops.extend(_sum_then_multiply(op, product, negate))  # the product is now dead
        else:
            ops.append(op)
    return Block(block.args, tuple(ops), block.results)


def sum_before_product(fn: Function) -> Function:
    return Function(fn.name, _rewrite(fn.body))
