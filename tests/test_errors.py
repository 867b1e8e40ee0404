"""Every error a user can hit while tracing: its class, its message, and that the
message points at the user's file and line (the line marked `# <-` below)."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import adjit
from adjit import (
    AdjitError,
    ControlFlowError,
    MutationError,
    ShapeError,
    TracingError,
    UnsupportedError,
)

X = np.arange(1.0, 7.0).reshape(2, 3)
V = np.arange(3.0)


def marked_line(f) -> int:
    """The line number of the line marked `# <-` in f's source."""
    lines, start = inspect.getsourcelines(f)
    (i,) = [i for i, line in enumerate(lines) if line.rstrip().endswith("# <-")]
    return start + i


def trace_error(exc: type, match: str, f, *args, at=None, **kwargs) -> str:
    """Tracing f(*args) raises `exc` matching `match`, located at f's marked line.

    `at`: a one-line function (a lambda) whose line the error must name instead.
    """
    with pytest.raises(exc, match=match) as info:
        adjit.trace(f)(*args, **kwargs)
    msg = str(info.value)
    assert isinstance(info.value, AdjitError)
    line = marked_line(f) if at is None else at.__code__.co_firstlineno
    where = re.escape(__file__) + f":{line}: "
    assert re.search(r"\n  at " + where + r"\S", msg), (
        f"message does not point at line {line}:\n{msg}"
    )
    if at is None:
        assert msg.rstrip().endswith("# <-"), f"message does not show the source line:\n{msg}"
    return msg


def test_exception_family():
    for cls in (TracingError, adjit.IRError):
        assert issubclass(cls, AdjitError)
    for cls in (UnsupportedError, ShapeError, ControlFlowError, MutationError):
        assert issubclass(cls, TracingError)
    assert issubclass(ShapeError, ValueError)


# ------------------------------------------------------------ unsupported NumPy


