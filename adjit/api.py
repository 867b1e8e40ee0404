"""The public transformations: trace, jit, grad, value_and_grad, vjp, jvp, jacfwd,
jacrev, hessian, hvp and vmap; export (ahead of time).

Transform objects pickle as the transform of the user's function with its
options, never with compiled code: unpickled in another process, they compile
again on their first call (or load the native code from the on-disk cache).
"""

from __future__ import annotations

import functools
import inspect
import os
import pathlib
import sys
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import tree
from .codegen import tiered
from .codegen.cache import load_module, load_source, store_source
from .codegen.targets import check_target, compile_for_target
from .compiler import frontend, ops
from .compiler.banded import Banded
from .compiler.batching import emit_batched, materialize
from .compiler.builder import Builder, building, current, is_tracing
from .compiler.control import cond, fori_loop, while_loop
from .compiler.custom import custom_jvp, custom_vjp, lower_custom
from .compiler.forward import emit_tangent, jvp_function
from .compiler.inlining import inline
from .compiler.numpy_api import is_tracer, unwrap
from .compiler.passes import lift_constants, simplify
from .compiler.reverse import emit_adjoint, vjp_function
from .compiler.trace import Traced, function_name, trace, trace_function
from .compiler.tracer import Tracer
from .errors import AdjitError, RecompileWarning
from .ir.core import Function, Value
from .ir.indexing import Slice
from .ir.types import TensorType
from .ir.verifier import verify
from .transform_cache import compiled_for, function_key, object_key

__all__ = [
    "cond",
    "custom_jvp",
    "custom_vjp",
    "export",
    "fori_loop",
    "grad",
    "hessian",
    "hvp",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jit",
    "jvp",
    "trace",
    "value_and_grad",
    "vjp",
    "vmap",
    "while_loop",
]


def _leaf_signature(leaf: Any) -> tuple:
    if isinstance(leaf, np.ndarray):
        return (leaf.dtype, leaf.shape)
    if tree.is_device_array(leaf):
        return (np.dtype(leaf.dtype), tuple(leaf.shape))  # a device array (target="cuda")
    if isinstance(leaf, float):
        return (float, ())
    return (np.asarray(leaf).dtype, ())


def _argument(leaf: Any, scalar: bool) -> Any:
    """A leaf as the generated code takes it: C-contiguous arrays, NumPy scalars."""
    if scalar:
        return leaf[()] if isinstance(leaf, np.ndarray) else leaf
    if isinstance(leaf, np.ndarray) and leaf.flags.c_contiguous:
        return leaf
    if tree.is_device_array(leaf):
        return leaf  # a device array: the CUDA launcher takes it as it is
    return np.ascontiguousarray(leaf)


