"""Numba CPU backend: an ir.Function becomes the Python source of one @njit function.

  - Fusion (fusion.py) decides which values are inlined into their consumers'
    loops; the rest are materialized by one loop nest each. A chain of
    element-wise ops becomes one loop with no temporaries, and a reduction is
    computed inside the loop that produces its input.
  - The emitted statements and loops carry the array elements they touch, so
    loops.py can merge neighbouring loops over the same range (a row softmax
    becomes one pass per row) and shrink per-iteration temporaries to a slice.
  - matmul calls np.dot (BLAS) on C-contiguous operands: every array the
    generated code holds is C-contiguous, as transposes and slices are fused;
    small products (contraction.py decides) run as loop nests instead.
  - A scatter (item assignment) writes into its target's buffer in place when
    nothing reads that buffer afterwards.
Scalars (shape ()) are plain Numba scalars. Each line computing an IR value
carries the value's IR name and type in a comment.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..ir.core import Block, Function, Op, Value
from ..ir.primitives_linalg import LINALG, PARTS, part_index
from ..ir.printer import print_function, value_names
from ..ir.types import TapeType, TensorType
from . import contraction, helpers
from .buffers import BufferRoots, NameTable
from .elements import CTOR as _CTOR
from .elements import NUMPY_NAME as _NUMPY_NAME
from .elements import ElementExpressions, literal
from .fusion import BlockPlan, fusible, plan_block, reduces
from .loops import (
    Access,
    Loop,
    Node,
    Stmt,
    contract,
    fuse,
    parallelize,
    place_scratch,
    render,
    serial_if_small,
)
from .split import split_body

# Shorter sums are added sequentially: a block buffer and its loops cost compile
# time (Numba compiles each loop) for little speed on a few elements.
PAIRWISE_MIN = 64
# Longer function bodies are split into pieces of about this many lines (split.py).
SPLIT_LINES = 60

PRELUDE = """\
import numpy as np
import numba
from numba import prange


@numba.njit(cache=CACHE, inline="always")
def _checked(i, n):
    if i < 0 or i >= n:
        raise IndexError("index out of bounds in a run-time (traced) index")
    return i


@numba.njit(cache=CACHE)
def _tape_reserve(tape, i):
    # room for element i: the buffer doubles, so n writes cost O(n) in all
    if i < tape.shape[0]:
        return tape
    grown = np.zeros((max(2 * tape.shape[0], i + 1),) + tape.shape[1:], dtype=tape.dtype)
    grown[: tape.shape[0]] = tape
    return grown


@numba.njit(cache=CACHE)
def _tape_add(a, b):
    if a.shape[0] < b.shape[0]:
        a, b = b, a
    total = a.copy()
    total[: b.shape[0]] += b
    return total
