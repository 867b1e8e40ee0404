"""The test oracle: trace a NumPy function, check its IR, run it, compare with NumPy.

`check_traced(f, *args, **kwargs)` is the one entry point the corpus and property
tests use. It traces `f`, verifies the IR, checks that the text form parses back
to the same text, runs the reference interpreter on the flattened arguments and
compares every flattened result with what NumPy itself computes for `f(*args)`:
same shape, same dtype, values equal to `rtol`/`atol` (exactly for ints/bools).
When the simplification passes exist (`adjit.compiler.passes.simplify`), the
simplified function goes through the same checks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

import adjit
from adjit import tree
from adjit.ir import Function, interpret, parse, verify


def _simplifier() -> Callable[[Function], Function] | None:
    """`adjit.compiler.passes.simplify` if it exists (a function, or a module holding one)."""
    try:
        passes = importlib.import_module("adjit.compiler.passes")
    except ModuleNotFoundError as e:
        if e.name and "adjit.compiler.passes".startswith(e.name):
            return None
        raise
    simplify = getattr(passes, "simplify", None)
    if simplify is None:
        try:
            simplify = importlib.import_module("adjit.compiler.passes.simplify")
        except ModuleNotFoundError as e:
            if e.name == "adjit.compiler.passes.simplify":
                return None
            raise
    if not callable(simplify):
        simplify = getattr(simplify, "simplify", None)
    return simplify


def flat_args(*args: Any, **kwargs: Any) -> list[Any]:
    """The flat argument list `interpret` takes for `trace(f)(*args, **kwargs)`."""
    return tree.flatten((args, kwargs))[0]


def assert_same(
    got: Any, want: Any, rtol: float = 1e-12, atol: float = 0.0, what: str = ""
) -> None:
    """`got` (interpreter) equals `want` (NumPy): shape, dtype, then values."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}shape {got.shape} != NumPy's {want.shape}"
    assert got.dtype == want.dtype, f"{what}dtype {got.dtype} != NumPy's {want.dtype}"
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def check_function(
    fn: Function,
    flat: list[Any],
    expected: list[Any],
    rtol: float = 1e-12,
    atol: float = 0.0,
    label: str = "",
) -> None:
    """`fn` verifies, round-trips through its text form, and computes `expected`."""
    verify(fn)
    text = str(fn)
    reparsed = parse(text)
    assert str(reparsed) == text, f"{label}text form does not round-trip:\n{text}"
    assert len(fn.results) == len(expected), (
        f"{label}IR returns {len(fn.results)} values, NumPy {len(expected)}"
    )
    for name, candidate in (("", fn), ("reparsed ", reparsed)):
        got = interpret(candidate, *flat)
        assert len(got) == len(expected)
        for i, (g, w) in enumerate(zip(got, expected)):
            assert_same(g, w, rtol, atol, what=f"{label}{name}result {i}: ")


def check_traced(
    f: Callable, *args: Any, rtol: float = 1e-12, atol: float = 0.0, **kwargs: Any
) -> Function:
    """Trace `f` at `args`, check the IR against NumPy's `f(*args, **kwargs)`; return the IR."""
    fn = adjit.trace(f)(*args, **kwargs)
    assert isinstance(fn, Function)
    flat = flat_args(*args, **kwargs)
    assert len(fn.params) == len(flat), f"{len(fn.params)} IR parameters, {len(flat)} leaves"
    for p, a in zip(fn.params, flat):
        assert p.type == adjit.ir.TensorType.of_array(a), f"parameter {p} for {type(a)}"
    expected = tree.flatten(f(*args, **kwargs))[0]
    check_function(fn, flat, expected, rtol, atol)

    simplify = _simplifier()
    if simplify is not None:
        simple = simplify(fn)
        assert isinstance(simple, Function)
        check_function(simple, flat, expected, rtol, atol, label="simplified: ")
        # the simplified function is a fixed point of simplification
        assert len(list(simplify(simple).walk())) <= len(list(simple.walk()))
    return fn
