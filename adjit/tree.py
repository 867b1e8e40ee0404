"""Pytrees: nested tuples, lists and dicts of arrays, flattened to leaves and back.

Array leaves (NumPy arrays and scalars, Python floats, traced arrays) become IR
values. Python ints, bools, strings and None are *static*: they are part of the
tree's structure (and so of a compiled function's signature), which lets user
code use them in `range(n)` or `if flag:`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

LEAF = "leaf"


@dataclass(frozen=True)
class TreeDef:
    kind: str  # "leaf", "tuple", "list", "dict" or "static"
    children: tuple[TreeDef, ...] = ()
    keys: tuple[Any, ...] = ()  # dict keys, in sorted order
    static: Any = None

    @property
    def num_leaves(self) -> int:
        if self.kind == LEAF:
            return 1
        return sum(c.num_leaves for c in self.children)

    def __str__(self) -> str:
        if self.kind == LEAF:
            return "*"
        if self.kind == "static":
            return repr(self.static)
        inner = ", ".join(
            f"{k!r}: {c}" if self.kind == "dict" else str(c)
            for k, c in zip(self.keys or [None] * len(self.children), self.children)
        )
        return {"tuple": f"({inner})", "list": f"[{inner}]", "dict": f"{{{inner}}}"}[self.kind]


def is_static(x: Any) -> bool:
    return x is None or isinstance(x, (bool, int, str)) and not isinstance(x, np.generic)


def is_device_array(x: Any) -> bool:
    """An array in GPU memory: anything with `__cuda_array_interface__` (Numba device
    arrays, CuPy arrays, PyTorch CUDA tensors), or the CUDA simulator's arrays."""
    return hasattr(x, "__cuda_array_interface__") or type(x).__name__ == "FakeCUDAArray"


def flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list[Any], TreeDef]:
    """Leaves in order and the structure; `is_leaf` marks extra leaf types (tracers)."""
    leaves: list[Any] = []

    def visit(x: Any) -> TreeDef:
        if is_leaf is not None and is_leaf(x):
            leaves.append(x)
            return TreeDef(LEAF)
        if isinstance(x, tuple) and not hasattr(x, "_fields"):
            return TreeDef("tuple", tuple(visit(e) for e in x))
        if isinstance(x, list):
            return TreeDef("list", tuple(visit(e) for e in x))
        if isinstance(x, dict):
            keys = tuple(sorted(x, key=repr))
            return TreeDef("dict", tuple(visit(x[k]) for k in keys), keys)
        if is_static(x):
            return TreeDef("static", static=x)
        if isinstance(x, (float, np.ndarray, np.generic)) or is_device_array(x):
            leaves.append(x)
            return TreeDef(LEAF)
        raise TypeError(
            f"unsupported argument or result type {type(x).__name__}: adjit takes arrays, "
            "Python scalars and tuples/lists/dicts of them"
        )

    return leaves, visit(tree)


def unflatten(treedef: TreeDef, leaves: list[Any]) -> Any:
    it = iter(leaves)

    def build(t: TreeDef) -> Any:
        if t.kind == LEAF:
            return next(it)
        if t.kind == "static":
            return t.static
        children = [build(c) for c in t.children]
        if t.kind == "tuple":
            return tuple(children)
        if t.kind == "list":
            return children
        return dict(zip(t.keys, children))

    return build(treedef)


def leaf_paths(treedef: TreeDef, prefix: str) -> list[str]:
    """A readable name per leaf: `params.w1`, `xs.0`, ..."""
    if treedef.kind == LEAF:
        return [prefix]
    if treedef.kind == "static":
        return []
    keys = treedef.keys if treedef.kind == "dict" else range(len(treedef.children))
    return [p for k, c in zip(keys, treedef.children) for p in leaf_paths(c, f"{prefix}.{k}")]


def graft(outer: TreeDef, inner: TreeDef) -> TreeDef:
    """`outer` with every leaf replaced by `inner` (a Jacobian: output tree of input trees)."""
    if outer.kind == LEAF:
        return inner
    return TreeDef(
        outer.kind, tuple(graft(c, inner) for c in outer.children), outer.keys, outer.static
    )
