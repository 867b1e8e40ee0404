"""The reference interpreter: runs an ir.Function with NumPy, op by op.

It is the oracle for every compiled backend, so it favours obviousness over speed;
one exception: the parts of a factorization (eigh's values and vectors, ...) are
one factorization per operand in each run of a block, as in compiled code.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import numpy as np

from ..errors import AdjitError
from .core import Block, Function, Op, Value
from .primitives import evaluate
from .primitives_linalg import PARTS, factorize, part_index
from .types import TensorType

_hooks = threading.local()


@contextlib.contextmanager
def on_iteration(hook: Callable[[], None]) -> Iterator[None]:
    """Call `hook()` after every loop iteration run in this thread inside the block
    (tiered execution polls its background compilation there, and may raise)."""
    previous = getattr(_hooks, "hook", None)
    _hooks.hook = hook
    try:
        yield
    finally:
        _hooks.hook = previous


def interpret(fn: Function, *args: object) -> tuple[np.ndarray, ...]:
    """Run `fn` on flat array arguments; return the tuple of its results."""
    if len(args) != len(fn.params):
        raise AdjitError(f"@{fn.name} takes {len(fn.params)} arguments, got {len(args)}")
    values = [_check_arg(p, a, i) for i, (p, a) in enumerate(zip(fn.params, args))]
    return run_block(fn.body, values)


def _check_arg(param: Value, arg: object, i: int) -> np.ndarray:
    arr = np.asarray(arg)
    got = TensorType.of(arr.dtype, arr.shape) if arr.dtype.kind in "fiub" else None
    if got != param.type:
        raise TypeError(f"argument {i} must be {param.type}, got {got or arr.dtype}")
    return arr


def run_block(block: Block, args: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    env: dict[Value, np.ndarray] = dict(zip(block.args, args))
    factors: dict[tuple, tuple[np.ndarray, ...]] = {}  # (primitive, operands) -> every part
    for op in block.ops:
        operands = [env[v] for v in op.operands]
        if op.regions:
            outputs = _run_control(op, operands)
        elif op.name in PARTS:
            outputs = (_run_part(op, operands, factors),)
        else:
            outputs = (_run_simple(op, operands),)
        env.update(zip(op.results, outputs))
    return tuple(env[v] for v in block.results)


def _run_simple(op: Op, operands: list[np.ndarray]) -> np.ndarray:
    return evaluate(op.name, operands, op.attrs, op.result.type)


def _run_part(op: Op, operands: list[np.ndarray], factors: dict) -> np.ndarray:
    """One part of a factorization, factoring each operand once in this block run."""
    key = (op.name, op.operands)
    if key not in factors:
        with np.errstate(all="ignore"):
            factors[key] = factorize(op.name, operands[0])
    out = factors[key][part_index(op.name, op.attrs)]
    return np.asarray(out).astype(op.result.type.np_dtype, copy=False)


def _run_control(op: Op, operands: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    if op.name == "cond":
        pred, carried = operands[0], operands[1:]
        return run_block(op.regions[0] if bool(pred) else op.regions[1], carried)
    if op.name == "while":
        cond, body = op.regions
        carried, hook = tuple(operands), getattr(_hooks, "hook", None)
        while bool(run_block(cond, list(carried))[0]):
            carried = run_block(body, list(carried))
            if hook is not None:
                hook()
        return carried
    if op.name == "for":
        (body,) = op.regions
        lo, hi, carried = int(operands[0]), int(operands[1]), tuple(operands[2:])
        hook = getattr(_hooks, "hook", None)
        for i in range(lo, hi):
            carried = run_block(body, [np.asarray(i, dtype=np.int64), *carried])
            if hook is not None:
                hook()
        return carried
    if op.name in ("custom_vjp", "custom_jvp"):  # the rules matter to derivatives only
        return run_block(op.regions[0], list(operands))
    raise AdjitError(f"the interpreter has no rule for {op.name!r}")