@pytest.mark.parametrize(
    "name, call",
    [
        ("np.linalg.lstsq", lambda x: np.linalg.lstsq(x, x)),
        ("np.unique", lambda x: np.unique(x)),
        ("np.nancumsum", lambda x: np.nancumsum(x)),
        ("np.lexsort", lambda x: np.lexsort(x)),
        ("np.nanargmax", lambda x: np.nanargmax(x)),
        ("np.linalg.eig", lambda x: np.linalg.eig(x)),
        ("np.fft.fft", lambda x: np.fft.fft(x)),
        ("np.add.accumulate", lambda x: np.add.accumulate(x)),
        ("np.gcd", lambda x: np.gcd(x.astype(int), 6)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_unsupported_numpy_function_is_named(name, call):
    def f(x):
        y = x * 2
        return call(y)

    trace_error(
        UnsupportedError,
        rf"^{re.escape(name)} is not supported by adjit",
        f,
        np.eye(3) + 1,
        at=call,
    )


def test_unsupported_keyword_argument():
    def f(x):
        return np.add(x, 1.0, where=x > 2)  # <-

    trace_error(UnsupportedError, r"np\.add with argument\(s\) where is not supported", f, X)


def test_unsupported_norm_order():
    def f(x):  # a matrix has no 3-norm
        return np.linalg.norm(x, ord=3)  # <-

    trace_error(UnsupportedError, r"np\.linalg\.norm: invalid norm order 3 for matrices", f, X)


def test_unsupported_array_method():
    def f(x):
        return x.compress([True, False])  # <-

    trace_error(UnsupportedError, r"\.compress is not supported by adjit", f, X)
    assert adjit.trace(lambda x: x + hasattr(x, "choose"))(X) is not None  # hasattr is False


def test_unsupported_reshape_order():
    def f(x):
        return x.reshape(6, order="F")  # <-

    trace_error(UnsupportedError, r"order='F'", f, X)


def test_one_argument_where():
    def f(x):
        return np.where(x > 2)  # <-

    trace_error(
        UnsupportedError, r"np\.where\(cond\) with one argument .* depends on the data", f, X
    )


def test_scipy_ufunc_is_named():
    scipy_special = pytest.importorskip("scipy.special")

    def f(x):
        return scipy_special.gamma(x)  # <-

    trace_error(UnsupportedError, r"^scipy.special.gamma is not supported", f, X)


def test_integer_bitwise():
    def f(i):
        return i & 1  # <-

    trace_error(UnsupportedError, r"bitwise operations on integers", f, np.arange(3))


# ------------------------------------------------------------------ control flow


def test_if_on_traced_array():
    # a scalar condition is captured (tests/test_capture.py); an array one is refused
    def f(x):
        if x > 0:  # <-
            return x
        return -x

    msg = trace_error(ControlFlowError, r"condition of an if statement is a traced array", f, X)
    assert "(2, 3)" in msg and "np.where" in msg and "np.any" in msg


def test_while_on_traced_array():
    def f(x):
        while x < 10:  # <-
            x = x * 2
        return x

    trace_error(ControlFlowError, r"condition of a while loop is a traced array.*np\.where", f, X)


@pytest.mark.parametrize(
    "what, call",
    [
        ("a Python bool", lambda s: bool(s)),
        ("a Python float", lambda s: float(s)),
        ("a Python int", lambda s: int(s)),
        ("a Python scalar", lambda s: s.item()),
        ("a Python list", lambda s: s.tolist()),
        ("a Python index", lambda s: range(s.astype(np.int64))),
        ("a Python bool", lambda s: s and 1.0),
        ("a Python bool", lambda s: max(s, 1.0)),
    ],
    ids=["bool", "float", "int", "item", "tolist", "range", "and", "max"],
)
def test_python_conversions_of_traced_values(what, call):
    def f(x):
        s = np.sum(x)
        return call(s)

    msg = trace_error(ControlFlowError, rf"cannot use a traced value as {what}", f, X, at=call)
    assert "np.where" in msg and "adjit.cond" in msg


def test_math_module_on_traced_value():
    import math

    def f(x, gamma):
        return x * math.log(gamma)  # <-

    trace_error(ControlFlowError, r"as a Python float", f, X, 2.0)


def test_conversion_of_constants_is_fine():
    """Values known while tracing may be used as Python values."""

    def f(x):
        n = int(np.sum(np.ones(3)))
        if np.max(np.arange(4)) > 2:
            n += 1
        return x * n + float(np.pi * np.ones(()))

    fn = adjit.trace(f)(X)
    np.testing.assert_allclose(fn(X)[0], f(X))


# ------------------------------------------------------------------------ shapes


def test_broadcast_mismatch_names_both_shapes():
    def f(x, y):
        return x + y  # <-

    trace_error(
        ShapeError, r"add: shapes \(3,\) and \(4,\) do not broadcast", f, np.ones(3), np.ones(4)
    )

    def g(x, y):
        return np.maximum(x, y * 2)  # <-

    trace_error(ShapeError, r"shapes \(2, 3\) and \(2,\) do not broadcast", g, X, np.ones(2))


def test_matmul_misalignment_names_both_shapes():
    def f(x, y):
        return x @ y  # <-

    trace_error(ShapeError, r"matmul: shapes \(2, 3\) and \(2, 3\) are not aligned", f, X, X)

    def g(x, v):
        return np.dot(x, v)  # <-

    trace_error(ShapeError, r"matmul: shapes \(2, 3\) and \(4,\) are not aligned", g, X, np.ones(4))

    def h(x, y):
        return x @ y  # <-

    trace_error(
        ShapeError,
        r"batch dimensions of \(2, 2, 3\) and \(3, 3, 1\)",
        h,
        np.ones((2, 2, 3)),
        np.ones((3, 3, 1)),
    )

    def s(x):
        return x @ 2.0  # <-

    trace_error(ShapeError, r"matmul: operands must be at least 1-D", s, X)


def test_reshape_to_incompatible_size():
    def f(x):
        return x.reshape(4, 2)  # <-

    trace_error(ShapeError, r"cannot reshape array of shape \(2, 3\) into shape \(4, 2\)", f, X)

    def g(x):
        return np.reshape(x, (-1, 4))  # <-

    trace_error(ShapeError, r"cannot reshape array of shape \(2, 3\) into shape \(-1, 4\)", g, X)

    def h(x):
        return x.reshape(-1, -1)  # <-

    trace_error(ShapeError, r"only one dimension may be -1", h, X)


def test_concatenate_and_stack_mismatch():
    def f(x, y):
        return np.concatenate([x, y])  # <-

    trace_error(
        ShapeError,
        r"concatenate: shapes \(2, 3\) and \(2, 4\) differ outside axis 0",
        f,
        X,
        np.ones((2, 4)),
    )

    def g(x, v):
        return np.concatenate([x, v], axis=1)  # <-

    trace_error(ShapeError, r"different numbers of dimensions: \(2, 3\), \(3,\)", g, X, V)

    def h(x, v):
        return np.stack([x[0], v])  # <-

    trace_error(ShapeError, r"same shape, got \[\(3,\), \(4,\)\]", h, X, np.ones(4))


def test_broadcast_to_mismatch():
    def f(x):
        return np.broadcast_to(x, (3, 3))  # <-

    trace_error(ShapeError, r"cannot broadcast shape \(2, 3\) to \(3, 3\)", f, X)


def test_bad_axes():
    def f(x):
        return np.sum(x, axis=2)  # <-

    trace_error(ShapeError, r"axis 2 is out of bounds for array of dimension 2", f, X)

    def g(x):
        return np.max(x, axis=(1, -1))  # <-

    trace_error(ShapeError, r"repeated axis", g, X)

    def h(x):
        return np.transpose(x, (0,))  # <-

    trace_error(ShapeError, r"axes \(0,\) don't match array of dimension 2", h, X)


def test_item_assignment_shape_mismatch():
    def f(x):
        a = np.zeros((2, 3))
        a[0] = x[:, :2]  # <-
        return a

    trace_error(
        ShapeError, r"could not broadcast value of shape \(2, 2\) into indexed shape \(3,\)", f, X
    )


def test_max_of_empty_axis():
    def f(x):
        return np.max(x[:0], axis=0)  # <-

    trace_error(ShapeError, r"zero-size reduction", f, X)


# ---------------------------------------------------------------------- indexing


def test_traced_boolean_mask_explains_data_dependent_shape():
    def f(x):
        return x[x > 2]  # <-

    msg = trace_error(UnsupportedError, r"traced boolean mask .* shape depends on the data", f, X)
    assert "np.where(mask, x, 0)" in msg


def test_traced_index_must_be_integer():
    def f(x, v):
        return x[:, v]  # <-

    trace_error(
        UnsupportedError, r"arrays used as indices must be of integer type, got float64", f, X, V
    )


def test_traced_slice_bounds():
    def f(x, n):
        return x[: n[0]]  # <-

    trace_error(UnsupportedError, r"slice bounds must be Python ints", f, V, np.array([2]))


@pytest.mark.parametrize(
    "index, match",
    [
        ((5,), r"index 5 is out of bounds for axis 0 with size 2"),
        ((0, -4), r"index -4 is out of bounds for axis 1 with size 3"),
        ((slice(None), [0, 3]), r"index 3 is out of bounds for axis 1 with size 3"),
        ((0, 0, 0), r"too many indices for array: array is 2-dimensional, but 3 were indexed"),
        ((Ellipsis, 0, Ellipsis), r"an index can only have a single ellipsis"),
    ],
    ids=["row", "negative", "array", "too-many", "two-ellipses"],
)
def test_index_out_of_bounds_is_an_index_error(index, match):
    def f(x):
        return x[index]  # <-

    trace_error(IndexError, match, f, X)

    def g(x):
        a = np.zeros((2, 3))
        a[index] = 1.0  # <-
        return a + x

    trace_error(IndexError, match, g, X)


def test_invalid_index_type():
    def f(x):
        return x[1.5]  # <-

    trace_error(UnsupportedError, r"only integers, slices, None, Ellipsis .* got 1\.5", f, X)


# ---------------------------------------------------------------------- mutation


def test_item_assignment_into_input_argument():
    def f(x):
        x[0] = 1.0  # <-
        return x

    trace_error(
        MutationError, r"item assignment would modify an input argument in place.*x\.copy\(\)", f, X
    )


def test_inplace_operator_on_input_argument():
    def f(x):
        x += 1.0  # <-
        return x

    trace_error(MutationError, r"in-place add would modify an input argument", f, X)

    def g(x):
        x[0] *= 2.0  # <-
        return x

    trace_error(MutationError, r"in-place multiply would modify an input argument", g, X)

    def h(params):
        params["w"][1:] -= 0.5  # <-
        return params["w"]

    trace_error(MutationError, r"in-place subtract would modify an input argument", h, {"w": V})


def test_item_assignment_into_a_view():
    def f(x):
        a = np.zeros((2, 3))
        b = a[0]
        b[1] = 2.0  # <-
        return a + x

    trace_error(MutationError, r"item assignment writes into a view .* of another array", f, X)

    def g(x):
        a = np.zeros((2, 3))
        b = a.reshape(3, 2)
        b[0, 0] = 1.0  # <-
        return a + x

    trace_error(MutationError, r"writes into a view", g, X)

    def h(x):
        a = np.zeros((2, 3))
        a.T[0] = x[0, :2]  # <-
        return a

    trace_error(MutationError, r"writes into a view", h, X)

    def k(x):
        a = np.zeros((2, 3))
        a[1][2] = 5.0  # <-
        return a + x

    trace_error(MutationError, r"writes into a view", k, X)


def test_view_used_after_its_base_was_modified():
    def f(x):
        a = np.ones((2, 3))
        row = a[0]
        a[0, 1] = 5.0
        return row * x  # <-

    trace_error(
        MutationError, r"view .* of an array that was modified after the view was taken", f, X
    )

    def g(x):
        a = np.ones(6)
        m = a.reshape(2, 3)
        a += 1.0
        return x @ m.T  # <-

    trace_error(MutationError, r"modified after the view was taken", g, X)


def test_inplace_on_view_writes_through_like_numpy():
    """`b = a[0]; b += 1` changes `a` in NumPy; the IR must agree (not refuse, not diverge)."""

    def f(x):
        a = np.zeros((2, 3))
        b = a[0]
        b += x[1]
        b *= 2.0
        c = b + 1.0  # b is still a valid view of a here
        a[1] += c
        return a, c

    fn = adjit.trace(f)(X)
    for got, want in zip(fn(X), f(X)):
        np.testing.assert_array_equal(got, want)


def test_inplace_dtype_change_is_refused():
    def f(x):
        a = np.zeros(3, dtype=np.int64)
        a += x  # <-
        return a

    trace_error(
        UnsupportedError, r"in-place add cannot cast the float64 result to the int64 array", f, V
    )


def test_copy_then_modify_is_fine():
    def f(x):
        y = x.copy()
        y[0] = 0.0
        y += 1.0
        row = np.copy(y[1])
        y[1] = 7.0
        return y, row

    fn = adjit.trace(f)(X)
    for got, want in zip(fn(X), f(X)):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------- out=


def test_out_keyword_is_refused():
    def f(x):
        y = np.zeros((2, 3))
        np.exp(x, out=y)  # <-
        return y

    trace_error(
        UnsupportedError,
        r"np\.exp\(\.\.\., out=\.\.\.\) is not supported: use the returned array",
        f,
        X,
    )

    def g(x):
        total = np.zeros(())
        np.sum(x, out=total)  # <-
        return total

    trace_error(UnsupportedError, r"np\.sum\(\.\.\., out=\.\.\.\) is not supported", g, X)


# ------------------------------------------------------------------------ dtypes


@pytest.mark.parametrize(
    "dtype", [np.complex128, np.float16, np.uint8], ids=lambda d: np.dtype(d).name
)
def test_unsupported_input_dtype(dtype):
    with pytest.raises(
        (TypeError, AdjitError), match=rf"dtype {np.dtype(dtype).name} is not supported by adjit"
    ):
        adjit.trace(lambda x: x * 2)(np.ones(3, dtype=dtype))


def test_unsupported_input_dtype_is_an_adjit_error_naming_the_argument():
    def f(weights, x):
        return weights * x

    with pytest.raises(AdjitError, match=r"x.*complex128"):
        adjit.trace(f)(np.ones(3), np.ones(3, dtype=complex))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda x: x.astype(np.float16), "float16"),
        (lambda x: x.astype(complex), "complex128"),
        (lambda x: x * 1j, "complex128"),
        (lambda x: x + np.zeros(3, dtype=np.uint8), "uint8"),
    ],
    ids=["astype-f16", "astype-complex", "complex-constant", "uint8-constant"],
)
def test_unsupported_dtype_inside_the_function(call, name):
    def f(x):
        return call(x)

    trace_error(UnsupportedError, rf"dtype {name} is not supported by adjit", f, V, at=call)


