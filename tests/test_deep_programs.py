"""Deep programs: unrolled Python loops through every pass and the code generator.

The loops iterate over a list, not range(): a `for` over range() would be rolled
into one IR `for` op (README, "Python control flow").

An unrolled loop of thousands of steps makes IR as deep as it is long; every walk
over it must be iterative and every inlined expression bounded (issue 10, item 4).
Numba's compile time grows faster than the function (about 13 s for the 30-step
tanh gradient, 47 s for a 10-step RK4 gradient, 112 s for the 2000-step sin
gradient on a 2-core machine), so the full depth is checked through the passes,
the generated source and Python's `compile`, with the reference interpreter as
the oracle; the native code runs at full depth with --runslow and at a small
depth by default.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from test_fusion_bounds import deepest_nesting

import adjit
from adjit.codegen import fusion
from adjit.ir import interpret, parse

RNG = np.random.default_rng(7)
THETA = RNG.normal(size=(3, 3)) * 0.3
X0 = RNG.normal(size=3)


def tanh_loop(steps: int):
    def f(theta, x):
        for _ in [None] * steps:  # not range(): unrolled, never rolled
            x = x + 0.01 * np.tanh(theta @ x)
        return np.sum(x * x)

    return f, (THETA, X0)


def sin_loop(steps: int):
    def f(x):
        for _ in [None] * steps:  # not range(): unrolled, never rolled
            x = np.sin(x)
        return np.sum(x)

    return f, (X0,)


def rk4(steps: int):
    """A 3-state ODE whose right-hand side has a kink (np.where), integrated by RK4."""

    def f(a, x):
        h = 0.05

        def rhs(y):
            ay = a @ y
            return np.where(y > 0, ay, 0.5 * ay) - 0.1 * y**3

        for _ in [None] * steps:  # not range(): unrolled, never rolled
            k1 = rhs(x)
            k2 = rhs(x + h / 2 * k1)
            k3 = rhs(x + h / 2 * k2)
            k4 = rhs(x + h * k3)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return np.sum(x * x)

    return f, (THETA, X0)


CASES = {"tanh": tanh_loop, "sin": sin_loop, "rk4": rk4}
FULL = {"tanh": 2000, "sin": 2000, "rk4": 200}
# steps compiled natively: with --runslow ("full") and by default ("small")
NATIVE = {"tanh": {"full": 2000, "small": 20}, "sin": {"full": 2000, "small": 300},
          "rk4": {"full": 50, "small": 3}}  # fmt: skip


def fd_grads(f, args: tuple, h: float = 1e-6) -> list[np.ndarray]:
    """Central differences of the NumPy function, one array per argument."""
    grads = []
    for k, a in enumerate(args):
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            plus, minus = list(args), list(args)
            plus[k], minus[k] = a.copy(), a.copy()
            plus[k][i] += h
            minus[k][i] -= h
            g[i] = (f(*plus) - f(*minus)) / (2 * h)
        grads.append(g)
    return grads


def all_argnums(args: tuple) -> tuple[int, ...]:
    return tuple(range(len(args)))


@pytest.mark.parametrize("case", CASES)
def test_full_depth_through_passes_and_codegen(case: str) -> None:
    f, args = CASES[case](FULL[case])
    start = time.perf_counter()
    traced = adjit.trace(f)(*args)
    assert len(traced.body.ops) > 2000
    (value,) = interpret(traced, *args)
    np.testing.assert_allclose(value, f(*args), rtol=1e-12)
    assert str(parse(str(traced))) == str(traced)  # printer and parser at full depth

    g = adjit.grad(f, argnums=all_argnums(args))
    grads = interpret(g.ir(*args), *args)
    for got, want in zip(grads, fd_grads(f, args)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)

    for fn in (adjit.jit(f), g):  # generated, loaded (not compiled by Numba) and parsed
        source = fn.source(*args)
        compile(source, f"<{case}>", "exec")
    print(f"{case} at {FULL[case]} steps: {time.perf_counter() - start:.1f} s")


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_native(case: str, size: str) -> None:
    f, args = CASES[case](NATIVE[case][size])
    np.testing.assert_allclose(adjit.jit(f)(*args), f(*args), rtol=1e-12)
    grads = adjit.grad(f, argnums=all_argnums(args))(*args)
    for got, want in zip(grads, fd_grads(f, args)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_nested_expressions_stay_bounded() -> None:
    """A 2000-term sum of products is one value to fuse: the generated expression
    nests at most fusion.MAX_DEPTH operators (Python refuses 200 parentheses)."""
    f, args = tanh_loop(FULL["tanh"])
    source = adjit.grad(f, argnums=0).source(*args)
    assert deepest_nesting(source) <= 2 * fusion.MAX_DEPTH + 8


@pytest.mark.slow
def test_hundred_thousand_ops_through_passes_and_codegen(size: str) -> None:
    """10^5 ops (--runslow; 2.5 10^4 by default, still far past every depth and
    piece-size threshold): gradient IR, simplification and source in linear time."""
    steps = {"full": 11_200, "small": 2_800}[size]

    def f(x, w):
        for _ in [None] * steps:  # not range(): unrolled, never rolled
            x = np.sin(x) * w + x
        return np.sum(x)

    x, w = np.linspace(-1, 1, 3), np.full(3, 0.5)
    start = time.perf_counter()
    g = adjit.grad(f, argnums=(0, 1))
    ir = g.ir(x, w)
    assert len(ir.body.ops) >= (100_000 if size == "full" else 25_000)
    source = g.source(x, w)
    compile(source, "<1e5>", "exec")
    print(f"{len(ir.body.ops)} ops: {time.perf_counter() - start:.1f} s")
