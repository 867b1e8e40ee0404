"""Random NumPy programs: forward and reverse Jacobians agree with each other and
with central finite differences on every one (the batching and diagonal rules
see shapes no hand-picked case has).

At special inputs (ties, zeros, repeated values) a program may sit on a kink
(np.abs at 0, np.maximum or np.max at a tie, a cond or while predicate on its
boundary). There both modes must pick the same subgradient, and finite
differences are compared only for the entries whose one-sided differences agree
(where the derivative exists).
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_jit_random_programs import INPUT_KINDS, STEP, _program, inputs

import adjit


def _central_jacobian(f, x, eps=1e-6):
    return _difference_jacobians(f, x, eps)[0]


def _difference_jacobians(f, x, eps=1e-6):
    """Central, forward and backward difference Jacobians of f at x."""
    out = np.asarray(f(x))
    central, ahead, behind = (np.zeros(out.shape + x.shape) for _ in range(3))
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        plus, minus = np.asarray(f(x + step)), np.asarray(f(x - step))
        central[(...,) + i] = (plus - minus) / (2 * eps)
        ahead[(...,) + i] = (plus - out) / eps
        behind[(...,) + i] = (out - minus) / eps
    return central, ahead, behind


def _check_against_differences(jac, f, x, generic: bool):
    """jac equals the central differences wherever the one-sided ones agree (at a
    generic point: everywhere)."""
    central, ahead, behind = _difference_jacobians(f, x)
    scale = max(1.0, np.abs(central).max(initial=0.0))
    smooth = np.abs(ahead - behind) <= 1e-4 * scale
    if generic:
        smooth[...] = True
    np.testing.assert_allclose(jac[smooth], central[smooth], rtol=1e-5, atol=1e-6 * scale)


@settings(max_examples=12, deadline=None)
@given(
    steps=st.lists(STEP, min_size=2, max_size=8),
    n=st.integers(1, 4),
    m=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    kind=INPUT_KINDS,
)
# ties of a max reduction (the forward rule splits the derivative like the reverse one)
@example(steps=[("reduce", 0, 0, 1), ("unary", 3, 0, 0)], n=2, m=3, seed=0, kind="constant")
@example(steps=[("reduce", 2, 0, 4), ("binary", 3, 1, 3)], n=3, m=2, seed=5, kind="special")
def test_random_program_jacobians_agree(steps, n, m, seed, kind):
    x, y = inputs(kind, seed, (n, m), (m,))
    program = _program(steps)

    def f(x, y):
        return program(x, y)[0]

    fwd = adjit.jacfwd(f, argnums=(0, 1))(x, y)
    rev = adjit.jacrev(f, argnums=(0, 1))(x, y)  # through while loops too
    for a, b in zip(fwd, rev):
        scale = max(1.0, np.abs(b).max(initial=0.0))
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * scale)
    for k, arg in enumerate((x, y)):
        others = [x, y]

        def along(v, k=k, others=others):
            args = list(others)
            args[k] = v
            return f(*args)

        _check_against_differences(fwd[k], along, arg, generic=kind == "generic")


@settings(max_examples=12, deadline=None)
@given(
    steps=st.lists(STEP, min_size=2, max_size=8),
    n=st.integers(1, 4),
    m=st.integers(1, 4),
    batch=st.integers(1, 3),
    mapped=st.sampled_from([(0, 0), (0, None), (None, 0)]),
    seed=st.integers(0, 2**16),
    kind=INPUT_KINDS,
)
def test_random_program_vmap_equals_a_loop(steps, n, m, batch, mapped, seed, kind):
    x, y, bx, by = inputs(kind, seed, (n, m), (m,), (batch, n, m), (batch, m))
    xs = bx if mapped[0] == 0 else x
    ys = by if mapped[1] == 0 else y
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
