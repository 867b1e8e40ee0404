"""Reverse mode through while loops and fori_loops with traced bounds (tapes sized
at run time), nested transforms through them, and checkpointing.

Oracles: autograd running the same functions eagerly (adjit's loops run as
Python loops outside a trace), central finite differences, closed forms.
"""

import tracemalloc

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import adjit
from adjit.errors import AdjitError, UnsupportedError


def make_newton(xp):
    def newton(a):
        def cond(s):
            x, previous = s
            return xp.abs(x - previous) > 1e-13 * x

        def body(s):
            x, _ = s
            return (0.5 * (x + a / x), x)

        x, _ = adjit.while_loop(cond, body, (a, a + 1.0))
        return x

    return newton


def test_newton_sqrt_while_loop_gradient_and_nested_forward():
    newton = make_newton(np)
    grad = adjit.grad(newton)
    oracle = autograd.grad(make_newton(anp))
    for a in (0.3, 2.0, 150.0):
        assert grad(a) == pytest.approx(1 / (2 * np.sqrt(a)), rel=1e-12)
        assert grad(a) == pytest.approx(oracle(a), rel=1e-12)
    # the reference interpreter runs the same adjoint IR, tapes included
    (interpreted,) = grad.ir(2.0)(np.float64(2.0))
    assert interpreted == pytest.approx(1 / (2 * np.sqrt(2.0)), rel=1e-12)
    # forward over reverse: d/da 1/(2 sqrt a) = -1/(4 a^1.5)
    _, second = adjit.jvp(grad, (2.0,), (1.0,))
    assert second == pytest.approx(-0.25 * 2.0**-1.5, rel=1e-9)


def make_bisection(xp):
    """Bisection for the root of x^3 - p on [0, 2] (a cond inside a while), then
    a secant step through the final bracket, which makes the result depend
    smoothly on p."""

    def root(p):
        def f(x):
            return x * x * x - p

        def cond(s):
            lo, hi = s
            return hi - lo > 1e-3

        def body(s):
            lo, hi = s
            mid = 0.5 * (lo + hi)
            return adjit.cond(f(mid) > 0, lambda: (lo, mid), lambda: (mid, hi))

        lo, hi = adjit.while_loop(cond, body, (0.0 * p, 2.0 + 0.0 * p))
        return lo - f(lo) * (hi - lo) / (f(hi) - f(lo))

    return root


def test_bisection_with_cond_inside_while():
    grad = adjit.grad(make_bisection(np))
    oracle = autograd.grad(make_bisection(anp))
    for p in (0.5, 3.0):
        assert grad(p) == pytest.approx(oracle(p), rel=1e-12)
        assert grad(p) == pytest.approx(1 / (3 * p ** (2 / 3)), rel=2e-2)  # the secant's error


def make_crossing(xp):
    """A ball thrown up at speed v0 with drag, explicit Euler until it falls
    below zero, then linear interpolation to the crossing time."""

    def crossing(v0, drag):
        dt = 0.01

        def cond(s):
            return s[1] > 0.0

        def body(s):
            t, y, v, _, _ = s
            return (t + dt, y + dt * v, v - dt * (9.81 + drag * v * xp.abs(v)), t, y)

        t, y, _, t0, y0 = adjit.while_loop(cond, body, (0.0, 1e-9 + 0 * v0, v0, 0.0, 0.0))
        return t0 + (t - t0) * y0 / (y0 - y)

    return crossing


def test_euler_simulation_until_crossing_zero():
    crossing = make_crossing(np)
    grad = adjit.grad(crossing, argnums=(0, 1))
    oracle = autograd.grad(make_crossing(anp), argnum=0)
    v0, drag = 3.0, 0.2
    g0, g1 = grad(v0, drag)
    h = 1e-6
    assert g0 == pytest.approx(
        (crossing(v0 + h, drag) - crossing(v0 - h, drag)) / (2 * h), rel=1e-6
    )
    assert g1 == pytest.approx(
        (crossing(v0, drag + h) - crossing(v0, drag - h)) / (2 * h), rel=1e-6
    )
    assert g0 == pytest.approx(oracle(v0, drag), rel=1e-12)


def make_recurrence(xp):
    def recurrence(x, n):
        return adjit.fori_loop(0, n, lambda i, s: xp.sin(s) * x + s * i * 0.1, x)

    return recurrence


