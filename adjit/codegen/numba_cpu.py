"""Numba CPU backend: an ir.Function becomes the Python source of one @njit function.

Code generation follows three decisions, made per block:
  - Fusion. Element-wise ops, conversions, broadcasts, iota, transposes and gathers
    are index expressions. A value of such an op is *inlined* into its consumers'
    loops when that does not repeat work (a single consumer iterating over the
    same number of elements, or an op that is only index arithmetic); otherwise it
    is *materialized* by one loop nest writing a fresh array. A chain of
    element-wise ops thus becomes one loop nest with no temporaries, and a
    reduction is computed inside the loop that produces its input.
  - BLAS. matmul calls np.dot on C-contiguous operands (every array the generated
    code holds is C-contiguous: transposes and slices are fused, never views).
  - Buffer reuse. A scatter (item assignment) writes into its target's buffer in
    place when that buffer is not needed afterwards.
Scalars (shape ()) are plain Numba scalars. Every line that computes an IR value
carries the value's IR name in a comment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..ir.core import Block, Function, Op, Value
from ..ir.indexing import Dynamic, Slice
from ..ir.primitives import PRIMITIVES
from ..ir.printer import print_function
from ..ir.types import TensorType

_INFIX = {
    "add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**",
    "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=",
    "and": "and", "or": "or",
}  # fmt: skip
_NUMPY_NAME = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2"}
_HELPERS = {"logistic": "_logistic"}
_CTOR = {"f64": "np.float64", "f32": "np.float32", "i64": "np.int64", "i32": "np.int32", "bool": "np.bool_"}
_INDEX_ONLY = {"broadcast", "iota", "transpose", "gather", "convert", "constant"}

PRELUDE = '''\
import numpy as np
import numba
from numba import prange


@numba.njit(cache=CACHE, inline="always", error_model="numpy")
def _logistic(x):
    # exp of a non-positive number only: no overflow for large |x|
    e = np.exp(-abs(x))
    return 1 / (1 + e) if x >= 0 else e / (1 + e)


@numba.njit(cache=CACHE, inline="always")
def _checked(i, n):
    if i < 0 or i >= n:
        raise IndexError("index out of bounds in a run-time (traced) index")
    return i
'''


def literal(value: object, type: TensorType) -> str:
    """Source of a scalar constant with the exact dtype."""
    v = np.asarray(value).reshape(()).item()
    if type.dtype == "bool":
        return "True" if v else "False"
    if isinstance(v, float):
        if math.isnan(v):
            text = "np.nan"
        elif math.isinf(v):
            text = "np.inf" if v > 0 else "-np.inf"
        else:
            text = repr(v)
    else:
        text = repr(int(v))
    return text if type.dtype in ("f64", "i64") else f"{_CTOR[type.dtype]}({text})"


def _fusible(op: Op) -> bool:
    if op.name == "constant":
        return op.result.type.size == 1
    return PRIMITIVES[op.name].kind == "elementwise" or op.name in _INDEX_ONLY


def _loop_consumer(op: Op, operand_index: int) -> bool:
    """Does `op` read this operand element by element inside a loop it emits?"""
    if _fusible(op) or PRIMITIVES[op.name].kind == "reduction":
        return not (op.name == "gather" and operand_index > 0)
    if op.name in ("scatter", "scatter_add"):
        return operand_index == 1  # the value written; the target needs a buffer
    return False


@dataclass
class _BlockPlan:
    inline: set[Value] = field(default_factory=set)
    last_use: dict[Value, int] = field(default_factory=dict)  # op index; len(ops) = results


def _plan(block: Block) -> _BlockPlan:
    producers = {r: op for op in block.ops for r in op.results}
    consumers: dict[Value, list[tuple[int, Op, int]]] = {}
    for i, op in enumerate(block.ops):
        for j, v in enumerate(op.operands):
            consumers.setdefault(v, []).append((i, op, j))
    plan = _BlockPlan()
    returned = set(block.results)
    for op in block.ops:
        if not _fusible(op):
            continue
        v = op.result
        uses = consumers.get(v, [])
        if v in returned or not uses or not all(_loop_consumer(c, j) for _, c, j in uses):
            continue
        if v.type.ndim == 0 and op.name != "constant" and len(uses) > 1:
            continue
        cheap = op.name in _INDEX_ONLY
        same_size = all(c.results[0].type.size == v.type.size or _reduces(c) for _, c, _ in uses)
        if cheap or (len(uses) == 1 and same_size):
            plan.inline.add(v)

    # An inlined value is evaluated where its consumers are, so its operands are
    # live until then (this keeps in-place buffer reuse safe).
    def effective_uses(v: Value) -> list[int]:
        positions = []
        for i, c, _ in consumers.get(v, []):
            if c.results and c.results[0] in plan.inline:
                positions.extend(effective_uses(c.results[0]))
            else:
                positions.append(i)
        return positions

    for v in list(consumers) + list(producers):
        uses = effective_uses(v)
        plan.last_use[v] = max(uses, default=-1)
    for v in block.results:
        plan.last_use[v] = len(block.ops)
    return plan


def _reduces(op: Op) -> bool:
    return PRIMITIVES[op.name].kind == "reduction"


class _Generator:
    def __init__(self, fn: Function, parallel: bool) -> None:
        self.fn = fn
        self.parallel = parallel
        self.names: dict[Value, str] = {}
        self.ir_names: dict[Value, str] = {}
        self.producer: dict[Value, Op] = {}
        self.constants: list[str] = []
        self.lines: list[str] = []
        self.counter = 0
        self.fresh: set[Value] = set()  # values owning a buffer that may be reused
        self.roots: dict[Value, Value] = {}  # value -> value owning its buffer

    # ----------------------------------------------------------- naming
    def new_name(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def bind(self, v: Value, name: str | None = None) -> str:
        self.names[v] = name or self.new_name()
        return self.names[v]

    def comment(self, v: Value) -> str:
        return f"  # %{self.ir_names.get(v, '?')}: {v.type}"

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    # ------------------------------------------------------- expressions
    def expr(self, v: Value, idx: list[str]) -> str:
        """Source computing element `idx` of `v` (idx has one entry per dim of v)."""
        if v in self.names:
            name = self.names[v]
            return name if v.type.ndim == 0 else f"{name}[{', '.join(idx)}]"
        return self.op_expr(self.producer[v], idx)

    def operand_expr(self, x: Value, out_shape: tuple[int, ...], idx: list[str]) -> str:
        """Element of operand `x` broadcast (right-aligned) into `out_shape` at idx."""
        offset = len(out_shape) - x.type.ndim
        sub = [("0" if d == 1 else idx[offset + j]) for j, d in enumerate(x.type.shape)]
        return self.expr(x, sub)

    def op_expr(self, op: Op, idx: list[str]) -> str:
        out = op.result.type
        name = op.name
        if name == "constant":
            return literal(op.attrs["value"], out)
        if name == "iota":
            axis = op.attrs["axis"]
            return "0" if out.shape[axis] == 1 else idx[axis]
        if name == "convert":
            inner = self.operand_expr(op.operands[0], out.shape, idx)
            if out.dtype == "bool":
                return f"({inner} != 0)"
            return f"{_CTOR[out.dtype]}({inner})"
        if name == "broadcast":
            return self.operand_expr(op.operands[0], out.shape, idx)
        if name == "transpose":
            src = [""] * out.ndim
            for i, p in enumerate(op.attrs["perm"]):
                src[p] = idx[i]
            return self.expr(op.operands[0], src)
        if name == "gather":
            x, *index = op.operands
            return self.expr(x, self.gather_indices(op.attrs["index"], x, index, idx))
        args = [self.operand_expr(x, out.shape, idx) for x in op.operands]
        if name in _INFIX:
            return f"({args[0]} {_INFIX[name]} {args[1]})"
        if name == "neg":
            return f"(-{args[0]})"
        if name == "not":
            return f"(not {args[0]})"
        if name == "select":
            return f"({args[1]} if {args[0]} else {args[2]})"
        if name in _HELPERS:
            return f"{_HELPERS[name]}({', '.join(args)})"
        return f"np.{_NUMPY_NAME.get(name, name)}({', '.join(args)})"

    def gather_indices(
        self, spec: tuple, x: Value, index_operands: list[Value], idx: list[str]
    ) -> list[str]:
        """Index expressions into `x` for element `idx` of x[spec] (NumPy's rules).

        With index arrays present, integer entries count as advanced indices too;
        the broadcast dims of the advanced indices replace them in place when they
        are adjacent, and go first otherwise.
        """
        arrays = [e for e in spec if isinstance(e, (np.ndarray, Dynamic))]
        advanced = [
            i for i, e in enumerate(spec)
            if isinstance(e, (np.ndarray, Dynamic)) or (arrays and isinstance(e, int))
        ]  # fmt: skip
        shapes = [
            e.shape if isinstance(e, np.ndarray) else index_operands[e.position].type.shape
            for e in arrays
        ]
        bshape = np.broadcast_shapes(*shapes) if arrays else ()
        adjacent = advanced == list(range(advanced[0], advanced[-1] + 1)) if advanced else True
        pos = 0
        if arrays and not adjacent:
            adv_idx, pos = idx[: len(bshape)], len(bshape)
        src: list[str] = []
        for i, e in enumerate(spec):
            if i in advanced:
                if advanced and i == advanced[0] and adjacent:
                    adv_idx, pos = idx[pos : pos + len(bshape)], pos + len(bshape)
                if isinstance(e, int):
                    src.append(str(e))
                    continue
                shape = e.shape if isinstance(e, np.ndarray) else index_operands[e.position].type.shape
                off = len(bshape) - len(shape)
                sub = [("0" if d == 1 else adv_idx[off + j]) for j, d in enumerate(shape)]
                dim = x.type.shape[len(src)]
                if isinstance(e, np.ndarray):
                    table = self.constant_array(np.ascontiguousarray(e, dtype=np.int64))
                    src.append(f"{table}[{', '.join(sub)}]" if sub else f"{table}[()]")
                else:
                    operand = self.expr(index_operands[e.position], sub)
                    src.append(f"_checked({operand}, {dim})")
            elif e is None:
                pos += 1
            elif isinstance(e, Slice):
                j = idx[pos]
                pos += 1
                if e.step == 1:
                    src.append(j if e.start == 0 else f"({e.start} + {j})")
                else:
                    src.append(f"({e.start} + {e.step} * {j})")
            else:
                src.append(str(e))
        return src

    def constant_array(self, arr: np.ndarray) -> str:
        name = f"C{len(self.constants)}"
        dtype = _CTOR[TensorType.of_array(arr).dtype]
        self.constants.append(f"{name} = np.array({arr.tolist()!r}, dtype={dtype})")
        return name

    # ------------------------------------------------------------- loops
    def loop_nest(self, indent: int, shape: tuple[int, ...], parallel_outer: bool) -> tuple[int, list[str]]:
        idx = []
        for d, n in enumerate(shape):
            var = f"i{d}"
            rng = "prange" if (d == 0 and parallel_outer and self.parallel) else "range"
            self.emit(indent, f"for {var} in {rng}({n}):")
            idx.append(var)
            indent += 1
        return indent, idx

    def materialize(self, indent: int, op: Op) -> None:
        v = op.result
        out = v.type
        if out.ndim == 0:
            self.emit(indent, f"{self.bind(v)} = {self.op_expr(op, [])}{self.comment(v)}")
            return
        name = self.new_name()
        operand = op.operands[0] if op.operands else None
        if op.name == "broadcast" and operand in self.producer and self.producer[operand].name == "constant" and operand.type.size == 1:
            fill = literal(self.producer[operand].attrs["value"], operand.type)
            self.emit(indent, f"{name} = np.full({out.shape}, {fill}, dtype={_CTOR[out.dtype]}){self.comment(v)}")
        else:
            self.emit(indent, f"{name} = np.empty({out.shape}, dtype={_CTOR[out.dtype]}){self.comment(v)}")
            body, idx = self.loop_nest(indent, out.shape, parallel_outer=True)
            self.emit(body, f"{name}[{', '.join(idx)}] = {self.op_expr(op, idx)}")
        self.bind(v, name)
        self.fresh.add(v)

    def reduction(self, indent: int, op: Op) -> None:
        (x,) = op.operands
        v = op.result
        axes = op.attrs["axes"]
        kind = op.name[len("reduce_"):]
        dt = v.type
        if dt.is_float:
            identity = {"sum": 0.0, "prod": 1.0, "max": -math.inf, "min": math.inf}[kind]
        else:
            info = np.iinfo(dt.np_dtype)
            identity = {"sum": 0, "prod": 1, "max": int(info.min), "min": int(info.max)}[kind]
        init = literal(identity, dt)
        combine = {
            "sum": "{acc} += {e}", "prod": "{acc} *= {e}",
            "max": "{acc} = np.maximum({acc}, {e})", "min": "{acc} = np.minimum({acc}, {e})",
        }[kind]  # fmt: skip
        shape = x.type.shape
        name = self.new_name()
        kept = [d for d in range(len(shape)) if d not in axes]
        suffix = list(axes) == list(range(len(shape) - len(axes), len(shape)))
        if suffix:
            # reduced axes innermost: a scalar accumulator per output element
            if kept:
                self.emit(indent, f"{name} = np.empty({v.type.shape}, dtype={_CTOR[dt.dtype]}){self.comment(v)}")
            body, outer = self.loop_nest(indent, tuple(shape[d] for d in kept), parallel_outer=True)
            acc = self.new_name("acc")
            self.emit(body, f"{acc} = {init}")
            inner_indent = body
            inner = []
            for k, d in enumerate(axes):
                var = f"j{k}"
                self.emit(inner_indent, f"for {var} in range({shape[d]}):")
                inner.append(var)
                inner_indent += 1
            self.emit(inner_indent, combine.format(acc=acc, e=self.expr(x, outer + inner)))
            if kept:
                self.emit(body, f"{name}[{', '.join(outer)}] = {acc}")
            else:
                self.emit(body, f"{name} = {acc}{self.comment(v)}")
        else:
            self.emit(indent, f"{name} = np.full({v.type.shape}, {init}, dtype={_CTOR[dt.dtype]}){self.comment(v)}")
            body, idx = self.loop_nest(indent, shape, parallel_outer=(0 in kept))
            target = f"{name}[{', '.join(idx[d] for d in kept)}]"
            self.emit(body, combine.format(acc=target, e=self.expr(x, idx)))
        self.bind(v, name)
        self.fresh.add(v)

    # ------------------------------------------------------ structural ops
    def constant(self, indent: int, op: Op) -> None:
        # a module-level array, frozen into the compiled code (read only: never reused)
        self.bind(op.result, self.constant_array(np.asarray(op.attrs["value"])))

    def matmul(self, indent: int, op: Op) -> None:
        a, b = op.operands
        v = op.result
        na, nb = self.names[a], self.names[b]
        is_float = v.type.dtype in ("f64", "f32")
        if is_float and a.type.ndim <= 2 and b.type.ndim <= 2:
            self.emit(indent, f"{self.bind(v)} = np.dot({na}, {nb}){self.comment(v)}")
            self.fresh.add(v)
            return
        # promote 1-D operands to matrices, loop over the broadcast batch dims
        product = "np.dot" if is_float else "_int_matmul"
        sa = a.type.shape if a.type.ndim > 1 else (1,) + a.type.shape
        sb = b.type.shape if b.type.ndim > 1 else b.type.shape + (1,)
        batch = np.broadcast_shapes(sa[:-2], sb[:-2])
        full = tuple(batch) + (sa[-2], sb[-1])
        name = self.new_name()
        self.emit(indent, f"{name} = np.empty({full}, dtype={_CTOR[v.type.dtype]}){self.comment(v)}")
        a2 = na if a.type.ndim > 1 else f"{na}.reshape({sa})"
        b2 = nb if b.type.ndim > 1 else f"{nb}.reshape({sb})"
        body, idx = self.loop_nest(indent, tuple(batch), parallel_outer=True)

        def batch_item(operand: str, shape: tuple[int, ...]) -> str:
            off = len(batch) - (len(shape) - 2)
            sub = [("0" if d == 1 else idx[off + j]) for j, d in enumerate(shape[:-2])]
            return f"{operand}[{', '.join(sub)}]" if sub else operand

        target = f"{name}[{', '.join(idx)}]" if idx else f"{name}[:, :]"
        self.emit(body, f"{target} = {product}({batch_item(a2, sa)}, {batch_item(b2, sb)})")
        if v.type.ndim == 0:
            self.emit(indent, f"{name} = {name}[0, 0]")
        elif full != v.type.shape:  # drop the dims of promoted 1-D operands
            self.emit(indent, f"{name} = {name}.reshape({v.type.shape})")
        self.bind(v, name)
        self.fresh.add(v)

    def reshape(self, indent: int, op: Op) -> None:
        (x,) = op.operands
        v = op.result
        src = self.names[x]
        if x.type.ndim == 0:
            text = f"np.full({v.type.shape}, {src}, dtype={_CTOR[v.type.dtype]})"
            self.fresh.add(v)
        elif v.type.ndim == 0:
            text = f"{src}.reshape(({x.type.size},))[0]"
        else:
            text = f"{src}.reshape({v.type.shape})"
            self.roots[v] = self.roots.get(x, x)
        self.emit(indent, f"{self.bind(v)} = {text}{self.comment(v)}")

    def concatenate(self, indent: int, op: Op) -> None:
        v = op.result
        axis = op.attrs["axis"]
        name = self.new_name()
        self.emit(indent, f"{name} = np.empty({v.type.shape}, dtype={_CTOR[v.type.dtype]}){self.comment(v)}")
        offset = 0
        for x in op.operands:
            n = x.type.shape[axis]
            sl = ", ".join([":"] * axis + [f"{offset}:{offset + n}"])
            self.emit(indent, f"{name}[{sl}] = {self.names[x]}")
            offset += n
        self.bind(v, name)
        self.fresh.add(v)

    def scatter(self, indent: int, op: Op, plan: _BlockPlan, position: int) -> None:
        x, val, *index = op.operands
        v = op.result
        name = self.new_name()
        if x.type.ndim == 0:  # x[()] = val on a 0-d array
            self.emit(indent, f"{name} = {self.expr(val, [])}{self.comment(v)}")
            self.bind(v, name)
            return
        root = self.roots.get(x, x)
        reusable = root in self.fresh and all(
            plan.last_use.get(w, -1) <= position for w, r in self.roots.items() if r is root
        ) and plan.last_use.get(x, -1) <= position and plan.last_use.get(root, -1) <= position
        source = self.names[x]
        self.emit(indent, f"{name} = {source if reusable else source + '.copy()'}{self.comment(v)}")
        spec = op.attrs["index"]
        region = _gathered_shape(x, spec, index)
        body, idx = self.loop_nest(indent, region, parallel_outer=False)
        target = self.gather_indices(spec, x, index, idx)
        value = self.operand_expr(val, region, idx)
        assign = "+=" if op.name == "scatter_add" else "="
        self.emit(body, f"{name}[{', '.join(target)}] {assign} {value}")
        self.bind(v, name)
        self.fresh.add(v)
        self.roots[v] = root if reusable else v
        if reusable:
            self.fresh.add(root)

    # --------------------------------------------------------- control flow
    def control(self, indent: int, op: Op) -> None:
        for v in op.operands:  # results may alias operands: never reuse their buffers
            self.fresh.discard(self.roots.get(v, v))
        operands = [self.names[v] for v in op.operands]
        results = [self.bind(r) for r in op.results]
        note = ", ".join(f"%{self.ir_names.get(r, '?')}" for r in op.results)
        if op.name == "cond":
            then, other = op.regions
            self.emit(indent, f"if {operands[0]}:  # {note} = cond")
            self.region(indent + 1, then, operands[1:], results)
            self.emit(indent, "else:")
            self.region(indent + 1, other, operands[1:], results)
        elif op.name == "while":
            test, body = op.regions
            carried = results
            self.emit(indent, f"{', '.join(carried)} = {', '.join(operands)}  # {note} = while")
            self.emit(indent, "while True:")
            for a, c in zip(test.args, carried):
                self.names[a] = c
            self.block(indent + 1, test)
            self.emit(indent + 1, f"if not {self.names[test.results[0]]}:")
            self.emit(indent + 2, "break")
            self.region(indent + 1, body, carried, carried)
        else:  # for
            (body,) = op.regions
            carried = results
            counter = self.new_name("k")
            if carried:
                self.emit(indent, f"{', '.join(carried)} = {', '.join(operands[2:])}  # {note} = for")
            self.emit(indent, f"for {counter} in range({operands[0]}, {operands[1]}):")
            self.region(indent + 1, body, [counter] + carried, carried)
            if not body.ops and not carried:
                self.emit(indent + 1, "pass")

    def region(self, indent: int, block: Block, args: list[str], results: list[str]) -> None:
        for a, src in zip(block.args, args):
            self.names[a] = src
        self.block(indent, block)
        if results:
            inner = ", ".join(self.names[r] for r in block.results)
            self.emit(indent, f"{', '.join(results)} = {inner}")
        else:
            self.emit(indent, "pass")

    # --------------------------------------------------------------- blocks
    def block(self, indent: int, block: Block) -> None:
        plan = _plan(block)
        for op in block.ops:
            for r in op.results:
                self.producer[r] = op
        for position, op in enumerate(block.ops):
            if op.results and op.results[0] in plan.inline:
                continue
            if op.regions:
                self.control(indent, op)
            elif _fusible(op):
                self.materialize(indent, op)
            elif _reduces(op):
                self.reduction(indent, op)
            elif op.name in ("scatter", "scatter_add"):
                self.scatter(indent, op, plan, position)
            else:
                getattr(self, op.name)(indent, op)
        for r in block.results:  # results must be named variables
            if r not in self.names:
                self.materialize(indent, self.producer[r])

    def generate(self) -> str:
        _name_values(self.fn, self.ir_names)
        params = []
        for p in self.fn.params:
            params.append(self.bind(p, "a_" + self.ir_names[p].replace(".", "_")))
        self.block(1, self.fn.body)
        outs = []
        for r in self.fn.results:
            name = self.names[r]
            owned = r.type.ndim == 0 or r in self.fresh or r in self.roots
            outs.append(name if owned else f"{name}.copy()")
        self.emit(1, f"return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
        header = [
            PRELUDE,
            *([_INT_MATMUL] if "_int_matmul(" in "\n".join(self.lines) else []),
            *self.constants,
            "",
            "",
            f"@numba.njit(cache=CACHE, error_model='numpy'{', parallel=True' if self.parallel else ''})",
            f"def entry({', '.join(params)}):",
            *(f"    # {line}" for line in _signature_comment(self.fn)),
        ]
        return "\n".join(header + self.lines) + "\n"


_INT_MATMUL = '''

@numba.njit(cache=CACHE)
def _int_matmul(a, b):
    # np.dot in Numba is for floats only; integer matrix products are summed directly
    out = np.zeros((a.shape[0], b.shape[1]), dtype=a.dtype)
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            for j in range(b.shape[1]):
                out[i, j] += a[i, k] * b[k, j]
    return out
'''


def _gathered_shape(x: Value, spec: tuple, index: list[Value]) -> tuple[int, ...]:
    from ..ir.indexing import indexed_shape

    return indexed_shape(x.type.shape, spec, [i.type.shape for i in index])


def _signature_comment(fn: Function) -> list[str]:
    return [print_function(fn).splitlines()[0].rstrip(" {")]


def _name_values(fn: Function, names: dict[Value, str]) -> None:
    """The printer's names for every value, for comments in the generated code."""
    text_names = iter(_printed_names(fn))
    for v in _values_in_print_order(fn):
        names[v] = next(text_names)


def _values_in_print_order(fn: Function) -> list[Value]:
    out = list(fn.params)

    def visit(block: Block) -> None:
        for op in block.ops:
            out.extend(op.results)
            for region in op.regions:
                out.extend(region.args)
                visit(region)

    visit(fn.body)
    return out


def _printed_names(fn: Function) -> list[str]:
    from ..ir.printer import _Namer

    namer = _Namer()
    return [namer.define(v)[1:] for v in _values_in_print_order(fn)]


def generate_source(fn: Function, parallel: bool = False) -> str:
    """The Python source of a module whose `entry(*flat_args)` computes fn."""
    return _Generator(fn, parallel).generate()
