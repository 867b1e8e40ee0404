"""CUDA backend: an ir.Function becomes a module of numba-cuda kernels and a host launch plan.

The plan is the CPU backend's: fusion.py decides which values are inlined into
their consumers, and elements.py builds the element expressions, so a chain of
element-wise ops is one kernel with no temporaries and a reduction reads its
producer's expression. Each materialized value is one kernel (cuda_kernels.py);
`entry`, plain Python, allocates device buffers and launches the kernels in
program order, with `cond`, `while` and `for` on the host around the launches
(their predicates and bounds are the only values copied back). Intermediate
buffers never leave the device.

Representation: arrays are C-contiguous device arrays; a 0-d value computed on
the device is a one-element device array (read as `x[0]`), while 0-d arguments
and loop counters are host scalars passed to kernels by value. A run-time
(traced) index out of range raises a flag on the device, and IndexError on the
host once the launches are done, as the CPU backend raises. Module
`KERNELS` maps each kernel to its Python function and its signature, which is
what compiling it ahead of time (to PTX) needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..ir.core import Block, Function, Op, Value
from ..ir.indexing import indexed_shape
from ..ir.printer import print_function, value_names
from ..ir.types import TensorType
from . import cuda_kernels, cuda_math
from .cuda_kernels import NUMBA_TYPE, TILE
from .cuda_launch import THREADS
from .elements import CTOR, ElementExpressions, literal
from .fusion import fusible, plan_block, reduces
from .loops import Access, Loop, Node, Stmt, fuse

PRELUDE = """\
import math

import numba
import numpy as np
from numba import cuda

