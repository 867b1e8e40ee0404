"""Builders collect the ops of a block while it is traced; the innermost one is current.

Every op is created through `emit`, which infers its type from the primitive
catalogue, records the user's file:line, and turns catalogue errors into errors
that point at that line. A nested builder (the region of a `cond`, `while` or
`for`) captures values of enclosing builders as extra block arguments, so
regions stay isolated as the verifier requires.
"""

from __future__ import annotations

import linecache
import os
import sys
import sysconfig
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import AdjitError, TracingError
from ..ir.core import Block, Op, Value
from ..ir.primitives import evaluate, infer_type
from ..ir.types import TensorType


def _library_dirs() -> tuple[str, ...]:
    """adjit's own package, NumPy, the standard library and installed packages."""
    paths = sysconfig.get_paths()
    dirs = {
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        os.path.dirname(os.path.abspath(np.__file__)),
    }
    dirs.update(os.path.abspath(paths[k]) for k in ("stdlib", "purelib", "platlib"))
    return tuple(sorted(dirs))


LIBRARY_DIRS = _library_dirs()


def is_user_code(path: str) -> bool:
    return not path.startswith(LIBRARY_DIRS) and not path.startswith("<__array_function__")


def user_location() -> str | None:
    """`file:line` of the innermost frame that is user code (not adjit or a library)."""
    frame = sys._getframe(1)
    while frame is not None:
        if is_user_code(frame.f_code.co_filename):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def describe_location(loc: str | None) -> str:
    """' at file:line: source' for error messages ('' when unknown)."""
    if not loc:
        return ""
    path, _, line = loc.rpartition(":")
    source = linecache.getline(path, int(line)).strip() if line.isdigit() else ""
    return f"\n  at {loc}" + (f": {source}" if source else "")


def located(error: AdjitError, loc: str | None = None) -> AdjitError:
    """The same kind of error with the user's location appended to its message."""
    loc = loc if loc is not None else user_location()
    return type(error)(f"{error}{describe_location(loc)}")


class Builder:
    """The ops, arguments and captures of one block under construction."""

    def __init__(self, parent: Builder | None = None) -> None:
        self.parent = parent
        self.args: list[Value] = []
        self.ops: list[Op] = []
        self.owned: set[Value] = set()
        # a value of an enclosing block -> (its value one level up, our block argument)
        self.captures: dict[Value, tuple[Value, Value]] = {}
        # values known while tracing (all inputs constant), shared with nested builders
        self.consts: dict[Value, np.ndarray] = parent.consts if parent else {}
        # parameters that were Python scalars: weakly typed in promotion (NEP 50)
        self.weak: set[Value] = parent.weak if parent else set()

    def add_arg(self, type: TensorType, hint: str | None = None) -> Value:
        value = Value(type, hint)
        self.args.append(value)
        self.owned.add(value)
        return value

    def local(self, value: Value) -> Value:
        """`value` as seen inside this block (captured as an argument if defined outside)."""
        if value in self.owned:
            return value
        if value not in self.captures:
            if self.parent is None:
                raise located(
                    TracingError(
                        "a traced value escaped from the trace or control-flow region that "
                        "made it (a 'leaked tracer', e.g. stored in a global or a closure); "
                        "return values from the traced function or region instead"
                    )
                )
            outer = self.parent.local(value)
            self.captures[value] = (outer, self.add_arg(value.type, value.hint))
        return self.captures[value][1]

    def emit(
        self,
        name: str,
        operands: Sequence[Value],
        attrs: Mapping[str, object] | None = None,
        loc: str | None = None,
    ) -> Value:
        attrs = dict(attrs or {})
        operands = tuple(self.local(v) for v in operands)
        loc = loc or _STATE.origin or user_location()
        try:
            result_type = infer_type(name, [v.type for v in operands], attrs)
        except AdjitError as e:
            raise located(e, loc) from None
        result = Value(result_type)
        self.append(Op(name, operands, (result,), attrs, (), loc))
        if all(v in self.consts for v in operands):
            args = [self.consts[v] for v in operands]
            self.consts[result] = evaluate(name, args, attrs, result_type)
        return result

    def append(self, op: Op) -> None:
        self.ops.append(op)
        self.owned.update(op.results)

    def block(self, results: Sequence[Value]) -> Block:
        results = tuple(self.local(v) for v in results)
        return Block(tuple(self.args), tuple(self.ops), results)


class _ThreadState(threading.local):
    """Each thread traces on its own stack of builders: one thread's trace never
    sees another's ops (a thread pool may trace and compile concurrently)."""

    def __init__(self) -> None:
        self.stack: list[Builder] = []
        # the user's line of the op whose derivative rule is running (see `derived_from`)
        self.origin: str | None = None


_STATE = _ThreadState()


def current() -> Builder:
    stack = _STATE.stack
    if not stack:
        raise AdjitError("no trace is active (internal error: an op was built outside a trace)")
    return stack[-1]


def is_tracing() -> bool:
    """Whether the calling thread is tracing."""
    return bool(_STATE.stack)


class building:
    """Context manager making `builder` the current builder of the calling thread."""

    def __init__(self, builder: Builder) -> None:
        self.builder = builder

    def __enter__(self) -> Builder:
        _STATE.stack.append(self.builder)
        return self.builder

    def __exit__(self, *exc: object) -> None:
        popped = _STATE.stack.pop()
        assert popped is self.builder


class derived_from:
    """Context manager: ops emitted by a derivative rule carry the line of the op
    they differentiate (not the line of the `grad` call), so an error raised on
    them later, e.g. differentiating them again, names the user's expression."""

    def __init__(self, loc: str | None) -> None:
        self.loc = loc

    def __enter__(self) -> None:
        self.saved, _STATE.origin = _STATE.origin, self.loc

    def __exit__(self, *exc: object) -> None:
        _STATE.origin = self.saved
