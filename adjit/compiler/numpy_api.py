"""The NumPy API on traced arrays: ufuncs and array functions mapped to IR builders.

Each supported NumPy function has one implementation here, used both by NumPy's
dispatch (`np.sum(x)`) and by the array method (`x.sum()`). Functions that are
compositions (mean, var, logaddexp, clip, outer, tensordot, stack...) are built
from primitives so they need no derivative rules of their own. Anything else
raises UnsupportedError naming the function and the user's line, unless all its
inputs are known while tracing, in which case NumPy itself computes it.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError, UnsupportedError
from ..ir.core import Value
from . import ops
from .builder import located


def wrap(value: Value, base: Any = None) -> Any:
    from .tracer import Tracer

    return Tracer(value, base=base)


def is_tracer(x: Any) -> bool:
    from .tracer import Tracer

    return isinstance(x, Tracer)


def unwrap(x: Any) -> Any:
    """A Tracer's IR value; lists/tuples holding tracers become stacked values."""
    if is_tracer(x):
        return x.value
    if isinstance(x, (list, tuple)) and _contains_tracer(x):
        return array(x).value
    return x


def _contains_tracer(x: Any) -> bool:
    if is_tracer(x):
        return True
    return isinstance(x, (list, tuple)) and any(_contains_tracer(e) for e in x)


def _value(x: Any) -> Value:
    return ops.as_value(unwrap(x))


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise located(ShapeError(f"axis {a} is out of bounds for array of dimension {ndim}"))
        out.append(a % ndim if ndim else a)
    if len(set(out)) != len(out):
        raise located(ShapeError(f"repeated axis in {axis!r}"))
    return tuple(sorted(out))


# ----------------------------------------------------------------- ufuncs

_UFUNC_PRIMITIVE = {
    np.add: "add",
    np.subtract: "sub",
    np.multiply: "mul",
    np.true_divide: "div",
    np.power: "pow",
    np.maximum: "maximum",
    np.minimum: "minimum",
    np.arctan2: "atan2",
    np.logaddexp: "logaddexp",
    np.hypot: "hypot",
    np.floor_divide: "floordiv",
    np.remainder: "mod",
    np.less: "lt",
    np.less_equal: "le",
    np.greater: "gt",
    np.greater_equal: "ge",
    np.equal: "eq",
    np.not_equal: "ne",
    np.logical_and: "and",
    np.logical_or: "or",
    np.logical_not: "not",
    np.negative: "neg",
    np.absolute: "abs",
    np.fabs: "abs",
    np.sign: "sign",
    np.exp: "exp",
    np.log: "log",
    np.log1p: "log1p",
    np.expm1: "expm1",
    np.sqrt: "sqrt",
    np.sin: "sin",
    np.cos: "cos",
    np.tan: "tan",
    np.sinh: "sinh",
    np.cosh: "cosh",
    np.tanh: "tanh",
    np.arcsin: "asin",
    np.arccos: "acos",
    np.arctan: "atan",
}


def _ew(name: str, *xs: Any) -> Any:
    return wrap(ops.elementwise(name, *(unwrap(x) for x in xs)))


def _float_arg(x: Any) -> Any:
    """x as a float operand (ints become f64, as NumPy's float ufuncs do)."""
    v = unwrap(x)
    return v if ops.dtype_of(v).kind == "f" else ops.as_value(v, np.float64)


def _logaddexp2(a: Any, b: Any) -> Any:
    # log2(2**a + 2**b) = logaddexp(a ln 2, b ln 2) / ln 2: smooth, never overflows
    ln2 = math.log(2.0)
    return _ew("div", _ew("logaddexp", _ew("mul", a, ln2), _ew("mul", b, ln2)), ln2)


# NumPy >= 2.1 keeps integer (and bool) dtypes in floor/ceil; older versions give float64
_ROUNDING_KEEPS_INTEGERS = np.floor(np.zeros(1, np.int64)).dtype.kind == "i"


def _rounding(name: str) -> Callable[..., Any]:
    def apply(x: Any) -> Any:
        v = unwrap(x)
        if _ROUNDING_KEEPS_INTEGERS and ops.dtype_of(v).kind in "iub":
            return wrap(ops.as_value(v))  # integers are already whole
        return _ew(name, v)

    return apply


