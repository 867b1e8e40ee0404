"""Trace a Python function into an ir.Function by running it on Tracers."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import tree
from ..errors import AdjitError, UnsupportedError
from ..ir.core import Function, Value
from ..ir.types import TensorType
from ..ir.verifier import verify
from . import frontend, numpy_api, ops
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
    with building(builder), frontend.session():
        inputs = []
        for leaf, path in zip(leaves, paths):
            param = builder.add_arg(_input_type(leaf, path), path)
            if type(leaf) is float:
                builder.weak.add(param)  # promotes like a Python scalar, as in NumPy
            inputs.append(Tracer(param, is_input=True))
        call_args, call_kwargs = tree.unflatten(in_tree, inputs)
        out = _call(frontend.user_view(f), call_args, call_kwargs)
        out_leaves, out_tree = tree.flatten(out, is_leaf=lambda x: isinstance(x, Tracer))
        results = [ops.as_value(numpy_api.unwrap(leaf)) for leaf in out_leaves]
        body = builder.block(results)
    captures = tuple(outer for outer, _ in builder.captures.values())
    return Traced(verify(Function(function_name(f), body)), in_tree, out_tree, captures)


def _call(f: Callable, args: Any, kwargs: dict) -> Any:
    try:
        return f(*args, **kwargs)
    except AdjitError:
        raise
    except Exception as e:
        # NumPy replaces some errors of the objects it converts by its own (storing
        # a traced scalar into a NumPy array: "setting an array element with a
        # sequence"); the adjit error it replaced says what went wrong and where
        cause = _adjit_cause(e)
        if cause is None:
            raise
        raise cause from None


def _adjit_cause(e: BaseException) -> AdjitError | None:
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, AdjitError):
            return e
        seen.add(id(e))
        e = e.__cause__
    return None


def trace(f: Callable) -> Callable[..., Function]:
    """`adjit.trace(f)(*args)`: the ir.Function of `f` at these argument shapes/dtypes."""

    def traced(*args: Any, **kwargs: Any) -> Function:
        return trace_function(f, args, kwargs).fn

    return traced
