"""Scans and order (issue 15): cumsum, cumprod, sort, argsort, argmax, argmin,
take_along_axis, searchsorted, partition, gradient and the matching array methods.

Oracles: NumPy for values (the reference interpreter and the compiled code);
jax (x64) and central finite differences for derivatives, forward and reverse.
Inputs hold ties, repeated values and zeros (cumprod with one and with two zeros
in a line). Many cases share one traced function, so that few are compiled.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adjit
from adjit.errors import ShapeError, UnsupportedError

jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(15)


def tied(*shape: int) -> np.ndarray:
    """Small integers as floats: ties, repeated values and zeros in every line."""
    return RNG.integers(-2, 3, size=shape).astype(float)


SHAPES = [(7,), (3, 4), (2, 3, 4)]


def scans(x, xi, full=True):
    """Every function on every axis, as NumPy and adjit both run it (not full: the
    nonnegative axes of the functions with native kernels and index arithmetic)."""
    outs = []
    for axis in [None, *range(-x.ndim if full else 0, x.ndim)]:
        order = np.argsort(x, axis=axis, kind="stable")
        outs += [
            np.cumsum(x, axis=axis),
            np.cumprod(x, axis=axis),
            np.sort(x, axis=axis),
            order,
            np.take_along_axis(x if axis is not None else x.ravel(), order, axis=axis),
            np.argmax(x, axis=axis),
        ]
        if full:
            outs += [
                np.argmin(x, axis=axis),
                np.argmax(x, axis=axis, keepdims=True),
                np.argmin(x, axis=axis, keepdims=True),
            ]
    flat = x.ravel()
    outs += [np.searchsorted(np.sort(flat), x), np.gradient(x, 0.5, axis=-1)]
    if not full:
        return tuple(outs)
    for axis in range(x.ndim):
        outs.append(np.gradient(x, 0.5, axis=axis))
        if x.shape[axis] > 2:
            outs.append(np.gradient(x, axis=axis, edge_order=2))
    outs += [
        *(np.gradient(x) if x.ndim > 1 else [np.gradient(x)]),
        np.searchsorted(np.sort(flat), x, side="right"),
        np.searchsorted(flat, x, sorter=np.argsort(flat, kind="stable")),
        x.cumsum(axis=-1),
        x.cumprod(),
        x.argsort(axis=0, kind="stable"),
        x.argmax(axis=-1),
        x.argmin(),
        np.cumsum(xi, axis=0),
        np.cumprod(xi, axis=-1),
        np.sort(xi, axis=0, stable=True),
        np.argmax(xi),
        np.cumsum(xi > 0),
        np.argmax(xi > 0, axis=-1),
        np.cumulative_sum(x, axis=-1, include_initial=True),
        np.cumulative_prod(xi, axis=0),
        np.cumulative_prod(x.ravel(), include_initial=True),
    ]
    return tuple(outs)


def partitions(x):
    return tuple(np.partition(x, k, axis=a) for a in range(-x.ndim, x.ndim) for k in (0, -1))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_values_match_numpy_on_every_axis(shape):
    # compiled for the 3-D case only (one compile covers the kernels' outer and
    # inner extents on every axis); the interpreter checks the others
    x = tied(*shape)
    x.flat[1:3] = 0.0  # two zeros in a line for cumprod
    xi = RNG.integers(-3, 4, size=shape)
    want = scans(x, xi)
    fn = adjit.trace(scans)(x, xi)
    assert str(adjit.ir.parse(str(fn))) == str(fn)
    check_outputs(adjit.ir.interpret(fn, x, xi), want)
    if len(shape) == 3:  # the kernels' outer and inner extents on every axis

        def kernels(x, xi):
            return scans(x, xi, full=False)

        compiled = adjit.jit(kernels)
        check_outputs(compiled(x, xi), kernels(x, xi))
        source = compiled.source(x, xi)
        assert "_linear_scan(" in source and "_argsort(" in source


def check_outputs(got, want):
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape and g.dtype == w.dtype, i
        np.testing.assert_allclose(g, w, rtol=1e-14, atol=1e-14, err_msg=str(i))


def test_partition_is_a_valid_partition():
    x = tied(3, 5)
    got = adjit.ir.interpret(adjit.trace(partitions)(x), x)
    for (axis, k), g in zip([(a, k) for a in range(-2, 2) for k in (0, -1)], got):
        # NumPy leaves the order inside each part open: compare what it fixes
        np.testing.assert_array_equal(np.take(g, k, axis), np.take(np.sort(x, axis), k, axis))
        np.testing.assert_array_equal(np.sort(g, axis), np.sort(x, axis))
    order = adjit.ir.interpret(adjit.trace(lambda x: np.argpartition(x, 2, axis=1))(x), x)[0]
    np.testing.assert_array_equal(order, np.argsort(x, axis=1, kind="stable"))


# ------------------------------------------------------------------ derivatives


def loss(np, x):
    """A scalar touching every differentiable function on every axis of a 3-D x,
    with the integer results used as indices."""
    w = np.sin(np.arange(x.size, dtype=float).reshape(x.shape)) + 1.5
    total = 0.0
    for axis in range(3):
        total = total + np.sum(w * np.cumsum(x, axis=axis))
        total = total + np.sum(w * np.cumprod(x, axis=axis))
        total = total + np.sum(w * np.sort(x, axis=axis))
        total = total + np.sum(w * np.take_along_axis(x, np.argsort(x, axis=axis), axis=axis))
        total = total + np.sum(np.gradient(x, 0.5, axis=axis) ** 2)
    flat = x.ravel()
    total = total + np.sum(w.ravel() * np.cumprod(flat)) + np.sum(w.ravel() * np.sort(flat))
    total = total + flat[np.argmax(flat)] * flat[np.argmin(flat)]
    rows = np.argmax(x, axis=1)  # (2, 4) positions along axis 1
    total = total + np.sum(np.take_along_axis(x, rows[:, None, :], axis=1) ** 2)
    cuts = np.sort(x[0, 0])
    total = total + np.sum(cuts[np.clip(np.searchsorted(cuts, x[1, 1]), 0, 3)] * x[1, 1])
    return total


def adjit_loss(x):
    return loss(np, x)


def jax_loss(x):
    return loss(jnp, x)


def central_differences(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def interpreted(transform, x):
    """transform(adjit_loss) at x, its IR run by the reference interpreter: the
    rules are checked without compiling this large function (the tests below
    compile smaller ones)."""
    return adjit.ir.interpret(transform(adjit_loss).ir(x), x)[0]


def test_grad_and_jacobians_match_jax_with_ties_zeros_and_index_use():
    x = tied(2, 3, 4)
    x[0, 1, :2] = 0.0  # two zeros in a row, and one in a column
    want = jax.grad(jax_loss)(x)
    np.testing.assert_allclose(adjit_loss(x), jax_loss(x), rtol=1e-13)
    for transform in (adjit.grad, adjit.jacfwd, adjit.jacrev):
        got = interpreted(transform, x)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=str(transform))


def test_grad_matches_finite_differences_away_from_ties():
    x = RNG.normal(size=(2, 3, 4))  # distinct values: every function is smooth here
    want = central_differences(lambda v: float(jax_loss(v)), x)
    np.testing.assert_allclose(interpreted(adjit.grad, x), want, rtol=1e-6, atol=1e-6)


def test_cumprod_derivatives_are_exact_with_zeros():
    # rows: no zero, one zero, two zeros, zero first; d/dx of cumprod/x would be NaN
    x = np.array([[2.0, -1.5, 3.0, 0.5, 2.0], [2.0, 0.0, 3.0, 0.5, 2.0], [2.0, 0.0, 3.0, 0.0, 2.0]])
    x = np.concatenate([x, [[0.0, 1.5, -2.0, 3.0, 0.5]]])

    def f(x):
        return np.cumprod(x, axis=1) + np.cumprod(x[::-1], axis=0)[::-1]

    def fj(x):
        return jnp.cumprod(x, axis=1) + jnp.cumprod(x[::-1], axis=0)[::-1]

    want = jax.jacrev(fj)(x)
    fwd, rev = adjit.jacfwd(f)(x), adjit.jacrev(f)(x)
    assert np.all(np.isfinite(rev))
    np.testing.assert_allclose(rev, want, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(fwd, want, rtol=1e-14, atol=1e-14)
    # second derivatives (scans of scans) through the zeros too
    hess = adjit.hessian(lambda x: np.sum(np.cumprod(x, axis=1) ** 2))(x)
    np.testing.assert_allclose(
        hess, jax.hessian(lambda x: jnp.sum(jnp.cumprod(x, axis=1) ** 2))(x), rtol=1e-12
    )


def test_sort_gives_tied_cotangents_in_stable_order():
    # sorted: 1 (x1), 1 (x3), 2 (x0), 2 (x2), 3 (x4): the first tied element in the
    # input gets the first sorted slot's cotangent, in both modes
    x = np.array([2.0, 1.0, 2.0, 1.0, 3.0])
    out, pullback = adjit.vjp(np.sort, x)
    np.testing.assert_array_equal(out, np.sort(x))
    (g,) = pullback(np.array([10.0, 20.0, 30.0, 40.0, 50.0]))
    np.testing.assert_array_equal(g, [30.0, 10.0, 40.0, 20.0, 50.0])
    perm = np.eye(5)[[1, 3, 0, 2, 4]]
    np.testing.assert_array_equal(adjit.jacrev(np.sort)(x), perm)
    np.testing.assert_array_equal(adjit.jacfwd(np.sort)(x), perm)
    np.testing.assert_array_equal(jax.jacrev(jnp.sort)(x), perm)  # JAX agrees


def test_vmap_of_each_matches_a_loop():
    xs = tied(4, 3, 5)

    def f(x):
        order = np.argsort(x, axis=0)
        return (
            np.cumsum(x, axis=1),
            np.cumprod(x, axis=0),
            np.sort(x, axis=-1),
            order,
            np.take_along_axis(x, order, axis=0),
            np.argmax(x, axis=1),
            np.argmin(x),
            x[np.argmax(x[:, 0]), np.argmin(x[0])],
            np.searchsorted(np.sort(x[0]), x[1]),
            np.gradient(x, 2.0, axis=1),
            np.partition(x, 2, axis=1),
        )

    got = adjit.vmap(f)(xs)
    for i, g in enumerate(got):
        np.testing.assert_array_equal(g, np.stack([f(x)[i] for x in xs]), err_msg=str(i))
    # per-example gradients through the permutations: vmap of grad

    def g(np, x):
        return np.sum(np.sort(x, axis=0) * np.cumprod(x, axis=1)) * x[0, np.argmax(x[0])]

    xs = RNG.normal(size=(4, 3, 5))
    got = adjit.vmap(adjit.grad(lambda x: g(np, x)))(xs)
    want = jax.vmap(jax.grad(lambda x: g(jnp, x)))(xs)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_vmap_of_per_example_indices_after_slices():
    # gathers and scatters whose index depends on the batch, after leading slices
    xs = RNG.normal(size=(4, 3, 5))

    def f(x):
        order, i = np.argsort(x[0]), np.argmax(x[1])
        y = np.zeros((3, 5))
        y[:, order] = x
        return x[:, order], x[1:, order][:, ::-1], x[::2, i], y

    got = adjit.ir.interpret(adjit.vmap(f).ir(xs), xs)
    for k, g in enumerate(got):
        np.testing.assert_array_equal(g, np.stack([f(x)[k] for x in xs]), err_msg=str(k))

    def split(x):  # the advanced indices split by a slice: NumPy moves their axes
        return x[np.argsort(x[:, 0, 0]), :, np.argmax(x[0, 0])]

    with pytest.raises(UnsupportedError, match="cannot batch gather: an index"):
        adjit.vmap(split).ir(RNG.normal(size=(2, 3, 4, 5)))


# ------------------------------------------------------------------ errors


def _message(f, *args) -> str:
    with pytest.raises((UnsupportedError, ShapeError)) as info:
        adjit.trace(f)(*args)
    text = str(info.value)
    assert "test_scans.py" in text  # the user's line
    return text


def test_errors_name_the_problem_and_the_line():
    x = tied(3, 4)
    assert "np.sort" in _message(lambda x: x.sort(), x)
    assert "np.partition" in _message(lambda x: x.partition(1), x)
    assert "order=" in _message(lambda x: np.sort(x, order="f"), x)
    assert "kind='bubble'" in _message(lambda x: np.argsort(x, kind="bubble"), x)
    assert "coordinate arrays" in _message(lambda x: np.gradient(x, np.arange(3.0), axis=0), x)
    assert "too small" in _message(lambda x: np.gradient(x[:1], axis=0), x)
    assert "integers" in _message(lambda x: np.take_along_axis(x, x, axis=0), x)
    assert "same number of dimensions" in _message(
        lambda x: np.take_along_axis(x, np.argsort(x[0]), axis=0), x
    )
    assert "empty sequence" in _message(lambda x: np.argmax(x[:, :0], axis=1), x)
    assert "out of bounds" in _message(lambda x: np.partition(x, 4, axis=1), x)
    assert "out of bounds" in _message(lambda x: np.cumsum(x, axis=2), x)
    assert "must be 1-D" in _message(lambda x: np.searchsorted(x, 0.5), x)
    assert "traced kth" in _message(lambda x: np.partition(x, np.argmax(x)), x)
    assert "axis is required" in _message(lambda x: np.cumulative_sum(x), x)


@pytest.mark.parametrize(
    "op, message",
    [
        ("%0 = linear_scan %x, %x {axis = 0} : f64[3]", "needs the attributes axis, reverse"),
        ("%0 = linear_scan %x, %x {axis = 1, reverse = true} : f64[3]", "axis 1 out of range"),
        ("%0 = argsort %x {axis = 0} : f64[3]", "expected i64"),
    ],
)
def test_verifier_rejects_malformed_scans(op, message):
    text = f"func @f(%x: f64[3]) -> f64[3] {{\n  {op}\n  return %0\n}}"
    with pytest.raises(adjit.AdjitError, match=message):
        adjit.ir.parse(text)
