"""Re-created transforms reuse compiled code; changed closures do not; RecompileWarning.

A transform re-created each step (`adjit.grad(loss)(w)` in a loop) must not
trace again: the tests count calls of the tracer. Every result is checked
against NumPy or central finite differences, and a closure, global or captured
array whose value changed must give the new result.
"""

from __future__ import annotations

import gc
import warnings
import weakref

import numpy as np
import pytest

import adjit
import adjit.api
from adjit import transform_cache


@pytest.fixture
def traces(monkeypatch):
    """A list that grows by one each time adjit traces a function."""
    calls: list[str] = []
    original = adjit.api.trace_function

    def counting(f, *args, **kwargs):
        calls.append(getattr(f, "__name__", "?"))
        return original(f, *args, **kwargs)

    monkeypatch.setattr(adjit.api, "trace_function", counting)
    return calls


def _f(x):
    return np.sum(np.sin(x) * x)


def _df(x):
    return np.cos(x) * x + np.sin(x)


def _d2f_diag(x):  # d/dx_i of _df(x)_i
    return 2 * np.cos(x) - np.sin(x) * x


def _h(x):
    return np.sin(x) * x[::-1]


def _jac_h(x):
    n = x.size
    return np.diag(np.cos(x) * x[::-1]) + np.sin(x)[:, None] * np.eye(n)[::-1]


X = np.array([0.3, -0.7, 1.1])
V = np.array([1.0, 0.5, -2.0])

# name, a step that re-creates the transform, its expected result
RECREATED = [
    ("jit", lambda: adjit.jit(_f)(X), lambda: _f(X)),
    ("grad", lambda: adjit.grad(_f)(X), lambda: _df(X)),
    ("value_and_grad", lambda: adjit.value_and_grad(_f)(X)[1], lambda: _df(X)),
    ("vjp", lambda: adjit.vjp(_h, X)[1](V)[0], lambda: _jac_h(X).T @ V),
    ("jvp lambda", lambda: adjit.jvp(lambda x: _h(x), (X,), (V,))[1], lambda: _jac_h(X) @ V),
    ("jacfwd", lambda: adjit.jacfwd(_h)(X), lambda: _jac_h(X)),
    ("jacrev", lambda: adjit.jacrev(_h, argnums=(0,))(X)[0], lambda: _jac_h(X)),
    ("hessian", lambda: np.diag(adjit.hessian(_f)(X)), lambda: _d2f_diag(X)),
    ("hvp lambda", lambda: adjit.hvp(lambda x: _f(x), (X,), (V,)), None),
    ("vmap lambda", lambda: adjit.vmap(lambda x: _f(x))(np.stack([X, V])), lambda: [_f(X), _f(V)]),
    ("grad(grad)", lambda: adjit.grad(adjit.grad(lambda t: np.sin(t) * t))(0.4), None),
    ("jit(grad)", lambda: adjit.jit(adjit.grad(_f))(X), lambda: _df(X)),
]


def _numeric_hvp() -> np.ndarray:
    eps = 1e-6
    return (_df(X + eps * V) - _df(X - eps * V)) / (2 * eps)


def _second_derivative(t: float = 0.4) -> float:
    return 2 * np.cos(t) - t * np.sin(t)


@pytest.mark.parametrize("name, step, want", RECREATED, ids=[c[0] for c in RECREATED])
def test_recreated_transform_does_not_trace_again(traces, name, step, want):
    first = step()
    assert traces, "the first call must trace"
    del traces[:]
    second = step()
    assert traces == [], f"{name} re-created traced again: {traces}"
    if name == "hvp lambda":
        expected = _numeric_hvp()
    elif name == "grad(grad)":
        expected = _second_derivative()
    else:
        expected = want()
    for got in (first, second):
        np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)


def test_recreated_lambda_over_the_same_data_hits(traces):
    a = np.linspace(-1.0, 2.0, 8)
    for _ in range(3):
        g = adjit.grad(lambda x: np.sum(np.tanh(a * x)))(0.5)
        np.testing.assert_allclose(g, np.sum(a / np.cosh(a * 0.5) ** 2), rtol=1e-12)
    assert len(traces) == 1


class _Scale:
    def __init__(self, c: float) -> None:
        self.c = c

    def __call__(self, x):
        return self.c * np.sin(x)


def test_held_vmap_of_a_callable_object_compiles_once(traces):
    mapped = adjit.vmap(_Scale(2.0))
    xs = np.stack([X, V])
    np.testing.assert_allclose(mapped(xs), 2.0 * np.sin(xs), rtol=1e-12)
    del traces[:]
    for _ in range(2):
        np.testing.assert_allclose(mapped(xs), 2.0 * np.sin(xs), rtol=1e-12)
    assert traces == []


