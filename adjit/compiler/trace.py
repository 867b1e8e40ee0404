"""Trace a Python function into an ir.Function by running it on Tracers."""

from __future__ import annotations

import contextlib
import inspect
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import tree
from ..errors import UnsupportedError
from ..ir.core import Function, Value
from ..ir.types import TensorType
from ..ir.verifier import verify
from . import numpy_api, ops
from .builder import Builder, building
from .tracer import Tracer


@dataclass(frozen=True)
class Traced:
    """A traced function with the pytree structure of its arguments and results."""

    fn: Function
    in_tree: tree.TreeDef
    out_tree: tree.TreeDef
    # values of an enclosing trace that f's closure uses: fn's trailing parameters
    captures: tuple[Value, ...] = ()


_patch_lock = threading.Lock()
_patch_count = 0  # traces running in any thread; the patch stays while one does


@contextlib.contextmanager
def numpy_patched() -> Iterator[None]:
    """Make NumPy's creation functions return tracers while a trace runs (re-entrant).

    The patched functions act only in a thread that is tracing; other threads
    get NumPy's own.
    """
    global _patch_count
    with _patch_lock:
        if _patch_count == 0:
            patches = numpy_api.patched_numpy()
            for name, fn in patches.items():
                _ORIGINALS.setdefault(name, getattr(np, name))
                setattr(np, name, fn)
        _patch_count += 1
    try:
        yield
    finally:
        with _patch_lock:
            _patch_count -= 1
            if _patch_count == 0:
                for name, fn in _ORIGINALS.items():
                    setattr(np, name, fn)


_ORIGINALS: dict[str, Callable] = {}


def _param_names(f: Callable, args: tuple, kwargs: dict) -> tuple[list[str], dict[str, str]]:
    try:
        bound = inspect.signature(f).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return [f"arg{i}" for i in range(len(args))], {k: k for k in kwargs}
    names: list[str] = []
    for pname, value in bound.arguments.items():
        kind = inspect.signature(f).parameters[pname].kind
        if kind == inspect.Parameter.VAR_POSITIONAL:
            names.extend(f"{pname}.{i}" for i in range(len(value)))
        elif kind != inspect.Parameter.VAR_KEYWORD and pname not in kwargs:
            names.append(pname)
    return names[: len(args)], {k: k for k in kwargs}


def _input_type(leaf: Any, path: str) -> TensorType:
    try:
        return TensorType.of_array(leaf)
    except TypeError as e:
        raise UnsupportedError(f"argument {path}: {e}") from None


def function_name(f: Callable) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", getattr(f, "__name__", "f")) or "f"


def trace_function(
    f: Callable, args: tuple, kwargs: dict | None = None, parent: Builder | None = None
) -> Traced:
    """Run `f(*args, **kwargs)` on tracers; return its IR and pytree structure.

    Inside another trace (`parent`), f may close over the enclosing trace's
    values: they become extra trailing parameters, listed in `captures`.
    """
    kwargs = kwargs or {}
    leaves, in_tree = tree.flatten((tuple(args), kwargs))
    arg_names, kw_names = _param_names(f, tuple(args), kwargs)
    args_tree, kwargs_tree = in_tree.children
    paths = [p for i, c in enumerate(args_tree.children) for p in tree.leaf_paths(c, arg_names[i])]
    paths += [
        p
        for k, c in zip(kwargs_tree.keys, kwargs_tree.children)
        for p in tree.leaf_paths(c, kw_names[k])
    ]

    builder = Builder(parent)
    with building(builder), numpy_patched():
        inputs = []
        for leaf, path in zip(leaves, paths):
            param = builder.add_arg(_input_type(leaf, path), path)
            if type(leaf) is float:
                builder.weak.add(param)  # promotes like a Python scalar, as in NumPy
            inputs.append(Tracer(param, is_input=True))
        call_args, call_kwargs = tree.unflatten(in_tree, inputs)
        out = f(*call_args, **call_kwargs)
        out_leaves, out_tree = tree.flatten(out, is_leaf=lambda x: isinstance(x, Tracer))
        results = [ops.as_value(numpy_api.unwrap(leaf)) for leaf in out_leaves]
        body = builder.block(results)
    captures = tuple(outer for outer, _ in builder.captures.values())
    return Traced(verify(Function(function_name(f), body)), in_tree, out_tree, captures)


def trace(f: Callable) -> Callable[..., Function]:
    """`adjit.trace(f)(*args)`: the ir.Function of `f` at these argument shapes/dtypes."""

    def traced(*args: Any, **kwargs: Any) -> Function:
        return trace_function(f, args, kwargs).fn

    return traced
