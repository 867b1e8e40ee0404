"""The public transformations: trace, jit (and, as they land, grad, jvp, ...)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import tree
from .codegen.cache import load_module
from .codegen.numba_cpu import generate_source
from .compiler.control import cond, fori_loop, while_loop
from .compiler.passes import simplify
from .compiler.trace import Traced, trace, trace_function
from .errors import AdjitError
from .ir.core import Function

__all__ = ["cond", "fori_loop", "jit", "trace", "while_loop"]


def _leaf_signature(leaf: Any) -> tuple:
    if isinstance(leaf, np.ndarray):
        return (leaf.dtype, leaf.shape)
    if isinstance(leaf, float):
        return (float, ())
    return (np.asarray(leaf).dtype, ())


def _argument(leaf: Any, scalar: bool) -> Any:
    """A leaf as the generated code takes it: C-contiguous arrays, NumPy scalars."""
    if scalar:
        return leaf[()] if isinstance(leaf, np.ndarray) else leaf
    if isinstance(leaf, np.ndarray) and leaf.flags.c_contiguous:
        return leaf
    return np.ascontiguousarray(leaf)


@dataclass
class Specialization:
    """One compiled signature: the traced and optimized IR, its source and native entry."""

    traced: Traced
    ir: Function
    source: str
    entry: Callable[..., tuple]

    def __post_init__(self) -> None:
        self._scalar_params = [p.type.ndim == 0 for p in self.ir.params]
        self._result_makers = [
            r.type.np_dtype.type if r.type.ndim == 0 else None for r in self.ir.results
        ]
        self.call_flat = self._flat_caller()

    def __call__(self, leaves: list[Any]) -> Any:
        args = [_argument(leaf, s) for leaf, s in zip(leaves, self._scalar_params)]
        outs = self.entry(*args)
        results = [make(o) if make else o for make, o in zip(self._result_makers, outs)]
        return tree.unflatten(self.traced.out_tree, results)

    def _flat_caller(self) -> Callable[[tuple], Any]:
        """The call path for positional C-contiguous arrays and floats (see Jitted.__call__).

        Its arguments already are what the generated code takes, so the common
        cases go straight to the native entry with no per-call Python work.
        """
        entry = self.entry
        if self.traced.out_tree.kind == tree.LEAF:
            (make,) = self._result_makers
            if make is None:
                return lambda args: entry(*args)[0]
            return lambda args: make(entry(*args)[0])
        return lambda args: self(list(args))


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


class Jitted:
    """`adjit.jit(f)`: compiled per input signature (shapes, dtypes, pytree structure)."""

    def __init__(self, f: Callable, parallel: bool = False) -> None:
        self.f = f
        self.parallel = parallel
        self._specializations: dict[tuple, Specialization] = {}
        self._fast: dict[tuple, Callable[[tuple], Any]] = {}
        functools.update_wrapper(self, f)

    def _lookup(self, args: tuple, kwargs: dict) -> tuple[Specialization, list[Any]]:
        leaves, treedef = tree.flatten((args, kwargs))
        key = (treedef, tuple(_leaf_signature(leaf) for leaf in leaves))
        spec = self._specializations.get(key)
        if spec is None:
            spec = self._specializations[key] = self._specialize(args, kwargs)
            fast = None if kwargs else _fast_key(args)
            if fast is not None and len(leaves) == len(args):
                self._fast[fast] = spec.call_flat
        return spec, leaves

    def _specialize(self, args: tuple, kwargs: dict) -> Specialization:
        traced = trace_function(self.f, args, kwargs)
        fn = simplify(traced.fn)
        source = generate_source(fn, parallel=self.parallel)
        module = load_module(source, fn.name)
        return Specialization(traced, fn, source, module.entry)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs:
            call = self._fast.get(_fast_key(args))
            if call is not None:
                return call(args)
        spec, leaves = self._lookup(args, kwargs)
        return spec(leaves)

    def ir(self, *args: Any, **kwargs: Any) -> Function:
        """The optimized IR run for these arguments."""
        return self._lookup(args, kwargs)[0].ir

    def source(self, *args: Any, **kwargs: Any) -> str:
        """The generated Python (Numba) source for these arguments."""
        return self._lookup(args, kwargs)[0].source


def jit(f: Callable | None = None, *, target: str = "cpu", parallel: bool = False) -> Any:
    """Compile `f` into one fused native function per input signature.

    Usable as `adjit.jit(f)`, `@adjit.jit` and `@adjit.jit(parallel=True)`.
    """
    if target != "cpu":
        raise AdjitError(f"target {target!r} is not available yet; use target='cpu'")
    if f is None:
        return lambda g: Jitted(g, parallel=parallel)
    return Jitted(f, parallel=parallel)
