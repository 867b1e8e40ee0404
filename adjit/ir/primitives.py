"""The catalogue of IR primitives: one entry per op with its type rule and NumPy meaning.

This is the single source of truth for the set of ops. Each `Primitive` states:
  - its group (`kind`): elementwise, reduction, structural, source, tape or control,
  - `infer`: operand types + attributes -> result type (raises on bad input),
  - `evaluate`: the reference NumPy semantics used by the interpreter and by
    constant folding,
  - for element-wise ops, `scalar`: the scalar SymPy expression (a string, so that
    importing adjit does not import SymPy) from which the compiler derives
    derivatives and simplifications.
Derivative rules of structural ops live in the compiler's rule tables, keyed by
these names; control-flow ops (`cond`, `while`, `for`) are typed by their regions
and evaluated by the interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError, VerificationError
from .indexing import indexed_shape, num_dynamic, to_numpy_index
from .types import DTYPES, TapeType, TensorType

Attrs = Mapping[str, object]
InferFn = Callable[[Sequence[TensorType], Attrs], TensorType]
EvalFn = Callable[[Sequence[np.ndarray], Attrs], np.ndarray]


@dataclass(frozen=True)
class Primitive:
    name: str
    kind: str  # "elementwise" | "reduction" | "structural" | "source" | "control"
    arity: int | None  # number of operands; None = variadic
    infer: InferFn | None
    evaluate: EvalFn | None
    scalar: str | None = None  # element-wise: SymPy expression in x, y, z
    differentiable: bool = True


PRIMITIVES: dict[str, Primitive] = {}


def _register(prim: Primitive) -> None:
    assert prim.name not in PRIMITIVES, prim.name
    PRIMITIVES[prim.name] = prim


def get(name: str) -> Primitive:
    try:
        return PRIMITIVES[name]
    except KeyError:
        raise VerificationError(f"unknown op {name!r}") from None


# ---------------------------------------------------------------- element-wise

FLOAT, NUMERIC, COMPARE, LOGICAL, SELECT = "float", "numeric", "compare", "logical", "select"


def _broadcast(types: Sequence[TensorType], what: str) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*(t.shape for t in types))
    except ValueError:
        shapes = " and ".join(str(t.shape) for t in types)
        raise ShapeError(f"{what}: shapes {shapes} do not broadcast") from None


def _elementwise_infer(name: str, rule: str) -> InferFn:
    def infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
        shape = _broadcast(types, name)
        data = types[1:] if rule == SELECT else types
        if rule == SELECT and types[0].dtype != "bool":
            raise VerificationError(f"select: condition must be bool, got {types[0]}")
        dtypes = {t.dtype for t in data}
        if len(dtypes) != 1:
            got = ", ".join(str(t) for t in types)
            raise VerificationError(f"{name}: operands must share one dtype, got {got}")
        (dtype,) = dtypes
        if rule == FLOAT and dtype not in ("f64", "f32"):
            raise VerificationError(f"{name}: needs floating-point operands, got {dtype}")
        if rule == NUMERIC and dtype == "bool":
            raise VerificationError(f"{name}: needs numeric operands, got bool")
        if rule == LOGICAL and dtype != "bool":
            raise VerificationError(f"{name}: needs bool operands, got {dtype}")
        return TensorType("bool" if rule == COMPARE else dtype, shape)

    return infer


def _logistic(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: no overflow for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _scipy_special():
    # imported on first use: `import adjit` does not import SciPy
    import scipy.special

    return scipy.special


# name: (arity, scalar SymPy expression or None, NumPy implementation, dtype rule)
_ELEMENTWISE: dict[str, tuple[int, str | None, Callable, str]] = {
    "neg": (1, "-x", np.negative, NUMERIC),
    "abs": (1, "Abs(x)", np.abs, NUMERIC),
    "sign": (1, "sign(x)", np.sign, NUMERIC),
    "exp": (1, "exp(x)", np.exp, FLOAT),
    "log": (1, "log(x)", np.log, FLOAT),
    "log1p": (1, "log(1 + x)", np.log1p, FLOAT),
    "expm1": (1, "exp(x) - 1", np.expm1, FLOAT),
    "sqrt": (1, "sqrt(x)", np.sqrt, FLOAT),
    "sin": (1, "sin(x)", np.sin, FLOAT),
    "cos": (1, "cos(x)", np.cos, FLOAT),
    "tan": (1, "tan(x)", np.tan, FLOAT),
    "sinh": (1, "sinh(x)", np.sinh, FLOAT),
    "cosh": (1, "cosh(x)", np.cosh, FLOAT),
    "tanh": (1, "tanh(x)", np.tanh, FLOAT),
    "asin": (1, "asin(x)", np.arcsin, FLOAT),
    "acos": (1, "acos(x)", np.arccos, FLOAT),
    "atan": (1, "atan(x)", np.arctan, FLOAT),
    "logistic": (1, "1/(1 + exp(-x))", _logistic, FLOAT),
    "floor": (1, "floor(x)", np.floor, FLOAT),
    "ceil": (1, "ceiling(x)", np.ceil, FLOAT),
    "add": (2, "x + y", np.add, NUMERIC),
    "sub": (2, "x - y", np.subtract, NUMERIC),
    "mul": (2, "x * y", np.multiply, NUMERIC),
    "div": (2, "x / y", np.divide, FLOAT),
    "pow": (2, "x**y", np.power, NUMERIC),
    "maximum": (2, "Max(x, y)", np.maximum, NUMERIC),
    "minimum": (2, "Min(x, y)", np.minimum, NUMERIC),
    "atan2": (2, "atan2(x, y)", np.arctan2, FLOAT),
    # smooth everywhere; NumPy's and the generated code never overflow (no exp(1000))
    "logaddexp": (2, "log(exp(x) + exp(y))", np.logaddexp, FLOAT),
    "hypot": (2, "sqrt(x**2 + y**2)", np.hypot, FLOAT),  # no overflow at 1e200
    "floordiv": (2, "floor(x / y)", np.floor_divide, NUMERIC),
    "mod": (2, "x - y*floor(x / y)", np.remainder, NUMERIC),
    "lt": (2, None, np.less, COMPARE),
    "le": (2, None, np.less_equal, COMPARE),
    "gt": (2, None, np.greater, COMPARE),
    "ge": (2, None, np.greater_equal, COMPARE),
    "eq": (2, None, np.equal, COMPARE),
    "ne": (2, None, np.not_equal, COMPARE),
    "and": (2, None, np.logical_and, LOGICAL),
    "or": (2, None, np.logical_or, LOGICAL),
    "not": (1, None, np.logical_not, LOGICAL),
    "select": (3, None, np.where, SELECT),
    # inverse hyperbolic and special functions (issue 15); NumPy and SciPy semantics
    "asinh": (1, "asinh(x)", np.arcsinh, FLOAT),
    "acosh": (1, "acosh(x)", np.arccosh, FLOAT),
    "atanh": (1, "atanh(x)", np.arctanh, FLOAT),
    "erf": (1, "erf(x)", lambda x: _scipy_special().erf(x), FLOAT),
    "erfc": (1, "erfc(x)", lambda x: _scipy_special().erfc(x), FLOAT),
    # log|gamma(x)| (SciPy's gammaln); its slope is digamma also where gamma < 0
    "gammaln": (1, "loggamma(x)", lambda x: _scipy_special().gammaln(x), FLOAT),
    "digamma": (1, "polygamma(0, x)", lambda x: _scipy_special().psi(x), FLOAT),
    # digamma's derivative; its own (polygamma(2, x)) is not implemented
    "trigamma": (1, "polygamma(1, x)", lambda x: _scipy_special().polygamma(1, x), FLOAT),
}

# Element-wise ops whose derivative is not implemented: differentiating them raises.
_NOT_DIFFERENTIABLE = {"trigamma"}

# Piecewise-constant ops: their derivative is zero wherever it exists.
_ZERO_DERIVATIVE = {"sign", "floor", "ceil", "floordiv"}

for _name, (_arity, _scalar, _fn, _rule) in _ELEMENTWISE.items():
    _register(
        Primitive(
            name=_name,
            kind="elementwise",
            arity=_arity,
            infer=_elementwise_infer(_name, _rule),
            evaluate=lambda args, attrs, fn=_fn: fn(*args),
            scalar=_scalar,
            differentiable=_rule in (FLOAT, NUMERIC, SELECT) and _name not in _NOT_DIFFERENTIABLE,
        )
    )

ZERO_DERIVATIVE = frozenset(_ZERO_DERIVATIVE)
NUMPY_UFUNC = {name: fn for name, (_, _, fn, _) in _ELEMENTWISE.items()}

# ------------------------------------------------------------------ reductions


def _reduce_infer(name: str) -> InferFn:
    def infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
        (x,) = types
        axes = tuple(attrs["axes"])
        if sorted(set(axes)) != list(axes) or any(not 0 <= a < x.ndim for a in axes):
            raise VerificationError(f"{name}: bad axes {axes} for {x}")
        if x.dtype == "bool":
            raise VerificationError(f"{name}: needs numeric operand, got bool")
        if name in ("reduce_max", "reduce_min") and any(x.shape[a] == 0 for a in axes):
            raise ShapeError(f"{name}: zero-size reduction over axis of {x} has no identity")
        return x.with_shape(tuple(d for i, d in enumerate(x.shape) if i not in axes))

    return infer


for _name, _fn in [
    ("reduce_sum", np.sum),
    ("reduce_prod", np.prod),
    ("reduce_max", np.max),
    ("reduce_min", np.min),
]:
    _register(
        Primitive(
            name=_name,
            kind="reduction",
            arity=1,
            infer=_reduce_infer(_name),
            evaluate=lambda args, attrs, fn=_fn: fn(args[0], axis=tuple(attrs["axes"])),
        )
    )

# ------------------------------------------------------------------ structural


def _broadcast_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (x,) = types
    shape = tuple(attrs["shape"])
    try:
        ok = np.broadcast_shapes(x.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"cannot broadcast shape {x.shape} to {shape}")
    return x.with_shape(shape)


def _reshape_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (x,) = types
    shape = tuple(attrs["shape"])
    new = TensorType(x.dtype, shape)
    if new.size != x.size:
        raise ShapeError(f"cannot reshape array of shape {x.shape} into shape {shape}")
    return new


def _transpose_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (x,) = types
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {perm} are not a permutation for shape {x.shape}")
    return x.with_shape(tuple(x.shape[p] for p in perm))


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy matmul result shape (1-D operands promoted then squeezed)."""
    if not a or not b:
        raise ShapeError(f"matmul: operands must be at least 1-D, got shapes {a} and {b}")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(
            f"matmul: shapes {a} and {b} are not aligned (dimension {a2[-1]} != {b2[-2]})"
        )
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise ShapeError(f"matmul: batch dimensions of {a} and {b} do not broadcast") from None
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _matmul_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    a, b = types
    if a.dtype != b.dtype or a.dtype == "bool":
        raise VerificationError(f"matmul: operands must share a numeric dtype, got {a} and {b}")
    return a.with_shape(matmul_shape(a.shape, b.shape))


