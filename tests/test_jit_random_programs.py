"""Random NumPy programs: the compiled code (fusion, loop merging, buffer reuse and
contraction) must give the reference interpreter's answer on every one, at generic
inputs and at special ones (ties, zeros, repeated values: `inputs`)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import adjit
from adjit import tree

UNARY = [np.exp, np.tanh, np.sin, np.abs, lambda v: v * v, lambda v: -v, lambda v: v * 0.5 + 1.0]
BINARY = [np.add, np.subtract, np.multiply, np.maximum, lambda a, b: a / (1.0 + b * b)]


def _program(steps: list[tuple]) -> callable:
    """A function of x (n, m) and y (m,) applying `steps` to a growing list of values."""

    def f(x, y):
        values = [x, y, x.T]
        for kind, a, b, k in steps:
            u, w = values[a % len(values)], values[b % len(values)]
            if kind == "unary":
                values.append(UNARY[k % len(UNARY)](u))
            elif kind == "binary" and (u.shape == w.shape or u.ndim != w.ndim or u.ndim < 2):
                try:
                    np.broadcast_shapes(u.shape, w.shape)
                except ValueError:
                    continue
                values.append(BINARY[k % len(BINARY)](u, w))
            elif kind == "reduce" and u.ndim:
                axis = k % u.ndim
                reduce = (np.sum, np.max, np.mean)[k % 3]
                values.append(reduce(u, axis=axis, keepdims=bool(k % 2)))
            elif kind == "slice" and u.ndim and u.shape[0] > 1:
                values.append(u[::-1] if k % 2 else u[1:])
            elif kind == "matmul" and u.ndim == 2 and w.ndim >= 1 and u.shape[1] == w.shape[0]:
                values.append(u @ w)
            elif kind == "assign" and u.ndim:
                buffer = np.zeros(u.shape)
                buffer[...] = u
                buffer[0] = np.sum(u) if u.ndim == 1 else u[0] * 2.0
                values.append(buffer)
            elif kind == "cond":
                fn = UNARY[k % len(UNARY)]
                values.append(adjit.cond(np.sum(u) > 0, fn, lambda v: v * 0.5, u))
            elif kind == "loop":
                fn = UNARY[k % len(UNARY)]
                values.append(
                    adjit.fori_loop(0, 1 + k % 3, lambda i, v, fn=fn: fn(v) * 0.5 + v * 0.25, u)
                )
            elif kind == "while":  # a data-dependent trip count
                state = adjit.while_loop(
                    lambda s: (np.sum(s[0] * s[0]) < 4.0) & (s[1] < 3),
                    lambda s: (s[0] * 1.5 + 0.25, s[1] + 1),
                    (u, 0),
                )
                values.append(state[0])
        return values[-1], np.sum(values[-2]) if len(values) > 3 else np.sum(values[0])

    return f


# Values whose sums, maxima and products tie, vanish or repeat exactly.
SPECIAL_VALUES = np.array([0.0, 0.0, 1.0, -1.0, 0.5, -0.5, 2.0])
INPUT_KINDS = st.sampled_from(["generic", "special", "constant"])


def inputs(kind: str, seed: int, *shapes: tuple[int, ...]) -> list[np.ndarray]:
    """Arrays of `shapes`: normal draws, draws from SPECIAL_VALUES (ties, zeros and
    repeats within and across arrays), or one repeated special value."""
    rng = np.random.default_rng(seed)
    if kind == "generic":
        return [rng.normal(size=s) for s in shapes]
    if kind == "special":
        return [rng.choice(SPECIAL_VALUES, size=s) for s in shapes]
    value = rng.choice(SPECIAL_VALUES)
    return [np.full(s, value) for s in shapes]


STEP = st.tuples(
    st.sampled_from(
        ["unary", "binary", "reduce", "slice", "matmul", "assign", "cond", "loop", "while"]
    ),
    st.integers(0, 20),
    st.integers(0, 20),
    st.integers(0, 20),
)


@settings(max_examples=25, deadline=None)
@given(
    steps=st.lists(STEP, min_size=2, max_size=10),
    n=st.integers(1, 5),
    m=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    kind=INPUT_KINDS,
)
def test_random_program_compiles_to_the_interpreters_answer(steps, n, m, seed, kind):
    x, y = inputs(kind, seed, (n, m), (m,))
    f = _program(steps)
    jitted = adjit.jit(f)
    want = adjit.ir.interpret(jitted.ir(x, y), x, y)
    got = tree.flatten(jitted(x, y))[0]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-300)
