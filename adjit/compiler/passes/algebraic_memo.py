"""The algebraic pass's decisions without SymPy: a structural screen and a disk memo.

Importing SymPy costs a first call about a second, and most regions come out of
the pass unchanged. Two shortcuts, neither of which can change what the pass
does (tests/test_algebraic_memo.py compares them with SymPy's decisions):

* `cannot_simplify`: a region that provably has nothing cheaper. Every op is an
  add, sub or mul; every input is a symbol (no constant SymPy could fold) read by
  one operand of one op; every op's result is read once in the region at most;
  inputs and results have one shape; the root is an output. Such a region is a
  tree over n + 1 distinct symbols with n binary ops. A candidate must depend on every one of them (the
  pass's `depends` rule), and joining n + 1 values of that shape takes n ops of at
  least that cost each (lowered ops take two operands at most, and none costs
  less than an add): never cheaper, so the pass would keep the region.
* `load`/`store`: the decision for a region, on disk under adjit's cache
  directory, named by a hash of the region's text form (ops, attributes, types,
  uniform constants' values) and of adjit's, SymPy's and NumPy's versions:
  content-addressed, so never stale. A rewrite is kept as the text form of its
  new ops and read back with the IR parser (verified).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pathlib
import tempfile
from dataclasses import replace
from typing import TYPE_CHECKING

from ...ir.core import Block, Function, Op, Value
from ...ir.parser import parse
from ...ir.printer import print_function

if TYPE_CHECKING:
    from .algebraic import _Region

MISS = object()  # load's answer when the disk has no decision for the region
_TREE_OPS = frozenset(("add", "sub", "mul"))


def cannot_simplify(region: _Region, constant) -> bool:
    """Whether the pass provably keeps `region` (module doc); `constant(v)`: the
    number an input stands for, or None for a symbol."""
    shape = region.ops[0].result.type.shape
    uses: dict[Value, int] = {}
    for op in region.ops:
        if op.name not in _TREE_OPS or op.result.type.shape != shape:
            return False
        for v in op.operands:
            uses[v] = uses.get(v, 0) + 1
    if any(n > 1 for n in uses.values()):
        return False
    # the root (read by no op of the region) is an output: a dead root would make
    # the region dearer than its outputs alone, and a rewrite cheaper
    if any(op.result not in uses and op.result not in region.outputs for op in region.ops):
        return False
    return all(v.type.shape == shape and constant(v) is None for v in region.inputs)


@functools.lru_cache(maxsize=1)
def _versions() -> str:
    from importlib import metadata

    from ...codegen.cache import _adjit_fingerprint

    try:
        sympy = metadata.version("sympy")
    except metadata.PackageNotFoundError:
        import sympy as sp

        sympy = sp.__version__
    import numpy as np

    return f"{_adjit_fingerprint()} sympy {sympy} numpy {np.__version__}"


def region_key(region: _Region, constant) -> str:
    """The content hash naming `region`'s decision."""
    outputs = [
        region.ops.index(next(op for op in region.ops if op.result is v)) for v in region.outputs
    ]
    fn = Function("region", Block(tuple(region.inputs), tuple(region.ops), tuple(region.outputs)))
    numbers = [constant(v) for v in region.inputs]
    parts = (
        print_function(fn),
        repr(outputs),
        " ".join("symbol" if n is None else float(n).hex() for n in numbers),
        _versions(),
    )
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _path(key: str) -> pathlib.Path | None:
    from ...codegen.cache import cache_dir

    directory = cache_dir()
    return None if directory is None else directory / "algebraic" / f"{key[:40]}.txt"


def load(key: str, region: _Region):
    """The stored decision: None (keep the region), (segments, values) as
    `_simplified` returns them, or MISS."""
    path = _path(key)
    if path is None:
        return MISS
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return MISS
    head, _, body = text.partition("\n")
    if head == "keep":
        return None
    if not head.startswith("rewrite "):
        return MISS
    try:
        lengths = [int(n) for n in head.split()[1:]]
        fn = parse(body)
    except Exception:  # a damaged entry is a miss: SymPy decides, and it is rewritten
        return MISS
    if len(fn.params) != len(region.inputs) or len(lengths) != len(region.outputs):
        return MISS
    if any(p.type != v.type for p, v in zip(fn.params, region.inputs)):
        return MISS
    subst = dict(zip(fn.params, region.inputs))
    locs = {op.result: op.loc for op in region.ops}
    ops = [replace(op, operands=tuple(subst.get(v, v) for v in op.operands)) for op in fn.body.ops]
    segments: list[list[Op]] = []
    start = 0
    for out, n in zip(region.outputs, lengths):
        segments.append([replace(op, loc=locs[out]) for op in ops[start : start + n]])
        start += n
    return segments, [subst.get(v, v) for v in fn.results]


def store(key: str, region: _Region, lowered) -> None:
    """Keep the decision for `region` (best effort: an unusable directory is skipped)."""
    path = _path(key)
    if path is None:
        return
    if lowered is None:
        text = "keep\n"
    else:
        segments, values = lowered
        ops = tuple(op for s in segments for op in s)
        fn = Function("rewrite", Block(tuple(region.inputs), ops, tuple(values)))
        text = f"rewrite {' '.join(str(len(s)) for s in segments)}\n{print_function(fn)}\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)