def make_growth(xp):
    def growth(x, bound):  # while s < bound: 0 trips if x >= bound
        return adjit.while_loop(lambda s: s < bound, lambda s: s * x + xp.sqrt(s), x)

    return growth


def test_trip_counts_known_only_at_run_time_including_zero_and_one():
    grad = adjit.grad(make_recurrence(np))  # n is an argument: one compile for every n
    oracle = autograd.grad(make_recurrence(anp))
    for n in (0, 1, 2, 7):
        assert grad(0.7, np.int64(n)) == pytest.approx(oracle(0.7, n), rel=1e-12)
    assert grad(0.7, np.int64(0)) == 1.0
    grow = adjit.grad(make_growth(np))
    grow_oracle = autograd.grad(make_growth(anp))
    for bound, trips in ((1.0, 0), (2.0, 1), (50.0, None)):
        assert grow(1.5, bound) == pytest.approx(grow_oracle(1.5, bound), rel=1e-12)
        if trips is not None:  # 0 trips: the identity; 1 trip: d(x^2 + sqrt x)/dx
            assert grow(1.5, bound) == pytest.approx([1.0, 3.0 + 0.5 / np.sqrt(1.5)][trips])


def make_nested(xp):
    """A while loop (Newton for the cube root of the state) inside a fori_loop."""

    def nested(x, n):
        def cube_root(c):
            def body(s):
                y, _ = s
                return (y - (y * y * y - c) / (3 * y * y), y)

            y, _ = adjit.while_loop(lambda s: xp.abs(s[0] - s[1]) > 1e-14, body, (c, c + 1.0))
            return y

        return adjit.fori_loop(0, n, lambda i, s: cube_root(s * x + 1.0), x)

    return nested


def test_while_nested_in_fori_with_traced_bound():
    nested = make_nested(np)
    grad = adjit.grad(nested)
    oracle = autograd.grad(make_nested(anp))
    assert grad(1.3, np.int64(4)) == pytest.approx(oracle(1.3, 4), rel=1e-10)
    h = 1e-6
    fd = (nested(1.3 + h, np.int64(4)) - nested(1.3 - h, np.int64(4))) / (2 * h)
    assert grad(1.3, np.int64(4)) == pytest.approx(fd, rel=1e-7)


def make_optimiser(xp, grad_fn):
    """Gradient descent until the gradient's norm is small (the condition takes a
    gradient; so does the body), returning a function of the minimiser."""

    def objective(x, theta):
        return xp.sum((x - theta) ** 2) + 0.1 * xp.sum(x**4) + 0.5 * x[0] * x[1]

    def optimise(theta):
        step = grad_fn(objective)

        def cond(x):
            g = step(x, theta)
            return xp.sqrt(xp.sum(g * g)) > 1e-12

        x = adjit.while_loop(cond, lambda x: x - 0.1 * step(x, theta), 0.0 * theta)
        return xp.sum(x**3)

    return optimise


def test_gradient_descent_on_gradient_norm_differentiated_wrt_objective_parameter():
    optimise = make_optimiser(np, adjit.grad)
    theta = np.array([0.8, -0.4])
    g = adjit.grad(optimise)(theta)
    assert g == pytest.approx(autograd.grad(make_optimiser(anp, autograd.grad))(theta), rel=1e-9)
    h = 1e-5
    fd = [(optimise(theta + h * e) - optimise(theta - h * e)) / (2 * h) for e in np.eye(2)]
    assert g == pytest.approx(fd, rel=1e-6)


def make_long(k):
    def long_loop(x, n):
        w = np.linspace(0.5, 1.5, x.shape[0])

        def body(i, s):
            return s + 0.01 * np.sin(w * s[::-1]) * x

        return adjit.fori_loop(0, n, body, x, checkpoint=k).sum()

    return long_loop


def make_long_while(k):
    def long_while(x, stop):
        def body(s):
            y, t = s
            return (y + 0.01 * np.cos(y[::-1]) * x, t + 1.0)

        y, _ = adjit.while_loop(lambda s: s[1] < stop, body, (x, 0.0), checkpoint=k)
        return (y * y).sum()

    return long_while


