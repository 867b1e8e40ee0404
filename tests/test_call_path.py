"""The call path of transforms: grad and value_and_grad take jit's fast path.

After the first call, a call with positional C-contiguous arrays or floats goes
straight to the native entry: no trace check, no tree walk. The behaviour must be
what the slow path gives: argnums, has_aux, pytrees, scalar types, recompilation
for a new shape. Values are checked against JAX.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adjit
import adjit.api as api
from adjit import tree

jax.config.update("jax_enable_x64", True)


def f(x, y):
    return np.sum(x * np.sin(y)) + 2.0 * np.sum(x)


def f_jax(x, y):
    return jnp.sum(x * jnp.sin(y)) + 2.0 * jnp.sum(x)


def f_aux(x, y):
    return f(x, y), {"s": np.sin(y), "n": (x * 2.0, x), "k": 3}  # a static leaf too


def _forbid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the slow path's steps fail: a warm fast call must not reach them."""

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fast path was not taken")

    monkeypatch.setattr(api, "is_tracing", fail)
    monkeypatch.setattr(tree, "unflatten", fail)
    monkeypatch.setattr(api.Jitted, "_lookup", fail)


def _close(got: object, want: object) -> None:
    g, w = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert len(g) == len(w)
    for a, b in zip(g, w):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)


def test_fast_path_keeps_behaviour(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(5), rng.standard_normal(5)
    transforms = {
        "grad": (adjit.grad(f), jax.grad(f_jax)),
        "grad01": (adjit.grad(f, argnums=(0, 1)), jax.grad(f_jax, argnums=(0, 1))),
        "vg1": (adjit.value_and_grad(f, argnums=1), jax.value_and_grad(f_jax, argnums=1)),
        "vg01": (
            adjit.value_and_grad(f, argnums=(0, 1)),
            jax.value_and_grad(f_jax, argnums=(0, 1)),
        ),
    }
    first = {k: a(x, y) for k, (a, _) in transforms.items()}
    aux = adjit.value_and_grad(f_aux, has_aux=True)
    first_aux = aux(x, y)
    _forbid(monkeypatch)
    for k, (a, j) in transforms.items():
        got = a(x, y)  # warm: the fast path
        want = j(x, y)
        assert type(got) is type(first[k])
        assert tree.flatten(got)[1] == tree.flatten(first[k])[1], k
        _close(got, want)
    (value, extra), g = aux(x, y)
    assert isinstance(extra, dict) and set(extra) == {"s", "n", "k"} and extra["k"] == 3
    assert isinstance(extra["n"], tuple) and len(extra["n"]) == 2
    np.testing.assert_allclose(extra["s"], np.sin(y))
    np.testing.assert_allclose(extra["n"][0], 2 * x)
    np.testing.assert_allclose(g, first_aux[1])
    np.testing.assert_allclose(value, first_aux[0][0])
    # scalars come back as NumPy scalars, as on the slow path
    s = adjit.value_and_grad(lambda a, b: a * b + np.sin(a), argnums=(0, 1))
    monkeypatch.undo()
    s(1.0, 2.0)
    _forbid(monkeypatch)
    v, (ga, gb) = s(1.5, 2.0)
    assert type(v) is np.float64 and type(ga) is np.float64
    np.testing.assert_allclose((v, ga, gb), (3.0 + np.sin(1.5), 2.0 + np.cos(1.5), 1.5))


def test_new_shapes_and_pytrees_still_compile() -> None:
    g = adjit.grad(f, argnums=(0, 1))
    for n in (3, 4):  # a new shape: a new specialization, then its own fast path
        x, y = np.arange(n) / n, np.ones(n)
        for _ in range(2):
            got = g(x, y)
            want = jax.grad(f_jax, argnums=(0, 1))(x, y)
            _close(got, want)
    # pytree arguments are not on the fast path and still work
    h = adjit.grad(lambda p: np.sum(p["w"] ** 2) + p["b"][0] * 3.0)
    p = {"w": np.array([1.0, 2.0]), "b": [0.5]}
    for _ in range(2):
        got = h(p)
        assert set(got) == {"w", "b"} and isinstance(got["b"], list)
        np.testing.assert_allclose(got["w"], [2.0, 4.0])
        np.testing.assert_allclose(got["b"][0], 3.0)


def test_nested_transform_still_traced() -> None:
    """Inside a trace, a warm transform is inlined as IR, not called natively."""
    g = adjit.grad(lambda x: np.sum(np.sin(x) * x))
    x = np.linspace(0.1, 1.0, 4)
    g(x)  # warm its fast path

    def outer(x):
        return np.sum(g(x) ** 2)

    got = adjit.grad(outer)(x)
    want = jax.grad(lambda x: jnp.sum(jax.grad(lambda x: jnp.sum(jnp.sin(x) * x))(x) ** 2))(x)
    np.testing.assert_allclose(got, want, rtol=1e-12)