def _bitwise(name: str) -> Callable[..., Any]:
    def apply(*xs: Any) -> Any:
        if all(ops.dtype_of(unwrap(x)) == np.bool_ for x in xs):
            return _ew(name, *xs)
        raise located(UnsupportedError("bitwise operations on integers are not supported"))

    return apply


_UFUNC_COMPOSITE: dict[np.ufunc, Callable[..., Any]] = {
    np.positive: lambda x: wrap(_value(x)),
    np.floor: _rounding("floor"),
    np.ceil: _rounding("ceil"),
    np.square: lambda x: _ew("mul", x, x),
    np.reciprocal: lambda x: _ew("div", 1.0, _float_arg(x)),
    np.exp2: lambda x: _ew("pow", 2.0, _float_arg(x)),
    np.log2: lambda x: _ew("div", _ew("log", x), math.log(2.0)),
    np.log10: lambda x: _ew("div", _ew("log", x), math.log(10.0)),
    np.logaddexp2: _logaddexp2,
    np.float_power: lambda a, b: _ew("pow", ops.as_value(unwrap(a), np.float64), _float_arg(b)),
    np.matmul: lambda a, b: wrap(ops.matmul(unwrap(a), unwrap(b))),
    np.isnan: lambda x: _ew("ne", x, x),
    np.isinf: lambda x: _ew("eq", np.abs(x), math.inf),
    np.isfinite: lambda x: _ew("lt", np.abs(x), math.inf),
    np.deg2rad: lambda x: _ew("mul", _float_arg(x), math.pi / 180),
    np.rad2deg: lambda x: _ew("mul", _float_arg(x), 180 / math.pi),
    np.logical_xor: lambda a, b: _ew(
        "ne", ops.as_value(unwrap(a), np.bool_), ops.as_value(unwrap(b), np.bool_)
    ),
    np.bitwise_and: _bitwise("and"),
    np.bitwise_or: _bitwise("or"),
    np.invert: _bitwise("not"),
    np.bitwise_xor: lambda a, b: _bitwise("ne")(a, b),
}

_REDUCE_UFUNC = {np.add: "sum", np.multiply: "prod", np.maximum: "max", np.minimum: "min"}


def apply_ufunc(ufunc: np.ufunc, method: str, inputs: Sequence[Any], kwargs: dict) -> Any:
    name = f"np.{ufunc.__name__}"
    if getattr(np, ufunc.__name__, None) is not ufunc:  # scipy.special's ufuncs, say
        special = sys.modules.get("scipy.special")
        known = getattr(special, ufunc.__name__, None) is ufunc
        name = f"scipy.special.{ufunc.__name__}" if known else f"ufunc {ufunc.__name__}"
    if kwargs.get("out") is not None:
        raise located(
            UnsupportedError(f"{name}(..., out=...) is not supported: use the returned array")
        )
    extra = {k: v for k, v in kwargs.items() if k != "out"}
    if method == "reduce" and ufunc in _REDUCE_UFUNC and set(extra) <= {"axis", "keepdims"}:
        axis = extra.get("axis", 0)
        return _REDUCTIONS[_REDUCE_UFUNC[ufunc]](
            inputs[0], axis=axis, keepdims=extra.get("keepdims", False)
        )
    if method == "outer" and ufunc.nin == 2 and not extra:
        a, b = (asarray(x) for x in inputs)
        a = reshape(a, a.shape + (1,) * b.ndim)
        return apply_ufunc(ufunc, "__call__", (a, b), {})
    if method == "__call__" and not extra:
        if ufunc in _UFUNC_PRIMITIVE:
            return _ew(_UFUNC_PRIMITIVE[ufunc], *inputs)
        if ufunc in _UFUNC_COMPOSITE:
            return _UFUNC_COMPOSITE[ufunc](*inputs)
        special = _scipy_ufunc(ufunc)
        if special is not None:
            return special(*inputs)
    if _all_known(inputs):
        return getattr(ufunc, method)(*_known_values(inputs), **kwargs)
    what = name if method == "__call__" else f"{name}.{method}"
    if extra:
        what += f" with argument(s) {', '.join(sorted(extra))}"
    raise located(UnsupportedError(f"{what} is not supported by adjit"))


