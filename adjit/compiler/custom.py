"""User-given derivative rules: adjit.custom_vjp and adjit.custom_jvp (JAX's conventions).

Calling a decorated function while tracing emits one structured op whose
regions are traced like `cond` branches: `custom_vjp` holds the primal, the
user's fwd (results, then residuals) and bwd (residuals and the results'
cotangents -> one cotangent per input); `custom_jvp` holds the primal and the
user's jvp (inputs, their tangents -> results, their tangents). The operands
are the inputs (attribute `inputs` counts them), then the values the regions
capture, which every region takes as its last arguments. The reverse pass
(reverse.py) runs fwd and bwd instead of differentiating the primal, the
forward pass (forward.py) runs jvp; code generation sees only the primal
(`lower_custom`). Outside a trace a decorated function just runs.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from .. import tree
from ..errors import TracingError, UnsupportedError
from ..ir.core import Block, Function, Op, Value
from ..ir.types import TensorType
from . import frontend, numpy_api, ops
from .builder import current, describe_location, is_tracing, located, user_location
from .control import _block, _is_state_leaf, _leaf_types, _trace_region, _unify_captures
from .inlining import inline_op
from .tracer import Tracer

CUSTOM_OPS = ("custom_vjp", "custom_jvp")


def _where(f: Callable) -> str:
    code = getattr(f, "__code__", None)
    name = getattr(f, "__qualname__", repr(f))
    return f"{name} ({code.co_filename}:{code.co_firstlineno})" if code else name


def _view(f: Callable) -> Callable:
    """The user's function as the trace sees it (its NumPy view, frontend.py)."""
    return frontend.user_view(f)


def _as_value(x: Any, t: TensorType) -> Value:
    return ops.convert(ops.as_value(numpy_api.unwrap(x), t.np_dtype), t.dtype)


class _Custom:
    """What custom_vjp and custom_jvp share: the wrapped function and its static args."""

    kind = ""

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self._local = threading.local()

    @contextlib.contextmanager
    def _in_rule(self) -> Iterator[None]:
        """While its rules are traced, the function is its primal (fwd may call it)."""
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def _plain(self) -> bool:
        return not is_tracing() or getattr(self._local, "depth", 0) > 0

    def _split(self, args: tuple) -> tuple[list[Any], list[Any], Callable[[Sequence], tuple]]:
        """The static (nondiff) args, the differentiated ones, and a merger back to all."""
        n = len(args)
        static = [i % n for i in self.nondiff_argnums] if n else []
        nondiff = [args[i] for i in static]
        diff = [a for i, a in enumerate(args) if i not in static]

        def merge(d: Sequence) -> tuple:
            it = iter(d)
            return tuple(args[i] if i in static else next(it) for i in range(n))

        return nondiff, diff, merge

    def _fail(self, message: str) -> TracingError:
        return located(TracingError(f"{self.kind} function {_where(self.fun)}: {message}"))

    def _emit(self, leaves, types, regions, captured, result_types) -> list[Value]:
        b = current()
        values = [b.local(_as_value(x, t)) for x, t in zip(leaves, types)]
        operands = (*values, *(b.local(v) for v in captured))
        results = tuple(Value(t) for t in result_types)
        attrs = {"inputs": len(values)}
        b.append(Op(self.kind, operands, results, attrs, tuple(regions), user_location()))
        return list(results)

    def _check_out(self, rule: str, got, primal) -> None:
        types = [str(v.type) for v in got]
        want = [str(v.type) for v in primal.results]
        if types != want:
            raise self._fail(
                f"{rule} returns outputs ({', '.join(types)}) but the function returns "
                f"({', '.join(want)})"
            )


def _pair(region, what: str, fail: Callable[[str], TracingError]):
    """The two parts of a region that returned a pair: (first's tree, the split point)."""
    t = region.out_tree
    if t.kind not in ("tuple", "list") or len(t.children) != 2:
        raise fail(f"{what} must return a pair, got {t}")
    return t.children, t.children[0].num_leaves


