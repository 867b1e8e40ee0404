"""Run time of captured Python control flow (see `autograph`): plain Python on
concrete values, `cond` / `while` / `for` IR ops on traced ones.

A captured statement hands over the variables it assigns (`names`, their values
before it in `init`) and functions of them returning their new values. On a
traced condition each variable is either *static* (the same Python object on
every path: it stays a Python value) or *carried* (arrays, traced values and
Python numbers that change: they become the op's operands and results, Python
numbers promoted to traced scalars). A `for` over concrete bounds is traced
once as a region (a rolled loop) when its body has no Python side effects and
its carried values keep their types; otherwise it runs in Python (unrolled).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import tree
from ..errors import AdjitError, ControlFlowError
from ..ir.types import TensorType
from . import control, frontend, numpy_api, ops
from .builder import building, current, is_tracing, located
from .tracer import Tracer

# ----------------------------------------------------------- undefined names


class Undefined:
    """The value of a variable that is not assigned on every path (or only inside a
    loop that may not run): any use of it raises an error naming it."""

    __array_priority__ = 2000

    def __init__(self, name: str, where: str, like: Any = None) -> None:
        self.name, self.where = name, where
        self.like = like  # its value on the paths that assign it (for its type)

    def error(self) -> ControlFlowError:
        return located(
            ControlFlowError(
                f"variable '{self.name}' is used but not assigned on every path: {self.where}. "
                "Assign it before the if or loop"
            )
        )

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error()

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise self.error()

    def __repr__(self) -> str:
        return f"<undefined {self.name}>"


for _dunder in (
    "add sub mul truediv floordiv mod pow matmul and or xor lt le gt ge eq ne "
    "radd rsub rmul rtruediv rfloordiv rmod rpow rmatmul rand ror rxor "
    "neg pos abs invert bool float int index len iter getitem setitem call "
    "array array_ufunc array_function"
).split():
    setattr(Undefined, f"__{_dunder}__", Undefined._refuse)
Undefined.__hash__ = object.__hash__  # type: ignore[method-assign]


def defined(value: Any) -> Any:
    """A returned variable, refused if it is undefined."""
    if isinstance(value, Undefined):
        raise value.error()
    return value


def load(scope: dict, names: tuple[str, ...]) -> tuple:
    """The values of `names` in `scope` (locals()), Undefined where unassigned."""
    where = "it is not assigned before the if or loop that assigns it"
    return tuple(scope[n] if n in scope else Undefined(n, where) for n in names)


# ------------------------------------------------------------- predicates


def _traced(x: Any) -> bool:
    return is_tracing() and isinstance(x, Tracer) and x.const is None


def _arrayish(x: Any) -> bool:
    """Whether x can be an operand or result of a control-flow op (a pytree of numbers)."""
    try:
        leaves, _ = tree.flatten(x, is_leaf=control._is_state_leaf)
    except TypeError:
        return False
    return bool(leaves)


def _has_tracer(x: Any) -> bool:
    try:
        leaves, _ = tree.flatten(x, is_leaf=control._is_state_leaf)
    except TypeError:
        return False
    return any(isinstance(leaf, Tracer) for leaf in leaves)


def _same(a: Any, b: Any) -> bool:
    """Whether two values of a variable are the same Python value (kept static)."""
    if a is b:
        return True
    if isinstance(a, (Tracer, np.ndarray)) or isinstance(b, (Tracer, np.ndarray)):
        return False
    try:
        return type(a) is type(b) and tree.is_static(a) and bool(a == b)
    except Exception:
        return False


def _scalar_test(test: Any, what: str) -> Tracer:
    if test.shape != ():
        raise located(
            ControlFlowError(
                f"the condition of {what} is a traced array of shape {test.shape}, not a "
                "scalar: reduce it with np.all(...) or np.any(...), or choose element-wise "
                "with np.where(cond, a, b)"
            )
        )
    return test


def concrete(test: Any, what: str) -> Any:
    """`test`, refusing a traced value: `what` cannot be captured."""
    if _traced(test):
        raise located(
            ControlFlowError(
                f"{what} cannot be captured, and its condition is a traced value. Move "
                "the control flow out of it, or use adjit.cond / adjit.while_loop / "
                "adjit.fori_loop"
            )
        )
    return test


# ---------------------------------------------------------- expressions


_VIEWED = (types.FunctionType, types.MethodType, functools.partial)


def method(obj: Any, name: str) -> Any:
    """`obj.name` about to be called: a function or method of user code is viewed
    (rewritten, so its control flow is captured) like one reached through globals."""
    return view(getattr(obj, name))


def view(fn: Any) -> Any:
    """A function about to be called (an argument: `def solve(f, x): ... f(x)`), viewed."""
    if is_tracing() and isinstance(fn, _VIEWED):
        return frontend.user_view(fn)
    return fn


def ifexp(test: Any, then: Callable[[], Any], other: Callable[[], Any]) -> Any:
    if not _traced(test):
        return then() if test else other()
    _scalar_test(test, "a conditional expression")
    (out,) = _cond(
        test, lambda: (then(),), lambda: (other(),), (), ("the result",), "a if c else b"
    )
    return out


def _logical(name: str, a: Any, b: Any) -> Any:
    return numpy_api.apply_ufunc(getattr(np, name), "__call__", (a, b), {})


def and_(first: Any, *rest: Callable[[], Any]) -> Any:
    value = first
    for thunk in rest:
        if not _traced(value):
            if not value:
                return value
            value = thunk()
        else:
            value = _logical("logical_and", value, thunk())
    return value


def or_(first: Any, *rest: Callable[[], Any]) -> Any:
    value = first
    for thunk in rest:
        if not _traced(value):
            if value:
                return value
            value = thunk()
        else:
            value = _logical("logical_or", value, thunk())
    return value


def not_(x: Any) -> Any:
    if _traced(x):
        return numpy_api.apply_ufunc(np.logical_not, "__call__", (x,), {})
    return not x


# ---------------------------------------------------------------- if


def if_stmt(
    test: Any,
    then: Callable,
    other: Callable,
    init: tuple,
    names: tuple[str, ...],
    returns: bool = False,
) -> Any:
    """`then(*init)` if test else `other(*init)`; both return the new values of
    `names` (or, with `returns`, the function's return value)."""
    if not _traced(test):
        return then(*init) if test else other(*init)
    _scalar_test(test, "an if statement")
    if returns:
        (out,) = _cond(
            test, lambda *v: (then(*v),), lambda *v: (other(*v),), init, ("the return value",), "if"
        )
        return out
    return _cond(test, then, other, init, names, "if")


def _cond(
    test: Tracer, then: Callable, other: Callable, init: tuple, names: tuple, what: str
) -> tuple:
    carried_in = [k for k, v in enumerate(init) if _has_tracer(v)]
    in_leaves, in_tree = tree.flatten(tuple(init[k] for k in carried_in), control._is_state_leaf)
    in_types = control._leaf_types(in_leaves)
    outputs: list[tuple] = []

    def region(fn: Callable) -> Callable:
        def run(*leaves: Any) -> Any:
            values = list(init)
            for k, v in zip(carried_in, tree.unflatten(in_tree, list(leaves))):
                values[k] = v
            out = tuple(fn(*values))
            outputs.append(out)
            return tuple(v if _arrayish(v) else None for v in out)

        return run

    branches = [control._trace_region(region(fn), in_tree, in_types) for fn in (then, other)]
    (a, b), result = outputs, [None] * len(names)
    spans = [_spans(r.out_tree) for r in branches]
    carried: list[int] = []
    for k, name in enumerate(names):
        if _same(a[k], b[k]):
            result[k] = a[k]
        elif isinstance(a[k], Undefined) or isinstance(b[k], Undefined):
            like = a[k] if _arrayish(a[k]) else b[k] if _arrayish(b[k]) else None
            result[k] = Undefined(name, f"it is assigned in only one branch of the {what}", like)
        elif _arrayish(a[k]) and _arrayish(b[k]):
            carried.append(k)
        else:
            raise located(
                ControlFlowError(
                    f"variable '{name}' is {_describe(a[k])} in one branch and "
                    f"{_describe(b[k])} in the other branch of an {what} on a traced "
                    "condition; give it the same kind of value on both paths"
                )
            )
    picked = [[r.results[i] for k in carried for i in s[k]] for r, s in zip(branches, spans)]
    trees = [tree.flatten(a[k], control._is_state_leaf)[1] for k in carried]
    if trees != [tree.flatten(b[k], control._is_state_leaf)[1] for k in carried]:
        bad = next(
            names[k]
            for k in carried
            if tree.flatten(a[k], control._is_state_leaf)[1]
            != tree.flatten(b[k], control._is_state_leaf)[1]
        )
        raise located(
            ControlFlowError(
                f"variable '{bad}' has a different structure in the two branches of an {what} "
                "on a traced condition"
            )
        )
    names_of = [names[k] for k in carried for _ in range(trees[carried.index(k)].num_leaves)]
    types = _unify(picked, branches, names_of, what)
    captured = control._unify_captures(branches)
    blocks = [control._block(r, captured, p) for r, p in zip(branches, picked)]
    pred = ops.convert(test.value, "bool")
    operands = [ops.as_value(numpy_api.unwrap(x), t.np_dtype) for x, t in zip(in_leaves, in_types)]
    values = control._emit("cond", [pred, *operands, *captured], blocks, types)
    tracers = [Tracer(v) for v in values]
    for k, t in zip(carried, trees):
        result[k] = tree.unflatten(t, tracers[: t.num_leaves])
        tracers = tracers[t.num_leaves :]
    return tuple(result)


def _spans(out_tree: tree.TreeDef) -> list[range]:
    """The leaf indices of each element of a tuple's flattened result."""
    spans, start = [], 0
    for child in out_tree.children:
        spans.append(range(start, start + child.num_leaves))
        start += child.num_leaves
    return spans


def _unify(picked: list[list], regions: list, names: list[str], what: str) -> list[TensorType]:
    """Convert the branches' results to common dtypes; refuse different shapes."""
    types = []
    for i, name in enumerate(names):
        vals = [p[i] for p in picked]
        shapes = {v.type.shape for v in vals}
        if len(shapes) > 1:
            shown = " and ".join(str(v.type) for v in vals)
            raise located(
                ControlFlowError(
                    f"variable '{name}' is {shown} in the two branches of an {what} on a "
                    "traced condition; the shapes must match"
                )
            )
        dtype = np.result_type(*(v.type.np_dtype for v in vals))
        for p, r in zip(picked, regions):
            with building(r.builder):
                p[i] = ops.as_value(p[i], dtype)
        types.append(picked[0][i].type)
    return types


def _describe(x: Any) -> str:
    if isinstance(x, Undefined):
        return "not assigned"
    if isinstance(x, Tracer):
        return f"a traced {x.value.type}"
    return f"a {type(x).__name__}"


# ---------------------------------------------------------------- loops


class _NotRollable(Exception):
    """A loop that cannot be one IR op (the message says why, naming the variable)."""


class _Retry:
    """Trace the loop body again with more carried variables or wider types."""

    def __init__(self, carried: list[int], widen: dict, state: list) -> None:
        self.carried, self.widen, self.state = carried, widen, state


def while_stmt(test: Callable, body: Callable, init: tuple, names: tuple[str, ...]) -> tuple:
    """`while test(*state): state = body(*state)`; from the first traced test on,
    one IR `while` op."""
    state = tuple(init)
    while True:
        t = test(*state)
        if _traced(t):
            _scalar_test(t, "a while loop")
            try:
                return _loop(test, body, state, names, None)
            except _NotRollable as e:
                what = f"{e} (in a while loop on a traced condition)"
                raise located(ControlFlowError(what)) from None
        if not t:
            return state
        state = tuple(body(*state))


def for_stmt(
    bounds: tuple,
    body: Callable,
    init: tuple,
    names: tuple[str, ...],
    target: str,
    brk: str | None,
    mutated: tuple[str, ...],
    rollable: bool,
) -> tuple:
    """`for target in range(*bounds): state = body(i, *state)`: one IR `for` op when
    the bounds are traced, or when it is safe to roll; else plain Python."""
    traced = any(_traced(b) for b in bounds)
    if not traced:
        steps = range(*(int(b) for b in bounds))
        if rollable and is_tracing() and len(steps) > 1:
            try:
                return _roll(steps, body, init, names, target, mutated)
            except (_NotRollable, AdjitError, TypeError, IndexError, ValueError):
                pass  # unrolled below, where an error the body raises is raised again
        state = tuple(init)
        stop = names.index(brk) if brk else None
        for i in steps:
            if stop is not None and not _traced(state[stop]) and state[stop]:
                break
            state = tuple(body(i, *state))
        return state
    lo, hi, step = _range_args(bounds)
    if not (isinstance(step, int) and step == 1):
        raise located(
            ControlFlowError("a for loop over range() with traced bounds must have step 1")
        )
    try:
        out = _loop(None, body, tuple(init), names, (lo, hi), exclude=target)
    except _NotRollable as e:
        raise located(ControlFlowError(f"{e} (in a for loop with traced bounds)")) from None
    k = names.index(target)
    last = numpy_api.apply_ufunc(np.subtract, "__call__", (hi, 1), {})
    return out[:k] + (last,) + out[k + 1 :]


def _range_args(bounds: tuple) -> tuple[Any, Any, Any]:
    if len(bounds) == 1:
        return 0, bounds[0], 1
    if len(bounds) == 2:
        return bounds[0], bounds[1], 1
    return bounds


def _roll(
    steps: range, body: Callable, init: tuple, names: tuple, target: str, mutated: tuple
) -> tuple:
    if steps.step != 1:
        raise _NotRollable("step")
    out = _loop(
        None, body, tuple(init), names, (steps.start, steps.stop), exclude=target, must=mutated
    )
    k = names.index(target)
    return out[:k] + (steps[-1],) + out[k + 1 :]


def _loop(
    test: Callable | None,
    body: Callable,
    state: tuple,
    names: tuple,
    bounds: tuple | None,
    exclude: str | None = None,
    must: tuple = (),
) -> tuple:
    """One IR `while` (test given) or `for` (bounds given) op over `state`.

    The carried variables and their types are found by tracing the body: a
    variable that changes becomes carried, a dtype that widens is widened, and
    the body is traced again (a few times at most).
    """
    state = list(state)
    skip = names.index(exclude) if exclude else -1
    carried = [k for k, v in enumerate(state) if k != skip and _has_tracer(v)]
    widen: dict[int, list[TensorType]] = {}
    for _attempt in range(6):
        result = _try_loop(test, body, state, names, bounds, carried, widen, skip)
        if not isinstance(result, _Retry):
            for name in must:
                if name in names and names.index(name) not in carried:
                    raise _NotRollable(f"'{name}' is modified in place but is not an array")
            return result
        carried, widen, state = result.carried, result.widen, result.state
    raise _NotRollable("the loop-carried types do not settle")


def _try_loop(test, body, state, names, bounds, carried, widen, skip):  # noqa: ANN001, ANN202
    leaves, in_tree = tree.flatten(tuple(state[k] for k in carried), control._is_state_leaf)
    types = [widen.get(i, t) for i, t in enumerate(control._leaf_types(leaves))]
    outputs: list[tuple] = []
    prefix = 1 if bounds is not None else 0

    def values(leaves_in: tuple) -> list:
        vals = list(state)
        for k, v in zip(carried, tree.unflatten(in_tree, list(leaves_in))):
            vals[k] = v
        return vals

    def run_body(*args: Any) -> Any:
        index, leaves_in = args[:prefix], args[prefix:]
        _mark_weak(leaves, leaves_in)
        out = tuple(body(*index, *values(leaves_in)))
        outputs.append(out)
        return tuple(out[k] for k in carried)

    region_types = ([TensorType("i64", ())] if prefix else []) + types
    loop_body = control._trace_region(run_body, in_tree, region_types, prefix=prefix)
    out = list(outputs[-1])
    # variables that change but are not carried yet: carry them, and trace again
    grown = False
    new_state = list(state)
    for k, name in enumerate(names):
        if k in carried or k == skip or _same(out[k], state[k]):
            continue
        if isinstance(out[k], Undefined) and isinstance(state[k], Undefined):
            if out[k].like is None:
                continue
            out[k] = out[k].like  # assigned on some paths of the body: carried
        if not _arrayish(out[k]):
            raise _NotRollable(f"variable '{name}' changes to {_describe(out[k])} in the loop")
        if isinstance(state[k], Undefined):
            # first assigned in the loop: start from zeros (its value if the loop never runs)
            out_leaves, out_tree = tree.flatten(out[k], control._is_state_leaf)
            zeros = [np.zeros(t.shape, t.np_dtype) for t in control._leaf_types(out_leaves)]
            new_state[k] = tree.unflatten(out_tree, zeros)
        elif not _arrayish(state[k]):
            raise _NotRollable(f"variable '{name}' is {_describe(state[k])} before the loop")
        carried = sorted([*carried, k])
        grown = True
    if grown:
        return _Retry(carried, {}, new_state)
    got_tree = tree.flatten(tuple(out[k] for k in carried), control._is_state_leaf)[1]
    if got_tree != in_tree:
        raise _NotRollable(
            f"the loop changes the structure of {', '.join(names[k] for k in carried)}"
        )
    results = loop_body.results
    leaf_names = [names[k] for k in carried for _ in range(_count(state[k]))]
    widened = dict(widen)
    for i, (t, v) in enumerate(zip(types, results)):
        if v.type.shape != t.shape:
            raise _NotRollable(
                f"variable '{leaf_names[i]}' changes from {t} to {v.type} in the loop; "
                "its shape must stay the same"
            )
        dtype = np.result_type(t.np_dtype, v.type.np_dtype)
        if _is_weak(leaves[i]) and v.type != t:
            widened[i] = v.type  # a Python number takes the type of what it is combined with
        elif dtype != t.np_dtype:
            widened[i] = TensorType.of_array(np.zeros(t.shape, dtype))
        elif v.type != t:
            with building(loop_body.builder):
                results[i] = ops.as_value(v, t.np_dtype)
    if widened != widen:
        return _Retry(carried, widened, state)
    if test is not None:
        test_region = control._trace_region(lambda *a: (test(*values(a)),), in_tree, types)
        (t_value,) = test_region.results
        if t_value.type.shape != ():
            raise _NotRollable("the loop condition must be a scalar")
        with building(test_region.builder):
            test_region.results[0] = ops.convert(t_value, "bool")
        regions = [test_region, loop_body]
    else:
        regions = [loop_body]
    captured = control._unify_captures(regions)
    cap_args = [loop_body.builder.captures[v][1] for v in captured]
    blocks = [control._block(r, captured, r.results) for r in regions[:-1]]
    blocks.append(control._block(loop_body, captured, results + cap_args))
    inits = [ops.as_value(numpy_api.unwrap(x), t.np_dtype) for x, t in zip(leaves, types)]
    all_types = types + [v.type for v in captured]
    if bounds is None:
        values_out = control._emit("while", [*inits, *captured], blocks, all_types)
    else:
        bound_values = [ops.as_value(numpy_api.unwrap(b), np.int64) for b in bounds]
        values_out = control._emit("for", [*bound_values, *inits, *captured], blocks, all_types)
    _mark_weak(leaves, [Tracer(v) for v in values_out[: len(types)]])
    tracers = iter(Tracer(v) for v in values_out[: len(types)])
    final = list(state)
    for k in carried:
        t = tree.flatten(state[k], control._is_state_leaf)[1]
        final[k] = tree.unflatten(t, [next(tracers) for _ in range(t.num_leaves)])
    return tuple(final)


def _is_weak(x: Any) -> bool:
    return type(x) in (int, float)


def _mark_weak(inits: list, tracers: Any) -> None:
    """Values standing for Python numbers promote like them (NEP 50): `f32 + s` stays f32."""
    for x, t in zip(inits, tracers):
        if _is_weak(x) and t.value.type.np_dtype in (np.float64, np.int64):
            current().weak.add(t.value)


def _count(x: Any) -> int:
    return len(tree.flatten(x, control._is_state_leaf)[0])