def _concatenate_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    axis = attrs["axis"]
    first = types[0]
    if not 0 <= axis < first.ndim:
        raise ShapeError(f"concatenate: axis {axis} out of range for shape {first.shape}")
    for t in types[1:]:
        same = t.ndim == first.ndim and all(
            d == e for i, (d, e) in enumerate(zip(t.shape, first.shape)) if i != axis
        )
        if not same:
            raise ShapeError(
                f"concatenate: shapes {first.shape} and {t.shape} differ outside axis {axis}"
            )
        if t.dtype != first.dtype:
            raise VerificationError(f"concatenate: dtypes differ: {first} and {t}")
    total = sum(t.shape[axis] for t in types)
    return first.with_shape(first.shape[:axis] + (total,) + first.shape[axis + 1 :])


def _gather_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    x, *index_types = types
    spec = attrs["index"]
    if len(index_types) != num_dynamic(spec):
        raise VerificationError(
            f"index {spec} uses {num_dynamic(spec)} index operands, got {len(index_types)}"
        )
    if any(t.dtype not in ("i64", "i32") for t in index_types):
        raise VerificationError(f"index operands must be integers, got {index_types}")
    try:
        return x.with_shape(indexed_shape(x.shape, spec, [t.shape for t in index_types]))
    except IndexError as e:
        raise ShapeError(f"index {spec} invalid for shape {x.shape}: {e}") from None