class custom_vjp(_Custom):
    """A function with a user-given reverse rule: `f.defvjp(fwd, bwd)`.

    fwd(*args) returns (output, residuals); bwd(*nondiff_args, residuals,
    cotangent) returns a tuple with one cotangent per differentiated argument
    (a pytree like that argument, or None for zeros). Forward mode (jvp,
    jacfwd) through it raises, as in JAX.
    """

    kind = "custom_vjp"

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()) -> None:
        super().__init__(fun, nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args: Any) -> Any:
        if self._plain():
            return self.fun(*args)
        if self.fwd is None or self.bwd is None:
            raise self._fail("no reverse rule: call defvjp(fwd, bwd) before using it")
        fwd, bwd = self.fwd, self.bwd
        nondiff, diff, merge = self._split(args)
        leaves, in_tree = tree.flatten(tuple(diff), is_leaf=_is_state_leaf)
        types = _leaf_types(leaves)
        primal = _trace_region(lambda *a: _view(self.fun)(*merge(a)), in_tree, types)
        with self._in_rule():
            forward = _trace_region(lambda *a: _view(fwd)(*merge(a)), in_tree, types)
        (out_tree, _), n_out = _pair(forward, "fwd", self._fail)
        if out_tree != primal.out_tree:
            raise self._fail(f"fwd returns {out_tree} but the function returns {primal.out_tree}")
        self._check_out("fwd", forward.results[:n_out], primal)
        res_types = [v.type for v in forward.results[n_out:]]
        res_tree = forward.out_tree.children[1]
        ct_types = [v.type for v in primal.results]

        def backward(res: Any, ct: Any) -> list[Any]:
            return [Tracer(v) for v in self._cotangents(_view(bwd)(*nondiff, res, ct), diff, types)]

        pair = tree.TreeDef("tuple", (res_tree, out_tree))
        with self._in_rule():
            backward_region = _trace_region(backward, pair, res_types + ct_types)
        captured = _unify_captures([primal, forward, backward_region])
        regions = [
            _block(primal, captured, primal.results),
            _block(forward, captured, forward.results),
            _block(backward_region, captured, backward_region.results),
        ]
        results = self._emit(leaves, types, regions, captured, ct_types)
        return tree.unflatten(primal.out_tree, [Tracer(v) for v in results])

    def _cotangents(self, cts: Any, diff: list[Any], types: list[TensorType]) -> list[Value]:
        """bwd's result as one value per input leaf, checked against the inputs."""
        where = f"bwd {_where(self.bwd)}"
        if not isinstance(cts, (tuple, list)):
            raise self._fail(f"{where} must return a tuple of cotangents, got {type(cts).__name__}")
        if len(cts) != len(diff):
            raise self._fail(
                f"{where} returned {len(cts)} cotangents for {len(diff)} differentiated "
                "arguments (one per argument, None for zero)"
            )
        out: list[Value] = []
        it = iter(types)
        for k, (ct, arg) in enumerate(zip(cts, diff)):
            arg_leaves, arg_tree = tree.flatten(arg, is_leaf=_is_state_leaf)
            arg_types = [next(it) for _ in arg_leaves]
            if ct is None:
                out += [ops.zeros(t) for t in arg_types]
                continue
            ct_leaves, ct_tree = tree.flatten(ct, is_leaf=_is_state_leaf)
            if ct_tree != arg_tree:
                raise self._fail(
                    f"{where}: cotangent {k} has structure {ct_tree}, its argument {arg_tree}"
                )
            for leaf, t in zip(ct_leaves, arg_types):
                v = ops.as_value(numpy_api.unwrap(leaf))
                if v.type.shape != t.shape:
                    raise self._fail(
                        f"{where}: cotangent {k} has shape {v.type.shape}, its argument "
                        f"{t.shape} (type {t})"
                    )
                out.append(ops.convert(v, t.dtype))
        return out


class custom_jvp(_Custom):
    """A function with a user-given forward rule: `f.defjvp(jvp)`.

    jvp(*nondiff_args, primals, tangents) returns (output, tangent of output).
    Reverse mode uses the rule too: its tangent output is linear in the
    tangents, and its transpose is that linear map's reverse pass.
    """

    kind = "custom_jvp"

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()) -> None:
        super().__init__(fun, nondiff_argnums)
        self.jvp: Callable | None = None

    def defjvp(self, jvp: Callable) -> Callable:
        self.jvp = jvp
        return jvp

    def __call__(self, *args: Any) -> Any:
        if self._plain():
            return self.fun(*args)
        if self.jvp is None:
            raise self._fail("no forward rule: call defjvp(jvp) before using it")
        rule = self.jvp
        nondiff, diff, merge = self._split(args)
        leaves, in_tree = tree.flatten(tuple(diff), is_leaf=_is_state_leaf)
        types = _leaf_types(leaves)
        primal = _trace_region(lambda *a: _view(self.fun)(*merge(a)), in_tree, types)
        pair = tree.TreeDef("tuple", (in_tree, in_tree))
        with self._in_rule():
            tangent = _trace_region(lambda p, t: _view(rule)(*nondiff, p, t), pair, types + types)
        (out_tree, tout_tree), n_out = _pair(tangent, "jvp", self._fail)
        where = f"jvp rule {_where(rule)}"
        for got in (out_tree, tout_tree):
            if got != primal.out_tree:
                raise self._fail(
                    f"{where} returns {got} but the function returns {primal.out_tree}"
                )
        self._check_out(where, tangent.results[:n_out], primal)
        self._check_out(f"{where} (tangents)", tangent.results[n_out:], primal)
        captured = _unify_captures([primal, tangent])
        regions = [
            _block(primal, captured, primal.results),
            _block(tangent, captured, tangent.results),
        ]
        result_types = [v.type for v in primal.results]
        results = self._emit(leaves, types, regions, captured, result_types)
        return tree.unflatten(primal.out_tree, [Tracer(v) for v in results])


