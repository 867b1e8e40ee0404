"""Typed IR builders with NumPy semantics: dtype promotion, scalars, broadcasting.

These are the functions through which user code (via the tracer) and derivative
rules build IR. Operands may be IR `Value`s, Python scalars or NumPy arrays;
constants become `constant` ops. Dtype promotion follows NumPy 2 (NEP 50):
Python scalars are weak, so `f32 * 2.0` stays f32. Conversions are explicit
`convert` ops, so every primitive sees operands of one dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

from ..errors import UnsupportedError
from ..ir.core import Value
from ..ir.indexing import IndexSpec
from ..ir.types import TapeType, TensorType, dtype_name
from .builder import current, located

Operand = Union[Value, int, float, bool, np.ndarray, np.generic]

FLOAT_ONLY = frozenset(
    "exp log log1p expm1 sqrt sin cos tan sinh cosh tanh asin acos atan logistic "
    "floor ceil div atan2 logaddexp hypot asinh acosh atanh erf erfc gammaln digamma trigamma".split()
)


def dtype_of(x: Operand) -> np.dtype:
    if isinstance(x, Value):
        return x.type.np_dtype
    return np.asarray(x).dtype


def _weak(x: Operand) -> object:
    """What np.result_type should see: dtypes for arrays, the value for Python scalars."""
    if isinstance(x, Value):
        if x in current().weak:
            return x.type.np_dtype.type(0).item()  # a Python scalar of the same kind
        return x.type.np_dtype
    if isinstance(x, (bool, int, float)):
        return x
    return np.asarray(x).dtype


def supported_dtype(dtype: np.dtype | type) -> str:
    """The IR name of `dtype`; an UnsupportedError at the user's line if adjit has none."""
    try:
        return dtype_name(dtype)
    except TypeError as e:
        raise located(UnsupportedError(str(e))) from None


def result_dtype(*xs: Operand) -> np.dtype:
    dt = np.result_type(*(_weak(x) for x in xs))
    if dt == np.float16:  # NumPy's choice for bool inputs to float ops; adjit has no f16
        dt = np.dtype(np.float32)
    supported_dtype(dt)
    return dt


def shape_of(x: Operand) -> tuple[int, ...]:
    return x.type.shape if isinstance(x, Value) else np.shape(x)


def constant(value: object, dtype: np.dtype | None = None) -> Value:
    """A constant; a uniform array becomes a scalar constant broadcast to its shape."""
    arr = np.asarray(value, dtype=dtype)
    supported_dtype(arr.dtype)
    if arr.size > 1 and np.all(arr == arr.flat[0]):
        scalar = current().emit("constant", (), {"value": np.asarray(arr.flat[0], arr.dtype)})
        return broadcast_to(scalar, arr.shape)
    return current().emit("constant", (), {"value": arr.copy()})


def as_value(x: Operand, dtype: np.dtype | None = None) -> Value:
    """`x` as a Value of `dtype` (a convert op or a constant when needed)."""
    if isinstance(x, Value):
        if dtype is None or x.type.np_dtype == np.dtype(dtype):
            return x
        return convert(x, dtype)
    return constant(x, dtype)


def convert(x: Value, dtype: np.dtype | str) -> Value:
    name = dtype if isinstance(dtype, str) else supported_dtype(dtype)
    if x.type.dtype == name:
        return x
    return current().emit("convert", (x,), {"dtype": name})


def elementwise(name: str, *xs: Operand) -> Value:
    """An element-wise primitive with NumPy's dtype promotion and broadcasting."""
    if name == "select":
        cond, a, b = xs
        dt = result_dtype(a, b)
        return current().emit(
            "select", (as_value(cond, np.bool_), as_value(a, dt), as_value(b, dt))
        )
    if name in ("and", "or", "not"):
        return current().emit(name, tuple(as_value(x, np.bool_) for x in xs))
    dt = result_dtype(*xs)
    if name in FLOAT_ONLY and dt.kind != "f":
        dt = np.dtype(np.float64)
    elif dt == np.bool_ and name not in ("eq", "ne", "lt", "le", "gt", "ge"):
        raise located(
            UnsupportedError(
                f"{name} on bool arrays is not supported: cast first, e.g. mask.astype(float)"
            )
        )
    return current().emit(name, tuple(as_value(x, dt) for x in xs))


