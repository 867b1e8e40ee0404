"""Property tests: hypothesis draws shapes, dtypes, axes and indices; the interpreter
on the traced IR must agree with NumPy (via oracle.check_traced). Element-wise ops
and reductions also see special inputs: ties, zeros and repeated values."""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from oracle import check_traced

import adjit

DTYPES = st.sampled_from([np.float64, np.float32])
SEEDS = st.integers(0, 2**32 - 1)


SPECIAL_VALUES = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0])


def data(shape, dtype, seed, positive=False, special=False):
    """Normal draws, or (special) draws from SPECIAL_VALUES: ties, zeros, repeats."""
    rng = np.random.default_rng(seed)
    x = rng.choice(SPECIAL_VALUES, size=shape) if special else rng.normal(size=shape)
    return (np.abs(x) + 0.1 if positive else x).astype(dtype)


def tolerances(*arrays):
    """rtol/atol for results that may be float32 (composite ops round differently)."""
    if any(np.asarray(a).dtype == np.float32 for a in arrays):
        return {"rtol": 2e-6, "atol": 1e-6}
    return {"rtol": 1e-12, "atol": 1e-14}


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (np.abs(b) + 1),
    "pow": lambda a, b: np.abs(a) ** b,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "arctan2": np.arctan2,
    "logaddexp": np.logaddexp,
    "where": lambda a, b: np.where(a > b, a, b),
    "lt": lambda a, b: a < b,
    "ge": lambda a, b: a >= b,
    "chain": lambda a, b: np.tanh(a * b) + np.exp(-np.abs(a - b)) * 2.0,
    "reflected": lambda a, b: 2.0 - a + 3 * b / (1 + b * b),
}


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # 0.0 ** -0.5 at zeros
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
    dtypes=st.tuples(DTYPES, DTYPES),
    op=st.sampled_from(sorted(BINARY)),
    seed=SEEDS,
    special=st.booleans(),
)
def test_broadcasting_binary_ops(shapes, dtypes, op, seed, special):
    (sa, sb), result_shape = shapes.input_shapes, shapes.result_shape
    a = data(sa, dtypes[0], seed, special=special)
    b = data(sb, dtypes[1], seed + 1, special=special)
    fn = check_traced(BINARY[op], a, b, **tolerances(a, b))
    assert fn.result_types[0].shape == result_shape


@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
    dtype=DTYPES,
    seed=SEEDS,
    name=st.sampled_from(["sum", "mean", "max", "min", "prod", "var", "std"]),
    keepdims=st.booleans(),
    special=st.booleans(),
    data_=st.data(),
)
def test_reductions_over_random_axes(shape, dtype, seed, name, keepdims, special, data_):
    ndim = len(shape)
    axes = data_.draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim), label="axes")
    negative = data_.draw(
        st.lists(st.booleans(), min_size=len(axes), max_size=len(axes)), label="neg"
    )
    axes = [a - ndim if n else a for a, n in zip(axes, negative)]
    form = data_.draw(st.sampled_from(["tuple", "single", "none"]), label="form")
    if form == "none" or not axes:
        axis = None
    elif form == "single":
        axis = axes[0]
    else:
        axis = tuple(axes)
    x = data(shape, dtype, seed, special=special)
    reduce = getattr(np, name)

    def f(x):
        return reduce(x, axis=axis, keepdims=keepdims)

    check_traced(f, x, **tolerances(x))

    def method(x):
        return getattr(x, name)(axis=axis, keepdims=keepdims)

    check_traced(method, x, **tolerances(x))


