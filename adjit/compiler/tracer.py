"""Tracer: the array object user code sees while a function is traced.

A Tracer stands for an IR value. NumPy calls on it reach adjit through
`__array_ufunc__` / `__array_function__` (dispatched in `numpy_api`), operators
through the dunder methods below. It also reproduces NumPy's mutation semantics:
`a[i] = v` and `a += v` on an array made inside the function become functional
updates of the IR value that this (mutable) Python object stands for, so every
alias of the object sees the change, as in NumPy. Writes that NumPy would route
through a view into another array, or into the caller's input, are refused with
an error instead of silently diverging.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ControlFlowError, MutationError, UnsupportedError
from ..ir.core import Value
from . import indexing, numpy_api, ops
from .builder import current, located


class UnsupportedAttribute(UnsupportedError, AttributeError):
    """A NumPy array method or attribute adjit does not provide (hasattr() gives False)."""


_CONTROL_FLOW_HELP = (
    "its value is only known when the compiled function runs. For element-wise "
    "choices use np.where(cond, a, b); for control flow use adjit.cond, "
    "adjit.while_loop or adjit.fori_loop"
)


# NumPy converts a value stored into one of its arrays with float() or int()
_NUMPY_STORE = (
    " (NumPy asks for one when a traced value is stored into a NumPy array: create "
    "that array with np.zeros or np.empty inside the traced function, through the "
    "function's own numpy import)"
)


class Tracer:
    """An abstract array (shape and dtype known, values not) recorded as IR."""

    __array_priority__ = 1000
    __slots__ = (
        "_value",
        "_base",
        "_base_version",
        "_index",
        "_version",
        "_is_input",
        "__weakref__",
    )

    def __init__(
        self,
        value: Value,
        base: Tracer | None = None,
        is_input: bool = False,
        index: tuple[tuple, tuple[Value, ...]] | None = None,
    ) -> None:
        self._value = value
        self._version = 0
        self._is_input = is_input
        root = base._root() if base is not None else None
        self._base = root
        self._base_version = root._version if root is not None else 0
        # (spec, run-time index operands) of a view `a[i]` taken directly of its base
        self._index = index if root is not None and base is root else None

    # ------------------------------------------------------------ identity
    def _root(self) -> Tracer:
        return self._base if self._base is not None else self

    @property
    def value(self) -> Value:
        """The current IR value, refusing views whose base was modified since."""
        if self._base is not None and self._base._version != self._base_version:
            raise located(
                MutationError(
                    "this array is a view (slice, reshape or transpose) of an array that was "
                    "modified after the view was taken; NumPy would show the modification "
                    "through the view, which adjit does not model. Take a .copy() of the "
                    "slice before modifying the original, or index the original again"
                )
            )
        return self._value

    @property
    def const(self) -> np.ndarray | None:
        """The value if it is known while tracing (it depends on constants only)."""
        return current().consts.get(self._value)

    def _assign(self, new: Value, what: str) -> None:
        """Make this array hold `new`: the functional form of an in-place update."""
        if self._is_input:
            raise located(
                MutationError(
                    f"{what} would modify an input argument in place, changing the caller's "
                    "array; copy it first (x = x.copy()) or build a new array"
                )
            )
        if self._base is not None:
            raise located(
                MutationError(
                    f"{what} writes into a view (slice, reshape or transpose) of another "
                    "array; NumPy would modify that array too. Assign through the original "
                    "array (a[i, 1:3] = v rather than b = a[i]; b[1:3] = v), or take a "
                    ".copy() first"
                )
            )
        self.value  # noqa: B018 - checks that this array is not a stale view
        if self._value not in current().owned:
            raise located(
                MutationError(
                    f"{what} modifies an array defined outside this adjit.cond, while_loop or "
                    "fori_loop body; pass it in the operands or loop state and return the "
                    "new value instead"
                )
            )
        if new.type != self._value.type:
            raise located(
                MutationError(
                    f"{what} would change the array from {self._value.type} to {new.type}"
                )
            )
        self._value = new
        self._version += 1

    # ---------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.type.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.type.np_dtype

    @property
    def ndim(self) -> int:
        return self._value.type.ndim

    @property
    def size(self) -> int:
        return self._value.type.size

    @property
    def T(self) -> Tracer:
        return numpy_api.transpose(self)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d traced array)")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tracer]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"Tracer({self._value.type})"

    def __getattr__(self, name: str) -> Any:
        # reached only when normal lookup fails: say so when NumPy arrays have `name`
        if not name.startswith("_") and hasattr(np.ndarray, name):
            raise located(
                UnsupportedAttribute(
                    f"the array attribute or method .{name} is not supported by adjit"
                )
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    __hash__ = object.__hash__

    # ------------------------------------------- conversions to Python values
    def _known(self, what: str) -> np.ndarray:
        const = self.const
        if const is None:
            raise located(
                ControlFlowError(f"cannot use a traced value as {what}: {_CONTROL_FLOW_HELP}")
            )
        return const

    def __bool__(self) -> bool:
        return bool(self._known("a Python bool (in if, while, and/or, assert)"))

    def __float__(self) -> float:
        return float(self._known(f"a Python float{_NUMPY_STORE}"))

    def __int__(self) -> int:
        return int(self._known(f"a Python int{_NUMPY_STORE}"))

    def __index__(self) -> int:
        return int(self._known("a Python index"))

    def item(self) -> Any:
        return self._known("a Python scalar (.item())").item()

    def tolist(self) -> Any:
        return self._known("a Python list (.tolist())").tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        const = self.const
        if const is None:
            raise located(
                UnsupportedError(
                    "a traced array was converted to a NumPy array (np.asarray, a NumPy "
                    "array item assignment or a library outside NumPy); only NumPy "
                    "operations on it can be traced. Build arrays written into by the "
                    "function with np.zeros/np.ones/np.empty inside the function"
                )
            )
        return np.array(const, dtype=dtype)

    # --------------------------------------------------- NumPy protocols
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return numpy_api.apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return numpy_api.apply_function(func, args, kwargs)

    # ------------------------------------------------------------ indexing
    def __getitem__(self, index: Any) -> Tracer:
        spec, dynamic = indexing.resolve(index, self.shape)
        value = ops.gather(self.value, spec, dynamic)
        # basic indexing gives a view in NumPy, advanced indexing a copy
        if indexing.is_view(spec, dynamic):
            return Tracer(value, base=self, index=(spec, tuple(dynamic)))
        return Tracer(value)

    def __setitem__(self, index: Any, v: Any) -> None:
        spec, dynamic = indexing.resolve(index, self.shape)
        new = ops.scatter(self.value, spec, numpy_api.unwrap(v), dynamic)
        self._assign(new, "item assignment")

    # ---------------------------------------------------------- operators
    def _inplace(self, ufunc: np.ufunc, other: Any) -> Tracer:
        result = numpy_api.apply_ufunc(ufunc, "__call__", (self, other), {})
        if result.dtype != self.dtype:
            raise located(
                UnsupportedError(
                    f"in-place {ufunc.__name__} cannot cast the {result.dtype} result to "
                    f"the {self.dtype} array (NumPy raises here too)"
                )
            )
        what = f"in-place {ufunc.__name__}"
        base = self._base
        if base is not None and self._index is not None:
            # `a[i] += v` runs `a[i].__iadd__(v)` before `a[i] = ...`: as in NumPy, the
            # in-place update of the view `a[i]` writes through to `a`.
            self.value  # noqa: B018 - checks that this view is not stale
            spec, dynamic = self._index
            base._assign(ops.scatter(base.value, spec, result.value, dynamic), what)
            self._value, self._base_version = result.value, base._version
            return self
        self._assign(result.value, what)
        return self

    # ------------------------------------------------------------- methods
    def copy(self) -> Tracer:
        return Tracer(self.value)

    def astype(self, dtype: Any, copy: bool = True) -> Tracer:
        return numpy_api.astype(self, dtype)

    def reshape(self, *shape: Any, order: str = "C") -> Tracer:
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        return numpy_api.reshape(self, shape, order=order)

    def transpose(self, *axes: Any) -> Tracer:
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = tuple(axes[0]) if axes[0] is not None else ()
        return numpy_api.transpose(self, axes or None)


def _operator(ufunc: np.ufunc, reflected: bool = False) -> Any:
    if reflected:
        return lambda self, other: numpy_api.apply_ufunc(ufunc, "__call__", (other, self), {})
    return lambda self, other: numpy_api.apply_ufunc(ufunc, "__call__", (self, other), {})


for _name, _ufunc in [
    ("add", np.add),
    ("sub", np.subtract),
    ("mul", np.multiply),
    ("truediv", np.true_divide),
    ("floordiv", np.floor_divide),
    ("mod", np.remainder),
    ("pow", np.power),
    ("matmul", np.matmul),
    ("and", np.bitwise_and),
    ("or", np.bitwise_or),
    ("xor", np.bitwise_xor),
]:
    setattr(Tracer, f"__{_name}__", _operator(_ufunc))
    setattr(Tracer, f"__r{_name}__", _operator(_ufunc, reflected=True))
    setattr(Tracer, f"__i{_name}__", lambda self, other, u=_ufunc: self._inplace(u, other))

for _name, _ufunc in [
    ("lt", np.less),
    ("le", np.less_equal),
    ("gt", np.greater),
    ("ge", np.greater_equal),
    ("eq", np.equal),
    ("ne", np.not_equal),
]:
    setattr(Tracer, f"__{_name}__", _operator(_ufunc))

for _name, _ufunc in [
    ("neg", np.negative),
    ("pos", np.positive),
    ("abs", np.absolute),
    ("invert", np.invert),
]:
    setattr(
        Tracer,
        f"__{_name}__",
        lambda self, u=_ufunc: numpy_api.apply_ufunc(u, "__call__", (self,), {}),
    )

# Methods that mirror NumPy functions of the same name (x.sum(...) == np.sum(x, ...)).
for _name in numpy_api.ARRAY_METHODS:
    setattr(Tracer, _name, numpy_api.method(_name))