def reduce(name: str, x: Value, axes: Sequence[int]) -> Value:
    attrs = {"axes": tuple(sorted(axes))}
    if x.type.dtype == "bool" and name in ("reduce_max", "reduce_min"):
        # NumPy's max/min of bools is a bool (any/all); the primitive takes numbers
        return convert(current().emit(name, (convert(x, "i64"),), attrs), "bool")
    if x.type.dtype == "bool" or (name in ("reduce_sum", "reduce_prod") and x.type.dtype == "i32"):
        x = convert(x, "i64")  # NumPy sums bools and int32 into the platform integer
    return current().emit(name, (x,), attrs)


def reshape(x: Value, shape: Sequence[int]) -> Value:
    shape = tuple(int(d) for d in shape)
    if shape == x.type.shape:
        return x
    return current().emit("reshape", (x,), {"shape": shape})


def transpose(x: Value, perm: Sequence[int]) -> Value:
    perm = tuple(int(p) for p in perm)
    if perm == tuple(range(x.type.ndim)):
        return x
    return current().emit("transpose", (x,), {"perm": perm})


def broadcast_to(x: Value, shape: Sequence[int]) -> Value:
    shape = tuple(int(d) for d in shape)
    if shape == x.type.shape:
        return x
    return current().emit("broadcast", (x,), {"shape": shape})


def matmul(a: Operand, b: Operand) -> Value:
    dt = result_dtype(a, b)
    if dt == np.bool_:
        raise located(UnsupportedError("matmul of bool arrays is not supported"))
    return current().emit("matmul", (as_value(a, dt), as_value(b, dt)))


def concatenate(xs: Sequence[Operand], axis: int) -> Value:
    dt = result_dtype(*xs)
    values = [as_value(x, dt) for x in xs]
    if len(values) == 1:
        return values[0]
    return current().emit("concatenate", values, {"axis": axis})


def gather(x: Value, index: IndexSpec, dynamic: Sequence[Value] = ()) -> Value:
    """x[index]; `dynamic` are the run-time index operands that `Dynamic` entries name."""
    return current().emit("gather", (x, *dynamic), {"index": tuple(index)})


def scatter(
    x: Value, index: IndexSpec, v: Operand, dynamic: Sequence[Value] = (), add: bool = False
) -> Value:
    """x with x[index] set to v (or, with add=True, v added at index, repeats summed)."""
    v = as_value(v, x.type.np_dtype)
    name = "scatter_add" if add else "scatter"
    return current().emit(name, (x, v, *dynamic), {"index": tuple(index)})


def iota(shape: Sequence[int], axis: int, dtype: type = np.int64) -> Value:
    attrs = {"shape": tuple(shape), "axis": axis, "dtype": dtype_name(dtype)}
    return current().emit("iota", (), attrs)


def tape_new(element: TensorType, capacity: Operand = 16, loc: str | None = None) -> Value:
    """An empty tape of `element`s; `capacity` is how many to allocate at first."""
    attrs = {"dtype": element.dtype, "shape": element.shape}
    return current().emit("tape_new", (as_value(capacity, np.int64),), attrs, loc)


def tape_write(tape: Value, i: Operand, v: Operand, loc: str | None = None) -> Value:
    v = as_value(v, tape.type.np_dtype)
    return current().emit("tape_write", (tape, as_value(i, np.int64), v), loc=loc)


def tape_read(tape: Value, i: Operand, loc: str | None = None) -> Value:
    return current().emit("tape_read", (tape, as_value(i, np.int64)), loc=loc)


def tape_add(a: Value, b: Value, loc: str | None = None) -> Value:
    return current().emit("tape_add", (a, b), loc=loc)


def zeros(type: TensorType) -> Value:
    if isinstance(type, TapeType):
        return tape_new(type.element)
    return broadcast_to(constant(np.zeros((), type.np_dtype)), type.shape)


def ones(type: TensorType) -> Value:
    return broadcast_to(constant(np.ones((), type.np_dtype)), type.shape)


def linear_scan(a: Value, b: Value, axis: int, reverse: bool = False) -> Value:
    """h[k] = a[k] * h[k-1] + b[k] along `axis` (from the end if `reverse`), h[-1] = 0."""
    dt = result_dtype(a, b)
    a, b = as_value(a, dt), as_value(b, dt)
    attrs = {"axis": int(axis), "reverse": bool(reverse)}
    return current().emit("linear_scan", (broadcast_to(a, b.type.shape), b), attrs)


def argsort(x: Value, axis: int) -> Value:
    """The stable sorting permutation of `x` along `axis` (i64)."""
    return current().emit("argsort", (x,), {"axis": int(axis)})