@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
    dtype=st.sampled_from([np.float64, np.float32, np.int64]),
    seed=SEEDS,
    data_=st.data(),
)
def test_reshape_and_transpose(shape, dtype, seed, data_):
    x = data(shape, np.float64, seed) * 10
    x = x.astype(dtype)
    perm = tuple(data_.draw(st.permutations(range(len(shape))), label="perm"))
    size = x.size
    # a new shape: split the size into random factors, one of them maybe -1
    dims, rest = [], size
    for p in (2, 3, 2, 5):
        if rest % p == 0 and data_.draw(st.booleans()):
            dims.append(p)
            rest //= p
    dims.append(rest)
    dims = data_.draw(st.permutations(dims), label="dims")
    if data_.draw(st.booleans()):
        dims[data_.draw(st.integers(0, len(dims) - 1))] = -1
    new_shape = tuple(dims)

    def f(x):
        t = np.transpose(x, perm)
        return (
            t,
            x.reshape(new_shape),
            t.reshape(new_shape).T,
            x.T.reshape(-1),
            np.swapaxes(x, 0, -1),
        )

    fn = check_traced(f, x)
    assert fn.result_types[0].shape == tuple(shape[p] for p in perm)


def index_entry(dim: int):
    """One entry of a basic index along an axis of size `dim`."""
    bound = st.one_of(st.none(), st.integers(-dim - 2, dim + 2))
    step = st.one_of(st.none(), st.integers(-3, 3).filter(bool))
    entries = [st.builds(slice, bound, bound, step), st.just(slice(None))]
    if dim:
        entries.append(st.integers(-dim, dim - 1))
    return st.one_of(*entries)


@st.composite
def basic_index(draw, shape):
    """Entries for the first `head` axes, maybe an Ellipsis and entries for the last axes."""
    n = len(shape)
    head = draw(st.integers(0, n))
    ellipsis = draw(st.booleans())
    tail = draw(st.integers(0, n - head)) if ellipsis else 0
    entries = [draw(index_entry(d)) for d in shape[:head]]
    if ellipsis:
        entries += [Ellipsis] + [draw(index_entry(d)) for d in shape[n - tail :]]
    for _ in range(draw(st.integers(0, 2))):  # np.newaxis anywhere
        entries.insert(draw(st.integers(0, len(entries))), None)
    return tuple(entries)


@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
    dtype=DTYPES,
    seed=SEEDS,
    data_=st.data(),
)
def test_basic_slicing(shape, dtype, seed, data_):
    index = data_.draw(basic_index(shape), label="index")
    x = data(shape, dtype, seed)

    def f(x):
        return x[index] * 2

    check_traced(f, x)


@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
    seed=SEEDS,
    data_=st.data(),
)
def test_item_assignment_with_slices(shape, seed, data_):
    index = data_.draw(basic_index(shape), label="index")
    x = data(shape, np.float64, seed)

    def f(x):
        a = np.zeros(x.shape)
        a[index] = x[index] + 1.0
        a[index] *= 3.0
        return a

    check_traced(f, x)


@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
    seed=SEEDS,
    data_=st.data(),
)
def test_integer_array_indexing(shape, seed, data_):
    x = data(shape, np.float64, seed)
    axis = data_.draw(st.integers(0, len(shape) - 1), label="axis")
    dim = shape[axis]
    idx = np.array(
        data_.draw(st.lists(st.integers(-dim, dim - 1), min_size=1, max_size=6), label="idx"),
        dtype=np.int64,
    )
    index = (slice(None),) * axis + (idx,)

    def constant_index(x):
        return x[index], x[..., None][index]

    check_traced(constant_index, x)

    def traced_index(x, i):
        return x[(slice(None),) * axis + (i,)]

    check_traced(traced_index, x, idx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_never_widens(dtype):
    """A whole chain on one float dtype keeps that dtype (Python scalars are weak)."""

    def f(x):
        y = np.exp(x) * 2.0 + 1 - np.sqrt(np.abs(x)) / 3
        return np.sum(y @ y.T, axis=0) / y.shape[0], np.maximum(y, 0.0), np.where(x > 0, x, 0.5)

    x = data((3, 3), dtype, 0)
    fn = adjit.trace(f)(x)
    assert all(t.dtype == np.dtype(dtype).name.replace("float", "f") for t in fn.result_types)


PROMOTING = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "where": lambda a, b: np.where(a > b, a, b),
    "compare": lambda a, b: (a < b, a == b),
    "matmul": lambda a, b: a @ b,
    "concatenate": lambda a, b: np.concatenate([a, b]),
    "python_scalars": lambda a, b: (a * 2, b + 1.5, a / 3, 2.0**b, a - True),
    "reductions": lambda a, b: (np.sum(a) + np.prod(b), np.mean(a), np.max(b), np.var(a)),
}
NUMERIC = [np.float64, np.float32, np.int64, np.int32]


