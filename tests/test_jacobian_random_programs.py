"""Random NumPy programs: forward and reverse Jacobians agree with each other and
with central finite differences on every one (the batching and diagonal rules
see shapes no hand-picked case has)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_jit_random_programs import STEP, _program

import adjit


def _central_jacobian(f, x, eps=1e-6):
    out = np.asarray(f(x))
    jac = np.zeros(out.shape + x.shape)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        jac[(...,) + i] = (np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2 * eps)
    return jac


@settings(max_examples=12, deadline=None)
@given(
    steps=st.lists(STEP, min_size=2, max_size=8),
    n=st.integers(1, 4),
    m=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_random_program_jacobians_agree(steps, n, m, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, m)), rng.normal(size=m)
    program = _program(steps)

    def f(x, y):
        return program(x, y)[0]

    fwd = adjit.jacfwd(f, argnums=(0, 1))(x, y)
    try:
        rev = adjit.jacrev(f, argnums=(0, 1))(x, y)
    except adjit.UnsupportedError as e:  # reverse mode does not go through while loops
        assert "reverse mode through while" in str(e)
        assert any(kind == "while" for kind, *_ in steps)
        rev = None  # forward mode alone, checked against finite differences below
    for a, b in zip(fwd, rev or ()):
        scale = max(1.0, np.abs(b).max(initial=0.0))
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * scale)
    for k, arg in enumerate((x, y)):
        others = [x, y]

        def along(v, k=k, others=others):
            args = list(others)
            args[k] = v
            return f(*args)

        want = _central_jacobian(along, arg)
        scale = max(1.0, np.abs(want).max(initial=0.0))
        np.testing.assert_allclose(fwd[k], want, rtol=1e-5, atol=1e-6 * scale)


@settings(max_examples=12, deadline=None)
@given(
    steps=st.lists(STEP, min_size=2, max_size=8),
    n=st.integers(1, 4),
    m=st.integers(1, 4),
    batch=st.integers(1, 3),
    mapped=st.sampled_from([(0, 0), (0, None), (None, 0)]),
    seed=st.integers(0, 2**16),
)
def test_random_program_vmap_equals_a_loop(steps, n, m, batch, mapped, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, m)), rng.normal(size=m)
    xs = rng.normal(size=(batch, n, m)) if mapped[0] == 0 else x
    ys = rng.normal(size=(batch, m)) if mapped[1] == 0 else y
    program = _program(steps)
    got = adjit.vmap(program, in_axes=mapped)(xs, ys)
    for i in range(batch):
        want = program(xs[i] if mapped[0] == 0 else xs, ys[i] if mapped[1] == 0 else ys)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g[i], w, rtol=1e-12, atol=1e-300)


@settings(max_examples=8, deadline=None)
@given(
    steps=st.lists(STEP, min_size=2, max_size=8),
    n=st.integers(1, 3),
    m=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_random_program_hessians_agree(steps, n, m, seed):
    # forward over reverse (hessian) against reverse over reverse and against
    # finite differences of the gradient
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, m)), rng.normal(size=m)
    program = _program([step for step in steps if step[0] != "while"])  # reverse mode

    def loss(x):
        return program(x, y)[1]

    fwd_rev = adjit.hessian(loss)(x)
    rev_rev = adjit.jacrev(adjit.grad(loss))(x)
    scale = max(1.0, np.abs(rev_rev).max(initial=0.0))
    np.testing.assert_allclose(fwd_rev, rev_rev, rtol=1e-10, atol=1e-10 * scale)
    want = _central_jacobian(adjit.grad(loss), x)
    scale = max(1.0, np.abs(want).max(initial=0.0))
    np.testing.assert_allclose(fwd_rev, want, rtol=1e-5, atol=1e-6 * scale)
