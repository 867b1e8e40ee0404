"""The run-time half of an exported package (`adjit.export`): copied into it as `_runtime.py`.

It imports NumPy only (never adjit, nor Numba: the pycc route runs without it).
An exported function flattens its arguments as adjit does (tuples, lists and
dicts of arrays and floats; dict items in the order of their keys' repr;
Python ints, bools, strings and None are static, part of the structure), picks
the exported signature whose structure, dtypes and shapes match, calls that
signature's native entry with the leaves and the hidden constant arrays, and
builds the result's structure back. Tree structures are plain literals:
("leaf",), ("static", value), ("tuple", children), ("list", children) and
("dict", keys, children).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

LEAF = ("leaf",)


def is_static(x: Any) -> bool:
    return x is None or isinstance(x, (bool, int, str)) and not isinstance(x, np.generic)


def flatten(tree: Any) -> tuple[list[Any], tuple]:
    """The leaves of `tree` in order and its structure (adjit's flattening rules)."""
    leaves: list[Any] = []

    def visit(x: Any) -> tuple:
        if isinstance(x, tuple) and not hasattr(x, "_fields"):
            return ("tuple", tuple(visit(e) for e in x))
        if isinstance(x, list):
            return ("list", tuple(visit(e) for e in x))
        if isinstance(x, dict):
            keys = tuple(sorted(x, key=repr))
            return ("dict", keys, tuple(visit(x[k]) for k in keys))
        if is_static(x):
            return ("static", x)
        if isinstance(x, (float, np.ndarray, np.generic)):
            leaves.append(x)
            return LEAF
        raise TypeError(
            f"unsupported argument type {type(x).__name__}: arrays, Python scalars and "
            "tuples/lists/dicts of them are supported"
        )

    return leaves, visit(tree)


def unflatten(tree: tuple, leaves: Sequence[Any]) -> Any:
    """The structure `tree` with its leaves taken from `leaves` in order."""
    it = iter(leaves)

    def build(t: tuple) -> Any:
        kind = t[0]
        if kind == "leaf":
            return next(it)
        if kind == "static":
            return t[1]
        children = [build(c) for c in t[-1]]
        if kind == "tuple":
            return tuple(children)
        if kind == "list":
            return children
        return dict(zip(t[1], children))

    return build(tree)


def type_name(dtype: str, shape: tuple[int, ...]) -> str:
    """adjit's type notation: f64[3,4], i64[], bool[2]."""
    d = np.dtype(dtype)
    short = "bool" if d.kind == "b" else f"{d.kind}{d.itemsize * 8}"
    return f"{short}[{','.join(map(str, shape))}]"


def describe(tree: tuple, types: Sequence[str]) -> str:
    """The structure with each leaf written as its type (a call's signature)."""
    it = iter(types)

    def show(t: tuple) -> str:
        kind = t[0]
        if kind == "leaf":
            return next(it)
        if kind == "static":
            return repr(t[1])
        if kind == "dict":
            return "{" + ", ".join(f"{k!r}: {show(c)}" for k, c in zip(t[1], t[2])) + "}"
        inner = ", ".join(show(c) for c in t[1])
        if kind == "list":
            return f"[{inner}]"
        return f"({inner}{',' if len(t[1]) == 1 else ''})"

    return show(tree)


def _leaf_type(leaf: Any) -> str:
    a = np.asarray(leaf)
    return type_name(a.dtype.str, a.shape)


class Signature:
    """One exported signature: its native entry, argument and result layouts, constants."""

    def __init__(
        self,
        entry: Callable[..., tuple],
        in_tree: tuple,
        params: Sequence[tuple[str, tuple[int, ...]]],
        out_tree: tuple,
        results: Sequence[tuple[str, tuple[int, ...]]],
        constants: Sequence[np.ndarray],
    ) -> None:
        self.entry = entry
        self.in_tree = in_tree
        self.params = [(np.dtype(d), tuple(s)) for d, s in params]
        self.out_tree = out_tree
        self.makers = [np.dtype(d).type if not s else None for d, s in results]
        self.constants = tuple(constants)

    def convert(self, leaves: list[Any]) -> list[Any] | None:
        """The leaves as the entry takes them (C-contiguous arrays, NumPy scalars), or
        None if their dtypes or shapes differ from this signature's."""
        out = []
        for leaf, (dtype, shape) in zip(leaves, self.params):
            a = np.asarray(leaf)
            if a.dtype != dtype or a.shape != shape:
                return None
            out.append(a[()] if not shape else np.ascontiguousarray(a))
        return out

    def expected(self) -> str:
        return describe(self.in_tree[1][0], [type_name(d.str, s) for d, s in self.params])

    def __call__(self, args: list[Any]) -> Any:
        outs = self.entry(*args, *self.constants)
        results = [make(o) if make else o for make, o in zip(self.makers, outs)]
        return unflatten(self.out_tree, results)


class Exported:
    """A function exported by adjit: callable with the structures it was exported for."""

    def __init__(self, name: str, signatures: Sequence[Signature]) -> None:
        self.__name__ = self.__qualname__ = name
        self.signatures = list(signatures)

    def __call__(self, *args: Any) -> Any:
        leaves, tree = flatten((args, {}))
        for sig in self.signatures:
            if sig.in_tree == tree:
                converted = sig.convert(leaves)
                if converted is not None:
                    return sig(converted)
        expected = " or ".join(sig.expected() for sig in self.signatures)
        got = describe(tree[1][0], [_leaf_type(leaf) for leaf in leaves])
        raise TypeError(
            f"{self.__name__}: the arguments match no exported signature: expected "
            f"{expected}, got {got}"
        )

    def __repr__(self) -> str:
        return f"<exported function {self.__name__}: {len(self.signatures)} signature(s)>"


def load_constants(directory: str, names: Sequence[str]) -> list[np.ndarray]:
    """The hidden constant arrays stored beside the package's modules."""
    return [np.load(os.path.join(directory, n), allow_pickle=False) for n in names]
