"""Element expressions: the source computing one element of a fused value.

Shared by the emitters (numba_cpu, numba_cuda): both render the plan of
fusion.py as Python source, so an inlined value is the same index expression
on either target. A target states only what differs: how it calls an
element-wise function (`call`) and how it checks a run-time index
(`checked_index`). The emitter holds `names` (value -> variable), `producer`
(value -> op), `constants` and the access lists `reads`, `scalar_reads` that
loops.py and the kernel builder read.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir.core import Op, Value
from ..ir.indexing import Dynamic, Slice
from ..ir.types import TensorType

INFIX = {
    "add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**",
    "floordiv": "//", "mod": "%",  # Numba's scalar np.floor_divide rounds differently
    "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=",
    "and": "and", "or": "or",
}  # fmt: skip

NUMPY_NAME = {
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "atan2": "arctan2",
    "asinh": "arcsinh",
    "acosh": "arccosh",
    "atanh": "arctanh",
}

CTOR = {
    "f64": "np.float64",
    "f32": "np.float32",
    "i64": "np.int64",
    "i32": "np.int32",
    "bool": "np.bool_",
}


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
    return text if type.dtype in ("f64", "i64") else f"{CTOR[type.dtype]}({text})"


class ElementExpressions:
    """Builds element expressions; mixed into a target's generator."""

    names: dict[Value, str]
    producer: dict[Value, Op]
    constants: dict[str, str]
    reads: list
    scalar_reads: set[str]

    def call(self, name: str, args: list[str], out: TensorType) -> str:
        """Source of element-wise primitive `name` applied to scalar `args`."""
        raise NotImplementedError

    def checked_index(self, index: str, dim: int) -> str:
        """Source of a run-time index into a dim of size `dim`, checked where the target can."""
        raise NotImplementedError

    def expr(self, v: Value, idx: list[str]) -> str:
        """Source computing element `idx` of `v` (idx has one entry per dim of v)."""
        if v in self.names:
            name = self.names[v]
            if v.type.ndim == 0:
                self.scalar_reads.add(name)
                return name
            self.reads.append((name, tuple(idx)))
            return f"{name}[{', '.join(idx)}]"
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
            return f"{CTOR[out.dtype]}({inner})"
        if name == "broadcast":
            return self.operand_expr(op.operands[0], out.shape, idx)
        if name == "reshape":  # only inserts or drops unit dims (see _unit_reshape)
            kept = iter(i for i, d in zip(idx, out.shape) if d != 1)
            src = [("0" if d == 1 else next(kept)) for d in op.operands[0].type.shape]
            return self.expr(op.operands[0], src)
        if name == "transpose":
            src = [""] * out.ndim
            for i, p in enumerate(op.attrs["perm"]):
                src[p] = idx[i]
            return self.expr(op.operands[0], src)
        if name == "gather":
            x, *index = op.operands
            return self.expr(x, self.gather_indices(op.attrs["index"], x, index, idx))
        args = [self.operand_expr(x, out.shape, idx) for x in op.operands]
        if name in INFIX:
            return f"({args[0]} {INFIX[name]} {args[1]})"
        if name == "neg":
            return f"(-{args[0]})"
        if name == "not":
            return f"(not {args[0]})"
        if name == "select":
            return f"({args[1]} if {args[0]} else {args[2]})"
        return self.call(name, args, out)

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
        adv_idx: list[str] = []
        if arrays and not adjacent:
            adv_idx, pos = idx[: len(bshape)], len(bshape)
        src: list[str] = []
        for i, e in enumerate(spec):
            if i in advanced:
                if i == advanced[0] and adjacent:
                    adv_idx, pos = idx[pos : pos + len(bshape)], pos + len(bshape)
                if isinstance(e, int):
                    src.append(str(e))
                    continue
                shape = (
                    e.shape if isinstance(e, np.ndarray) else index_operands[e.position].type.shape
                )
                off = len(bshape) - len(shape)
                sub = [("0" if d == 1 else adv_idx[off + j]) for j, d in enumerate(shape)]
                dim = x.type.shape[len(src)]
                if (
                    isinstance(e, np.ndarray)
                    and e.ndim == 1
                    and np.array_equal(e, np.arange(e.size))
                ):
                    src.append(sub[0])  # x[np.arange(n), ...]: the loop index itself
                elif isinstance(e, np.ndarray):
                    table = self.constant_array(np.ascontiguousarray(e, dtype=np.int64))
                    src.append(f"{table}[{', '.join(sub)}]" if sub else f"{table}[()]")
                else:
                    operand = self.expr(index_operands[e.position], sub)
                    src.append(self.checked_index(operand, dim))
            elif e is None:
                pos += 1
            elif isinstance(e, Slice):
                j = idx[pos]
                pos += 1
                if e.step == 1:
                    src.append(j if e.start == 0 else f"({e.start} + {j})")
                else:
                    # j may be a sum (a block's `first + k`): bracketed, not re-associated
                    step_j = j if j.isidentifier() or j.isdigit() else f"({j})"
                    src.append(f"({e.start} + {e.step} * {step_j})")
            else:
                src.append(str(e))
        remaining = x.type.ndim - len(src)  # a spec may leave out trailing full slices
        return src + idx[pos : pos + remaining]

    def constant_array(self, arr: np.ndarray) -> str:
        """A module-level array with these contents (one per distinct array)."""
        dtype = CTOR[TensorType.of_array(arr).dtype]
        text = f"np.array({arr.tolist()!r}, dtype={dtype})"
        if arr.size == 0:  # [] would lose the shape
            text = f"np.zeros({arr.shape}, dtype={dtype})"
        if text not in self.constants:
            self.constants[text] = f"C{len(self.constants)}"
        return self.constants[text]