"""


class _Generator(ElementExpressions):
    def __init__(self, fn: Function, parallel: bool, split_lines: int) -> None:
        self.fn = fn
        self.parallel = parallel
        self.split_lines = split_lines
        self.names: dict[Value, str] = NameTable()
        self.ir_names: dict[Value, str] = {}
        self.producer: dict[Value, Op] = {}
        self.constants: dict[str, str] = {}  # array literal -> module-level name
        self.counter = 0
        self.fresh: set[Value] = set()  # values owning a buffer that may be reused
        self.roots = BufferRoots()  # value -> value owning its buffer
        self.bodies: list[list[Node]] = [[]]  # innermost last
        self.reads: list[Access] = []  # accesses of the statement being built
        self.scalar_reads: set[str] = set()
        self.raises = False  # the statement being built checks an index
        self.scratch: dict[str, str] = {}  # name -> allocation, made once per call
        self.views: dict[Value, Value] = {}  # matrix transposes passed to BLAS as `x.T`

    # ----------------------------------------------------------- naming
    def new_name(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def bind(self, v: Value, name: str | None = None) -> str:
        self.names[v] = name or self.new_name()
        return self.names[v]

    def comment(self, v: Value) -> str:
        return f"  # %{self.ir_names.get(v, '?')}: {v.type}"

    # -------------------------------------------------- statements, loops
    def stmt(
        self,
        text: str,
        writes: list[Access] = (),  # type: ignore[assignment]
        scalar_writes: set[str] = frozenset(),  # type: ignore[assignment]
        reads: list[Access] = (),  # type: ignore[assignment]
        opaque: bool = False,
        work: int = 1,
    ) -> None:
        """Append a statement; the array reads of expressions built since the last one count."""
        node = Stmt(
            text,
            self.reads + list(reads),
            list(writes),
            self.scalar_reads,
            set(scalar_writes),
            opaque,
            work=work,
            raises=self.raises,
        )
        self.reads, self.scalar_reads, self.raises = [], set(), False
        self.bodies[-1].append(node)

    def read(self, name: str) -> str:
        """A whole-array read of `name` (e.g. an argument of np.dot)."""
        self.reads.append((name, None))
        return name

    @contextlib.contextmanager
    def loop(
        self, var: str, extent: int, parallel: bool = False, start: int = 0, step: int = 1
    ) -> Iterator[None]:
        node = Loop(var, extent, parallel and self.parallel, [], start, step)
        self.bodies[-1].append(node)
        self.bodies.append(node.body)
        try:
            yield
        finally:
            self.bodies.pop()

    @contextlib.contextmanager
    def loop_nest(
        self, shape: tuple[int, ...], prefix: str = "i", parallel: bool = False
    ) -> Iterator[list[str]]:
        with contextlib.ExitStack() as stack:
            idx = []
            for d, n in enumerate(shape):
                var = f"{prefix}{d}"
                stack.enter_context(self.loop(var, n, parallel and d == 0))
                idx.append(var)
            yield idx

    def nested(self, build: Callable[[], None]) -> list[str]:
        """Lines of a separately fused body (a control-flow region)."""
        self.bodies.append([])
        build()
        body = self.bodies.pop()
        lines: list[str] = []
        # scratch arrays are allocated once at the top: loops using them stay serial here
        render(parallelize(fuse(serial_if_small(body)), frozenset(self.scratch)), 0, lines)
        return lines

    # ------------------------------------------------------- expressions
    def call(self, name: str, args: list[str], out: TensorType) -> str:
        if name in helpers.VECMATH:  # SIMD-friendly, computed in float64
            call = f"{helpers.VECMATH[name]}({args[0]})"
            return call if out.dtype == "f64" else f"{_CTOR[out.dtype]}({call})"
        return f"np.{_NUMPY_NAME.get(name, name)}({', '.join(args)})"

    def checked_index(self, index: str, dim: int) -> str:
        self.raises = True
        return f"_checked({index}, {dim})"

    # -------------------------------------------------------- value kinds
    def allocate(self, v: Value, name: str, fill: str | None = None) -> None:
        dtype = _CTOR[v.type.dtype]
        if fill is None:
            self.stmt(
                f"{name} = np.empty({v.type.shape}, dtype={dtype}){self.comment(v)}",
                writes=[(name, None)],
            )
            self.bodies[-1][-1].allocates = v.type.shape
        else:
            text = f"np.full({v.type.shape}, {fill}, dtype={dtype})"
            self.stmt(f"{name} = {text}{self.comment(v)}", writes=[(name, None)])

    def materialize(self, op: Op, plan: BlockPlan | None = None, position: int = -1) -> None:
        v = op.result
        out = v.type
        if out.ndim == 0:
            name = self.bind(v)
            self.stmt(f"{name} = {self.op_expr(op, [])}{self.comment(v)}", scalar_writes={name})
            return
        operand = op.operands[0] if op.operands else None
        if (
            op.name == "broadcast"
            and self.producer.get(operand) is not None
            and self.producer[operand].name == "constant"
            and operand.type.size == 1
        ):
            name = self.new_name()
            self.allocate(v, name, literal(self.producer[operand].attrs["value"], operand.type))
            self.bind(v, name)
            self.fresh.add(v)
            return
        idx = [f"i{d}" for d in range(out.ndim)]
        pending = (self.reads, self.scalar_reads, self.raises)
        self.reads, self.scalar_reads, self.raises = [], set(), False
        value = self.op_expr(op, idx)
        reads, scalar_reads, raises = self.reads, self.scalar_reads, self.raises
        self.reads, self.scalar_reads, self.raises = pending
        dead = self.dead_buffer(v, reads, tuple(idx), plan, position) if plan else None
        if dead is None:
            name = self.new_name()
            self.allocate(v, name)
        else:  # overwrite a buffer nothing reads any more, element by element
            name = self.names[dead]
            self.roots[v] = self.roots.get(dead, dead)
        with self.loop_nest(out.shape, parallel=True):
            self.reads += reads
            self.scalar_reads |= scalar_reads
            self.raises |= raises
            self.stmt(f"{name}[{', '.join(idx)}] = {value}", writes=[(name, tuple(idx))])
        self.bind(v, name)
        self.fresh.add(v)

    def dead_buffer(
        self, v: Value, reads: list[Access], idx: tuple[str, ...], plan: BlockPlan, position: int
    ) -> Value | None:
        """An operand buffer of v's type, read only at v's own index, dead after this op."""
        for name in dict.fromkeys(n for n, _ in reads):
            w = next((u for u in self.names.bound_to(name) if u in self.fresh), None)
            if w is None or w.type != v.type:
                continue
            root = self.roots.get(w, w)
            if root not in self.fresh or self.roots.latest_use(root, plan.last_use) > position:
                continue
            if all(i == idx for n, i in reads if n == name):
                return w
        return None

    def reduction(self, op: Op) -> None:
        (x,) = op.operands
        v = op.result
        axes = op.attrs["axes"]
        kind = op.name[len("reduce_") :]
        dt = v.type
        if dt.is_float:
            identity = {"sum": 0.0, "prod": 1.0, "max": -math.inf, "min": math.inf}[kind]
        else:
            info = np.iinfo(dt.np_dtype)
            identity = {"sum": 0, "prod": 1, "max": int(info.min), "min": int(info.max)}[kind]
        init = literal(identity, dt)
        shape = x.type.shape
        name = self.new_name()
        kept = [d for d in range(len(shape)) if d not in axes]
        suffix = list(axes) == list(range(len(shape) - len(axes), len(shape)))
        if suffix:
            # reduced axes innermost: a scalar accumulator per output element
            if kept:
                self.allocate(v, name)
            with self.loop_nest(tuple(shape[d] for d in kept), parallel=True) as outer:
                acc = self.new_name("acc")
                long = len(axes) == 1 and shape[axes[0]] >= PAIRWISE_MIN
                element = lambda j: self.expr(x, outer + [j])  # noqa: E731
                if len(axes) == 1 and shape[axes[0]] > helpers.CHUNK:
                    # chunks may run in parallel; inside a row loop, the rows do
                    self.chunked(kind, acc, init, element, shape[axes[0]], dt, not kept)
                elif long and kind == "sum" and dt.is_float:
                    self.pairwise_sum(acc, element, shape[axes[0]], dt)
                elif long and kind in ("max", "min"):
                    self.lane_extremum(kind, acc, init, element, shape[axes[0]], dt)
                elif (
                    len(axes) > 1
                    and kind == "sum"
                    and dt.is_float
                    and PAIRWISE_MIN <= shape[-1] <= helpers.CHUNK
                ):
                    # several axes: each innermost row summed pairwise (it vectorises,
                    # where one running sum is a chain of dependent adds), rows in order
                    self.stmt(f"{acc} = {init}", scalar_writes={acc})
                    rows = tuple(shape[d] for d in axes[:-1])
                    with self.loop_nest(rows, prefix="j") as inner:
                        part = self.new_name("s")
                        last = lambda j: self.expr(x, outer + inner + [j])  # noqa: E731
                        self.pairwise_sum(part, last, shape[-1], dt)
                        self.scalar_reads.add(part)
                        self.combine(kind, acc, None, part, dt)
                else:
                    self.stmt(f"{acc} = {init}", scalar_writes={acc})
                    with self.loop_nest(tuple(shape[d] for d in axes), prefix="j") as inner:
                        self.combine(kind, acc, None, self.expr(x, outer + inner), dt)
                if kept:
                    self.scalar_reads.add(acc)
                    self.stmt(f"{name}[{', '.join(outer)}] = {acc}", writes=[(name, tuple(outer))])
            if not kept:
                self.scalar_reads.add(acc)
                self.stmt(f"{name} = {acc}{self.comment(v)}", scalar_writes={name})
        else:
            self.allocate(v, name, init)
            with self.loop_nest(shape, parallel=0 in kept) as idx:
                target = tuple(idx[d] for d in kept)
                self.combine(
                    kind, f"{name}[{', '.join(target)}]", (name, target), self.expr(x, idx), dt
                )
        self.bind(v, name)
        self.fresh.add(v)

    def pairwise_sum(self, acc: str, element: Callable[[str], str], n: int, dt: TensorType) -> None:
        """acc = the sum of element(0..n-1), n <= CHUNK, added in NumPy's pairwise
        order (pairwise.py).

        Each block's elements are computed into a scratch buffer by a loop of their
        own, which vectorises (computed inside the eight-lane loop, element-wise
        math such as exp kept it scalar), then summed by `_block_sum`.
        """
        row = self.contiguous_row(element)
        buffer = None if row else self.scratch_array("block", helpers.BLOCK, dt)

        def block(first: str, count: int) -> str:
            if row:  # summed where it lies: no copy
                text, reads = row(first)
                self.reads += reads
                return f"_block_sum({text}, {count})"
            k = self.new_name("k")
            with self.loop(k, count):
                self.stmt(f"{buffer}[{k}] = {element(f'{first} + {k}')}", writes=[(buffer, None)])
            self.reads.append((buffer, None))
            return f"_block_sum({buffer}, {count})"

        def assign(name: str, text: str, reads: Sequence[str] = ()) -> None:
            self.scalar_reads.update(reads)
            self.stmt(f"{name} = {text}", scalar_writes={name})

        total = self.new_name("s")
        blocks, tree = helpers.numpy_blocks(n)
        parts = []
        for start, count in blocks:
            parts.append(self.new_name("s"))
            assign(parts[-1], block(str(start), count))
        assign(total, tree.format(*parts), parts)
        self.scalar_reads.add(total)
        self.stmt(f"{acc} = {total}", scalar_writes={acc})

    def contiguous_row(
        self, element: Callable[[str], str]
    ) -> Callable[[str], tuple[str, list[Access]]] | None:
        """When element(j) is a plain read `a[..., j]` of an array, the slice
        `a[..., first:]` as text with its reads, a function of `first`: sums read
        their blocks there instead of copying them into a block buffer first
        (the copy took longer than the sum). None otherwise."""
        mark = "_J_"
        pending = (self.reads, self.scalar_reads, self.raises)
        self.reads, self.scalar_reads, self.raises = [], set(), False
        text = element(mark)
        reads, scalar_reads, raises = self.reads, self.scalar_reads, self.raises
        self.reads, self.scalar_reads, self.raises = pending
        m = re.fullmatch(rf"(\w+)\[((?:[^\[\],]+, )*){mark}\]", text)
        if m is None or mark in m.group(2) or scalar_reads or raises or len(reads) != 1:
            return None
        name, prefix = m.group(1), m.group(2)
        (read_name, idx) = reads[0]
        if read_name != name or idx is None or idx[-1] != mark:
            return None

        def row(first: str) -> tuple[str, list[Access]]:
            return f"{name}[{prefix}{first}:]", [(name, idx[:-1] + (f"{first}:",))]

        return row

    def chunked(
        self,
        kind: str,
        acc: str,
        init: str,
        element: Callable[[str], str],
        n: int,
        dt: TensorType,
        parallel: bool,
    ) -> None:
        """acc = the reduction of element(0..n-1), n > CHUNK, in chunks of CHUNK elements.

        The chunking depends on n only, so the result is the same on any number
        of threads, and the same without parallel=True. A chunk is one statement
        (its loops have bounds computed from the chunk number) writing its part.
        A sum's chunks are its whole blocks of 128, sixteen at a time, each summed
        in NumPy's pairwise order; the last, partial block is one more part, and
        the parts are added by `_tree_sum`. Other reductions take whole chunks of
        CHUNK elements and the rest as one more part; products run in order, max
        and min keep eight lanes (exact: order-free). Whole blocks and chunks
        give the inner loops constant trip counts, which LLVM unrolls.
        """
        chunk, block = helpers.CHUNK, helpers.BLOCK
        pairwise_sum = kind == "sum" and dt.is_float
        per = chunk // block
        if pairwise_sum:
            full, rest = n // block, n % block
            count = -(-full // per)
        else:
            count, rest = n // chunk, n % chunk
        size = count + 1 if rest else count
        ctor = _CTOR[dt.dtype]
        parts = self.new_name("parts")
        self.stmt(f"{parts} = np.empty({size}, dtype={ctor})", writes=[(parts, None)])
        c, j, k, m, t = (self.new_name(p) for p in "cjkmt")
        lo, hi = f"{c} * {chunk}", f"{c} * {chunk} + {chunk}"
        scratch: list[str] = []
        row = self.contiguous_row(element) if pairwise_sum else None
        if pairwise_sum:  # whole blocks: constant trip counts, which LLVM unrolls
            sums = self.scratch_array("sums", per, dt)
            b = self.new_name("b")
            if row:  # each block summed where it lies
                buffer = None
                scratch = [sums]
                where, reads = row(f"{block} * {b}")
                self.reads += reads
                fill = ""
            else:
                buffer = self.scratch_array("block", block, dt)
                scratch = [buffer, sums]
                where = buffer
                fill = (
                    f"    for {k} in range({block}):\n"
                    f"        {buffer}[{k}] = {element(f'{block} * {b} + {k}')}\n"
                )
            text = (
                f"for {b} in range({c} * {per}, min({c} * {per} + {per}, {full})):\n"
                f"{fill}"
                f"    {sums}[{b} - {c} * {per}] = _block_sum({where}, {block})\n"
                f"{parts}[{c}] = _tree_sum({sums}, min({per}, {full} - {c} * {per}))"
            )
        elif kind in ("sum", "prod"):
            op = "+" if kind == "sum" else "*"
            text = (
                f"{m} = {init}\n"
                f"for {j} in range({lo}, {hi}):\n"
                f"    {m} {op}= {element(j)}\n"
                f"{parts}[{c}] = {m}"
            )
        else:
            lanes = self.scratch_array("lanes", 8, dt)
            scratch = [lanes]
            text = (
                f"for {k} in range(8):\n"
                f"    {lanes}[{k}] = {init}\n"
                f"for {j} in range({lo}, {hi}, 8):\n"
                f"    for {k} in range(8):\n"
                f"        {t} = {element(f'{j} + {k}')}\n"
                f"        {_select(kind, f'{lanes}[{k}]', t, dt)}\n"
                f"{m} = {init}\n"
                f"for {k} in range(8):\n"
                f"    {t} = {lanes}[{k}]\n"
                f"    {_select(kind, m, t, dt)}\n"
                f"{parts}[{c}] = {m}"
            )
        with self.loop(c, count, parallel=parallel):
            written = [(parts, (c,))] + [(name, None) for name in scratch]
            self.stmt(text, writes=written, reads=[(name, None) for name in scratch], work=chunk)
        if pairwise_sum:
            if rest and row:  # the last, partial block is one more part
                where, reads = row(str(full * block))
                self.stmt(f"{parts}[{count}] = _block_sum({where}, {rest})",
                          reads=reads, writes=[(parts, None)])  # fmt: skip
            elif rest:
                i = self.new_name("k")  # a name of its own, outside the (parallel) chunk loop
                with self.loop(i, rest):
                    self.stmt(
                        f"{buffer}[{i}] = {element(f'{full * block} + {i}')}",
                        writes=[(buffer, None)],
                    )
                self.stmt(f"{parts}[{count}] = _block_sum({buffer}, {rest})",
                          reads=[(buffer, None)], writes=[(parts, None)])  # fmt: skip
            self.stmt(f"{acc} = _tree_sum({parts}, {size})", scalar_writes={acc},
                      reads=[(parts, None)], writes=[(parts, None)])  # fmt: skip
            return
        if rest:  # the elements past the whole chunks are one more part
            tail = self.new_name("acc")
            start = count * chunk
            shifted = lambda i: element(f"{start} + {i}")  # noqa: E731
            if kind in ("max", "min") and rest >= PAIRWISE_MIN:
                self.lane_extremum(kind, tail, init, shifted, rest, dt)
            else:
                self.stmt(f"{tail} = {init}", scalar_writes={tail})
                i = self.new_name("j")
                with self.loop(i, rest):
                    self.combine(kind, tail, None, shifted(i), dt)
            self.scalar_reads.add(tail)
            self.stmt(f"{parts}[{count}] = {tail}", writes=[(parts, None)])
        self.stmt(f"{acc} = {init}", scalar_writes={acc})
        c2 = self.new_name("c")
        with self.loop(c2, size):
            self.reads.append((parts, (c2,)))
            self.combine(kind, acc, None, f"{parts}[{c2}]", dt)

    def lane_extremum(
        self, kind: str, acc: str, init: str, element: Callable[[str], str], n: int, dt: TensorType
    ) -> None:
        """acc = the max (min) of element(0..n-1) with eight running extrema, which
        vectorise (a single running max is a chain of dependent selects). Max and min are exact, so the order changes nothing."""
        lanes = self.scratch_array("lanes", 8, dt)
        k = self.new_name("k")
        with self.loop(k, 8):
            self.stmt(f"{lanes}[{k}] = {init}", writes=[(lanes, None)])
        lane_part = n - n % 8
        j = self.new_name("j")
        with self.loop(j, lane_part, step=8), self.loop(k, 8):
            self.combine(kind, f"{lanes}[{k}]", (lanes, None), element(f"{j} + {k}"), dt)
        self.stmt(f"{acc} = {init}", scalar_writes={acc})
        with self.loop(k, 8):
            self.reads.append((lanes, None))
            self.combine(kind, acc, None, f"{lanes}[{k}]", dt)
        if lane_part < n:
            with self.loop(j, n, start=lane_part):
                self.combine(kind, acc, None, element(j), dt)

    def scratch_array(self, prefix: str, size: int, dt: TensorType) -> str:
        """A scratch array allocated once per call.

        One per reduction: loops of different reductions then share no array and
        may still be merged."""
        name = self.new_name(prefix)
        self.scratch[name] = f"{name} = np.empty({size}, dtype={_CTOR[dt.dtype]})"
        return name

    def combine(
        self, kind: str, acc: str, element: Access | None, value: str, dt: TensorType
    ) -> None:
        """acc <- acc (op) value; a float max/min propagates NaN as NumPy does."""
        if kind in ("sum", "prod"):
            text = f"{acc} {'+' if kind == 'sum' else '*'}= {value}"
        else:
            t = self.new_name("t")
            text = f"{t} = {value}\n{_select(kind, acc, t, dt)}"
        if element is None:
            self.scalar_reads.add(acc)
            self.stmt(text, scalar_writes={acc} | ({t} if kind in ("max", "min") else set()))
        else:
            self.stmt(text, writes=[element], reads=[element])

    # ------------------------------------------------------ structural ops
    def constant(self, op: Op) -> None:
        # a module-level array, frozen into the compiled code (read only: never reused)
        self.bind(op.result, self.constant_array(np.asarray(op.attrs["value"])))

    def matmul(self, op: Op) -> None:
        a, b = op.operands
        v = op.result
        # promote 1-D operands to matrices, loop over the broadcast batch dims
        sa = a.type.shape if a.type.ndim > 1 else (1,) + a.type.shape
        sb = b.type.shape if b.type.ndim > 1 else b.type.shape + (1,)
        if contraction.use_loops(sa[-2], sa[-1], sb[-1], v.type.is_float):
            self.matmul_loops(op, sa, sb)
            return
        if a.type.ndim <= 2 and b.type.ndim <= 2:
            na, nb = self.matrix(a), self.matrix(b)
            name = self.bind(v)
            self.stmt(
                f"{name} = np.dot({na}, {nb}){self.comment(v)}",
                writes=[(name, None)],
                scalar_writes={name} if v.type.ndim == 0 else set(),
            )
            self.fresh.add(v)
            return
        batch = np.broadcast_shapes(sa[:-2], sb[:-2])
        full = tuple(batch) + (sa[-2], sb[-1])
        name = self.new_name()
        self.stmt(
            f"{name} = np.empty({full}, dtype={_CTOR[v.type.dtype]}){self.comment(v)}",
            writes=[(name, None)],
        )
        self.bodies[-1][-1].allocates = full
        base_a, base_b = (self.names[self.views.get(u, u)] for u in (a, b))
        a2 = base_a if a.type.ndim > 1 else f"{base_a}.reshape({sa})"
        b2 = base_b if b.type.ndim > 1 else f"{base_b}.reshape({sb})"
        with self.loop_nest(tuple(batch), parallel=True) as idx:

            def batch_item(operand: str, shape: tuple[int, ...], view: bool) -> str:
                off = len(batch) - (len(shape) - 2)
                sub = [("0" if d == 1 else idx[off + j]) for j, d in enumerate(shape[:-2])]
                item = f"{operand}[{', '.join(sub)}]" if sub else operand
                return item + ".T" if view else item  # a transposed view of the base's slice

            item_a = batch_item(a2, sa, a in self.views)
            item_b = batch_item(b2, sb, b in self.views)
            target = f"{name}[{', '.join(idx)}]" if idx else name
            # np.dot with out=: compiles far faster than an array assignment
            text = f"np.dot({item_a}, {item_b}, {target})"

            def batch_access(operand: str, shape: tuple[int, ...]) -> Access:
                off = len(batch) - (len(shape) - 2)
                sub = tuple(("0" if d == 1 else idx[off + j]) for j, d in enumerate(shape[:-2]))
                return (operand, sub if sub else None)

            reads = [batch_access(base_a, sa), batch_access(base_b, sb)]
            flops = sa[-2] * sa[-1] * sb[-1]  # the work that decides on a prange
            self.stmt(text, writes=[(name, tuple(idx) if idx else None)], reads=reads, work=flops)
        if full != v.type.shape:  # drop the dims of promoted 1-D operands
            self.stmt(
                f"{name} = {name}.reshape({v.type.shape})",
                writes=[(name, None)],
                reads=[(name, None)],
            )
        self.bind(v, name)
        self.fresh.add(v)

    def linalg(self, op: Op, block: Block) -> None:
        """A LAPACK-backed primitive: its kernel (kernels_linalg.py) on the operands
        viewed as (batch, rows, cols), the result viewed back in its own shape. A
        factorization's kernel returns every part: one call binds the parts of all
        the ops of this block that factor the same operand."""
        if op.result in self.names:  # bound with an earlier part of its factorization
            return
        batch = math.prod(op.operands[0].type.shape[:-2])
        args = [
            f"{self.read(self.names[x])}.reshape(({batch}, {x.type.shape[-2]}, {x.type.shape[-1]}))"
            for x in op.operands
        ]
        if op.name == "solve_triangular":
            args += [str(op.attrs["lower"]), str(op.attrs["unit_diagonal"])]
        call = f"_la_{op.name}({', '.join(args)})"
        self.raises = True  # LinAlgError: no prange around it
        if op.name not in PARTS:
            self.view_linalg(op.result, call)
            return
        parts = [self.new_name("f") for _ in PARTS[op.name]]
        self.stmt(f"{', '.join(parts)} = {call}", writes=[(p, None) for p in parts])
        for other in block.ops:
            if other.name == op.name and other.operands == op.operands:
                raw = parts[part_index(op.name, other.attrs)]
                self.read(raw)
                self.view_linalg(other.result, raw)

    def view_linalg(self, v: Value, raw: str) -> None:
        """v bound to a kernel's result `raw` (batch first) viewed in v's shape."""
        name = self.bind(v)
        text = f"{raw}[0]" if v.type.ndim == 0 else f"{raw}.reshape({v.type.shape})"
        self.stmt(
            f"{name} = {text}{self.comment(v)}",
            writes=[(name, None)],
            scalar_writes={name} if v.type.ndim == 0 else set(),
        )

    def matmul_loops(self, op: Op, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
        """A matmul as one loop nest (contraction.py): batch, rows, columns, then the
        contracted axis innermost into a scalar; operands read in place by index, a
        broadcast batch dim at index 0."""
        a, b = op.operands
        v = op.result
        batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
        kvar = self.new_name("k")

        def element(x: Value, row: str, col: str) -> str:
            if x.type.ndim == 1:  # a promoted vector: only the contracted index
                return self.expr(x, [kvar])
            off = len(batch) - (x.type.ndim - 2)
            sub = [("0" if d == 1 else bi[off + q]) for q, d in enumerate(x.type.shape[:-2])]
            return self.expr(x, [*sub, row, col])

        name = self.new_name()
        if v.type.ndim:
            self.allocate(v, name)
        with self.loop_nest(batch + (sa[-2], sb[-1]), parallel=True) as idx:
            *bi, i, j = idx
            acc = self.new_name("acc")
            self.stmt(
                f"{acc} = {literal(0.0 if v.type.is_float else 0, v.type)}", scalar_writes={acc}
            )
            with self.loop(kvar, sa[-1]):
                product = f"{element(a, i, kvar)} * {element(b, kvar, j)}"
                self.scalar_reads.add(acc)
                self.stmt(f"{acc} += {product}", scalar_writes={acc})
            self.scalar_reads.add(acc)
            if v.type.ndim == 0:
                self.stmt(f"{name} = {acc}{self.comment(v)}", scalar_writes={name})
            else:  # the output index drops the dims of promoted 1-D operands
                out = [*bi, *([i] if a.type.ndim > 1 else []), *([j] if b.type.ndim > 1 else [])]
                self.stmt(f"{name}[{', '.join(out)}] = {acc}", writes=[(name, tuple(out))])
        self.bind(v, name)
        self.fresh.add(v)

    def matrix(self, x: Value) -> str:
        """A matmul operand, recorded as a whole-array read: a name, or `name.T` for a view."""
        if x in self.views:
            return self.read(self.names[self.views[x]]) + ".T"
        return self.read(self.names[x])

    def reshape(self, op: Op) -> None:
        (x,) = op.operands
        v = op.result
        src = self.read(self.names[x]) if x.type.ndim else self.names[x]
        name = self.bind(v)
        if x.type.ndim == 0:
            self.scalar_reads.add(src)
            text = f"np.full({v.type.shape}, {src}, dtype={_CTOR[v.type.dtype]})"
            self.fresh.add(v)
        elif v.type.ndim == 0:
            text = f"{src}.reshape(({x.type.size},))[0]"
        else:
            text = f"{src}.reshape({v.type.shape})"
            self.roots[v] = self.roots.get(x, x)
        self.stmt(
            f"{name} = {text}{self.comment(v)}",
            writes=[(name, None)],
            scalar_writes={name} if v.type.ndim == 0 else set(),
        )

    def concatenate(self, op: Op) -> None:
        v = op.result
        axis = op.attrs["axis"]
        name = self.new_name()
        self.allocate(v, name)
        offset = 0
        for x in op.operands:
            with self.loop_nest(x.type.shape, parallel=True) as idx:
                target = list(idx)
                target[axis] = f"({offset} + {idx[axis]})" if offset else idx[axis]
                self.stmt(
                    f"{name}[{', '.join(target)}] = {self.expr(x, idx)}",
                    writes=[(name, tuple(target))],
                )
            offset += x.type.shape[axis]
        self.bind(v, name)
        self.fresh.add(v)

    def linear_scan(self, op: Op) -> None:
        self.scan_kernel(op, "linear_scan", f", {op.attrs['reverse']}")

    def argsort(self, op: Op) -> None:
        self.scan_kernel(op, "argsort", "")

    def scan_kernel(self, op: Op, kernel: str, extra: str) -> None:
        """A helper of kernels_scan.py on (outer, n, inner) views of the operands."""
        v = op.result
        axis = op.attrs["axis"]
        shape = v.type.shape
        lines = (math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :]))
        name = self.new_name()
        self.allocate(v, name)
        args = [f"{self.read(self.names[x])}.reshape({lines})" for x in op.operands]
        self.stmt(
            f"_{kernel}({', '.join(args)}, {name}.reshape({lines}){extra}){self.comment(v)}",
            writes=[(name, None)],
            opaque=True,
        )
        self.bind(v, name)
        self.fresh.add(v)

    def scatter(self, op: Op, plan: BlockPlan, position: int) -> None:
        x, val, *index = op.operands
        v = op.result
        name = self.new_name()
        if x.type.ndim == 0:  # x[()] = val on a 0-d array
            self.stmt(f"{name} = {self.expr(val, [])}{self.comment(v)}", scalar_writes={name})
            self.bind(v, name)
            return
        root = self.roots.get(x, x)
        reusable = (
            root in self.fresh
            and self.roots.latest_use(root, plan.last_use) <= position
            and plan.last_use.get(x, -1) <= position
            and plan.last_use.get(root, -1) <= position
        )
        if reusable:  # write in place: the result keeps the target's variable
            name = self.names[x]
        else:
            self.stmt(
                f"{name} = {self.read(self.names[x])}.copy(){self.comment(v)}",
                writes=[(name, None)],
            )
        spec = op.attrs["index"]
        region = _gathered_shape(x, spec, index)
        with self.loop_nest(region) as idx:
            target = self.gather_indices(spec, x, index, idx)
            value = self.operand_expr(val, region, idx)
            assign = "+=" if op.name == "scatter_add" else "="
            element = (name, tuple(target))
            self.stmt(
                f"{name}[{', '.join(target)}] {assign} {value}", writes=[element], reads=[element]
            )
        self.bind(v, name)
        self.fresh.add(v)
        self.roots[v] = root if reusable else v
        if reusable:
            self.fresh.add(root)

    # ----------------------------------------------------------------- tapes
    def tape_new(self, op: Op) -> None:
        v = op.result
        capacity = self.expr(op.operands[0], [])
        shape = ", ".join([f"max({capacity}, 1)", *map(str, v.type.shape)])
        text = f"np.zeros(({shape},), dtype={_CTOR[v.type.dtype]})"
        self.stmt(f"{self.bind(v)} = {text}{self.comment(v)}", writes=[(self.names[v], None)])
        self.fresh.add(v)  # ours: a loop may write into it in place (owned_state)

    def tape_write(self, op: Op, plan: BlockPlan, position: int) -> None:
        """Written in place (a tape is loop state that nothing reads after the
        write), or into a copy where the old tape is still read later."""
        tape, i, val = op.operands
        name, pos = self.bind(op.result), self.expr(i, [])
        old = self.read(self.names[tape])
        copied = plan.last_use.get(tape, -1) > position
        if copied:
            old = f"{old}.copy()"
        self.stmt(
            f"{name} = _tape_reserve({old}, {pos}){self.comment(op.result)}", writes=[(name, None)]
        )
        root = self.roots.get(tape, tape)
        if copied or root in self.fresh:
            self.fresh.add(op.result)
        if not copied:
            self.roots[op.result] = root
        shape = val.type.shape
        with self.loop_nest(shape, prefix="t") as idx:
            value = self.expr(val, idx)
            self.stmt(f"{name}[{', '.join([pos, *idx])}] = {value}", writes=[(name, None)])

    def tape_add(self, op: Op) -> None:
        a, b = (self.read(self.names[v]) for v in op.operands)
        name = self.bind(op.result)
        self.stmt(f"{name} = _tape_add({a}, {b}){self.comment(op.result)}", writes=[(name, None)])
        self.fresh.add(op.result)

    def tape_read(self, op: Op, block: Block) -> None:
        tape, i = op.operands
        v = op.result
        name, pos = self.bind(v), self.expr(i, [])
        src = self.read(self.names[tape])
        if v.type.ndim == 0:
            zero = literal(0, v.type)
            text = f"{src}[{pos}] if {pos} < {src}.shape[0] else {zero}"
            self.stmt(f"{name} = {text}{self.comment(v)}", scalar_writes={name})
            return
        # A view where this block only reads the tape (the reverse sweep); a copy
        # where it may write it in place (a cotangent tape, a checkpoint slot).
        zero = f"np.zeros({v.type.shape}, dtype={_CTOR[v.type.dtype]})"
        view = v not in block.results and all(
            o.name == "tape_read" for o in block.ops if tape in o.operands
        )
        text = f"{src}[{pos}]{'' if view else '.copy()'} if {pos} < {src}.shape[0] else {zero}"
        self.stmt(f"{name} = {text}{self.comment(v)}", writes=[(name, None)])
        if not view:
            self.fresh.add(v)

    # --------------------------------------------------------- control flow
    def control(self, op: Op, plan: BlockPlan, position: int) -> None:
        operands = [self.names[v] for v in op.operands]
        results = [self.bind(r) for r in op.results]
        body = op.regions[-1]
        if op.name == "cond":
            entry_copies = []
        else:
            state = body.args if op.name == "while" else body.args[1:]
            inits = op.operands if op.name == "while" else op.operands[2:]
            entry_copies = self.owned_state(op, state, inits, results, plan, position)
        for v in op.operands:  # results may alias operands: never reuse their buffers
            self.fresh.discard(self.roots.get(v, v))
        note = ", ".join(f"%{self.ir_names.get(r, '?')}" for r in op.results)
        lines: list[str] = []

        def region(block: Block, args: list[str], outs: list[str]) -> list[str]:
            def build() -> None:
                for a, src in zip(block.args, args):
                    self.names[a] = src
                self.block(block)
                inner = ", ".join(self.names[r] for r in block.results)
                self.stmt(f"{', '.join(outs)} = {inner}" if outs else "pass")

            return ["    " + line for line in self.nested(build)]

        if op.name == "cond":
            then, other = op.regions
            lines.append(f"if {operands[0]}:  # {note} = cond")
            lines += region(then, operands[1:], results)
            lines.append("else:")
            lines += region(other, operands[1:], results)
        elif op.name == "while":
            test, body = op.regions
            lines.append(f"{', '.join(results)} = {', '.join(operands)}  # {note} = while")
            lines += entry_copies
            lines.append("while True:")
            for a, c in zip(test.args, results):
                self.names[a] = c
            lines += ["    " + line for line in self.nested(lambda: self.block(test))]
            lines += [f"    if not {self.names[test.results[0]]}:", "        break"]
            lines += region(body, results, results)
        else:  # for
            (body,) = op.regions
            counter = self.new_name("k")
            if results:
                lines.append(f"{', '.join(results)} = {', '.join(operands[2:])}  # {note} = for")
                lines += entry_copies
            lines.append(f"for {counter} in range({operands[0]}, {operands[1]}):")
            lines += region(body, [counter] + results, results)
        self.stmt("\n".join(lines), opaque=True, reads=[(n, None) for n in operands])

    def owned_state(
        self,
        op: Op,
        state: Sequence[Value],
        inits: Sequence[Value],
        names: list[str],
        plan: BlockPlan,
        position: int,
    ) -> list[str]:
        """Let a loop body write the state it scatters into in place (the tape of
        reverse mode is one): the loop owns that buffer, so an iteration writes into
        it instead of copying it. The initial value's buffer is taken over when it
        is ours and dead after the loop; otherwise it is copied once, on entry."""
        written = ("scatter", "scatter_add", "tape_write")
        targets = {o.operands[0] for o in op.regions[-1].ops if o.name in written}
        copies = []
        for arg, init, name in zip(state, inits, names):
            if arg not in targets or (arg.type.ndim == 0 and not isinstance(arg.type, TapeType)):
                continue
            root = self.roots.get(init, init)
            ours = (
                root in self.fresh
                and self.roots.latest_use(root, plan.last_use) <= position
                and sum(self.roots.get(u, u) is root for u in op.operands) == 1
            )
            if not ours:
                copies.append(f"{name} = {name}.copy()")
            self.fresh.add(arg)
        return copies

    # --------------------------------------------------------------- blocks
    def block(self, block: Block) -> None:
        plan = plan_block(block)
        for op in block.ops:
            for r in op.results:
                self.producer[r] = op
        for position, op in enumerate(block.ops):
            if op.results and op.results[0] in plan.inline:
                continue
            if op.results and op.results[0] in plan.transposed_views:
                self.views[op.result] = op.operands[0]
                continue
            if op.regions:
                self.control(op, plan, position)
            elif fusible(op):
                self.materialize(op, plan, position)
            elif reduces(op):
                self.reduction(op)
            elif op.name in ("scatter", "scatter_add"):
                self.scatter(op, plan, position)
            elif op.name == "tape_write":
                self.tape_write(op, plan, position)
            elif op.name == "tape_read":
                self.tape_read(op, block)
            elif op.name in LINALG:
                self.linalg(op, block)
            else:
                getattr(self, op.name)(op)
        for r in block.results:  # results must be named variables
            if r not in self.names:
                self.materialize(self.producer[r])

    def generate(self) -> str:
        self.ir_names = value_names(self.fn)
        params = []
        for p in self.fn.params:
            params.append(self.bind(p, "a_" + self.ir_names[p].replace(".", "_")))
        self.block(self.fn.body)
        outs = []
        for r in self.fn.results:
            name = self.names[r]
            owned = r.type.ndim == 0 or r in self.fresh or r in self.roots
            outs.append(name if owned else f"{name}.copy()")
        returned = [(self.names[r], None) for r in self.fn.results]
        self.stmt(
            f"return ({', '.join(outs)}{',' if len(outs) == 1 else ''})",
            opaque=True,
            reads=returned,
        )
        scratch = [Stmt(text, writes=[(name, None)]) for name, text in self.scratch.items()]
        body_nodes = parallelize(fuse(serial_if_small(self.bodies[0])))
        body_nodes = contract(body_nodes, self.parallel)
        lines: list[str] = []
        render(place_scratch(body_nodes, scratch), 1, lines)
        lines = helpers.outline_trig(lines)
        body = "\n".join(lines)
        # parallel=True without a prange only costs time and warns (NumbaPerformanceWarning)
        parallel = ", parallel=True" if "prange(" in body else ""
        math_used = {
            f
            for f in (*helpers.VECMATH.values(), *helpers.OUTLINED_TRIG.values())
            if f"{f}(" in body
        }
        header = [
            PRELUDE,
            *(
                f"from {helpers.PAIRWISE_MODULE} import {helper} as _{helper}"
                for helper in ("block_sum", "tree_sum")
                if f"_{helper}(" in body
            ),
            *(
                f"from {helpers.KERNELS_SCAN_MODULE} import {helper} as _{helper}"
                for helper in ("linear_scan", "argsort")
                if f"_{helper}(" in body
            ),
            *(
                [f"from {helpers.VECMATH_MODULE} import {', '.join(sorted(math_used))}"]
                if math_used
                else []
            ),
            *(
                f"from {helpers.KERNELS_LINALG_MODULE} import {k} as _la_{k}"
                for k in sorted(set(re.findall(r"\b_la_(\w+)\(", body)))
            ),
            *(f"{name} = {text}" for text, name in self.constants.items()),
        ]
        split = split_body(lines, params, self.split_lines)
        if split is not None:  # bounded pieces: Numba's cost per function is super-linear
            pieces, lines = split
            for piece in pieces:
                flag = ", parallel=True" if piece.parallel else ""
                header += ["", "", _DECORATOR.format(parallel=flag), *piece.lines]
            parallel = ""
        header += [
            "",
            "",
            _DECORATOR.format(parallel=parallel),
            f"def entry({', '.join(params)}):",
            f"    # {_signature(self.fn)}",
        ]
        return "\n".join(header + lines) + "\n"


_DECORATOR = "@numba.njit(cache=CACHE, error_model='numpy', nogil=True{parallel})"


def _select(kind: str, acc: str, t: str, dt: TensorType) -> str:
    """acc <- t if t is the new max (min), or NaN; a comparison and a select,
    which unlike np.maximum vectorizes."""
    better = ">" if kind == "max" else "<"
    nan = f" or {t} != {t}" if dt.is_float else ""
    return f"{acc} = {t} if ({t} {better} {acc}{nan}) else {acc}"


def _gathered_shape(x: Value, spec: tuple, index: list[Value]) -> tuple[int, ...]:
    from ..ir.indexing import indexed_shape

    return indexed_shape(x.type.shape, spec, [i.type.shape for i in index])


def _signature(fn: Function) -> str:
    """The first line of fn's text form, without its brace."""
    return print_function(fn).split("\n", 1)[0].rstrip(" {")


def generate_source(fn: Function, parallel: bool = False, split_lines: int = SPLIT_LINES) -> str:
    """The Python source of a module whose `entry(*flat_args)` computes fn; a body
    longer than `split_lines` lines is split into pieces (split.py)."""
    return _Generator(fn, parallel, split_lines).generate()