from adjit.codegen import cuda_launch as _launch
from adjit.codegen import cuda_math as _m
"""

_IDENTITY = {"sum": 0, "prod": 1}
_FLAG = "index_flag"  # raised by kernels on an out-of-range run-time index


def _size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _device_shape(t: TensorType) -> tuple[int, ...]:
    return t.shape or (1,)


class _CudaGenerator(ElementExpressions):
    def __init__(self, fn: Function) -> None:
        self.fn = fn
        self.names: dict[Value, str] = {}
        self.ir_names: dict[Value, str] = {}
        self.producer: dict[Value, Op] = {}
        self.constants: dict[str, str] = {}  # array literal -> module-level name
        self.reads: list = []
        self.scalar_reads: set[str] = set()
        self.host: dict[str, str] = {}  # host scalar name -> dtype
        self.arrays: dict[str, tuple[str, int]] = {}  # device array name -> (dtype, ndim)
        self.views: dict[Value, Value] = {}  # matrix transposes read by matmul kernels
        self.kernels: list[str] = []
        self.signatures: dict[str, str] = {}
        self.bodies: list[list[Node]] = [[]]  # host statements and kernel loops; innermost last
        self.counter = 0

    # ----------------------------------------------------------- naming
    def new_name(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def bind_device(self, v: Value, name: str | None = None) -> str:
        name = name or self.new_name()
        self.names[v] = name
        self.arrays[name] = (v.type.dtype, max(v.type.ndim, 1))
        return name

    def emit(self, text: str) -> None:
        """A host statement (a launch, control flow...): loops are never moved across it."""
        self.bodies[-1].append(Stmt(text, opaque=True))

    def comment(self, v: Value) -> str:
        return f"  # %{self.ir_names.get(v, '?')}: {v.type}"

    def allocate(self, v: Value) -> str:
        name = self.bind_device(v)
        shape, dtype = _device_shape(v.type), CTOR[v.type.dtype]
        text = f"{name} = cuda.device_array({shape}, dtype={dtype}){self.comment(v)}"
        self.bodies[-1].append(Stmt(text, writes=[(name, None)], allocates=shape))
        return name

    # ------------------------------------------------------- expressions
    def expr(self, v: Value, idx: list[str]) -> str:
        if v in self.names:
            name = self.names[v]
            if name in self.host:
                self.scalar_reads.add(name)
                return name
            if v.type.ndim == 0:
                self.reads.append((name, ("0",)))
                return f"{name}[0]"
            self.reads.append((name, tuple(idx)))
            return f"{name}[{', '.join(idx)}]"
        return self.op_expr(self.producer[v], idx)

    def call(self, name: str, args: list[str], out: TensorType) -> str:
        if name == "abs":
            return f"abs({args[0]})"
        if name in ("maximum", "minimum"):
            return f"_m.{name}({args[0]}, {args[1]})"
        module = "_m" if name in cuda_math.FUNCTIONS else "math"
        text = f"{module}.{name}({', '.join(args)})"
        return text if out.dtype == "f64" else f"{CTOR[out.dtype]}({text})"

    def checked_index(self, index: str, dim: int) -> str:
        self.arrays[_FLAG] = ("i64", 1)
        self.reads.append((_FLAG, None))
        return f"_m.checked({index}, {dim}, {_FLAG})"

    # ----------------------------------------------------------- kernels
    def params(self, written: list[str]) -> list[str]:
        """The kernel's parameters: the arrays it writes, then those it reads."""
        kernel_globals = set(self.constants.values())
        names = list(written)
        for n, _ in self.reads:
            if n not in names and n not in kernel_globals:
                names.append(n)
        names += sorted(n for n in self.scalar_reads if n not in names)
        self.reads, self.scalar_reads = [], set()
        return names

    def kernel(self, source: str, name: str, params: list[str], launch: str) -> None:
        self.kernels.append(source)
        types = []
        for p in params:
            if p in self.host:
                types.append(NUMBA_TYPE[self.host[p]])
            else:
                dtype, ndim = self.arrays[p]
                types.append(f"{NUMBA_TYPE[dtype]}[{', '.join([':'] * (ndim - 1) + ['::1'])}]")
        self.signatures[name] = f"void({', '.join(types)})"
        self.emit(f"{name.upper()}[{launch}]({', '.join(params)})")

    def elementwise(self, shape: tuple[int, ...], writes: list[Access], body: str) -> None:
        """A statement run for every index (i0, i1, ...) of `shape`, with the accesses
        of the expressions built since the last one. Kept as a loop nest, so that
        loops.fuse merges neighbouring nests over one shape: one kernel computes them."""
        if not shape:  # one element: a kernel of its own, now
            name = self.new_name("k")
            params = self.params([n for n, _ in writes])
            self.kernel(cuda_kernels.elementwise(name, params, (), [body]), name, params, "1, 1")
            return
        stmt = Stmt(body, self.reads, list(writes), self.scalar_reads)
        self.reads, self.scalar_reads = [], set()
        node: Node = stmt
        for d in reversed(range(len(shape))):
            node = Loop(f"i{d}", shape[d], False, [node])
        self.bodies[-1].append(node)

    def render(self, body: list[Node]) -> list[str]:
        """Host lines of a body: its loop nests, fused, become kernel launches."""
        lines: list[str] = []
        for node in fuse(body):
            if isinstance(node, Stmt):
                lines += node.text.split("\n")
                continue
            for shape, stmts in _perfect_nests(node):
                name = self.new_name("k")
                for st in stmts:
                    self.reads += st.reads
                    self.scalar_reads |= st.scalar_reads
                params = self.params(list(dict.fromkeys(n for st in stmts for n, _ in st.writes)))
                source = cuda_kernels.elementwise(name, params, shape, [st.text for st in stmts])
                launch = f"_launch.blocks({_size(shape)}), {THREADS}"
                self.bodies.append([])
                self.kernel(source, name, params, launch)
                lines += [st.text for st in self.bodies.pop()]
        return lines

    def nested(self, build: Callable[[], None]) -> list[str]:
        """The host lines of a separately fused body (a control-flow region), indented."""
        self.bodies.append([])
        build()
        return ["    " + line for line in self.render(self.bodies.pop())]

    # -------------------------------------------------------- value kinds
    def materialize(self, op: Op) -> None:
        v = op.result
        pending = self.reads, self.scalar_reads
        self.reads, self.scalar_reads = [], set()
        idx = [f"i{d}" for d in range(v.type.ndim)]
        value = self.op_expr(op, idx)
        reads, scalar_reads = self.reads, self.scalar_reads
        self.reads, self.scalar_reads = pending
        name = self.allocate(v)
        self.reads += reads
        self.scalar_reads |= scalar_reads
        target = f"{name}[{', '.join(idx)}]" if idx else f"{name}[0]"
        self.elementwise(v.type.shape, [(name, tuple(idx))], f"{target} = {value}")

    def reduction(self, op: Op) -> None:
        (x,) = op.operands
        v = op.result
        axes = op.attrs["axes"]
        kind = op.name[len("reduce_") :]
        dt = v.type
        if kind in _IDENTITY:
            identity: object = _IDENTITY[kind]
        elif dt.is_float:
            identity = -math.inf if kind == "max" else math.inf
        else:
            info = np.iinfo(dt.np_dtype)
            identity = int(info.min) if kind == "max" else int(info.max)
        init = literal(float(identity) if dt.is_float else identity, dt)
        shape = x.type.shape
        kept = [d for d in range(len(shape)) if d not in axes]
        kept_shape = tuple(shape[d] for d in kept)
        red_shape = tuple(shape[d] for d in axes)
        outputs, n = _size(kept_shape), _size(red_shape)
        parts = cuda_kernels.reduction_parts(outputs, n)
        idx = [""] * len(shape)
        for j, d in enumerate(kept):
            idx[d] = f"r{j}"
        for j, d in enumerate(axes):
            idx[d] = f"q{j}"
        lines = cuda_kernels.unravel("m", kept_shape, [f"r{j}" for j in range(len(kept))])
        lines += cuda_kernels.unravel("j", red_shape, [f"q{j}" for j in range(len(axes))])
        element = (lines, self.expr(x, idx))
        out = self.allocate(v)
        outs = [f"o{j}" for j in range(len(kept))]
        store_at = f"{out}[{', '.join(outs)}]" if kept else f"{out}[0]"
        final = cuda_kernels.unravel("m", kept_shape, outs) + [f"{store_at} = s[0]"]
        if parts == 1:
            self.reduce_kernel([out], kind, dt, init, outputs, n, 1, element, final)
            return
        partial = self.new_name("parts")
        self.arrays[partial] = (dt.dtype, 1)
        self.emit(f"{partial} = cuda.device_array({outputs * parts}, dtype={CTOR[dt.dtype]})")
        store = [f"{partial}[b] = s[0]"]
        self.reduce_kernel([partial], kind, dt, init, outputs, n, parts, element, store)
        self.reads.append((partial, None))
        second = ([], f"{partial}[m * {parts} + j]")
        self.reduce_kernel([out], kind, dt, init, outputs, parts, 1, second, final)

    def reduce_kernel(
        self,
        writes: list[str],
        kind: str,
        dt: TensorType,
        init: str,
        outputs: int,
        n: int,
        parts: int,
        element: tuple[list[str], str],
        store: list[str],
    ) -> None:
        name = self.new_name("k")
        params = self.params(writes)
        source = cuda_kernels.reduction(
            name, params, kind, dt, init, outputs, n, parts, element, store
        )
        blocks = f"min({outputs * parts}, _launch.blocks({outputs * parts * THREADS}))"
        self.kernel(source, name, params, f"{blocks}, {THREADS}")

    def constant(self, op: Op) -> None:
        table = self.constant_array(np.asarray(op.attrs["value"]))
        name = self.bind_device(op.result, self.new_name("d"))
        self.emit(f"{name} = _launch.constant({table}){self.comment(op.result)}")

    def matmul(self, op: Op) -> None:
        a, b = op.operands
        v = op.result
        sa = a.type.shape if a.type.ndim > 1 else (1,) + a.type.shape
        sb = b.type.shape if b.type.ndim > 1 else b.type.shape + (1,)
        batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
        full = batch + (sa[-2], sb[-1])
        name = self.new_name()
        self.arrays[name] = (v.type.dtype, len(full))
        self.emit(
            f"{name} = cuda.device_array({full}, dtype={CTOR[v.type.dtype]}){self.comment(v)}"
        )

        def element(x: Value, shape: tuple[int, ...]):
            base = self.names[self.views.get(x, x)]

            def at(bidx: list[str], row: str, col: str) -> str:
                self.reads.append((base, None))
                if x.type.ndim == 1:  # a promoted vector: (1, K) or (K, 1)
                    return f"{base}[{col if x is a else row}]"
                off = len(batch) - (len(shape) - 2)
                sub = [("0" if d == 1 else bidx[off + j]) for j, d in enumerate(shape[:-2])]
                pair = [col, row] if x in self.views else [row, col]
                return f"{base}[{', '.join(sub + pair)}]"

            return at

        def out(bidx: list[str], row: str, col: str) -> str:
            return f"{name}[{', '.join(bidx + [row, col])}]"

        kname = self.new_name("k")
        m, k, n = sa[-2], sa[-1], sb[-1]
        # the operand accessors record reads when called: build the source first
        source = cuda_kernels.matmul(
            kname, ["PARAMS"], v.type, batch, m, k, n, element(a, sa), element(b, sb), out
        )
        params = self.params([name])
        source = source.replace("PARAMS", ", ".join(params), 1)
        grid = (-(-n // TILE), -(-m // TILE), min(max(_size(batch), 1), 65535))
        self.kernel(source, kname, params, f"{grid}, ({TILE}, {TILE})")
        if full != _device_shape(v.type):  # drop the dims of promoted 1-D operands
            self.emit(f"{name} = {name}.reshape({_device_shape(v.type)})")
            self.arrays[name] = (v.type.dtype, max(v.type.ndim, 1))
        self.bind_device(v, name)

    def reshape(self, op: Op) -> None:
        (x,) = op.operands
        v = op.result
        src = self.names[x]
        if src in self.host and v.type.ndim == 0:
            self.names[v] = src
        elif src in self.host or x.type.ndim == 0:  # a scalar filled into an array
            value = self.expr(x, [])
            name = self.allocate(v)
            idx = [f"i{d}" for d in range(v.type.ndim)]
            self.elementwise(
                v.type.shape, [(name, tuple(idx))], f"{name}[{', '.join(idx)}] = {value}"
            )
        else:
            name = self.bind_device(v)
            self.emit(f"{name} = {src}.reshape({_device_shape(v.type)}){self.comment(v)}")

    def concatenate(self, op: Op) -> None:
        v = op.result
        axis = op.attrs["axis"]
        name = self.allocate(v)
        offset = 0
        for x in op.operands:
            idx = [f"i{d}" for d in range(x.type.ndim)]
            target = list(idx)
            target[axis] = f"({offset} + {idx[axis]})" if offset else idx[axis]
            body = f"{name}[{', '.join(target)}] = {self.expr(x, idx)}"
            self.elementwise(x.type.shape, [(name, tuple(target))], body)
            offset += x.type.shape[axis]

    def scatter(self, op: Op) -> None:
        x, val, *index = op.operands
        v = op.result
        if x.type.ndim == 0:  # x[()] = val on a 0-d array
            value = self.expr(val, [])
            name = self.allocate(v)
            self.elementwise((), [(name, None)], f"{name}[0] = {value}")
            return
        name = self.bind_device(v)
        self.emit(f"{name} = _launch.device_copy({self.names[x]}){self.comment(v)}")
        spec = op.attrs["index"]
        region = indexed_shape(x.type.shape, spec, [i.type.shape for i in index])
        idx = [f"i{d}" for d in range(len(region))]
        target = self.gather_indices(spec, x, index, idx)
        value = self.operand_expr(val, region, idx)
        if op.name == "scatter_add":  # duplicate indices add up: atomically
            at = target[0] if len(target) == 1 else f"({', '.join(target)})"
            body = f"cuda.atomic.add({name}, {at}, {value})"
        else:
            body = f"{name}[{', '.join(target)}] = {value}"
        self.elementwise(region, [(name, tuple(target))], body)

    # --------------------------------------------------------- control flow
    def as_device(self, src: str, v: Value) -> str:
        """A 0-d host value as a device scalar, so loop state has one representation."""
        if src in self.host:
            return f"_launch.device_scalar({src}, {CTOR[v.type.dtype]})"
        return src

    def host_value(self, src: str) -> str:
        return src if src in self.host else f"_launch.host_scalar({src})"

    def region(self, block: Block, args: list[str], outs: list[str]) -> list[str]:
        def build() -> None:
            for a, src in zip(block.args, args):
                self.names[a] = src
            self.block(block)
            inner = [self.as_device(self.names[r], r) for r in block.results]
            self.emit(f"{', '.join(outs)} = {', '.join(inner)}" if outs else "pass")

        return self.nested(build)

    def control(self, op: Op) -> None:
        operands = [self.names[u] for u in op.operands]
        results = [self.bind_device(r) for r in op.results]
        note = ", ".join(f"%{self.ir_names.get(r, '?')}" for r in op.results)
        if op.name == "cond":
            then, other = op.regions
            lines = [f"if {self.host_value(operands[0])}:  # {note} = cond"]
            lines += self.region(then, operands[1:], results)
            lines += ["else:", *self.region(other, operands[1:], results)]
            self.emit("\n".join(lines))
            return
        state = op.operands if op.name == "while" else op.operands[2:]
        init = [self.as_device(self.names[u], u) for u in state]
        lines = (
            [f"{', '.join(results)} = {', '.join(init)}  # {note} = {op.name}"] if results else []
        )
        if op.name == "while":
            test, body = op.regions

            def condition() -> None:
                for a, c in zip(test.args, results):
                    self.names[a] = c
                self.block(test)
                self.emit(f"if not {self.host_value(self.names[test.results[0]])}:\n    break")

            lines += ["while True:", *self.nested(condition)]
            lines += self.region(body, results, results)
            self.emit("\n".join(lines))
            return
        (body,) = op.regions
        counter = self.new_name("n")
        self.host[counter] = body.args[0].type.dtype
        lo, hi = (self.host_value(s) for s in operands[:2])
        lines.append(f"for {counter} in range({lo}, {hi}):")
        lines += self.region(body, [counter] + results, results)
        self.emit("\n".join(lines))

    # --------------------------------------------------------------- blocks
    def block(self, block: Block) -> None:
        plan = plan_block(block)
        for op in block.ops:
            for r in op.results:
                self.producer[r] = op
        for op in block.ops:
            if op.results and op.results[0] in plan.inline:
                continue
            if op.results and op.results[0] in plan.transposed_views:
                self.views[op.result] = op.operands[0]
                continue
            if op.regions:
                self.control(op)
            elif fusible(op):
                self.materialize(op)
            elif reduces(op):
                self.reduction(op)
            elif op.name in ("scatter", "scatter_add"):
                self.scatter(op)
            else:
                getattr(self, op.name)(op)
        for r in block.results:  # results must be named variables
            if r not in self.names:
                self.materialize(self.producer[r])

    def generate(self) -> str:
        self.ir_names = value_names(self.fn)
        params = []
        for p in self.fn.params:
            name = "a_" + self.ir_names[p].replace(".", "_")
            if p.type.ndim == 0:
                self.names[p] = name
                self.host[name] = p.type.dtype
            else:
                self.bind_device(p, name)
            params.append(name)
        self.block(self.fn.body)
        outs = [self.names[r] for r in self.fn.results]
        if _FLAG in self.arrays:  # one small copy per call, after all launches
            self.bodies[0].insert(0, Stmt(f"{_FLAG} = _launch.index_flag()", opaque=True))
            self.emit(f"_launch.check_indices({_FLAG})")
        self.emit(f"return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
        signature = print_function(self.fn).split("\n", 1)[0].rstrip(" {")
        header = [
            PRELUDE,
            *(f"{name} = {text}" for text, name in self.constants.items()),
            "",
        ]
        entry = [
            "",
            "",
            f"def entry({', '.join(params)}):",
            f"    # {signature}",
            "    # launch plan: device buffers and kernel launches, in program order",
        ]
        body = ["    " + line for line in self.render(self.bodies[0])]
        kernels = list(self.signatures)
        table = ["KERNELS = {  # name: (Python function, signature)"]
        table += [f"    {k!r}: ({k}, {self.signatures[k]!r})," for k in kernels]
        table += ["}"]
        launchers = [f"{k.upper()} = cuda.jit({k}, cache=CACHE)" for k in kernels]
        parts = header + ["\n" + k for k in self.kernels] + ["", *table, *launchers] + entry
        return "\n".join(parts + body) + "\n"


def _perfect_nests(loop: Loop) -> list[tuple[tuple[int, ...], list[Stmt]]]:
    """A fused loop nest as kernels, in order: (shape, statements) per perfect nest.

    Nests of one shape merge into one; where fuse merged only outer loops (inner
    ones of other extents, or kept apart), the inner parts are kernels of their own,
    in their order (the order of the kernels the loops came from)."""
    out: list[tuple[tuple[int, ...], list[Stmt]]] = []
    group: list[Stmt] = []
    for child in loop.body:
        if isinstance(child, Stmt):
            group.append(child)
            continue
        if group:
            out.append(((loop.extent,), group))
            group = []
        out += [((loop.extent,) + shape, stmts) for shape, stmts in _perfect_nests(child)]
    if group:
        out.append(((loop.extent,), group))
    return out


def generate_cuda_source(fn: Function) -> str:
    """The Python source of a module whose `entry(*flat_args)` computes fn on a CUDA device."""
    return _CudaGenerator(fn).generate()