@pytest.mark.parametrize("da", NUMERIC, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("db", NUMERIC, ids=lambda d: np.dtype(d).name)
def test_dtype_promotion_matches_numpy(da, db):
    """Every pair of numeric dtypes through ops that promote: NumPy's result dtype, NumPy's values."""
    rng = np.random.default_rng(0)
    a = rng.integers(1, 4, size=3).astype(da)
    b = rng.integers(1, 4, size=3).astype(db)
    for name, op in PROMOTING.items():
        try:
            check_traced(op, a, b, **tolerances(a, b))
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None


# Derivatives at special points, against autograd. Only where the derivative
# exists there, or where adjit and autograd pick the same subgradient (np.abs at 0
# in "chain": 0; a tie of np.max or np.min: shared equally). Not np.maximum (adjit
# gives a tie to the second operand, autograd half to each), nor np.prod (autograd
# divides by the zeros), nor pow or arctan2 at 0 (poles).
SMOOTH_BINARY = {
    "add": lambda xp, a, b: a + b,
    "sub": lambda xp, a, b: a - b,
    "mul": lambda xp, a, b: a * b,
    "div": lambda xp, a, b: a / (xp.abs(b) + 1),
    "chain": lambda xp, a, b: xp.tanh(a * b) + xp.exp(-xp.abs(a - b)) * 2.0,
    "reflected": lambda xp, a, b: 2.0 - a + 3 * b / (1 + b * b),
    "logaddexp": lambda xp, a, b: xp.logaddexp(a, b),
    "hypot_shifted": lambda xp, a, b: xp.sqrt(a * a + b * b + 1.0),
}
TIED_REDUCTIONS = ["sum", "mean", "max", "min"]


def _derivatives_by_adjit(f, *args):
    """Reverse and forward mode gradients of scalar f, traced (no compilation) and run
    by the reference interpreter."""
    argnums = tuple(range(len(args)))
    rev = adjit.trace(lambda *a: adjit.grad(f, argnums=argnums)(*a))(*args)
    fwd = adjit.trace(lambda *a: adjit.jacfwd(f, argnums=argnums)(*a))(*args)
    return adjit.ir.interpret(rev, *args), adjit.ir.interpret(fwd, *args)


@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4),
    op=st.sampled_from(sorted(SMOOTH_BINARY)),
    reduction=st.sampled_from(TIED_REDUCTIONS),
    seed=SEEDS,
)
def test_gradients_at_ties_and_zeros_match_autograd(shapes, op, reduction, seed):
    sa, sb = shapes.input_shapes
    a = data(sa, np.float64, seed, special=True)
    b = data(sb, np.float64, seed + 1, special=True)
    w = np.random.default_rng(seed + 2).choice([0.5, 1.0, 2.0], size=shapes.result_shape)

    def loss(xp, a, b):
        value = SMOOTH_BINARY[op](xp, a, b) * w
        return getattr(xp, reduction)(value, axis=-1) if value.ndim else value

    def total(xp):
        return lambda a, b: xp.sum(loss(xp, a, b))

    want = autograd.grad(total(anp), argnum=(0, 1))(a, b)
    for got in _derivatives_by_adjit(total(np), a, b):
        for g, wnt in zip(got, want):
            np.testing.assert_allclose(g, wnt, rtol=1e-12, atol=1e-14)