# -------------------------------------------------------- array functions

FUNCTIONS: dict[Callable, Callable[..., Any]] = {}


def implements(*funcs: Callable) -> Callable[[Callable], Callable]:
    def register(impl: Callable) -> Callable:
        for f in funcs:
            FUNCTIONS[f] = impl
        return impl

    return register


def _all_known(args: Any) -> bool:
    leaves = []

    def collect(x: Any) -> None:
        if is_tracer(x):
            leaves.append(x)
        elif isinstance(x, (list, tuple)):
            for e in x:
                collect(e)

    collect(list(args))
    return all(t.const is not None for t in leaves)


def _known_values(args: Any) -> Any:
    if is_tracer(args):
        return args.const
    if isinstance(args, (list, tuple)):
        return type(args)(_known_values(a) for a in args)
    if isinstance(args, dict):
        return {k: _known_values(v) for k, v in args.items()}
    return args


def _public_name(func: Callable) -> str:
    """How users write `func`: np.sum, np.linalg.inv, np.fft.fft."""
    parts = ["np"]
    for part in (getattr(func, "__module__", None) or "numpy").split(".")[1:]:
        if part.startswith("_"):
            break
        parts.append(part)
    return ".".join(parts + [getattr(func, "__name__", str(func))])


@functools.cache
def _signature(func: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    plain = isinstance(default, (str, bool, int, float)) and type(value) is type(default)
    return plain and value == default


def _arguments(func: Callable, impl: Callable, name: str, args: Sequence[Any], kwargs: dict) -> Any:
    """(args, kwargs) for `impl`: bound as NumPy binds them, minus the arguments left
    at NumPy's defaults (so that NumPy's newer keywords such as casting='same_kind'
    need no support), refusing `out` and any other argument `impl` does not take."""
    sig, impl_sig = _signature(func), _signature(impl)
    if sig is None or impl_sig is None:
        return tuple(args), {k: v for k, v in kwargs.items() if k != "out"}
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise located(UnsupportedError(f"{name}: {e}")) from None
    if bound.arguments.get("out") is not None:
        raise located(
            UnsupportedError(f"{name}(..., out=...) is not supported: use the returned array")
        )
    for pname, param in sig.parameters.items():
        if pname in bound.arguments and (
            pname == "out" or _is_default(bound.arguments[pname], param.default)
        ):
            del bound.arguments[pname]
    try:
        impl_sig.bind(*bound.args, **bound.kwargs)
    except TypeError as e:
        extra = [p for p in bound.arguments if p not in impl_sig.parameters]
        what = f"argument(s) {', '.join(extra)}" if extra else f"these arguments ({e})"
        raise located(UnsupportedError(f"{name} with {what} is not supported by adjit")) from None
    return bound.args, bound.kwargs


def apply_function(func: Callable, args: Sequence[Any], kwargs: dict) -> Any:
    name = _public_name(func)
    impl = FUNCTIONS.get(func)
    if impl is None:
        if kwargs.get("out") is not None:
            raise located(
                UnsupportedError(f"{name}(..., out=...) is not supported: use the returned array")
            )
        kwargs = {k: v for k, v in kwargs.items() if k != "out"}
        if _all_known(args) and _all_known(list(kwargs.values())):
            return func(*_known_values(args), **_known_values(kwargs))
        raise located(UnsupportedError(f"{name} is not supported by adjit"))
    args, kwargs = _arguments(func, impl, name, args, kwargs)
    return impl(*args, **kwargs)


# creation and conversion -------------------------------------------------


def array(obj: Any, dtype: Any = None, *, copy: Any = True, **kwargs: Any) -> Any:
    """np.array for data holding tracers: nested sequences are stacked."""
    if not _contains_tracer(obj):
        return _constant_tracer(np.array(obj, dtype=dtype, copy=copy, **kwargs))
    if kwargs:
        raise located(
            UnsupportedError(f"np.array(..., {', '.join(sorted(kwargs))}=...) is not supported")
        )
    if is_tracer(obj):
        return astype(obj, dtype) if dtype is not None else wrap(obj.value)
    items = [array(e) if isinstance(e, (list, tuple)) else e for e in obj]
    dt = dtype if dtype is not None else ops.result_dtype(*(unwrap(e) for e in items))
    return stack([asarray(e, dtype=dt) for e in items])


def asarray(obj: Any, dtype: Any = None, **kwargs: Any) -> Any:
    if not is_tracer(obj):
        return array(obj, dtype=dtype, **kwargs)
    if kwargs:
        raise located(
            UnsupportedError(f"np.asarray(..., {', '.join(sorted(kwargs))}=...) is not supported")
        )
    return obj if dtype is None or np.dtype(dtype) == obj.dtype else astype(obj, dtype)


def _constant_tracer(arr: np.ndarray) -> Any:
    return wrap(ops.constant(arr))


def astype(x: Any, dtype: Any) -> Any:
    return wrap(ops.convert(_value(x), np.dtype(dtype)))


def _filled_like(a: Any, fill_value: Any, dtype: Any, shape: Any) -> Any:
    a = asarray(a)
    dt = np.dtype(dtype) if dtype is not None else a.dtype
    shape = a.shape if shape is None else shape
    return _full(shape, fill_value, dt)


def _full(shape: Any, fill_value: Any, dtype: Any = None, order: str = "C", **kwargs: Any) -> Any:
    """np.full; a traced fill value is broadcast (into a new array, not a view)."""
    if not _contains_tracer(fill_value):
        return _constant_tracer(np.full(shape, fill_value, dtype, order, **kwargs))
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    return copy(broadcast_to(asarray(fill_value, dtype=dtype), shape))


@implements(np.zeros_like, np.empty_like)
def _zeros_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    return _filled_like(a, 0, dtype, shape)


@implements(np.ones_like)
def _ones_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    return _filled_like(a, 1, dtype, shape)


@implements(np.full_like)
def _full_like(a: Any, fill_value: Any, dtype: Any = None, shape: Any = None) -> Any:
    return _filled_like(a, fill_value, dtype, shape)


@implements(np.copy)
def copy(a: Any) -> Any:
    return wrap(_value(a))


@implements(np.shape)
def _shape(a: Any) -> tuple[int, ...]:
    return asarray(a).shape


@implements(np.ndim)
def _ndim(a: Any) -> int:
    return asarray(a).ndim


@implements(np.size)
def _size(a: Any, axis: Any = None) -> int:
    a = asarray(a)
    return a.size if axis is None else a.shape[axis]


# reductions -----------------------------------------------------------------


def _reduction(prim: str) -> Callable[..., Any]:
    def reduce(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        x = asarray(a)
        if dtype is not None:
            x = astype(x, dtype)
        axes = _axes(axis, x.ndim)
        out = ops.reduce(prim, x.value, axes)
        if keepdims:
            out = ops.reshape(out, tuple(1 if i in axes else d for i, d in enumerate(x.shape)))
        return wrap(out)

    return reduce


def _sum(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
    return _reduction("reduce_sum")(a, axis, dtype, keepdims)


def _prod(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
    return _reduction("reduce_prod")(a, axis, dtype, keepdims)


def _max(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _reduction("reduce_max")(a, axis, None, keepdims)


def _min(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _reduction("reduce_min")(a, axis, None, keepdims)


def _mean(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
    x = asarray(a)
    if dtype is None and x.dtype.kind != "f":
        dtype = np.float64
    count = math.prod(x.shape[i] for i in _axes(axis, x.ndim))
    return _sum(x, axis, dtype, keepdims) / count


def _var(a: Any, axis: Any = None, dtype: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    x = asarray(a)
    centered = x - _mean(x, axis, dtype, keepdims=True)
    count = math.prod(x.shape[i] for i in _axes(axis, x.ndim))
    return _sum(centered * centered, axis, keepdims=keepdims) / (count - ddof)


def _std(a: Any, axis: Any = None, dtype: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    return _root_of_squares(_var(a, axis, dtype, ddof, keepdims))


def _root_of_squares(s: Any) -> Any:
    """sqrt(s) for a sum of squares s, with slope 0 where s == 0.

    There the function (std of a constant, the norm of zero) has a kink like |x|
    and 0 is a subgradient; sqrt's own slope, inf, times s's, 0, would be NaN.
    sqrt sees 1 at those points, so no inf arises in either mode.
    """
    at_zero = _ew("eq", s, 0.0)
    root = np.sqrt(_ew("select", at_zero, 1.0, s))
    return _ew("select", at_zero, 0.0, root)


def _any(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    nonzero = asarray(a) != 0
    return _max(astype(nonzero, np.int64), axis, keepdims) != 0


def _all(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    nonzero = asarray(a) != 0
    return _min(astype(nonzero, np.int64), axis, keepdims) != 0


_REDUCTIONS = {"sum": _sum, "prod": _prod, "max": _max, "min": _min}
for _funcs, _impl in [
    ((np.sum,), _sum),
    ((np.prod,), _prod),
    ((np.max, np.amax), _max),
    ((np.min, np.amin), _min),
    ((np.mean,), _mean),
    ((np.var,), _var),
    ((np.std,), _std),
    ((np.any,), _any),
    ((np.all,), _all),
]:
    implements(*_funcs)(_impl)

# shape manipulation -------------------------------------------------------------


@implements(np.reshape)
def reshape(a: Any, shape: Any = None, order: str = "C", newshape: Any = None) -> Any:
    if order != "C":
        raise located(
            UnsupportedError(f"reshape with order={order!r}: only order='C' is supported")
        )
    x = asarray(a)
    shape = newshape if shape is None else shape
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    shape = tuple(int(d) for d in shape)
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise located(
            ShapeError(
                f"cannot reshape array of shape {x.shape} into shape {shape}: "
                "only one dimension may be -1, and no other may be negative"
            )
        )
    if shape.count(-1) == 1:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or x.size % known:
            raise located(ShapeError(f"cannot reshape array of shape {x.shape} into shape {shape}"))
        shape = tuple(x.size // known if d == -1 else d for d in shape)
    return wrap(ops.reshape(x.value, shape), base=x)


@implements(np.ravel)
def ravel(a: Any, order: str = "C") -> Any:
    return reshape(a, (-1,), order=order)


def flatten(a: Any, order: str = "C") -> Any:
    return copy(ravel(a, order))


@implements(np.transpose)
def transpose(a: Any, axes: Any = None) -> Any:
    x = asarray(a)
    perm = tuple(reversed(range(x.ndim))) if axes is None else tuple(int(p) % x.ndim for p in axes)
    if len(perm) != x.ndim:
        raise located(ShapeError(f"axes {axes} don't match array of dimension {x.ndim}"))
    return wrap(ops.transpose(x.value, perm), base=x)


@implements(np.swapaxes)
def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    x = asarray(a)
    perm = list(range(x.ndim))
    i, j = _axes(axis1, x.ndim)[0], _axes(axis2, x.ndim)[0]
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(x, perm)


@implements(np.moveaxis)
def _moveaxis(a: Any, source: Any, destination: Any) -> Any:
    x = asarray(a)
    src = [_axes(s, x.ndim)[0] for s in np.atleast_1d(source)]
    dst = [_axes(d, x.ndim)[0] for d in np.atleast_1d(destination)]
    order = [i for i in range(x.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


@implements(np.expand_dims)
def _expand_dims(a: Any, axis: Any) -> Any:
    x = asarray(a)
    axes = _axes(axis, x.ndim + len(axis if isinstance(axis, (tuple, list)) else (axis,)))
    shape = list(x.shape)
    for ax in axes:
        shape.insert(ax, 1)
    return reshape(x, shape)


@implements(np.squeeze)
def squeeze(a: Any, axis: Any = None) -> Any:
    x = asarray(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = _axes(axis, x.ndim)
        if any(x.shape[i] != 1 for i in axes):
            raise located(
                ShapeError("cannot select an axis to squeeze out which has size not equal to one")
            )
    return reshape(x, [d for i, d in enumerate(x.shape) if i not in axes])


@implements(np.broadcast_to)
def broadcast_to(array_: Any, shape: Any) -> Any:
    x = asarray(array_)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    return wrap(ops.broadcast_to(x.value, shape), base=x)


@implements(np.atleast_1d)
def _atleast_1d(*arys: Any) -> Any:
    out = [reshape(a, (1,)) if asarray(a).ndim == 0 else asarray(a) for a in arys]
    return out[0] if len(out) == 1 else out


@implements(np.atleast_2d)
def _atleast_2d(*arys: Any) -> Any:
    out = []
    for a in arys:
        x = asarray(a)
        out.append(reshape(x, (1,) * (2 - x.ndim) + x.shape) if x.ndim < 2 else x)
    return out[0] if len(out) == 1 else out


def _cast_for_join(xs: list[Any], dtype: Any, casting: str, name: str) -> np.dtype | None:
    """The dtype `dtype` asks for, after NumPy's check of the `casting` rule."""
    if dtype is None:
        return None
    dtype = np.dtype(dtype)
    for x in xs:
        if not np.can_cast(x.dtype, dtype, casting=casting):
            raise located(
                UnsupportedError(
                    f"{name}: cannot cast array data from {x.dtype} to {dtype} according to "
                    f"the rule {casting!r} (NumPy raises here too)"
                )
            )
    return dtype


@implements(np.concatenate)
def concatenate(
    arrays: Sequence[Any],
    axis: Any = 0,
    out: None = None,
    *,
    dtype: Any = None,
    casting: str = "same_kind",
) -> Any:
    xs = [asarray(a) for a in arrays]
    if axis is None:
        xs, axis = [ravel(x) for x in xs], 0
    if not xs:
        raise located(ShapeError("need at least one array to concatenate"))
    if any(x.ndim == 0 for x in xs):
        raise located(ShapeError("zero-dimensional arrays cannot be concatenated"))
    if len({x.ndim for x in xs}) > 1:
        dims = ", ".join(str(x.shape) for x in xs)
        raise located(
            ShapeError(f"concatenate: arrays have different numbers of dimensions: {dims}")
        )
    dtype = _cast_for_join(xs, dtype, casting, "np.concatenate")
    axis = _axes(axis, xs[0].ndim)[0]
    out = wrap(ops.concatenate([x.value for x in xs], axis))
    return astype(out, dtype) if dtype is not None else out


@implements(np.stack)
def stack(
    arrays: Sequence[Any],
    axis: int = 0,
    out: None = None,
    *,
    dtype: Any = None,
    casting: str = "same_kind",
) -> Any:
    xs = [asarray(a) for a in arrays]
    if not xs:
        raise located(ShapeError("need at least one array to stack"))
    if len({x.shape for x in xs}) > 1:
        raise located(
            ShapeError(f"all input arrays must have the same shape, got {[x.shape for x in xs]}")
        )
    axis = _axes(axis, xs[0].ndim + 1)[0]
    expanded = [reshape(x, x.shape[:axis] + (1,) + x.shape[axis:]) for x in xs]
    return concatenate(expanded, axis=axis, dtype=dtype, casting=casting)


@implements(np.vstack)
def _vstack(tup: Sequence[Any], *, dtype: Any = None, casting: str = "same_kind") -> Any:
    return concatenate([_atleast_2d(a) for a in tup], axis=0, dtype=dtype, casting=casting)


@implements(np.hstack)
def _hstack(tup: Sequence[Any], *, dtype: Any = None, casting: str = "same_kind") -> Any:
    xs = [_atleast_1d(a) for a in tup]
    axis = 0 if xs and xs[0].ndim == 1 else 1
    return concatenate(xs, axis=axis, dtype=dtype, casting=casting)


# element-wise functions that are not ufuncs ---------------------------------------


@implements(np.where)
def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None or y is None:
        if _all_known([condition]):
            return np.nonzero(_known_values(condition))
        raise located(
            UnsupportedError(
                "np.where(cond) with one argument returns indices whose number depends on "
                "the data; use the three-argument form np.where(cond, x, y)"
            )
        )
    cond = unwrap(condition)
    if ops.dtype_of(cond) != np.bool_:
        cond = ops.elementwise("ne", cond, 0)
    return wrap(ops.elementwise("select", cond, unwrap(x), unwrap(y)))


@implements(np.clip)
def clip(a: Any, a_min: Any = None, a_max: Any = None, **kw: Any) -> Any:
    a_min = kw.pop("min", a_min)
    a_max = kw.pop("max", a_max)
    if kw:
        raise TypeError(f"clip() got an unexpected keyword argument {next(iter(kw))!r}")
    out = asarray(a)
    if a_min is not None:
        out = np.maximum(out, a_min)
    if a_max is not None:
        out = np.minimum(out, a_max)
    return out


# linear algebra ------------------------------------------------------------------


@implements(np.dot)
def dot(a: Any, b: Any) -> Any:
    a, b = asarray(a), asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if b.ndim <= 2:
        return wrap(ops.matmul(a.value, b.value))
    if a.shape[-1] != b.shape[-2]:
        raise located(ShapeError(f"np.dot: shapes {a.shape} and {b.shape} not aligned"))
    return tensordot(a, b, axes=([a.ndim - 1], [b.ndim - 2]))


@implements(np.vdot)
def _vdot(a: Any, b: Any) -> Any:
    return dot(ravel(a), ravel(b))


@implements(np.inner)
def _inner(a: Any, b: Any) -> Any:
    a, b = asarray(a), asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.shape[-1] != b.shape[-1]:
        raise located(ShapeError(f"np.inner: shapes {a.shape} and {b.shape} not aligned"))
    return tensordot(a, b, axes=([a.ndim - 1], [b.ndim - 1]))


@implements(np.outer)
def _outer(a: Any, b: Any) -> Any:
    a, b = ravel(a), ravel(b)
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


@implements(np.tensordot)
def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    a, b = asarray(a), asarray(b)
    if isinstance(axes, (int, np.integer)):
        axes_a = list(range(a.ndim - axes, a.ndim))
        axes_b = list(range(axes))
    else:
        axes_a, axes_b = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
    axes_a = [_axes(x, a.ndim)[0] for x in axes_a]
    axes_b = [_axes(x, b.ndim)[0] for x in axes_b]
    if [a.shape[i] for i in axes_a] != [b.shape[i] for i in axes_b]:
        raise located(ShapeError(f"tensordot: shape-mismatch for sum: {a.shape} and {b.shape}"))
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [i for i in range(b.ndim) if i not in axes_b]
    k = math.prod(a.shape[i] for i in axes_a)
    a2 = reshape(transpose(a, free_a + axes_a), (-1, k))
    b2 = reshape(transpose(b, axes_b + free_b), (k, -1))
    out_shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b)
    return copy(reshape(wrap(ops.matmul(a2.value, b2.value)), out_shape))


@implements(np.trace)
def _trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None) -> Any:
    x = asarray(a)
    if x.ndim < 2:
        raise located(ShapeError(f"trace: needs an array of at least 2 dimensions, got {x.shape}"))
    i, j = _axes(axis1, x.ndim)[0], _axes(axis2, x.ndim)[0]
    if i == j:
        raise located(ShapeError(f"trace: axis1 and axis2 are the same axis ({axis1}, {axis2})"))
    # the two axes last, in the order axis1, axis2; the others keep their order
    x = transpose(x, [k for k in range(x.ndim) if k not in (i, j)] + [i, j])
    if dtype is not None:
        x = astype(x, dtype)
    n = max(0, min(x.shape[-2] - max(0, -offset), x.shape[-1] - max(0, offset)))
    rows = np.arange(n) + max(0, -offset)
    return _sum(x[..., rows, rows + offset], axis=-1)


# ----------------------------------------------------------------- methods

ARRAY_METHODS = {
    "sum": _sum,
    "prod": _prod,
    "max": _max,
    "min": _min,
    "mean": _mean,
    "var": _var,
    "std": _std,
    "any": _any,
    "all": _all,
    "ravel": ravel,
    "flatten": flatten,
    "squeeze": squeeze,
    "swapaxes": swapaxes,
    "clip": clip,
    "dot": dot,
    "trace": _trace,
}


def method(name: str) -> Callable[..., Any]:
    impl = ARRAY_METHODS[name]

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return impl(self, *args, **kwargs)

    call.__name__ = name
    return call


# ------------------------------------ NumPy creation functions as user code sees them


def _eye(N: int, M: int | None = None, k: int = 0, dtype: Any = float, **kwargs: Any) -> Any:
    """np.eye as iota comparisons, so that a large identity is not a large constant."""
    np.eye(0, 0, k, dtype, **kwargs)  # let NumPy validate the arguments
    shape = (int(N), int(N if M is None else M))
    rows = ops.iota(shape, 0)
    if k:
        rows = ops.elementwise("add", rows, int(k))
    return astype(wrap(ops.elementwise("eq", rows, ops.iota(shape, 1))), dtype)


def _identity(n: int, dtype: Any = float, **kwargs: Any) -> Any:
    return _eye(n, dtype=dtype, **kwargs)


def _created(original: Callable) -> Callable[..., Any]:
    """`original`'s (constant) result as a traced array, so that it can be written into."""

    def create(*args: Any, **kwargs: Any) -> Any:
        if _contains_tracer(list(args)) or _contains_tracer(list(kwargs.values())):
            raise located(
                UnsupportedError(
                    f"np.{original.__name__} with a traced argument is not supported: its "
                    "arguments (shape, range, ...) must be known when tracing"
                )
            )
        return _constant_tracer(original(*args, **kwargs))

    create.__name__ = original.__name__
    return create


# What `np.<name>` is in the user's traced code (see frontend.py): arrays created
# there are Tracers, so that item assignment into them can take traced values.
# NumPy itself is never modified.
CREATION: dict[str, Callable[..., Any]] = {
    "zeros": _created(np.zeros),
    "ones": _created(np.ones),
    "empty": _created(np.zeros),  # deterministic contents
    "arange": _created(np.arange),
    "full": _full,
    "eye": _eye,
    "identity": _identity,
    "array": array,
    "asarray": asarray,
    "asanyarray": asarray,
    "ascontiguousarray": asarray,
}


# ------------------------------- element-wise functions and SciPy's (issue 15)


def _fmax_fmin(name: str) -> Callable[..., Any]:
    # NaN-ignoring maximum/minimum: a NaN operand yields the other; where neither
    # is NaN it is maximum/minimum, so a tie's derivative goes to the second operand
    def apply(a: Any, b: Any) -> Any:
        a, b = asarray(a), asarray(b)
        both = _ew(name, a, b)
        return where(b != b, a, where(a != a, b, both))

    return apply


# sinc's Taylor series 1 - t^2/6 + t^4/120 - ... below |t| = 0.1 (t = pi x): the
# first omitted term is below 3e-18, and the derivatives of every order are
# right at x = 0, where sin(t)/t is 0/0
_SINC_SERIES = (1.0, -1 / 6, 1 / 120, -1 / 5040, 1 / 362880)


@implements(np.sinc)
def _sinc(x: Any) -> Any:
    t = _ew("mul", _float_arg(x), math.pi)
    small = _ew("lt", _ew("abs", t), 0.1)
    u = t * t
    series = _SINC_SERIES[-1]
    for c in reversed(_SINC_SERIES[:-1]):
        series = series * u + c
    safe = where(small, 1.0, t)
    return where(small, series, np.sin(safe) / safe)


_UFUNC_PRIMITIVE.update({np.arcsinh: "asinh", np.arccosh: "acosh", np.arctanh: "atanh"})
_UFUNC_COMPOSITE.update(
    {
        np.fmax: _fmax_fmin("maximum"),
        np.fmin: _fmax_fmin("minimum"),
        np.degrees: _UFUNC_COMPOSITE[np.rad2deg],
        np.radians: _UFUNC_COMPOSITE[np.deg2rad],
    }
)


def _scipy_ufunc(ufunc: np.ufunc) -> Callable[..., Any] | None:
    """adjit's implementation of a scipy.special ufunc, if any (SciPy is imported
    only by users who call it)."""
    if "scipy.special" not in sys.modules:
        return None
    from . import scipy_special

    return scipy_special.UFUNCS.get(ufunc)


# shape and array-manipulation functions (diag, tile, pad, split, ...), einsum,
# linspace/logspace/geomspace, scans, sorts and searches (cumsum, sort, argmax,
# searchsorted, gradient, ...) and np.linalg (solve, inv, det, cholesky, eigh, svd,
# norm, ...) register themselves
from . import numpy_einsum, numpy_linalg, numpy_ranges, numpy_scans, numpy_shapes  # noqa: E402, F401
