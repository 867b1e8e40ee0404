"""Large constants become parameters of the compiled function.

A function closing over a weight matrix traces it as a `constant`. Written into
the generated source as a literal, a 1000x1000 matrix takes seconds to print and
compile, and Numba will not cache a function holding large global arrays. So
constants of more than FOLD_LIMIT elements are lifted out: each distinct array
becomes a trailing parameter, passed by the caller on every call, and regions
that use one receive it as an operand (a loop carries it unchanged). The code
then depends on the constants' shapes, not their values: closures over other
weights of the same shapes share it.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from ...ir.core import Block, Function, Op, Value
from ...ir.types import TensorType
from .constant_fold import FOLD_LIMIT

Key = tuple[str, tuple[int, ...], str]


def _key(op: Op) -> Key | None:
    """The content key of a constant too large to stay a literal (None otherwise)."""
    if op.name != "constant":
        return None
    value = np.ascontiguousarray(op.attrs["value"])
    if value.size <= FOLD_LIMIT:
        return None
    return (value.dtype.str, value.shape, hashlib.sha1(value.tobytes()).hexdigest())


def _needed(block: Block) -> list[Key]:
    """Keys of the large constants used in the block or its regions, in order."""
    keys: list[Key] = []
    for op in block.ops:
        k = _key(op)
        if k is not None and k not in keys:
            keys.append(k)
        for region in op.regions:
            keys += [k for k in _needed(region) if k not in keys]
    return keys


def _rewrite(block: Block, values: dict[Key, Value], extra_args: list[Value]) -> Block:
    """The block with large constants read from `values` (appended `extra_args`)."""
    subst: dict[Value, Value] = {}
    ops: list[Op] = []
    for op in block.ops:
        op = replace(op, operands=tuple(subst.get(v, v) for v in op.operands))
        k = _key(op)
        if k is not None:
            subst[op.result] = values[k]
            continue
        if op.regions:
            op = _thread(op, values)
        ops.append(op)
    results = tuple(subst.get(v, v) for v in block.results)
    return Block(block.args + tuple(extra_args), tuple(ops), results)


def _thread(op: Op, values: dict[Key, Value]) -> Op:
    """A control-flow op whose regions receive the large constants they use."""
    keys = []
    for region in op.regions:
        keys += [k for k in _needed(region) if k not in keys]
    if not keys:
        return op
    regions = []
    for i, region in enumerate(op.regions):
        args = [Value(values[k].type) for k in keys]
        inner = dict(zip(keys, args))
        new = _rewrite(region, inner, args)
        carried = op.name == "for" or (op.name == "while" and i == 1)
        if carried:  # loop state: the body yields the constants unchanged
            new = replace(new, results=new.results + tuple(args))
        regions.append(new)
    operands = op.operands + tuple(values[k] for k in keys)
    results = op.results
    if op.name in ("while", "for"):
        results = results + tuple(Value(values[k].type) for k in keys)
    return replace(op, operands=operands, results=results, regions=tuple(regions))


def lift_constants(fn: Function) -> tuple[Function, list[np.ndarray]]:
    """fn with its large constants as trailing parameters, and those constants' values."""
    keys = _needed(fn.body)
    if not keys:
        return fn, []
    arrays: dict[Key, np.ndarray] = {}
    for op in fn.body.walk():
        k = _key(op)
        if k is not None:
            arrays.setdefault(k, np.ascontiguousarray(op.attrs["value"]))
    params = {}
    for i, k in enumerate(keys):
        value = arrays[k]
        params[k] = Value(TensorType.of_array(value), f"const{i}")
    body = _rewrite(fn.body, params, list(params.values()))
    return Function(fn.name, body), [arrays[k] for k in keys]