def _gather_eval(args: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    x, *index = args
    return x[to_numpy_index(attrs["index"], index)]


def _scatter_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    x, v, *index_types = types
    target = _gather_infer([x, *index_types], attrs)
    if v.dtype != x.dtype:
        raise VerificationError(f"scatter: value dtype {v.dtype} differs from target {x.dtype}")
    try:
        ok = np.broadcast_shapes(v.shape, target.shape) == target.shape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(
            f"could not broadcast value of shape {v.shape} into indexed shape {target.shape}"
        )
    return x


def _scatter_eval(args: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    x, v, *index = args
    out = np.array(x, copy=True)
    out[to_numpy_index(attrs["index"], index)] = v
    return out


def _scatter_add_eval(args: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    x, v, *index = args
    out = np.array(x, copy=True)
    index = to_numpy_index(attrs["index"], index)
    np.add.at(out, index, np.broadcast_to(v, out[index].shape))
    return out


def _convert_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (x,) = types
    return x.with_dtype(attrs["dtype"])


def _structural(name: str, arity: int | None, infer: InferFn, evaluate: EvalFn) -> None:
    _register(Primitive(name, "structural", arity, infer, evaluate))


_structural("broadcast", 1, _broadcast_infer, lambda a, at: np.broadcast_to(a[0], at["shape"]))
_structural("reshape", 1, _reshape_infer, lambda a, at: np.reshape(a[0], at["shape"]))
_structural("transpose", 1, _transpose_infer, lambda a, at: np.transpose(a[0], at["perm"]))
_structural("matmul", 2, _matmul_infer, lambda a, at: np.matmul(a[0], a[1]))
_structural("concatenate", None, _concatenate_infer, lambda a, at: np.concatenate(a, at["axis"]))
# gather(x, *index operands), scatter(x, v, *index operands): variadic
_structural("gather", None, _gather_infer, _gather_eval)
_structural("scatter", None, _scatter_infer, _scatter_eval)
_structural("scatter_add", None, _scatter_infer, _scatter_add_eval)
_structural("convert", 1, _convert_infer, lambda a, at: a[0].astype(DTYPES[at["dtype"]]))

# ------------------------------------------------------- scans and order (issue 15)


def _scan_axis(name: str, x: TensorType, attrs: Attrs) -> None:
    needed = ("axis", "reverse") if name == "linear_scan" else ("axis",)
    if any(k not in attrs for k in needed) or not isinstance(attrs["axis"], int):
        raise VerificationError(f"{name}: needs the attributes {', '.join(needed)}")
    if not 0 <= attrs["axis"] < x.ndim:
        raise ShapeError(f"{name}: axis {attrs['axis']} out of range for {x}")


def _linear_scan_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    a, b = types
    if a != b:
        raise VerificationError(f"linear_scan: operands must share one type, got {a} and {b}")
    if b.dtype == "bool":
        raise VerificationError("linear_scan: needs numeric operands, got bool")
    _scan_axis("linear_scan", b, attrs)
    return b


def _linear_scan_eval(args: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    # h[k] = a[k] * h[k - 1] + b[k] along axis, h[-1] = 0 (from the end if reverse)
    a, b = (np.moveaxis(np.asarray(v), attrs["axis"], 0) for v in args)
    order = range(len(b) - 1, -1, -1) if attrs["reverse"] else range(len(b))
    out = np.empty_like(b)
    h = None
    for k in order:  # the first step is b's alone (inf * 0 would be NaN)
        h = b[k] if h is None else a[k] * h + b[k]
        out[k] = h
    return np.moveaxis(out, 0, attrs["axis"])


def _argsort_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (x,) = types
    if x.dtype == "bool":
        raise VerificationError("argsort: needs a numeric operand, got bool")
    _scan_axis("argsort", x, attrs)
    return x.with_dtype("i64")


# linear_scan(a, b): the first-order linear recurrence h[k] = a[k] h[k-1] + b[k];
# cumsum is a = 1, cumprod is b = x at the first position; its derivatives are
# recurrences too, exact with zeros in a (no division)
_register(Primitive("linear_scan", "structural", 2, _linear_scan_infer, _linear_scan_eval))
# argsort(x): the stable sorting permutation along axis (ties keep their order)
_register(
    Primitive(
        "argsort",
        "structural",
        1,
        _argsort_infer,
        lambda a, at: np.argsort(a[0], axis=at["axis"], kind="stable"),
        differentiable=False,
    )
)

# --------------------------------------------------------------------- sources


def _constant_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    return TensorType.of_array(attrs["value"])


def _iota_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    shape = tuple(attrs["shape"])
    if not 0 <= attrs["axis"] < len(shape):
        raise ShapeError(f"iota: axis {attrs['axis']} out of range for shape {shape}")
    return TensorType(attrs["dtype"], shape)


def _iota_eval(args: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    shape, axis = tuple(attrs["shape"]), attrs["axis"]
    ramp = np.arange(shape[axis], dtype=DTYPES[attrs["dtype"]])
    ramp = ramp.reshape((-1,) + (1,) * (len(shape) - axis - 1))
    return np.broadcast_to(ramp, shape)


_register(Primitive("constant", "source", 0, _constant_infer, lambda a, at: at["value"]))
_register(Primitive("iota", "source", 0, _iota_infer, _iota_eval, differentiable=False))

# ----------------------------------------------------------------------- tapes
# The record a loop keeps for its reverse sweep, sized at run time (reverse.py,
# loop_tape.py): `tape_new` makes an empty tape (the operand is a capacity hint,
# the trip count when known), `tape_write %t, %i, %v` is %t with element %i set
# to %v, `tape_read %t, %i` is element %i (zeros if never written), `tape_add`
# sums two tapes element by element (cotangents, in reverse over reverse). Values, as
# everything in the IR; generated code grows one buffer by doubling and writes it
# in place (a tape is only ever written once, as loop state).


class Tape:
    """A tape's value in the interpreter: persistent, so that a write never changes
    an older value, yet appending at the end (the common case) costs O(1)."""

    def __init__(self, element: TensorType, items: list, length: int) -> None:
        self.element, self.items, self.length = element, items, length

    def write(self, i: int, v: np.ndarray) -> Tape:
        v = np.array(v, dtype=self.element.np_dtype)
        if i == self.length and len(self.items) == i:  # append: share the list
            self.items.append(v)
            return Tape(self.element, self.items, i + 1)
        items = list(self.items[: self.length])
        items += [None] * (i + 1 - len(items))
        items[i] = v
        return Tape(self.element, items, max(self.length, i + 1))

    def add(self, other: Tape) -> Tape:
        n = max(self.length, other.length)
        return Tape(self.element, [self.read(i) + other.read(i) for i in range(n)], n)

    def read(self, i: int) -> np.ndarray:
        item = self.items[i] if 0 <= i < self.length else None
        return np.zeros(self.element.shape, self.element.np_dtype) if item is None else item


def _tape_new_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    if types[0] != TensorType("i64", ()):
        raise VerificationError(f"tape_new: the capacity must be i64[], got {types[0]}")
    return TapeType(attrs["dtype"], tuple(attrs["shape"]))


def _tape_operands(name: str, types: Sequence[TensorType]) -> TapeType:
    if not isinstance(types[0], TapeType):
        raise VerificationError(f"{name}: the first operand must be a tape, got {types[0]}")
    if types[1] != TensorType("i64", ()):
        raise VerificationError(f"{name}: the position must be i64[], got {types[1]}")
    return types[0]


def _tape_write_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    tape = _tape_operands("tape_write", types)
    if types[2] != tape.element:
        raise VerificationError(f"tape_write: {types[2]} written to a {tape}")
    return tape


def _tape_read_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    return _tape_operands("tape_read", types).element


def _tape_add_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    if not isinstance(types[0], TapeType) or types[0] != types[1]:
        raise VerificationError(f"tape_add: operands must be tapes of one type, got {types}")
    return types[0]


def _tape_new_eval(args: Sequence[np.ndarray], attrs: Attrs) -> Tape:
    return Tape(TensorType(attrs["dtype"], tuple(attrs["shape"])), [], 0)


_register(Primitive("tape_new", "tape", 1, _tape_new_infer, _tape_new_eval))
_register(
    Primitive("tape_write", "tape", 3, _tape_write_infer, lambda a, at: a[0].write(int(a[1]), a[2]))
)
_register(Primitive("tape_add", "tape", 2, _tape_add_infer, lambda a, at: a[0].add(a[1])))
_register(Primitive("tape_read", "tape", 2, _tape_read_infer, lambda a, at: a[0].read(int(a[1]))))

# --------------------------------------------------------------------- control
# Typed by their regions (see verifier) and run by the interpreter.
for _name in ("cond", "while", "for", "custom_vjp", "custom_jvp"):
    _register(Primitive(_name, "control", None, None, None))

# Region labels in the text form, per control-flow op.
REGION_NAMES: dict[str, tuple[str, ...]] = {
    "cond": ("then", "else"),
    "while": ("cond", "body"),
    "for": ("body",),
    "custom_vjp": ("primal", "fwd", "bwd"),
    "custom_jvp": ("primal", "jvp"),
}


def infer_type(name: str, operand_types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    """Result type of a non-control op; raises ShapeError/VerificationError on bad input."""
    prim = get(name)
    if prim.infer is None:
        raise VerificationError(f"{name} is typed by its regions, not by infer_type")
    if prim.arity is not None and len(operand_types) != prim.arity:
        raise VerificationError(f"{name} takes {prim.arity} operands, got {len(operand_types)}")
    return prim.infer(operand_types, attrs)


def evaluate(name: str, args: Sequence[np.ndarray], attrs: Attrs, result: TensorType) -> np.ndarray:
    """NumPy value of a non-control op, cast to its result type."""
    with np.errstate(all="ignore"):  # NaN/inf propagate as in NumPy, silently
        out = get(name).evaluate(args, attrs)
    if isinstance(result, TapeType):
        return out
    return np.asarray(out).astype(result.np_dtype, copy=False)


# linear algebra (solve, cholesky, eigh, ...) registers itself
from . import primitives_linalg  # noqa: E402, F401
