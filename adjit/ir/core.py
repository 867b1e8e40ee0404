"""The IR data model: values, ops, blocks and functions (immutable SSA with regions).

A `Value` is defined exactly once, by an op result or a block argument; values
compare by identity. An `Op` has a primitive name, operands, attributes, results
and, for structured control flow (`cond`, `while`, `for`), regions. A region is a
single `Block`: arguments, ops, and the values it yields. A `Function` is a named
block whose arguments are the parameters and whose yielded values are returned.
Everything is frozen: passes build new objects (`dataclasses.replace`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from .types import TensorType

_ids = itertools.count()


class Value:
    """An SSA value: a type and an optional name hint used by the printer."""

    __slots__ = ("type", "hint", "_id")

    def __init__(self, type: TensorType, hint: str | None = None) -> None:
        self.type = type
        self.hint = hint
        self._id = next(_ids)

    def __repr__(self) -> str:
        return f"<Value {self.hint or self._id}: {self.type}>"


@dataclass(frozen=True, eq=False)
class Op:
    """One operation: `results = name(operands) {attrs}` with optional regions."""

    name: str
    operands: tuple[Value, ...]
    results: tuple[Value, ...]
    attrs: Mapping[str, object] = field(default_factory=dict)
    regions: tuple[Block, ...] = ()
    loc: str | None = None  # the user's "file:line"; not part of the text form

    @property
    def result(self) -> Value:
        (value,) = self.results
        return value


@dataclass(frozen=True, eq=False)
class Block:
    """A straight-line sequence of ops with arguments and yielded values."""

    args: tuple[Value, ...]
    ops: tuple[Op, ...]
    results: tuple[Value, ...]

    def walk(self) -> Iterator[Op]:
        """Every op of this block and of its nested regions, in program order."""
        for op in self.ops:
            yield op
            for region in op.regions:
                yield from region.walk()


@dataclass(frozen=True, eq=False)
class Function:
    """A traced program: `func @name(params) -> result types { body }`."""

    name: str
    body: Block

    @property
    def params(self) -> tuple[Value, ...]:
        return self.body.args

    @property
    def results(self) -> tuple[Value, ...]:
        return self.body.results

    @property
    def result_types(self) -> tuple[TensorType, ...]:
        return tuple(v.type for v in self.body.results)

    def walk(self) -> Iterator[Op]:
        return self.body.walk()

    def __str__(self) -> str:
        from .printer import print_function

        return print_function(self)

    def __call__(self, *args: object) -> tuple[np.ndarray, ...]:
        """Run with the reference interpreter (flat arrays in, tuple out)."""
        from .interpreter import interpret

        return interpret(self, *args)


def attr_key(value: object) -> object:
    """A hashable, comparable form of an attribute value (arrays by content)."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (tuple, list)):
        return tuple(attr_key(v) for v in value)
    if isinstance(value, float) and value != value:
        return ("nan",)
    return value