# ------------------------------------------------------------- NumPy conversions


def test_asarray_of_a_traced_value_stays_traced():
    def f(x):
        y = np.asarray(x)
        z = np.array(x * 2, dtype=np.float32)
        return y + 1, z, np.asanyarray(x).sum()

    fn = adjit.trace(f)(X)
    for got, want in zip(fn(X), f(X)):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype


def test_conversion_to_a_real_array():
    def f(x):
        return x.__array__()  # <-

    trace_error(UnsupportedError, r"a traced array was converted to a NumPy array", f, X)

    def g(x):
        y = np.zeros(3)
        real = np.ndarray.__new__(np.ndarray, (3,))
        real[:] = x[0]  # <-
        return y

    trace_error(UnsupportedError, r"converted to a NumPy array", g, X)


def test_conversion_by_another_library():
    scipy_linalg = pytest.importorskip("scipy.linalg")

    def f(x):
        return scipy_linalg.expm(x)

    with pytest.raises(UnsupportedError, match=r"a traced array was converted to a NumPy array"):
        adjit.trace(f)(np.eye(3))


def test_conversion_by_another_library_names_the_users_line():
    scipy_linalg = pytest.importorskip("scipy.linalg")

    def f(x):
        return scipy_linalg.expm(x)  # <-

    trace_error(UnsupportedError, r"converted to a NumPy array", f, np.eye(3))


# ------------------------------------------------------------------ results


def test_unsupported_result_type():
    def f(x):
        return (v for v in x)

    with pytest.raises(TypeError, match="unsupported argument or result type generator"):
        adjit.trace(f)(X)


def test_error_inside_a_helper_names_the_helper_line():
    def helper(a, b):
        return a @ b  # <-

    def f(x):
        return helper(x, x)

    with pytest.raises(ShapeError, match=r"not aligned") as info:
        adjit.trace(f)(X)
    assert f"{__file__}:{marked_line(helper)}: " in str(info.value)