def _peak_bytes(fn, *args):
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_checkpointed_reverse_equals_full_tape_with_less_memory():
    x = np.linspace(-1.0, 1.0, 64)
    n, k = 2000, 45  # 2000 = 44 * 45 + 20: a last, shorter segment
    full, checkpointed = (adjit.grad(make_long(c)) for c in (None, k))
    expected = full(x, np.int64(n))
    np.testing.assert_allclose(checkpointed(x, np.int64(n)), expected, rtol=1e-12, atol=1e-12)
    for trips in (0, 1, k, k + 1):
        np.testing.assert_allclose(
            checkpointed(x, np.int64(trips)), full(x, np.int64(trips)), rtol=1e-12, atol=1e-12
        )
    h = 1e-6
    e = np.zeros_like(x)
    e[3] = 1.0
    fd = (make_long(None)(x + h * e, n) - make_long(None)(x - h * e, n)) / (2 * h)
    assert expected[3] == pytest.approx(fd, rel=1e-6)
    # memory, measured in the reference interpreter running each adjoint IR
    ir_full, ir_checkpointed = (g.ir(x, np.int64(n)) for g in (full, checkpointed))
    peaks = [_peak_bytes(ir, x, np.int64(n)) for ir in (ir_full, ir_checkpointed)]
    state_bytes = x.nbytes
    assert peaks[0] > n * state_bytes  # every state kept
    assert peaks[1] < peaks[0] / 4  # n/k + k states

    # a while loop, in the reference interpreter (95 steps, segments of 10)
    full_while, checkpointed_while = (
        adjit.grad(make_long_while(c)).ir(x[:5], 95.0) for c in (None, 10)
    )
    np.testing.assert_allclose(
        checkpointed_while(x[:5], np.float64(95.0))[0],
        full_while(x[:5], np.float64(95.0))[0],
        rtol=1e-12,
        atol=1e-12,
    )


def test_reverse_over_reverse_through_while_and_checkpointed_fori():
    newton = make_newton(np)
    second = adjit.grad(adjit.grad(newton))  # the tape's own adjoint: a tape of cotangents
    assert second(2.0) == pytest.approx(-0.25 * 2.0**-1.5, rel=1e-9)
    (interpreted,) = second.ir(2.0)(np.float64(2.0))
    assert interpreted == pytest.approx(-0.25 * 2.0**-1.5, rel=1e-9)

    def recurrence(x, n):
        return adjit.fori_loop(0, n, lambda i, s: s * x + np.sin(s), x, checkpoint=3)

    h = 1e-5
    first = adjit.grad(recurrence)
    n = np.int64(7)
    fd = (first(0.7 + h, n) - first(0.7 - h, n)) / (2 * h)
    assert adjit.grad(first)(0.7, n) == pytest.approx(fd, rel=1e-7)


def test_vmap_of_reverse_mode_through_loops():
    newton = make_newton(np)
    with pytest.raises(
        UnsupportedError, match=r"trip count differs across the batch(.|\n)*while_loop"
    ):
        adjit.vmap(adjit.grad(newton))(np.array([2.0, 3.0]))
    # differentiating inside the map works (the loop runs until every slice is done)
    a = np.array([2.0, 3.0])
    inside = adjit.grad(lambda a: adjit.vmap(newton)(a).sum())(a)
    np.testing.assert_allclose(inside, 0.5 / np.sqrt(a), rtol=1e-12)
    # the same trip count for the whole batch (a traced, unbatched bound) maps fine
    grad = adjit.grad(make_recurrence(np))
    xs = np.array([0.2, 0.7])
    mapped = adjit.vmap(grad, in_axes=(0, None))(xs, np.int64(5))
    np.testing.assert_allclose(mapped, [grad(x, np.int64(5)) for x in xs], rtol=1e-12)
    with pytest.raises(AdjitError, match=r"checkpoint must be a positive int(.|\n)*test_loop_rev"):
        adjit.grad(make_long(0))(np.ones(3), np.int64(2))


def test_tape_ir_prints_parses_and_verifies():
    fn = adjit.grad(make_growth(np)).ir(1.5, 4.0)
    text = str(fn)
    assert "tape f64[]" in text and "tape_write" in text and "tape_read" in text
    assert str(adjit.ir.parse(text)) == text
    assert adjit.ir.parse(text)(np.float64(1.5), np.float64(4.0))[0] == pytest.approx(
        autograd.grad(make_growth(anp))(1.5, 4.0), rel=1e-12
    )
