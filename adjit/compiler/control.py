"""Structured control flow on traced values: adjit.cond, adjit.while_loop, adjit.fori_loop.

Each branch or loop body is traced into its own region. Values the region uses
from outside become explicit operands (captures), so regions stay isolated; loop
regions carry them through unchanged. Outside a trace these functions simply run
the Python control flow, so decorated code also works uncompiled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import tree
from ..errors import ControlFlowError
from ..ir.core import Block, Op, Value
from ..ir.types import TensorType
from . import frontend, numpy_api, ops
from .builder import Builder, building, current, is_tracing, located, user_location
from .tracer import Tracer


@dataclass
class _Region:
    builder: Builder
    params: list[Value]
    results: list[Value]
    out_tree: tree.TreeDef


def _is_tracer(x: Any) -> bool:
    return isinstance(x, Tracer)


def _is_state_leaf(x: Any) -> bool:
    """Leaves of region operands and loop state: Python numbers are traced here too."""
    return isinstance(x, (Tracer, bool, int, float, np.ndarray, np.generic))


def _leaf_types(leaves: list[Any]) -> list[TensorType]:
    return [
        leaf.value.type if isinstance(leaf, Tracer) else TensorType.of_array(leaf)
        for leaf in leaves
    ]


def _trace_region(
    fn: Callable, in_tree: tree.TreeDef, types: list[TensorType], prefix: int = 0
) -> _Region:
    """Trace fn on fresh block arguments; `prefix` arguments come before the pytree ones."""
    builder = Builder(current())
    with building(builder):
        params = [builder.add_arg(t) for t in types]
        args = [Tracer(p) for p in params]
        call_args = args[:prefix] + list(tree.unflatten(in_tree, args[prefix:]))
        out = frontend.user_view(fn)(*call_args)
        leaves, out_tree = tree.flatten(out, is_leaf=_is_state_leaf)
        results = [builder.local(ops.as_value(numpy_api.unwrap(leaf))) for leaf in leaves]
    return _Region(builder, params, results, out_tree)


def _unify_captures(regions: list[_Region]) -> list[Value]:
    """Give every region the same captured values; return them (as seen outside)."""
    captured: list[Value] = []
    for region in regions:
        captured.extend(v for v in region.builder.captures if v not in captured)
    for region in regions:
        for v in captured:
            region.builder.local(v)
    return captured


def _block(region: _Region, captured: list[Value], results: list[Value]) -> Block:
    cap_args = [region.builder.captures[v][1] for v in captured]
    return Block(tuple(region.params + cap_args), tuple(region.builder.ops), tuple(results))


def _emit(
    name: str,
    operands: list[Value],
    regions: list[Block],
    types: list[TensorType],
    attrs: dict[str, object] | None = None,
) -> list[Value]:
    builder = current()
    operands = [builder.local(v) for v in operands]
    results = tuple(Value(t) for t in types)
    op = Op(name, tuple(operands), results, attrs or {}, tuple(regions), user_location())
    builder.append(op)
    return list(results)


def _check_same(
    what: str, first: _Region, other: _Region, first_name: str, other_name: str
) -> None:
    if first.out_tree != other.out_tree:
        raise located(
            ControlFlowError(
                f"{what}: {first_name} returns {first.out_tree} but {other_name} returns {other.out_tree}"
            )
        )
    a = [str(v.type) for v in first.results]
    b = [str(v.type) for v in other.results]
    if a != b:
        raise located(
            ControlFlowError(
                f"{what}: {first_name} returns types ({', '.join(a)}) but {other_name} "
                f"returns ({', '.join(b)}); make them match (e.g. with .astype)"
            )
        )


def cond(pred: Any, true_fn: Callable, false_fn: Callable, *operands: Any) -> Any:
    """`true_fn(*operands)` if pred else `false_fn(*operands)`, as one IR `cond` op."""
    if not is_tracing() or not _is_tracer(pred) or pred.const is not None:
        return true_fn(*operands) if bool(pred) else false_fn(*operands)
    if pred.shape != ():
        raise located(
            ControlFlowError(f"adjit.cond: the predicate must be a scalar, got shape {pred.shape}")
        )
    leaves, in_tree = tree.flatten(operands, is_leaf=_is_state_leaf)
    types = _leaf_types(leaves)
    then, other = (_trace_region(fn, in_tree, types) for fn in (true_fn, false_fn))
    _check_same("adjit.cond", then, other, "true_fn", "false_fn")
    captured = _unify_captures([then, other])
    regions = [_block(r, captured, r.results) for r in (then, other)]
    pred_value = ops.convert(pred.value, "bool")
    values = [ops.as_value(numpy_api.unwrap(x), t.np_dtype) for x, t in zip(leaves, types)]
    results = _emit(
        "cond", [pred_value, *values, *captured], regions, [v.type for v in then.results]
    )
    return tree.unflatten(then.out_tree, [Tracer(v) for v in results])


def _loop_state(init: Any, what: str) -> tuple[list[Any], tree.TreeDef, list[TensorType]]:
    leaves, in_tree = tree.flatten(init, is_leaf=_is_state_leaf)
    return leaves, in_tree, _leaf_types(leaves)


def _check_body(what: str, body: _Region, in_tree: tree.TreeDef, types: list[TensorType]) -> None:
    got = [v.type for v in body.results]
    if body.out_tree != in_tree or got != types:
        shown = ", ".join(map(str, got))
        raise located(
            ControlFlowError(
                f"{what}: the body must return the loop state with the same structure and "
                f"types as init ({in_tree}: {', '.join(map(str, types))}), got {body.out_tree}: {shown}"
            )
        )


def _checkpoint_attrs(what: str, checkpoint: int | None) -> dict[str, object]:
    """The loop attribute asking reverse mode to keep every k-th state only."""
    if checkpoint is None:
        return {}
    if (
        isinstance(checkpoint, bool)
        or not isinstance(checkpoint, (int, np.integer))
        or checkpoint < 1
    ):
        raise located(
            ControlFlowError(f"{what}: checkpoint must be a positive int, got {checkpoint!r}")
        )
    return {"checkpoint": int(checkpoint)} if checkpoint > 1 else {}


def while_loop(
    cond_fn: Callable, body_fn: Callable, init: Any, *, checkpoint: int | None = None
) -> Any:
    """Repeat `state = body_fn(state)` while `cond_fn(state)`; one IR `while` op.

    Reverse mode records the state each iteration starts from; `checkpoint=k`
    keeps every k-th one only and recomputes the others in the reverse sweep
    (memory n/k + k states instead of n, for one more forward sweep).
    """
    attrs = _checkpoint_attrs("adjit.while_loop", checkpoint)
    if not is_tracing():
        state = init
        while bool(cond_fn(state)):
            state = body_fn(state)
        return state
    leaves, in_tree, types = _loop_state(init, "adjit.while_loop")
    test = _trace_region(lambda *a: cond_fn(*a), tree.TreeDef("tuple", (in_tree,)), types)
    body = _trace_region(lambda *a: body_fn(*a), tree.TreeDef("tuple", (in_tree,)), types)
    _check_body("adjit.while_loop", body, in_tree, types)
    if len(test.results) != 1 or test.results[0].type.shape != ():
        raise located(ControlFlowError("adjit.while_loop: cond_fn must return one scalar"))
    with building(test.builder):
        test.results[0] = ops.convert(test.results[0], "bool")
    captured = _unify_captures([test, body])
    cap_args = [body.builder.captures[v][1] for v in captured]
    regions = [
        _block(test, captured, test.results),
        _block(body, captured, body.results + cap_args),
    ]
    values = [ops.as_value(numpy_api.unwrap(x), t.np_dtype) for x, t in zip(leaves, types)]
    all_types = types + [v.type for v in captured]
    results = _emit("while", [*values, *captured], regions, all_types, attrs)
    return tree.unflatten(in_tree, [Tracer(v) for v in results[: len(types)]])


def fori_loop(
    lower: Any, upper: Any, body_fn: Callable, init: Any, *, checkpoint: int | None = None
) -> Any:
    """`state = body_fn(i, state)` for i in range(lower, upper); one IR `for` op.

    `checkpoint=k`: as for while_loop.
    """
    attrs = _checkpoint_attrs("adjit.fori_loop", checkpoint)
    if not is_tracing():
        state = init
        for i in range(int(lower), int(upper)):
            state = body_fn(i, state)
        return state
    leaves, in_tree, types = _loop_state(init, "adjit.fori_loop")
    body = _trace_region(
        lambda i, *a: body_fn(i, *a),
        tree.TreeDef("tuple", (in_tree,)),
        [TensorType("i64", ())] + types,
        prefix=1,
    )
    _check_body("adjit.fori_loop", body, in_tree, types)
    captured = _unify_captures([body])
    cap_args = [body.builder.captures[v][1] for v in captured]
    region = _block(body, captured, body.results + cap_args)
    bounds = [ops.as_value(numpy_api.unwrap(b), np.int64) for b in (lower, upper)]
    values = [ops.as_value(numpy_api.unwrap(x), t.np_dtype) for x, t in zip(leaves, types)]
    all_types = types + [v.type for v in captured]
    results = _emit("for", [*bounds, *values, *captured], [region], all_types, attrs)
    return tree.unflatten(in_tree, [Tracer(v) for v in results[: len(types)]])
