"""Generated code split into bounded pieces (codegen/split.py) computes what the
single function computes: on random programs (run as plain Python, so many cases
cost no Numba compilation), compiled by Numba on unrolled time stepping, where
the repeated steps share one piece, and under `grad` at large step counts."""

from __future__ import annotations

import re
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_jit_random_programs import INPUT_KINDS, STEP, _program, inputs

import adjit
from adjit import tree
from adjit.codegen.cache import load_module
from adjit.codegen.numba_cpu import generate_source
from adjit.codegen.split import split_body
from adjit.compiler.passes import simplify


def _source(fn: adjit.ir.Function, limit: int) -> str:
    return generate_source(simplify(fn), split_lines=limit)


def _run_as_python(source: str, *args: np.ndarray) -> tuple:
    """The generated module's entry run by the Python interpreter (no Numba)."""
    text = re.sub(r"^@numba\.njit\(.*\)$", "", source, flags=re.M)
    module = types.ModuleType("adjit_split_test")
    module.__dict__["CACHE"] = False
    exec(compile(text, "<split test>", "exec"), module.__dict__)
    return module.entry(*args)


def rk4(steps: int):
    def rhs(x):
        r = np.roll(x, 1)
        return np.where(x > 0.0, np.tanh(r) - 0.5 * x, np.sin(r) * x)

    def f(x):
        h = 0.01
        for _ in [None] * steps:  # unrolled (a range loop would roll into one op)
            k1 = rhs(x)
            k2 = rhs(x + 0.5 * h * k1)
            k3 = rhs(x + 0.5 * h * k2)
            k4 = rhs(x + h * k3)
            x = x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        return np.sum(x * x)

    return f


def euler(steps: int):
    def f(x, W):
        for _ in [None] * steps:  # unrolled (a range loop would roll into one op)
            x = x + 0.01 * np.tanh(W @ x)
        return np.sum(x * x)

    return f


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(STEP, min_size=2, max_size=10),
    n=st.integers(1, 5),
    m=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    kind=INPUT_KINDS,
    limit=st.integers(1, 12),
)
def test_pieces_agree_with_the_single_function_on_random_programs(steps, n, m, seed, kind, limit):
    x, y = inputs(kind, seed, (n, m), (m,))
    fn = adjit.trace(_program(steps))(x, y)
    want = _run_as_python(_source(fn, 10**9), x, y)
    got = _run_as_python(_source(fn, limit), x, y)
    reference = adjit.ir.interpret(fn, x, y)
    for g, w, r in zip(got, want, reference):
        np.testing.assert_array_equal(g, w)
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-300)


def test_a_short_body_stays_one_function():
    assert split_body(["    x = 1", "    return (x,)"], [], 60) is None


def test_repeated_steps_share_one_piece_compiled_by_numba():
    x = np.linspace(-1.0, 1.0, 10)
    f = rk4(8)
    fn = adjit.trace(f)(x)
    source = _source(fn, 60)
    entry = source[source.index("def entry(") :]
    pieces = set(re.findall(r"_piece\d+", entry))
    assert len(re.findall(r"_piece\d+\(", entry)) >= 8 > len(pieces)  # steps share pieces
    got = load_module(source, "split_rk4").entry(x)
    want = adjit.ir.interpret(fn, x)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    # the gradient, its forward and backward sweeps repeated, against central differences
    f = rk4(4)
    g = adjit.grad(f)(x)
    eps = 1e-6
    fd = [(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(10)]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def _unrolled_grad(steps: int) -> None:
    rng = np.random.default_rng(1)
    x, W = rng.standard_normal(4), 0.3 * rng.standard_normal((4, 4))
    f = euler(steps)
    fn = adjit.grad(f, argnums=(0, 1))
    source = fn.source(x, W)
    assert "_piece" in source
    got = tree.flatten(fn(x, W))[0]
    want = adjit.ir.interpret(fn.ir(x, W), x, W)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    eps = 1e-6
    fd = [(f(x + eps * e, W) - f(x - eps * e, W)) / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(got[0], fd, rtol=1e-6, atol=1e-8)


@pytest.mark.slow
def test_an_unrolled_program_compiles_under_grad(size):
    _unrolled_grad(2000 if size == "full" else 100)
