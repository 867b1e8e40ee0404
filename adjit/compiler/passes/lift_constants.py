"""Large constants become parameters of the compiled function.

A function closing over a weight matrix traces it as a `constant`; one indexing
with a closed-over integer array (`cams[obs[:, 0]]`) holds the array in its
index spec. Written into the generated source as literals, a 1000x1000 matrix
takes seconds to print and compile, and Numba will not cache a function holding
large global arrays. So arrays of more than FOLD_LIMIT elements are lifted out:
each distinct array becomes a trailing parameter, passed by the caller on every
call (an index array becomes a run-time index operand, `$k`), and regions that
use one receive it as an operand (a loop carries it unchanged). The code then
depends on the arrays' shapes, not their values: closures over other weights of
the same shapes share it.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from ...ir.core import Block, Function, Op, Value
from ...ir.indexing import Dynamic, num_dynamic
from ...ir.types import TensorType
from .constant_fold import FOLD_LIMIT

Key = tuple[str, tuple[int, ...], str]


INDEXING = ("gather", "scatter", "scatter_add")


def _key(value: np.ndarray) -> Key | None:
    """The content key of an array too large to stay a literal (None otherwise)."""
    if value.size <= FOLD_LIMIT:
        return None
    value = np.ascontiguousarray(value)
    return (value.dtype.str, value.shape, hashlib.sha1(value.tobytes()).hexdigest())


def _arrays(op: Op) -> list[tuple[Key, np.ndarray]]:
    """The large arrays op holds: a constant's value or its index spec's arrays."""
    if op.name == "constant":
        candidates = [op.attrs["value"]]
    elif op.name in INDEXING:
        candidates = [e for e in op.attrs["index"] if isinstance(e, np.ndarray)]
    else:
        return []
    found = [(_key(np.asarray(a)), a) for a in candidates]
    return [(k, np.ascontiguousarray(a)) for k, a in found if k is not None]


def _needed(block: Block) -> list[Key]:
    """Keys of the large arrays used in the block or its regions, in order."""
    keys: list[Key] = []
    for op in block.ops:
        keys += [k for k, _ in _arrays(op) if k not in keys]
        for region in op.regions:
            keys += [k for k in _needed(region) if k not in keys]
    return keys


def _lift_index(op: Op, values: dict[Key, Value]) -> Op:
    """An indexing op whose large index arrays are read from run-time operands."""
    spec = list(op.attrs["index"])
    operands = list(op.operands)
    position = num_dynamic(spec)
    for i, entry in enumerate(spec):
        if isinstance(entry, np.ndarray):
            k = _key(entry)
            if k is not None:
                spec[i] = Dynamic(position)
                operands.append(values[k])
                position += 1
    return replace(op, operands=tuple(operands), attrs={**op.attrs, "index": tuple(spec)})


def _rewrite(block: Block, values: dict[Key, Value], extra_args: list[Value]) -> Block:
    """The block with large constants read from `values` (appended `extra_args`)."""
    subst: dict[Value, Value] = {}
    ops: list[Op] = []
    for op in block.ops:
        op = replace(op, operands=tuple(subst.get(v, v) for v in op.operands))
        lifted = _arrays(op)
        if lifted and op.name == "constant":
            subst[op.result] = values[lifted[0][0]]
            continue
        if lifted:
            op = _lift_index(op, values)
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
        for k, a in _arrays(op):
            arrays.setdefault(k, a)
    params = {}
    for i, k in enumerate(keys):
        value = arrays[k]
        params[k] = Value(TensorType.of_array(value), f"const{i}")
    body = _rewrite(fn.body, params, list(params.values()))
    return Function(fn.name, body), [arrays[k] for k in keys]
