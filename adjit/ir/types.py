"""IR types: a dtype and a static shape, written `f64[3,4]`, `f32[]`, `bool[2]`.

A `tape f64[3]` is the record a loop's reverse mode keeps: an unbounded sequence
of `f64[3]` elements whose length is known only at run time (tape ops in
primitives.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# IR dtype name <-> NumPy dtype. The order is the order of the text form's table.
DTYPES: dict[str, np.dtype] = {
    "f64": np.dtype(np.float64),
    "f32": np.dtype(np.float32),
    "i64": np.dtype(np.int64),
    "i32": np.dtype(np.int32),
    "bool": np.dtype(np.bool_),
}
_NAMES = {dt: name for name, dt in DTYPES.items()}


def dtype_name(dtype: np.dtype | type) -> str:
    """The IR name of a NumPy dtype (`float64` -> `f64`); raises TypeError if unsupported."""
    dt = np.dtype(dtype)
    try:
        return _NAMES[dt]
    except KeyError:
        supported = ", ".join(str(d) for d in DTYPES.values())
        raise TypeError(f"dtype {dt} is not supported by adjit (supported: {supported})") from None


@dataclass(frozen=True)
class TensorType:
    """The type of an IR value: dtype name (`f64`, ...) and static shape."""

    dtype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise TypeError(f"unknown IR dtype {self.dtype!r}")
        if not all(isinstance(d, int) and d >= 0 for d in self.shape):
            raise TypeError(f"shape must be non-negative ints, got {self.shape!r}")

    @staticmethod
    def of(dtype: np.dtype | type | str, shape: tuple[int, ...] | list[int]) -> TensorType:
        name = dtype if isinstance(dtype, str) and dtype in DTYPES else dtype_name(dtype)
        return TensorType(name, tuple(int(d) for d in shape))

    @staticmethod
    def of_array(value: object) -> TensorType:
        arr = np.asarray(value)
        return TensorType.of(arr.dtype, arr.shape)

    @property
    def np_dtype(self) -> np.dtype:
        return DTYPES[self.dtype]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def is_float(self) -> bool:
        return self.dtype in ("f64", "f32")

    def with_shape(self, shape: tuple[int, ...]) -> TensorType:
        return type(self)(self.dtype, tuple(shape))  # a tape stays a tape

    def with_dtype(self, dtype: str) -> TensorType:
        return type(self)(dtype, self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class TapeType(TensorType):
    """A tape of elements of type TensorType(dtype, shape): `tape f64[3]`.

    Conceptually an array of unbounded length whose unwritten elements are zero;
    it is written and read at run-time positions only by the tape ops, never
    broadcast or computed with. `dtype` and `shape` are those of one element, so
    a tape of floats is differentiable (its tangent is a tape of the same type).
    """

    @property
    def element(self) -> TensorType:
        return TensorType(self.dtype, self.shape)

    def __str__(self) -> str:
        return f"tape {self.element}"


_TYPE_RE = re.compile(r"^(f64|f32|i64|i32|bool)\[([0-9,\s]*)\]$")


def parse_type(text: str) -> TensorType:
    """Parse `f64[3,4]` (or `tape f64[3]`) into a TensorType."""
    text = text.strip()
    if text.startswith("tape "):
        element = parse_type(text[5:])
        return TapeType(element.dtype, element.shape)
    m = _TYPE_RE.match(text)
    if not m:
        raise ValueError(f"not an IR type: {text!r}")
    dims = [d for d in m.group(2).replace(" ", "").split(",") if d]
    return TensorType(m.group(1), tuple(int(d) for d in dims))
