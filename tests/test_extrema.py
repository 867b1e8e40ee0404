"""max and min where they are easy to get wrong: ties, and every position of the
generated code's lane layout (rows of 64 or more elements are reduced eight
lanes at a time, then the leftover elements; long reductions in chunks).

Oracles: NumPy for values; for derivatives, the subgradient the README states
(tied elements share the derivative equally), in forward and reverse mode.
"""

import numpy as np
import pytest

import adjit

# around the eight-lane threshold (64), its tails (n % 8), NumPy's block (128), and a chunk (2048)
LENGTHS = [7, 8, 9, 63, 64, 65, 71, 72, 73, 100, 127, 128, 129, 200, 2047, 2049]


def shared_share(x: np.ndarray, axis, extremum) -> np.ndarray:
    """d sum(extremum(x, axis)) / dx: 1/count on the tied extremal elements."""
    e = extremum(x, axis=axis, keepdims=True)
    hit = (x == e).astype(float)
    return hit / hit.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("reduce", [np.max, np.min], ids=["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_ties_share_the_derivative_in_both_modes(reduce, axis):
    x = np.array([[1.0, 3.0, 3.0, -2.0], [5.0, 5.0, 5.0, 0.0], [-1.0, 2.0, -1.0, 2.0]])

    def f(x):
        return np.sum(reduce(x, axis=axis))

    want = shared_share(x, axis, reduce)
    np.testing.assert_allclose(adjit.grad(f)(x), want, rtol=1e-15)
    np.testing.assert_allclose(adjit.jacfwd(f)(x), want, rtol=1e-15)
    np.testing.assert_allclose(adjit.jacrev(f)(x), want, rtol=1e-15)
    tangent = np.arange(1.0, 13.0).reshape(3, 4)
    _, jvp = adjit.jvp(f, (x,), (tangent,))
    np.testing.assert_allclose(jvp, np.sum(want * tangent), rtol=1e-15)


def test_issue_example_forward_ties():
    x = np.array([1.0, 3.0, 3.0])
    np.testing.assert_allclose(adjit.jacfwd(np.max)(x), [0.0, 0.5, 0.5], rtol=1e-15)
    np.testing.assert_allclose(adjit.jacrev(np.max)(x), [0.0, 0.5, 0.5], rtol=1e-15)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("reduce", [np.max, np.min], ids=["max", "min"])
def test_rows_with_the_extremum_at_every_position(n, reduce):
    # row p holds its extremum at position p: every lane and the tail
    rng = np.random.default_rng(n)
    x = rng.uniform(-1.0, 1.0, size=(min(n, 130), n))
    sign = 1.0 if reduce is np.max else -1.0
    for p in range(x.shape[0]):
        x[p, p * n // x.shape[0]] = sign * 2.0

    def f(x):
        return np.sum(reduce(x, axis=1) * np.arange(1.0, x.shape[0] + 1.0))

    rows = adjit.jit(lambda x: reduce(x, axis=1))
    np.testing.assert_array_equal(rows(x), reduce(x, axis=1))
    want = shared_share(x, 1, reduce) * np.arange(1.0, x.shape[0] + 1.0)[:, None]
    np.testing.assert_array_equal(adjit.grad(f)(x), want)


@pytest.mark.parametrize("n", [64, 65, 71, 100, 129, 2049])
def test_whole_array_extremum_at_every_position(n):
    rng = np.random.default_rng(n)
    base = rng.uniform(-1.0, 1.0, size=n)
    f = adjit.jit(lambda x: (np.max(x), np.min(x)))
    g = adjit.grad(lambda x: np.max(x) - np.min(x))
    for p in range(0, n, max(1, n // 130)):
        for q in {n - 1 - p, (p + 1) % n} - {p}:
            x = base.copy()
            x[p], x[q] = 2.0, -2.0
            assert f(x) == (2.0, -2.0), (p, q)
            want = np.zeros(n)
            want[p], want[q] = 1.0, -1.0
            np.testing.assert_array_equal(g(x), want)