# ------------------------------------------------------------------ derivatives


def _inline_block(block: Block, args: Sequence[Value]) -> list[Value]:
    env: dict[Value, Value] = dict(zip(block.args, args))
    for op in block.ops:
        inline_op(op, env)
    return [env[r] for r in block.results]


def check_captures(op: Op, differentiated: Callable[[Value], bool]) -> None:
    """The rules get no derivative for captured values: refuse to drop one silently."""
    if any(differentiated(v) for v in op.operands[op.attrs["inputs"] :]):
        raise UnsupportedError(
            f"{op.name}: the function or its rule uses a value being differentiated that "
            "is not one of its arguments (a closure); pass it as an argument"
            + describe_location(op.loc)
        )


def emit_fwd(op: Op, env: dict[Value, Value]) -> list[Value]:
    """Reverse pass, forward sweep of a custom_vjp: run fwd; map the results, return residuals."""
    outs = _inline_block(op.regions[1], [env[v] for v in op.operands])
    n = len(op.results)
    env.update(zip(op.results, outs[:n]))
    return outs[n:]


def vjp_adjoint(
    op: Op, env: dict[Value, Value], out_cts: Sequence[Value | None], residuals: list[Value]
) -> list[Value | None]:
    """Reverse pass, backward sweep of a custom_vjp: run bwd on the residuals and cotangents."""
    n = op.attrs["inputs"]
    cts = [ops.zeros(r.type) if c is None else c for c, r in zip(out_cts, op.results)]
    captured = [env[v] for v in op.operands[n:]]
    grads: list[Value | None] = list(_inline_block(op.regions[2], [*residuals, *cts, *captured]))
    return grads + [None] * len(captured)


def jvp_tangent(op: Op, xs: list[Value], ts: list[Value | None]):
    """Forward pass of a custom_jvp: its jvp region on the inputs and their tangents."""
    check_captures(op, lambda v: ts[op.operands.index(v)] is not None)
    n = op.attrs["inputs"]
    tangents = [ops.zeros(x.type) if t is None else t for x, t in zip(xs[:n], ts[:n])]
    outs = _inline_block(op.regions[1], [*xs[:n], *tangents, *xs[n:]])
    m = len(op.results)
    return outs[:m], [t if r.type.is_float else None for t, r in zip(outs[m:], op.results)]


def vjp_tangent(op: Op, xs: list[Value], ts: list[Value | None]):
    raise UnsupportedError(
        "forward mode (jvp, jacfwd) through a custom_vjp function: it has a reverse rule "
        "only (as in JAX); use reverse mode (grad, jacrev) or give a forward rule with "
        "adjit.custom_jvp" + describe_location(op.loc)
    )


# ------------------------------------------------------------------ lowering


def _lower_block(block: Block, env: dict[Value, Value]) -> Block:
    return Block(
        block.args, tuple(_lower_ops(block, env)), tuple(env.get(v, v) for v in block.results)
    )


def _lower_ops(block: Block, env: dict[Value, Value]) -> list[Op]:
    out: list[Op] = []
    for op in block.ops:
        operands = tuple(env.get(v, v) for v in op.operands)
        if op.name in CUSTOM_OPS:
            primal = op.regions[0]
            env.update(zip(primal.args, operands))
            out += _lower_ops(primal, env)
            env.update((r, env.get(y, y)) for r, y in zip(op.results, primal.results))
            continue
        regions = tuple(_lower_block(r, env) for r in op.regions)
        out.append(replace(op, operands=operands, regions=regions))
    return out


def lower_custom(fn: Function) -> Function:
    """fn with every custom_vjp/custom_jvp op replaced by its primal region's ops."""
    if not any(op.name in CUSTOM_OPS for op in fn.body.walk()):
        return fn
    return Function(fn.name, _lower_block(fn.body, {}))