def test_closure_cell_rebound_misses():
    a = 2.0
    b = np.array([1.0, 2.0, 3.0])

    def f(x):
        return np.sum(a * b * x * x)

    for a_value, b_value in [
        (2.0, [1.0, 2.0, 3.0]),
        (3.0, [1.0, 2.0, 3.0]),
        (3.0, [0.0, -1.0, 5.0]),
    ]:
        a, b = a_value, np.array(b_value)
        np.testing.assert_allclose(adjit.grad(f)(X), 2 * a * b * X, rtol=1e-12)
        np.testing.assert_allclose(adjit.jit(f)(X), f(X), rtol=1e-12)


def test_lambda_recreated_over_another_value_misses():
    for c in (1.0, -2.0, 0.5, 1):
        got = adjit.grad(lambda x: c * np.sum(x**3))(X)  # noqa: B023 - called at once
        np.testing.assert_allclose(got, 3 * c * X**2, rtol=1e-12)
        got = adjit.vmap(lambda x: c * x)(np.stack([X, V]))  # noqa: B023
        np.testing.assert_allclose(got, c * np.stack([X, V]), rtol=1e-12)


def test_captured_array_changed_in_place_misses():
    w = np.array([1.0, 2.0, 3.0])
    f = lambda x: np.sum(w * x)  # noqa: E731
    np.testing.assert_allclose(adjit.grad(f)(X), w)
    w[:] = [-4.0, 0.5, 7.0]
    np.testing.assert_allclose(adjit.grad(f)(X), w)


W_GLOBAL = np.array([1.0, 2.0, 3.0])


def _reads_global(x):
    return np.sum(W_GLOBAL * np.sin(x))


def test_global_rebound_misses():
    global W_GLOBAL
    try:
        for w in ([1.0, 2.0, 3.0], [0.0, -1.0, 4.0]):
            W_GLOBAL = np.array(w)
            np.testing.assert_allclose(adjit.grad(_reads_global)(X), W_GLOBAL * np.cos(X))
    finally:
        W_GLOBAL = np.array([1.0, 2.0, 3.0])


def test_large_captured_array_is_right():
    big = np.linspace(0.0, 1.0, transform_cache.MAX_ARRAY_ELEMENTS + 1)
    for scale in (1.0, 2.0, -1.0):
        big = big * scale  # rebound
        got = adjit.grad(lambda t: np.sum(big * np.sin(t)))(0.5)  # noqa: B023
        np.testing.assert_allclose(got, np.sum(big) * np.cos(0.5), rtol=1e-12)
        big[:10] = 3.0  # changed in place
        got = adjit.grad(lambda t: np.sum(big * np.sin(t)))(0.5)  # noqa: B023
        np.testing.assert_allclose(got, np.sum(big) * np.cos(0.5), rtol=1e-12)


def test_cache_does_not_keep_functions_alive():
    def f(x):
        return np.sum(x * x)

    ref = weakref.ref(f)
    np.testing.assert_allclose(adjit.grad(f)(X), 2 * X)
    del f
    gc.collect()
    assert ref() is None


def test_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(transform_cache, "MAX_ENTRIES", 2)
    for k in range(4):
        key = ("test_cache_is_bounded", k)
        transform_cache.compiled_for(key)
        assert len(transform_cache._entries) <= 2
    assert ("test_cache_is_bounded", 3) in transform_cache._entries


def _scaled(x, step):
    return x * step


def test_recompile_warning_names_the_static_argument():
    f = adjit.jit(_scaled)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 5):
            np.testing.assert_allclose(f(X, n), X * n)
        assert not [w for w in caught if issubclass(w.category, adjit.RecompileWarning)]
        with pytest.warns(
            adjit.RecompileWarning, match=r"'step' \(1, 2, 3, 4, \.\.\.\).*float"
        ) as w:
            f(X, 5)
        assert w[0].filename == __file__  # points at the call
        f(X, 6)  # once only
    assert not [w for w in caught if issubclass(w.category, adjit.RecompileWarning)]
    assert issubclass(adjit.RecompileWarning, UserWarning)


def test_recompile_warning_for_a_recreated_grad_with_a_step_counter():
    with pytest.warns(adjit.RecompileWarning, match="'step'"):
        for n in range(1, 7):
            got = adjit.grad(lambda x, step: np.sum(x * x) * step)(X, n)
            np.testing.assert_allclose(got, 2 * X * n)


def test_no_recompile_warning_for_new_shapes():
    f = adjit.jit(lambda x, k: x * k)
    with warnings.catch_warnings():
        warnings.simplefilter("error", adjit.RecompileWarning)
        for size in range(1, 8):
            x = np.arange(float(size))
            np.testing.assert_allclose(f(x, 2), x * 2)
        for size in range(1, 3):  # shape and static value change together
            x = np.arange(float(size))
            np.testing.assert_allclose(f(x, size + 10), x * (size + 10))