def _host_placeholders(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """(args, kwargs) with device arrays replaced by NumPy zeros of their shape and
    dtype: tracing reads only shapes and dtypes, and must not copy device data."""
    leaves, treedef = tree.flatten((args, kwargs))
    if not any(tree.is_device_array(leaf) for leaf in leaves):
        return args, kwargs
    host = [
        np.zeros(tuple(leaf.shape), np.dtype(leaf.dtype)) if tree.is_device_array(leaf) else leaf
        for leaf in leaves
    ]
    return tree.unflatten(treedef, host)


@dataclass
class Specialization:
    """One compiled signature: the traced and optimized IR, its source and native entry."""

    traced: Traced
    source: str
    entry: Callable[..., tuple]
    constants: tuple[np.ndarray, ...] = ()  # large constants, passed after the arguments

    def __post_init__(self) -> None:
        fn = self.traced.fn  # the optimized IR has the same signature
        self._scalar_params = [p.type.ndim == 0 for p in fn.params]
        self._result_makers = [
            r.type.np_dtype.type if r.type.ndim == 0 else None for r in fn.results
        ]
        self._build = _result_builder(self.traced.out_tree, self._result_makers)
        self.call_flat = self._flat_caller()
        # the interpreter tier (codegen/tiered.py) until native code is ready, or None
        self.tiered = self.entry if isinstance(self.entry, tiered.TieredEntry) else None
        self._fast_slots: list[tuple[dict, tuple]] = []
        if self.tiered is not None:
            self.tiered.on_native = self._to_native

    @property
    def tier(self) -> str | None:
        """Who served the last call: "interpreter" or "native" (None: not called yet)."""
        return "native" if self.tiered is None else self.tiered.last_tier

    def register_fast(self, table: dict, key: tuple) -> None:
        """Serve calls of fast key `key` in `table` (Jitted's fast path) by call_flat."""
        table[key] = self.call_flat
        if self.tiered is not None and self.tiered.tier != "native":
            self._fast_slots.append((table, key))

    def _to_native(self, native: Callable[..., tuple]) -> None:
        """The tier switched: later calls, fast path included, go straight to native code."""
        self.entry = native
        self.call_flat = self._flat_caller()
        for table, key in self._fast_slots:
            table[key] = self.call_flat
        self._fast_slots = []

    @functools.cached_property
    def ir(self) -> Function:
        """The optimized IR the native code computes."""
        return simplify(self.traced.fn)

    def __call__(self, leaves: list[Any]) -> Any:
        args = [_argument(leaf, s) for leaf, s in zip(leaves, self._scalar_params)]
        return self._build(self.entry(*args, *self.constants))

    def _flat_caller(self) -> Callable[[tuple], Any]:
        """The call path for positional C-contiguous arrays and floats (see Jitted.__call__).

        Its arguments already are what the generated code takes, so the common
        cases go straight to the native entry with no per-call Python work.
        """
        entry, constants = self.entry, self.constants
        if self.traced.out_tree.kind == tree.LEAF:
            (make,) = self._result_makers
            if make is None:
                return lambda args: entry(*args, *constants)[0]
            return lambda args: make(entry(*args, *constants)[0])
        build = self._build
        return lambda args: build(entry(*args, *constants))


def _result_builder(out_tree: tree.TreeDef, makers: list[Callable | None]) -> Callable:
    """The native outputs -> the result tree, as one generated expression.

    tree.unflatten walks the tree on every call; a transform returning a tuple
    (grad with argnums=(0, 1), value_and_grad) would pay that on its fast path."""
    env: dict[str, Any] = {}
    leaf = iter(range(len(makers)))

    def expr(t: tree.TreeDef) -> str:
        if t.kind == tree.LEAF:
            i = next(leaf)
            if makers[i] is None:
                return f"o[{i}]"
            env[f"m{i}"] = makers[i]
            return f"m{i}(o[{i}])"
        if t.kind == "static":
            name = f"c{len(env)}"
            env[name] = t.static
            return name
        parts = [expr(c) for c in t.children]
        if t.kind == "tuple":
            return f"({', '.join(parts)}{',' if len(parts) == 1 else ''})"
        if t.kind == "list":
            return f"[{', '.join(parts)}]"
        name = f"c{len(env)}"  # after the children have taken theirs
        env[name] = t.keys
        return f"dict(zip({name}, ({', '.join(parts)}{',' if len(parts) == 1 else ''})))"

    return eval(f"lambda o: {expr(out_tree)}", env)  # noqa: S307 (built from the tree above)


def _fast_key(args: tuple) -> tuple | None:
    """Signature of a call whose arguments are all C-contiguous arrays (not 0-d) or floats."""
    key = []
    for a in args:
        t = type(a)
        if t is np.ndarray and a.ndim and a.flags.c_contiguous:
            key.append((a.dtype, a.shape))
        elif t is float:
            key.append(t)
        else:
            return None
    return tuple(key)


def _compile(traced: Traced, parallel: bool = False, target: str = "cpu") -> Specialization:
    """Optimize a traced function, generate its source and load the native entry.

    The source is cached on disk under the traced IR's text, so a process that
    traces the same function again skips the passes and code generation too.
    Large constants (closed-over weights) are arguments of the generated code.
    """
    fn, constants = lift_constants(lower_custom(traced.fn))
    if target != "cpu":
        source, entry = compile_for_target(target, simplify(fn), len(constants))
        return Specialization(traced, source, entry, tuple(constants))
    key = f"{fn}\nparallel={parallel}"
    source = load_source(key)
    optimized = None
    if source is None:
        from .codegen.numba_cpu import generate_source

        optimized = simplify(fn)
        source = generate_source(optimized, parallel=parallel)
        store_source(key, source)
    if tiered.enabled():  # native code loaded, or compiled in the background, at the first call
        ir = (lambda: optimized) if optimized is not None else (lambda: simplify(fn))
        entry = tiered.TieredEntry(source, fn.name, ir)
        return Specialization(traced, source, entry, tuple(constants))
    module = load_module(source, fn.name)
    return Specialization(traced, source, module.entry, tuple(constants))


def transform_key(what: Hashable, f: Callable) -> Hashable | None:
    """The key of a transform (`what`: its name and options) of f, None if f has none."""
    fkey = function_key(f)
    return None if fkey is None else (what, fkey)


class Jitted:
    """`adjit.jit(f)`: compiled per input signature (shapes, dtypes, pytree structure).

    The specializations are shared by every transform object built with the same
    `key` (see transform_cache), so re-creating `adjit.jit(f)` or `adjit.grad(f)`
    each step reuses the compiled code. `names_of` is the function whose
    parameters name the arguments in warnings; with `spread`, its arguments are
    the first argument's items (jvp's primals).
    """

    adjit_key: Hashable | None = None

    def __init__(
        self,
        f: Callable,
        parallel: bool = False,
        key: Hashable | None = None,
        names_of: Callable | None = None,
        spread: bool = False,
        target: str = "cpu",
    ) -> None:
        # first: update_wrapper copies f's __dict__, which for a transformed f
        # (jit(grad(f))) holds that object's own fields
        functools.update_wrapper(self, f)
        self.f = f
        self.parallel = parallel
        self.target = target
        self.adjit_key = key
        self._names_of = names_of or f
        self._spread = spread
        self._compiled = compiled_for(key)
        self._specializations = self._compiled.specializations
        self._fast = self._compiled.fast

    def _lookup(self, args: tuple, kwargs: dict) -> tuple[Specialization, list[Any]]:
        leaves, treedef = tree.flatten((args, kwargs))
        signature = tuple(_leaf_signature(leaf) for leaf in leaves)
        key = (treedef, signature)
        spec = self._specializations.get(key)
        if spec is None:
            with self._compiled.lock:
                spec = self._specializations.get(key)
                if spec is None:
                    spec = self._specialize(args, kwargs)
                    self._note_static_variant(treedef, signature)
                    self._specializations[key] = spec
                    fast = None if kwargs else _fast_key(args)
                    if fast is not None and len(leaves) == len(args):
                        spec.register_fast(self._fast, fast)
        return spec, leaves

    def _note_static_variant(self, treedef: tree.TreeDef, signature: tuple) -> None:
        """Warn once when this function has been compiled for too many signatures
        that differ only in static Python values."""
        variants = self._compiled.note_static_variant((_erase_static(treedef), signature), treedef)
        if variants is None:
            return
        names = _varying_arguments(variants, self._names_of, self._spread)
        what = " and ".join(names) or "a static argument"
        warnings.warn(
            f"adjit: {function_name(self._names_of)} has been traced and compiled for "
            f"{len(variants)} values of {what}: Python ints, bools and strings are static, so "
            "each new value compiles again (about 0.3 s). Pass it as a float or a NumPy array "
            "unless the code needs it static (range(n), if flag:)",
            RecompileWarning,
            stacklevel=_user_stacklevel(),
        )

    def _specialize(self, args: tuple, kwargs: dict) -> Specialization:
        traced = trace_function(self.f, *_host_placeholders(args, kwargs))
        return _compile(traced, self.parallel, self.target)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs:
            call = self._fast.get(_fast_key(args))
            if call is not None:
                return call(args)
        if is_tracing():  # jit(f) called inside another trace: f's ops join that trace
            return frontend.user_view(self.f)(*args, **kwargs)
        spec, leaves = self._lookup(args, kwargs)
        return spec(leaves)

    def __reduce__(self) -> tuple:
        # the function and options, not the compiled code (see the module docstring)
        if type(self) is not Jitted or self._names_of is not self.f:
            raise TypeError(
                f"cannot pickle adjit's internal {type(self).__name__} of "
                f"{function_name(self._names_of)}; pickle the transform made by the public API"
            )
        return (functools.partial(jit, parallel=self.parallel, target=self.target), (self.f,))

    def ir(self, *args: Any, **kwargs: Any) -> Function:
        """The optimized IR run for these arguments."""
        return self._lookup(args, kwargs)[0].ir

    def source(self, *args: Any, **kwargs: Any) -> str:
        """The generated Python (Numba) source for these arguments."""
        return self._lookup(args, kwargs)[0].source

    def tier(self, *args: Any, **kwargs: Any) -> str | None:
        """Which tier served the last call with these arguments' signature:
        "interpreter" (native code still compiling in the background) or "native"."""
        return self._lookup(args, kwargs)[0].tier


def _erase_static(t: tree.TreeDef) -> tree.TreeDef:
    """The structure with each static value replaced by its type."""
    if t.kind == "static":
        return tree.TreeDef("static", static=type(t.static))
    if not t.children:
        return t
    return tree.TreeDef(t.kind, tuple(_erase_static(c) for c in t.children), t.keys)


def _parameter_names(f: Callable, n: int) -> list[str]:
    """Names of f's first n positional parameters (`args[i]` for *args; `arg{i}` if unknown)."""
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = []
    for p in params:
        if p.kind == inspect.Parameter.VAR_POSITIONAL:
            names += [f"{p.name}[{j}]" for j in range(n - len(names))]
        elif p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    names += [f"arg{i}" for i in range(len(names), n)]
    return names[:n]


def _varying_arguments(variants: list[tree.TreeDef], f: Callable, spread: bool) -> list[str]:
    """'argument n (1, 2, 3, ...)' for each argument whose static values differ."""
    args = [v.children[0] for v in variants]
    if spread:
        args = [a.children[0] for a in args]
    out = []
    names = _parameter_names(f, len(args[0].children))
    for i, name in enumerate(names):
        seen = list(dict.fromkeys(str(a.children[i]) for a in args))
        if len(seen) > 1:
            out.append(f"argument {name!r} ({', '.join(seen[:4])}, ...)")
    kwargs = [v.children[1] for v in variants]
    for key in kwargs[0].keys:
        seen = list(dict.fromkeys(str(k.children[k.keys.index(key)]) for k in kwargs))
        if len(seen) > 1:
            out.append(f"argument {key!r} ({', '.join(seen[:4])}, ...)")
    return out


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_stacklevel() -> int:
    """The stacklevel of warnings.warn that points at the first frame outside adjit."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        level, frame = level + 1, frame.f_back
    return level


def jit(f: Callable | None = None, *, target: str = "cpu", parallel: bool = False) -> Any:
    """Compile `f` into one fused native function per input signature.

    Usable as `adjit.jit(f)`, `@adjit.jit` and `@adjit.jit(parallel=True)`.
    `target="cuda"` runs it as CUDA kernels (codegen/numba_cuda.py).
    """
    check_target(target)
    if f is None:
        return lambda g: jit(g, target=target, parallel=parallel)
    key = transform_key(("jit", parallel) + _target_key(target), f)
    return Jitted(f, parallel=parallel, key=key, target=target)


def _target_key(target: str) -> tuple:
    """What a transform's key adds for its target (nothing for the CPU: keys stay as they were)."""
    return () if target == "cpu" else (target,)


# ------------------------------------------------------------------ reverse mode


def _argnums_tuple(argnums: int | tuple[int, ...], nargs: int, what: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not isinstance(i, int) or not -nargs <= i < nargs:
            raise AdjitError(
                f"{what}: argnums={argnums!r} is out of range for a call with {nargs} "
                "positional argument(s)"
            )
    return tuple(i % nargs for i in nums)


def _leaf_ranges(args_tree: tree.TreeDef) -> list[range]:
    """The flat leaf indices of each positional argument."""
    ranges, start = [], 0
    for child in args_tree.children:
        ranges.append(range(start, start + child.num_leaves))
        start += child.num_leaves
    return ranges


def _check_differentiable(fn: Function, leaves: range, argnum: int, what: str) -> None:
    if not leaves:
        raise AdjitError(
            f"{what}: argument {argnum} has no array leaves (a Python int, bool or None is "
            "static); pass a float or a float array to differentiate it"
        )
    for i in leaves:
        p = fn.params[i]
        if not p.type.is_float:
            raise AdjitError(
                f"{what}: cannot differentiate argument {p.hint or argnum} of type {p.type}: "
                "only floating-point inputs have gradients; pass it as floats "
                "(e.g. x.astype(float)) or leave it out of argnums"
            )


@dataclass(frozen=True)
class _GradSpec:
    argnums: int | tuple[int, ...]
    has_aux: bool
    with_value: bool

    @property
    def what(self) -> str:
        return "value_and_grad" if self.with_value else "grad"


def _emit_grad(
    traced: Traced, args: list[Value], spec: _GradSpec
) -> tuple[list[Value], tree.TreeDef]:
    """Emit f's value (and aux) and gradient into the current builder.

    Returns the flat results and their tree: grad, (grad, aux), (value, grad) or
    ((value, aux), grad).
    """
    fn, what = traced.fn, spec.what
    args_tree = traced.in_tree.children[0]
    nums = _argnums_tuple(spec.argnums, len(args_tree.children), what)
    ranges = _leaf_ranges(args_tree)
    for i in nums:
        _check_differentiable(fn, ranges[i], i, what)
    out_tree = traced.out_tree
    if spec.has_aux:
        if out_tree.kind not in ("tuple", "list") or len(out_tree.children) != 2:
            raise AdjitError(
                f"{what}(has_aux=True): the function must return a pair (value, aux), "
                f"got a result of structure {out_tree}"
            )
        value_tree, aux_tree = out_tree.children
    else:
        value_tree, aux_tree = out_tree, None
    value_type = fn.results[0].type if value_tree.kind == tree.LEAF else None
    if value_type is None or value_type.ndim != 0 or not value_type.is_float:
        got = value_type if value_type is not None else f"a result of structure {value_tree}"
        raise AdjitError(
            f"{what}: the function must return a float scalar, got {got}; for "
            "non-scalar outputs use adjit.vjp or adjit.jacrev"
        )
    seeds: list[Value | None] = [None] * len(fn.results)
    # the seed cotangent d value / d value = 1 is a constant, not an input
    seeds[0] = ops.constant(np.ones((), value_type.np_dtype))
    wrt = [leaf for i in nums for leaf in ranges[i]]
    results, grads = emit_adjoint(fn, args, seeds, wrt)
    grad_tree = (
        args_tree.children[spec.argnums]
        if isinstance(spec.argnums, int)
        else tree.TreeDef("tuple", tuple(args_tree.children[i] for i in nums))
    )
    if spec.with_value:
        head = tree.TreeDef("tuple", (value_tree, aux_tree)) if spec.has_aux else value_tree
        return [*results, *grads], tree.TreeDef("tuple", (head, grad_tree))
    if spec.has_aux:
        return [*grads, *results[1:]], tree.TreeDef("tuple", (grad_tree, aux_tree))
    return grads, grad_tree


def _placeholder(leaf: Any) -> Any:
    """A concrete stand-in with a tracer's shape and dtype (for tracing a nested call)."""
    if is_tracer(leaf):
        t = leaf.value.type
        return np.zeros(t.shape, t.np_dtype)
    return leaf


class Transformed(Jitted):
    """A transformation of `f` (grad, jacfwd, hessian, ...) with f's call signature.

    `emit(traced, args)` adds the transformed IR to the current builder, given
    f's traced IR and its argument values, and returns the flat results and
    their tree. Called on arrays, it is compiled per input signature like
    `jit`; called inside a trace (nesting, `jit(grad(f))`), it is inlined as IR.
    `options` are what `emit` depends on besides f (argnums, has_aux, ...): with
    `what`, they key the compiled code shared by re-created transforms.
    """

    def __init__(
        self,
        f: Callable,
        emit: Callable[[Traced, list[Value]], tuple[list[Value], tree.TreeDef]],
        what: str,
        options: Hashable,
        target: str = "cpu",
    ) -> None:
        check_target(target)
        key = transform_key((what, options) + _target_key(target), f)
        super().__init__(f, key=key, target=target)
        self.emit = emit
        self.what = what
        self.options = options

    def __reduce__(self) -> tuple:
        return (Transformed, (self.f, self.emit, self.what, self.options, self.target))

    def _specialize(self, args: tuple, kwargs: dict) -> Specialization:
        traced = trace_function(self.f, *_host_placeholders(args, kwargs))
        builder = Builder()
        with building(builder):
            params = [builder.add_arg(p.type, p.hint) for p in traced.fn.params]
            flat, out_tree = self.emit(traced, params)
            body = builder.block(flat)
        name = f"{self.what}_{function_name(self.f)}"
        fn = verify(Function(name, body))
        return _compile(Traced(fn, traced.in_tree, out_tree), target=self.target)

    def _inline(self, args: tuple, kwargs: dict) -> Any:
        traced, values = _trace_nested(self.f, (args, kwargs))
        flat, out_tree = self.emit(traced, values)
        return tree.unflatten(out_tree, [Tracer(v) for v in flat])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs:  # jit's fast path: tracers never have a fast key
            call = self._fast.get(_fast_key(args))
            if call is not None:
                return call(args)
        if is_tracing():  # inside jit(...), grad(...) or another trace: inline the IR
            return self._inline(args, kwargs)
        spec, leaves = self._lookup(args, kwargs)
        return spec(leaves)


def _trace_nested(f: Callable, args_kwargs: tuple) -> tuple[Traced, list[Value]]:
    """Trace f inside the current trace at the shapes of (args, kwargs), which may
    hold tracers; returns its IR and the values of its parameters (captures last)."""
    leaves, in_tree = tree.flatten(args_kwargs, is_leaf=is_tracer)
    args, kwargs = tree.unflatten(in_tree, [_placeholder(leaf) for leaf in leaves])
    traced = trace_function(f, args, kwargs, parent=current())
    values = [ops.as_value(unwrap(leaf)) for leaf in leaves] + list(traced.captures)
    return traced, values


def _differentiated(
    f: Callable | None,
    argnums: int | tuple[int, ...],
    has_aux: bool,
    with_value: bool,
    target: str = "cpu",
) -> Any:
    spec = _GradSpec(argnums if isinstance(argnums, int) else tuple(argnums), has_aux, with_value)

    def make(g: Callable) -> Transformed:
        emit = functools.partial(_emit_grad, spec=spec)
        return Transformed(g, emit, spec.what, spec, target=target)

    return make if f is None else make(f)


def grad(
    f: Callable | None = None,
    argnums: int | tuple[int, ...] = 0,
    has_aux: bool = False,
    *,
    target: str = "cpu",
) -> Any:
    """The gradient of scalar-valued `f` with respect to positional argument(s) `argnums`.

    Usable as `adjit.grad(f)`, `@adjit.grad` and `@adjit.grad(argnums=1)`. Each
    gradient has the structure of its argument; a tuple `argnums` gives a tuple.
    With has_aux, f returns (value, aux) and the result is (gradient, aux).
    """
    return _differentiated(f, argnums, has_aux, with_value=False, target=target)


def value_and_grad(
    f: Callable | None = None,
    argnums: int | tuple[int, ...] = 0,
    has_aux: bool = False,
    *,
    target: str = "cpu",
) -> Any:
    """Like `grad`, but returns (value, gradient), both from one native call.

    With has_aux: ((value, aux), gradient).
    """
    return _differentiated(f, argnums, has_aux, with_value=True, target=target)


class _Pullback:
    """The VJP of one call: cotangent of the output -> one cotangent per primal."""

    def __init__(self, spec: Specialization, primal_leaves: list[Any]) -> None:
        self._spec = spec
        self._primals = primal_leaves
        self._out_types = [p.type for p in spec.traced.fn.params[len(primal_leaves) :]]

    def __call__(self, cotangent: Any) -> tuple:
        traced = self._spec.traced
        leaves, ct_tree = tree.flatten(cotangent)
        out_tree = traced.out_tree.children[0]
        if ct_tree != out_tree or len(leaves) != len(self._out_types):
            raise AdjitError(
                f"vjp: the cotangent must have the structure of the output {out_tree}, "
                f"got {ct_tree}"
            )
        cts = []
        for leaf, t in zip(leaves, self._out_types):
            arr = np.asarray(leaf, dtype=t.np_dtype)
            if arr.shape != t.shape:
                raise AdjitError(f"vjp: cotangent of shape {arr.shape} for an output of type {t}")
            cts.append(arr)
        return self._spec([*self._primals, *cts])[1]

    def ir(self) -> Function:
        return self._spec.ir

    def source(self) -> str:
        return self._spec.source


def _traced_vjp(f: Callable, primals: tuple) -> tuple[Any, Callable[[Any], tuple]]:
    """vjp inside a trace (`grad(lambda x: vjp(f, x)[1](...))`): inlined as IR.

    The pullback re-emits the primal ops; simplify's CSE merges them with the first copy.
    """
    traced, values = _trace_nested(f, (primals, {}))
    fn = traced.fn
    args_tree = traced.in_tree.children[0]
    leaves = tree.flatten(primals, is_leaf=is_tracer)[0]
    env = inline(fn, values)
    out = tree.unflatten(traced.out_tree, [Tracer(env[r]) for r in fn.results])

    def pullback(cotangent: Any) -> tuple:
        ct_leaves, ct_tree = tree.flatten(cotangent, is_leaf=is_tracer)
        if ct_tree != traced.out_tree:
            raise AdjitError(
                f"vjp: the cotangent must have the structure of the output "
                f"{traced.out_tree}, got {ct_tree}"
            )
        cts = [
            ops.broadcast_to(ops.as_value(unwrap(c), r.type.np_dtype), r.type.shape)
            for c, r in zip(ct_leaves, fn.results)
        ]
        _, grads = emit_adjoint(fn, values, cts, range(len(leaves)))
        flat = [Tracer(g) for g in grads]
        return tree.unflatten(tree.TreeDef("tuple", args_tree.children), flat)

    return out, pullback


def vjp(f: Callable, *primals: Any) -> tuple[Any, Any]:
    """(f(*primals), pullback): pullback(cotangent) gives one cotangent per primal.

    The output and every pullback come from one compiled function (the primal
    pass runs again on each pullback call).
    """
    if is_tracing():
        return _traced_vjp(f, primals)
    spec, leaves = _VJP(f, key=transform_key("vjp", f))._lookup(primals, {})
    params = spec.traced.fn.params[len(leaves) :]
    zeros = [np.zeros(p.type.shape, p.type.np_dtype) for p in params]
    out = spec([*leaves, *zeros])[0]
    return out, _Pullback(spec, leaves)


class _VJP(Jitted):
    """vjp's compiled function of f, per signature of the primals: (primals,
    cotangents) -> (f(*primals), cotangents of the primals)."""

    def _specialize(self, args: tuple, kwargs: dict) -> Specialization:
        traced = trace_function(self.f, args, kwargs)
        args_tree = traced.in_tree.children[0]
        for i, leaves in enumerate(_leaf_ranges(args_tree)):
            if leaves:
                _check_differentiable(traced.fn, leaves, i, "vjp")
        fn = traced.fn
        vjp_fn = vjp_function(fn, range(len(fn.params)))
        grads_tree = tree.TreeDef("tuple", args_tree.children)
        out_tree = tree.TreeDef("tuple", (traced.out_tree, grads_tree))
        return _compile(Traced(vjp_fn, traced.in_tree, out_tree))


# ------------------------------------------------------------------ forward mode


def _compiled_call(
    what: str, f: Callable, inline_call: Callable[..., Any], spread: bool = False
) -> Jitted:
    """jit of `inline_call` (which traces into the current builder), sharing its
    compiled code with every call of the same transform of f; `what` names the
    transform and its settings. With `spread`, inline_call's first argument holds
    f's arguments (jvp's primals).

    Transformations that change f's signature (jvp, vmap) run this way: the
    jitted wrapper traces `inline_call` on tracers, which inlines f's transform.
    """
    inline_call.__name__ = f"{what.partition('(')[0]}_{function_name(f)}"
    key = transform_key(what, f)
    if key is None:  # an object whose attributes we cannot key: one per object, as it lives
        by_object = object_key(f)
        key = None if by_object is None else (what, by_object)
    return Jitted(inline_call, key=key, names_of=f, spread=spread)


def _tangent_values(fn: Function, tangents: Any, primals_tree: tree.TreeDef) -> list[Value | None]:
    """The tangent of each float parameter as a value of its type (None: ints)."""
    leaves, t_tree = tree.flatten(tangents, is_leaf=is_tracer)
    if t_tree != primals_tree:
        raise AdjitError(
            f"jvp: the tangents must have the structure of the primals {primals_tree}, got {t_tree}"
        )
    values: list[Value | None] = []
    for p, t in zip(fn.params, leaves):
        if not p.type.is_float:
            values.append(None)  # integer inputs have no tangent
            continue
        v = ops.as_value(unwrap(t), p.type.np_dtype)
        if v.type.shape != p.type.shape:
            raise AdjitError(
                f"jvp: tangent of shape {v.type.shape} for the primal {p.hint} of type {p.type}"
            )
        values.append(v)
    return values


def jvp(f: Callable, primals: Any, tangents: Any) -> tuple[Any, Any]:
    """(f(*primals), J @ tangents): the Jacobian-vector product of f, by forward mode.

    `primals` and `tangents` are tuples of f's positional arguments and of their
    directions (same structure, shapes and float dtypes). Value and directional
    derivative come from one compiled function; integer arguments have no tangent.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if not is_tracing():  # inside a trace f may close over traced values: inline
        call = _compiled_call("jvp", f, lambda p, t: jvp(f, p, t), spread=True)
        return call(primals, tangents)
    traced, values = _trace_nested(f, (primals, {}))
    tvals = _tangent_values(traced.fn, tangents, traced.in_tree.children[0])
    results, touts = emit_tangent(traced.fn, values, tvals + [None] * len(traced.captures))
    touts = [ops.zeros(r.type) if t is None else t for r, t in zip(results, touts)]
    out = tree.unflatten(traced.out_tree, [Tracer(v) for v in results])
    return out, tree.unflatten(traced.out_tree, [Tracer(v) for v in touts])


def hvp(f: Callable, primals: Any, tangents: Any) -> Any:
    """The Hessian of scalar f at `primals` times `tangents`, without forming the Hessian.

    Forward over reverse: the JVP of the gradient, one compiled function. With one
    argument the result has its structure; with several, a tuple (H @ v per argument).
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if not is_tracing():
        call = _compiled_call("hvp", f, lambda p, t: hvp(f, p, t), spread=True)
        return call(primals, tangents)
    argnums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    return jvp(grad(f, argnums=argnums), primals, tangents)[1]


# -------------------------------------------------------------------- Jacobians


def _basis(size: int, types: list[TensorType]) -> list[Banded]:
    """The rows of the size-by-size identity, cut into one block per type:
    block j holds the unit directions of types[j] as a batch of `size` arrays."""
    blocks, start = [], 0
    for t in types:
        blocks.append(Banded.unit(ops.ones(t), start, size))
        start += t.size
    return blocks


def _rows(v: Value, start: int, t: TensorType, batched: bool, size: int) -> Value:
    """Rows start:start+t.size of a batched value, shaped (*t.shape, *core)."""
    v = materialize(v, batched, size)
    core = v.type.shape[1:]
    block = ops.gather(v, (Slice(start, start + t.size, 1), *(Slice(0, d, 1) for d in core)))
    return ops.reshape(block, (*t.shape, *core))


def _one_direction(fn: Function, args: list[Value], wrt: list[int], forward: bool) -> list[Value]:
    """The derivatives along the only direction there is (one input or output element)."""
    if forward:
        tangents: list[Value | None] = [None] * len(args)
        for i in wrt:
            tangents[i] = ops.ones(fn.params[i].type)
        results, touts = emit_tangent(fn, args, tangents)
        return [ops.zeros(r.type) if t is None else t for r, t in zip(results, touts)]
    seeds = [ops.ones(r.type) for r in fn.results]
    return emit_adjoint(fn, args, seeds, wrt)[1]


def _emit_jacobian(
    traced: Traced,
    args: list[Value],
    argnums: int | tuple[int, ...],
    forward: bool,
    has_aux: bool,
) -> tuple[list[Value], tree.TreeDef]:
    """Emit f's Jacobian: out.shape + in.shape per (output leaf, differentiated leaf).

    Forward mode batches the JVP over the unit directions of the inputs, reverse
    mode batches the VJP over those of the outputs; either way the directions
    are a leading axis of every tangent in one native function, and the primal
    computation is shared. With has_aux, f returns (output, aux) and the result
    is (Jacobian, aux).
    """
    what = "jacfwd" if forward else "jacrev"
    fn, out_tree = traced.fn, traced.out_tree
    if has_aux:
        if out_tree.kind not in ("tuple", "list") or len(out_tree.children) != 2:
            raise AdjitError(
                f"{what}(has_aux=True): the function must return a pair (output, aux), "
                f"got a result of structure {out_tree}"
            )
        out_tree, aux_tree = out_tree.children
        env = inline(fn, args)
        aux = [env[r] for r in fn.results[out_tree.num_leaves :]]
        fn = Function(fn.name, replace(fn.body, results=fn.results[: out_tree.num_leaves]))

    def finish(jac: list[Value], jac_tree: tree.TreeDef) -> tuple[list[Value], tree.TreeDef]:
        if not has_aux:
            return jac, jac_tree
        return [*jac, *aux], tree.TreeDef("tuple", (jac_tree, aux_tree))

    args_tree = traced.in_tree.children[0]
    nums = _argnums_tuple(argnums, len(args_tree.children), what)
    ranges = _leaf_ranges(args_tree)
    for i in nums:
        _check_differentiable(fn, ranges[i], i, what)
    for r in fn.results:
        if not r.type.is_float:
            raise AdjitError(
                f"{what}: every output must be floating-point, got one of type {r.type}"
            )
    wrt = [leaf for i in nums for leaf in ranges[i]]
    in_types = [fn.params[i].type for i in wrt]
    out_types = [r.type for r in fn.results]
    seeds = in_types if forward else out_types
    size = sum(t.size for t in seeds)
    if size == 0:  # no direction: every Jacobian is empty
        jac = [
            ops.zeros(TensorType(t_out.dtype, (*t_out.shape, *t_in.shape)))
            for t_out in out_types
            for t_in in in_types
        ]
        return finish(jac, tree.graft(out_tree, _wrt_tree(args_tree, argnums, nums)))
    if size == 1:  # one direction: the plain JVP or VJP, no batch axis
        derivs = [
            (ops.reshape(d, (1, *d.type.shape)), True)
            for d in _one_direction(fn, args, wrt, forward)
        ]
    else:
        g = jvp_function(fn, wrt) if forward else vjp_function(fn, wrt)
        basis = _basis(size, seeds)
        flags = [False] * len(args) + [True] * len(basis)
        outs, out_flags = emit_batched(g, [*args, *basis], flags, size)
        derivs = list(zip(outs[len(fn.results) :], out_flags[len(fn.results) :]))
    jac = []
    for k, t_out in enumerate(out_types):
        for j, t_in in enumerate(in_types):
            if forward:  # rows of the input's directions, shaped (*in, *out)
                start = sum(t.size for t in in_types[:j])
                block = _rows(derivs[k][0], start, t_in, derivs[k][1], size)
                n_in = len(t_in.shape)
                perm = (*range(n_in, n_in + len(t_out.shape)), *range(n_in))
                jac.append(ops.transpose(block, perm))
            else:  # rows of the output's directions: already (*out, *in)
                start = sum(t.size for t in out_types[:k])
                jac.append(_rows(derivs[j][0], start, t_out, derivs[j][1], size))
    return finish(jac, tree.graft(out_tree, _wrt_tree(args_tree, argnums, nums)))


def _wrt_tree(
    args_tree: tree.TreeDef, argnums: int | tuple[int, ...], nums: tuple[int, ...]
) -> tree.TreeDef:
    """The structure of a derivative: the argument's, or a tuple of the arguments'."""
    if isinstance(argnums, int):
        return args_tree.children[nums[0]]
    return tree.TreeDef("tuple", tuple(args_tree.children[i] for i in nums))


def _jacobian_transform(
    f: Callable | None,
    argnums: int | tuple[int, ...],
    forward: bool,
    has_aux: bool,
    target: str = "cpu",
) -> Any:
    argnums = argnums if isinstance(argnums, int) else tuple(argnums)
    emit = functools.partial(_emit_jacobian, argnums=argnums, forward=forward, has_aux=has_aux)

    def make(g: Callable) -> Transformed:
        what = "jacfwd" if forward else "jacrev"
        return Transformed(g, emit, what, (argnums, has_aux), target=target)

    return make if f is None else make(f)


def jacfwd(
    f: Callable | None = None,
    argnums: int | tuple[int, ...] = 0,
    has_aux: bool = False,
    *,
    target: str = "cpu",
) -> Any:
    """The Jacobian of `f` by forward mode (best for few inputs, many outputs).

    Each output leaf's Jacobian has shape out.shape + in.shape; a tuple
    `argnums` gives a tuple per output. Computed in one compiled function: the
    JVP batched over all unit input directions. With has_aux, f returns
    (output, aux) and the result is (Jacobian, aux).
    """
    return _jacobian_transform(f, argnums, forward=True, has_aux=has_aux, target=target)


def jacrev(
    f: Callable | None = None,
    argnums: int | tuple[int, ...] = 0,
    has_aux: bool = False,
    *,
    target: str = "cpu",
) -> Any:
    """The Jacobian of `f` by reverse mode (best for many inputs, few outputs).

    Same layout and options as `jacfwd`; the VJP batched over all unit output
    directions.
    """
    return _jacobian_transform(f, argnums, forward=False, has_aux=has_aux, target=target)


jacobian = jacrev


def hessian(
    f: Callable | None = None, argnums: int | tuple[int, ...] = 0, *, target: str = "cpu"
) -> Any:
    """The Hessian of scalar `f`: jacfwd(jacrev(f)), forward over reverse.

    Shape in.shape + in.shape; a tuple `argnums` gives nested tuples of blocks.
    """
    if f is None:
        return lambda g: hessian(g, argnums, target=target)
    return jacfwd(jacrev(f, argnums), argnums, target=target)


# ----------------------------------------------------------------------- vmap


def vmap(
    f: Callable,
    in_axes: int | None | tuple[int | None, ...] = 0,
    out_axes: int = 0,
    *,
    target: str = "cpu",
) -> Mapped:
    """f mapped over an axis of its arguments, as one compiled function.

    `in_axes`: the mapped axis of every positional argument (an int), or a tuple
    with an int or None (not mapped) per argument; an int applies to every array
    of that argument's pytree. The results carry the mapped axis at `out_axes`.
    """
    check_target(target)
    return Mapped(f, in_axes, out_axes, target)


class Mapped:
    """`adjit.vmap(f, in_axes, out_axes)`: compiled per signature, inlined inside a trace."""

    adjit_key: Hashable | None = None  # keys transforms of it, as for a function

    def __init__(
        self, f: Callable, in_axes: int | None | tuple, out_axes: int, target: str = "cpu"
    ) -> None:
        functools.update_wrapper(self, f)  # first: it copies f's __dict__
        self.f = f
        self.target = target
        self.in_axes = in_axes
        self.out_axes = out_axes
        hashable = not isinstance(in_axes, (list, dict))
        self.adjit_key = transform_key(("vmap", in_axes, out_axes), f) if hashable else None

    def _axes(self, args: tuple) -> tuple:
        spec = self.in_axes
        axes = (spec,) * len(args) if not isinstance(spec, tuple) else spec
        if len(axes) != len(args) or not all(a is None or isinstance(a, int) for a in axes):
            raise AdjitError(
                f"vmap: in_axes={spec!r} must be an int, None, or a tuple of ints/None "
                f"per argument ({len(args)} given)"
            )
        return axes

    def jitted(self, args: tuple) -> Jitted:
        """The compiled function for calls with these arguments' axes."""
        what = f"vmap{self._axes(args)}->{self.out_axes}"
        if self.target != "cpu":
            what += f"@{self.target}"
        f, in_axes, out_axes = self.f, self.in_axes, self.out_axes
        call = _compiled_call(what, f, lambda *a: vmap(f, in_axes, out_axes)(*a))
        call.target = self.target
        return call

    def __call__(self, *args: Any) -> Any:
        axes = self._axes(args)
        if not is_tracing():
            return self.jitted(args)(*args)
        return _inline_vmap(self.f, args, axes, self.out_axes)

    def ir(self, *args: Any) -> Function:
        """The optimized IR run for these arguments."""
        return self.jitted(args).ir(*args)

    def source(self, *args: Any) -> str:
        """The generated Python (Numba) source for these arguments."""
        return self.jitted(args).source(*args)

    def tier(self, *args: Any) -> str | None:
        """Which tier served the last call with these arguments (see Jitted.tier)."""
        return self.jitted(args).tier(*args)

    def __reduce__(self) -> tuple:
        return (functools.partial(vmap, target=self.target), (self.f, self.in_axes, self.out_axes))


def _move_axis(v: Value, source: int, target: int) -> Value:
    """v with its axis `source` moved to position `target` (negative: from the end)."""
    n = v.type.ndim
    for axis in (source, target):
        if not -n <= axis < n:
            raise AdjitError(
                f"vmap: axis {axis} is out of range for an array of shape {v.type.shape}"
            )
    source, target = source % n, target % n
    perm = [i for i in range(n) if i != source]
    perm.insert(target, source)
    return ops.transpose(v, perm)


def _inline_vmap(f: Callable, args: tuple, axes: tuple, out_axes: int) -> Any:
    """Trace f on one slice's shapes, then emit it batched over the mapped arguments."""
    sizes, stand_ins, values, flags = set(), [], [], []
    for a, axis in zip(args, axes):
        leaves, t = tree.flatten(a, is_leaf=is_tracer)
        arg_values = [ops.as_value(unwrap(leaf)) for leaf in leaves]
        if axis is not None:
            for i, v in enumerate(arg_values):
                if v.type.ndim == 0:
                    raise AdjitError(
                        f"vmap: a batched argument has a scalar leaf (no axis {axis} to map)"
                    )
                arg_values[i] = v = _move_axis(v, axis, 0)
                sizes.add(v.type.shape[0])
        drop = 0 if axis is None else 1
        slices = [np.zeros(v.type.shape[drop:], v.type.np_dtype) for v in arg_values]
        stand_ins.append(tree.unflatten(t, slices))
        values += arg_values
        flags += [axis is not None] * len(arg_values)
    if len(sizes) != 1:
        raise AdjitError(f"vmap: the batched arguments disagree on the batch size: {sorted(sizes)}")
    (size,) = sizes
    traced = trace_function(f, tuple(stand_ins), {}, parent=current())
    values += traced.captures
    flags += [False] * len(traced.captures)
    outs, out_flags = emit_batched(traced.fn, values, flags, size)
    flat = [
        Tracer(_move_axis(materialize(v, on, size), 0, out_axes)) for v, on in zip(outs, out_flags)
    ]
    return tree.unflatten(traced.out_tree, flat)


# ---------------------------------------------------------------------- export


def _compiled_transform(f: Callable, args: tuple) -> Jitted:
    """The compiled function that `f(*args)` runs: f itself for jit, grad, ... objects."""
    if isinstance(f, Jitted):
        return f
    if isinstance(f, Mapped):
        return f.jitted(args)
    if not callable(f):
        raise TypeError(f"export: {f!r} is not callable")
    return jit(f)


def export(
    f: Callable,
    *example_args: Any,
    path: str | os.PathLike,
    name: str | None = None,
    signatures: Sequence[tuple] | None = None,
    kind: str = "numba",
) -> pathlib.Path:
    """Compile `f` ahead of time into a package at `path` that runs without adjit.

    `f` is any transform (`jit`, `grad`, `value_and_grad`, `jacrev`, `hessian`,
    `vmap`, ...) or a plain function (compiled as `jit(f)`). It is compiled for
    the positional `example_args`, or for each tuple of positional arguments in
    `signatures` (a list, instead of example_args). The package is named by the
    last component of `path` and exposes the function as `name` (default: f's
    `__name__`); it takes the same argument structures (tuples, lists, dicts of
    arrays) and returns the same result structure as `f`, and raises TypeError
    for arguments that match no exported signature. Large closed-over arrays
    are `.npy` files in the package.

    kind="numba": the generated Numba source with its helpers, needing NumPy and
    Numba at run time; the package is imported and called in a subprocess once
    per signature, so Numba's cache in its `__pycache__` holds the native code.
    kind="pycc": one extension module built by `numba.pycc` (a C compiler is
    needed to build it), needing only NumPy at run time; serial code only.
    Returns the package's path. An earlier export at `path` is replaced.
    """
    from .codegen import aot  # imports Numba: not at `import adjit`
    from .codegen.numba_cpu import generate_source

    if signatures is None:
        calls = [tuple(example_args)]
    elif example_args:
        raise TypeError("export: pass example arguments or signatures=[...], not both")
    else:
        calls = [tuple(args) for args in signatures]
        if not calls:
            raise ValueError("export: signatures=[] holds no argument tuple")
    if kind not in aot.KINDS:
        raise ValueError(f"export: kind={kind!r}; choose one of {', '.join(aot.KINDS)}")
    name = name or getattr(f, "__name__", None)
    if not name:
        raise ValueError("export: f has no __name__; pass name=...")
    exported = []
    for args in calls:
        spec, leaves = _compiled_transform(f, args)._lookup(args, {})
        fn = spec.traced.fn
        source = spec.source
        if kind == "pycc" and "prange(" in source:  # pycc builds no threading layer
            source = generate_source(simplify(lift_constants(lower_custom(fn))[0]), parallel=False)
        exported.append(
            aot.ExportSignature(
                source=source,
                in_tree=spec.traced.in_tree,
                params=[(p.type.np_dtype.name, p.type.shape) for p in fn.params],
                out_tree=spec.traced.out_tree,
                results=[(r.type.np_dtype.name, r.type.shape) for r in fn.results],
                constants=spec.constants,
                example=leaves,
            )
        )
    origin = f"{getattr(f, '__module__', None) or '?'}.{getattr(f, '__qualname__', name)}"
    return aot.write_package(path, name, exported, kind=kind, origin=origin)
