"""The text form of the IR. `parse(print_function(fn))` rebuilds the same function.

    func @f(%x1: f64[], %x2: f64[]) -> f64[] {
      %0 = mul %x1, %x2 : f64[]
      %1 = reduce_sum %0 {axes = (0,)} : f64[]
      return %1
    }

Parameters keep their (sanitised, de-duplicated) Python names; other values are
numbered in program order. Control-flow ops print their regions indented below
them, each labelled (`then`, `else`, `cond`, `body`) with its block arguments.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .core import Block, Function, Op, Value
from .indexing import Dynamic, Slice
from .primitives import REGION_NAMES

_NAME_OK = re.compile(r"[^A-Za-z0-9_.]")


class _Namer:
    def __init__(self) -> None:
        self.names: dict[Value, str] = {}
        self.used: set[str] = set()
        self.counter = 0

    def define(self, value: Value) -> str:
        hint = _NAME_OK.sub("_", value.hint) if value.hint else ""
        if hint and not hint[0].isdigit():
            name, k = hint, 0
            while name in self.used:
                k += 1
                name = f"{hint}_{k}"
        else:
            while str(self.counter) in self.used:
                self.counter += 1
            name = str(self.counter)
            self.counter += 1
        self.used.add(name)
        self.names[value] = name
        return "%" + name

    def __getitem__(self, value: Value) -> str:
        try:
            return "%" + self.names[value]
        except KeyError:
            return f"%<undefined {value!r}>"


def format_attr(value: object) -> str:
    """Text of one attribute value."""
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if value is None:
        return "none"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (Slice, Dynamic)):
        return str(value)
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return format_attr(value.item())
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(format_attr(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise TypeError(f"cannot print attribute value {value!r}")


def _format_attrs(attrs: dict) -> str:
    if not attrs:
        return ""
    items = ", ".join(f"{k} = {format_attr(attrs[k])}" for k in sorted(attrs))
    return " {" + items + "}"


def _print_block_body(block: Block, namer: _Namer, indent: str, lines: list[str], term: str):
    for op in block.ops:
        _print_op(op, namer, indent, lines)
    results = ", ".join(namer[v] for v in block.results)
    lines.append(f"{indent}{term} {results}".rstrip())


def _print_op(op: Op, namer: _Namer, indent: str, lines: list[str]) -> None:
    operands = ", ".join(namer[v] for v in op.operands)
    results = ", ".join(namer.define(v) for v in op.results)
    types = ", ".join(str(v.type) for v in op.results)
    head = f"{op.name} {operands}".rstrip()
    lines.append(f"{indent}{results} = {head}{_format_attrs(dict(op.attrs))} : {types}")
    labels = REGION_NAMES.get(op.name, ())
    for i, region in enumerate(op.regions):
        label = labels[i] if i < len(labels) else f"region{i}"
        args = ", ".join(f"{namer.define(a)}: {a.type}" for a in region.args)
        lines.append(f"{indent}  {label}({args}) {{")
        _print_block_body(region, namer, indent + "    ", lines, "yield")
        lines.append(f"{indent}  }}")


def print_function(fn: Function) -> str:
    return _print(fn)[0]


def value_names(fn: Function) -> dict[Value, str]:
    """The name (without `%`) the text form gives each value of `fn`."""
    return _print(fn)[1].names


def _print(fn: Function) -> tuple[str, _Namer]:
    namer = _Namer()
    params = ", ".join(f"{namer.define(p)}: {p.type}" for p in fn.params)
    rtypes = [str(t) for t in fn.result_types]
    ret = rtypes[0] if len(rtypes) == 1 else "(" + ", ".join(rtypes) + ")"
    lines = [f"func @{fn.name}({params}) -> {ret} {{"]
    _print_block_body(fn.body, namer, "  ", lines, "return")
    lines.append("}")
    return "\n".join(lines), namer
