"""Parse the IR text form (see printer.py) back into a Function, then verify it."""

from __future__ import annotations

import re

import numpy as np

from ..errors import ParseError
from .core import Block, Function, Op, Value
from .indexing import Dynamic, Slice
from .primitives import REGION_NAMES
from .types import TapeType, TensorType

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+|//[^\n]*)
  | (?P<value>%[A-Za-z0-9_.]+)
  | (?P<func>@[A-Za-z0-9_.]+)
  | (?P<dynamic>\$\d+)
  | (?P<number>-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)|-inf\b)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<arrow>->)
  | (?P<punct>[(){}\[\],:=])
    """,
    re.VERBOSE,
)


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str, int]] = []
        pos, line = 0, 1
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise ParseError(f"line {line}: unexpected character {text[pos]!r}")
            kind = m.lastgroup
            if kind != "ws":
                self.items.append((kind, m.group(), line))
            line += m.group().count("\n")
            pos = m.end()
        self.items.append(("eof", "", line))
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str, int]:
        return self.items[min(self.i + k, len(self.items) - 1)]

    def next(self) -> tuple[str, str, int]:
        tok = self.items[self.i]
        self.i += 1
        return tok

    def error(self, msg: str) -> ParseError:
        kind, text, line = self.peek()
        return ParseError(f"line {line}: {msg} (at {text or 'end of input'!r})")

    def error_after(self, msg: str) -> ParseError:
        """An error about what was just read: the line of the last token taken."""
        kind, text, line = self.items[max(self.i - 1, 0)]
        return ParseError(f"line {line}: {msg} (after {text!r})")

    def expect(self, text: str) -> None:
        if self.peek()[1] != text:
            raise self.error(f"expected {text!r}")
        self.i += 1

    def accept(self, text: str) -> bool:
        if self.peek()[1] == text:
            self.i += 1
            return True
        return False

    def take(self, kind: str) -> str:
        if self.peek()[0] != kind:
            raise self.error(f"expected {kind}")
        return self.next()[1]


class _Parser:
    def __init__(self, text: str) -> None:
        self.t = _Tokens(text)
        self.scopes: list[dict[str, Value]] = [{}]

    # -- values
    def define(self, token: str, type: TensorType) -> Value:
        name = token[1:]
        if any(name in scope for scope in self.scopes):
            raise self.t.error_after(f"value %{name} defined twice")
        value = Value(type, None if name[0].isdigit() else name)
        self.scopes[-1][name] = value
        return value

    def use(self, token: str) -> Value:
        name = token[1:]
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise self.t.error_after(f"use of undefined value %{name}")

    # -- types and attributes
    def type(self) -> TensorType:
        dtype = self.t.take("ident")
        if dtype == "tape":
            element = self.type()
            return TapeType(element.dtype, element.shape)
        self.t.expect("[")
        dims = []
        while not self.t.accept("]"):
            dims.append(int(self.t.take("number")))
            self.t.accept(",")
        try:
            return TensorType(dtype, tuple(dims))
        except TypeError as e:
            raise self.t.error_after(str(e)) from None

    def attr_value(self) -> object:
        kind, text, _ = self.t.peek()
        if text == "(":
            self.t.next()
            items = []
            while not self.t.accept(")"):
                items.append(self.attr_value())
                if not self.t.accept(","):
                    self.t.expect(")")
                    break
            return tuple(items)
        if text == "[":
            return self.array_literal()
        if kind == "dynamic":
            self.t.next()
            return Dynamic(int(text[1:]))
        if kind == "string":
            self.t.next()
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "number" or (kind == "ident" and text in ("nan", "inf")):
            self.t.next()
            if self.t.peek()[1] == ":":
                return self.slice_rest(int(text))
            return self.number(text)
        if kind == "ident" and text in ("true", "false", "none"):
            self.t.next()
            return {"true": True, "false": False, "none": None}[text]
        raise self.t.error("expected an attribute value")

    def slice_rest(self, start: int) -> Slice:
        self.t.expect(":")
        stop = None if self.t.peek()[1] == ":" else int(self.t.take("number"))
        self.t.expect(":")
        return Slice(start, stop, int(self.t.take("number")))

    @staticmethod
    def number(text: str) -> int | float:
        if text in ("nan", "inf", "-inf"):
            return float(text)
        if any(c in text for c in ".eE"):
            return float(text)
        return int(text)

    def array_literal(self) -> np.ndarray:
        def nested() -> object:
            self.t.expect("[")
            items = []
            while not self.t.accept("]"):
                if self.t.peek()[1] == "[":
                    items.append(nested())
                else:
                    kind, text, _ = self.t.next()
                    if text in ("true", "false"):
                        items.append(text == "true")
                    elif kind == "number" or text in ("nan", "inf"):
                        items.append(self.number(text))
                    else:
                        raise self.t.error_after("expected an array element")
                self.t.accept(",")
            return items

        return np.array(nested())

    def attrs(self) -> dict[str, object]:
        attrs: dict[str, object] = {}
        if not self.t.accept("{"):
            return attrs
        while not self.t.accept("}"):
            key = self.t.take("ident")
            self.t.expect("=")
            attrs[key] = self.attr_value()
            self.t.accept(",")
        return attrs

    # -- structure
    def block_args(self) -> tuple[Value, ...]:
        self.t.expect("(")
        args = []
        while not self.t.accept(")"):
            token = self.t.take("value")
            self.t.expect(":")
            args.append(self.define(token, self.type()))
            self.t.accept(",")
        return tuple(args)

    def block_body(self, args: tuple[Value, ...], terminator: str) -> Block:
        ops = []
        while self.t.peek()[0] == "value":
            ops.append(self.op())
        if self.t.peek()[1] != terminator:
            raise self.t.error(f"expected an op or {terminator!r}")
        self.t.next()
        results = []
        while self.t.peek()[0] == "value":
            results.append(self.use(self.t.next()[1]))
            if not self.t.accept(","):
                break
        return Block(args, tuple(ops), tuple(results))

    def op(self) -> Op:
        result_tokens = [self.t.take("value")]
        while self.t.accept(","):
            result_tokens.append(self.t.take("value"))
        self.t.expect("=")
        name = self.t.take("ident")
        operands = []
        while self.t.peek()[0] == "value":
            operands.append(self.use(self.t.next()[1]))
            if not self.t.accept(","):
                break
        attrs = self.attrs()
        self.t.expect(":")
        types = [self.type()]
        while self.t.accept(","):
            types.append(self.type())
        if len(types) != len(result_tokens):
            raise self.t.error_after(f"{len(result_tokens)} results but {len(types)} types")
        if name == "constant" and "value" in attrs:
            value = np.asarray(attrs["value"], dtype=types[0].np_dtype)
            if value.size == 0 and types[0].size == 0:  # `[]` does not show a (0, 3) shape
                value = value.reshape(types[0].shape)
            attrs["value"] = value
        if isinstance(attrs.get("index"), tuple):  # index arrays are int64, even `[]`
            attrs["index"] = tuple(
                e.astype(np.int64) if isinstance(e, np.ndarray) else e for e in attrs["index"]
            )
        results = tuple(self.define(tok, ty) for tok, ty in zip(result_tokens, types))
        regions = []
        for label in REGION_NAMES.get(name, ()):
            if self.t.peek()[1] != label:
                raise self.t.error(f"{name} needs a {label!r} region")
            self.t.next()
            self.scopes.append({})
            args = self.block_args()
            self.t.expect("{")
            regions.append(self.block_body(args, "yield"))
            self.t.expect("}")
            self.scopes.pop()
        return Op(name, tuple(operands), results, attrs, tuple(regions))

    def function(self) -> Function:
        self.t.expect("func")
        name = self.t.take("func")[1:]
        params = self.block_args()
        self.t.expect("->")
        declared = []
        if self.t.accept("("):
            while not self.t.accept(")"):
                declared.append(self.type())
                self.t.accept(",")
        else:
            declared.append(self.type())
        self.t.expect("{")
        body = self.block_body(params, "return")
        self.t.expect("}")
        returned = [v.type for v in body.results]
        if returned != declared:
            shown = ", ".join(map(str, returned))
            raise ParseError(
                f"@{name} declares results ({', '.join(map(str, declared))}) but returns ({shown})"
            )
        if self.t.peek()[0] != "eof":
            raise self.t.error("text after the end of the function")
        return Function(name, body)


def parse(text: str, verify: bool = True) -> Function:
    """Parse the text form of one function; the result is verified unless told not to."""
    fn = _Parser(text).function()
    if verify:
        from .verifier import verify as check

        check(fn)
    return fn
