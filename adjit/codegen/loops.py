"""Loop trees for generated code, and fusion of adjacent loops over the same range.

The generator first builds statements and loops with the array elements and
scalars each statement reads and writes, then `fuse` merges neighbouring loops
of equal extent when no iteration of the second loop needs an element the first
loop writes in a *different* iteration (and vice versa). Statements between two
loops (other loops included) that are independent of the first loop move above
it; those that depend on it stay below the merged loop if the second loop does
not touch what they touch. Applied at every
depth, this turns "row max; exp; row sum; divide" into one pass per row whose
inner loops are merged too, as one would write by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Union

from .helpers import VECMATH as _VECMATH

_VECMATH_CALL = re.compile(rf"\b(?:{'|'.join(sorted(_VECMATH.values()))})\(")

Access = tuple[str, tuple[str, ...] | None]  # (array name, index exprs); None = whole


@dataclass
class Stmt:
    text: str
    reads: list[Access] = field(default_factory=list)
    writes: list[Access] = field(default_factory=list)
    scalar_reads: set[str] = field(default_factory=set)
    scalar_writes: set[str] = field(default_factory=set)
    opaque: bool = False  # control flow and the like: never moved or merged across
    allocates: tuple[int, ...] | None = None  # `name = np.empty(shape, ...)` of writes[0]
    work: int = 1  # elements it computes (a statement holding a loop computes many)
    raises: bool = False  # may raise (a checked index): Numba runs no prange around it


@dataclass
class Loop:
    var: str
    extent: int  # the loop runs range(start, extent, step)
    parallel: bool
    body: list[Node] = field(default_factory=list)
    start: int = 0
    step: int = 1
    # what the loop touches, relative to `var`; filled by fuse (the body is final then)
    footprint: Footprint | None = field(default=None, repr=False, compare=False)

    def same_range(self, other: Loop) -> bool:
        return (self.start, self.extent, self.step) == (other.start, other.extent, other.step)

    def with_body(self, body: list[Node], var: str | None = None) -> Loop:
        return Loop(var or self.var, self.extent, self.parallel, body, self.start, self.step)


Node = Union[Stmt, Loop]


def _stmts(node: Node) -> list[Stmt]:
    if isinstance(node, Stmt):
        return [node]
    return [s for child in node.body for s in _stmts(child)]


def _loop_vars(node: Node) -> set[str]:
    if isinstance(node, Stmt):
        return set()
    return {node.var}.union(*(_loop_vars(c) for c in node.body))


@dataclass
class Footprint:
    """The names a node touches and, per array, the dims that one loop variable
    indexes exactly in every access (None: some access takes the whole array).
    Merging loops merges footprints, so deciding a merge costs the size of the
    smaller loop, not of the loop grown from all merges so far."""

    written: set[str] = field(default_factory=set)  # arrays and scalars
    touched: set[str] = field(default_factory=set)  # written or read
    scalar_writes: set[str] = field(default_factory=set)
    scalar_reads: set[str] = field(default_factory=set)
    write_dims: dict[str, frozenset[int] | None] = field(default_factory=dict)
    touch_dims: dict[str, frozenset[int] | None] = field(default_factory=dict)
    opaque: bool = False
    vecmath: bool = False  # some statement calls vectorising math (vecmath.py)
    nested: bool = False  # the loop's body holds a loop

    def add_stmt(self, s: Stmt, var: str) -> None:
        for name, idx in s.writes:
            _meet_into(self.write_dims, name, _var_dims(idx, var))
        for name, idx in s.reads + s.writes:
            _meet_into(self.touch_dims, name, _var_dims(idx, var))
        self.written.update(n for n, _ in s.writes)
        self.written.update(s.scalar_writes)
        self.touched.update(n for n, _ in s.reads + s.writes)
        self.touched.update(s.scalar_reads, s.scalar_writes)
        self.scalar_writes.update(s.scalar_writes)
        self.scalar_reads.update(s.scalar_reads)
        self.opaque = self.opaque or s.opaque
        self.vecmath = self.vecmath or bool(_VECMATH_CALL.search(s.text))

    def add(self, other: Footprint) -> None:
        """Grow by `other`, taken relative to the same loop variable."""
        for name, dims in other.write_dims.items():
            _meet_into(self.write_dims, name, dims)
        for name, dims in other.touch_dims.items():
            _meet_into(self.touch_dims, name, dims)
        self.written |= other.written
        self.touched |= other.touched
        self.scalar_writes |= other.scalar_writes
        self.scalar_reads |= other.scalar_reads
        self.opaque = self.opaque or other.opaque
        self.vecmath = self.vecmath or other.vecmath
        self.nested = self.nested or other.nested


def _var_dims(idx: tuple[str, ...] | None, var: str) -> frozenset[int] | None:
    return None if idx is None else frozenset(d for d, e in enumerate(idx) if e == var)


def _meet_into(
    table: dict[str, frozenset[int] | None], name: str, dims: frozenset[int] | None
) -> None:
    if name not in table:
        table[name] = dims
    else:
        old = table[name]
        table[name] = None if old is None or dims is None else old & dims


def footprint(node: Node) -> Footprint:
    """A loop's footprint relative to its variable (cached); a statement's."""
    if isinstance(node, Stmt):
        fp = Footprint()
        fp.add_stmt(node, "")
        return fp
    if node.footprint is None:
        node.footprint = Footprint(nested=any(isinstance(n, Loop) for n in node.body))
        for s in _stmts(node):
            node.footprint.add_stmt(s, node.var)
    return node.footprint


def _conflicts(a: Footprint, b: Footprint) -> bool:
    """Do two nodes touch a name that one of them writes?"""
    return not (a.written.isdisjoint(b.touched) and b.written.isdisjoint(a.touched))


def _can_merge(first: Loop, second: Loop) -> bool:
    """Same extent, and every shared element is touched in the same iteration."""
    if not first.same_range(second):
        return False
    a, b = footprint(first), footprint(second)
    if a.opaque or b.opaque:
        return False
    if not (
        a.scalar_writes.isdisjoint(b.scalar_reads) and a.scalar_writes.isdisjoint(b.scalar_writes)
    ):
        return False
    if not b.scalar_writes.isdisjoint(a.scalar_reads):
        return False
    if _blocks_simd(first, second) or _blocks_simd(second, first):
        return False
    # a dim indexed by exactly the loop variable in all accesses of a written array:
    # then iteration `var` of either loop only touches that slice, and the two loops
    # may run interleaved
    for writer, other in ((a, b), (b, a)):
        small, large = sorted((writer.write_dims, other.touch_dims), key=len)
        for name in small:
            if name in large:
                dims, touched = writer.write_dims[name], other.touch_dims[name]
                if dims is None or touched is None or not dims & touched:
                    return False
    return True


def _blocks_simd(math: Loop, recurrence: Loop) -> bool:
    """Would merging an innermost loop of vectorising math (vecmath.py, no scalar
    carried between iterations) with one that carries a scalar (an accumulator)
    or holds a loop make the math run one element at a time? LLVM vectorises no loop with a float
    recurrence, so tanh then a row sum as one loop took 3.6x as long as two."""
    fm, fr = footprint(math), footprint(recurrence)  # cached: no walk of the bodies
    if fm.nested or fm.scalar_writes or not fm.vecmath:
        return False
    # LLVM vectorises innermost loops only: a loop inside the other one counts too
    return bool(fr.scalar_writes) or fr.nested


def _rename(node: Node, old: str, new: str) -> Node:
    pattern = re.compile(rf"\b{re.escape(old)}\b")

    def sub_idx(idx: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if idx is None else tuple(pattern.sub(new, i) for i in idx)

    if isinstance(node, Stmt):
        return Stmt(
            pattern.sub(new, node.text),
            [(n, sub_idx(i)) for n, i in node.reads],
            [(n, sub_idx(i)) for n, i in node.writes],
            node.scalar_reads,
            node.scalar_writes,
            node.opaque,
            node.allocates,
            node.work,
            node.raises,
        )
    var = new if node.var == old else node.var
    return node.with_body([_rename(c, old, new) for c in node.body], var)


def fuse(body: list[Node]) -> list[Node]:
    """Merge adjacent loops of `body` (and, recursively, of their bodies)."""
    body = list(body)
    i = 0
    while i < len(body):
        first = body[i]
        if isinstance(first, Loop):
            # The statements between two loops: those independent of the first loop
            # (and of the statements kept below) move above it, the others must be
            # independent of the second loop, which then moves up past them.
            above: list[Node] = []
            below: list[Node] = []
            below_fp = Footprint()
            j = i + 1
            while j < len(body) and not footprint(body[j]).opaque:
                node = body[j]
                if isinstance(node, Loop) and node.same_range(first):
                    break
                node_fp = footprint(node)
                if _conflicts(node_fp, footprint(first)) or _conflicts(node_fp, below_fp):
                    below.append(node)
                    below_fp.add(node_fp)  # (its dims are not used)
                else:
                    above.append(node)
                j += 1
            second = body[j] if j < len(body) else None
            if isinstance(second, Loop) and not _conflicts(below_fp, footprint(second)):
                renamed = second if second.var == first.var else None
                if renamed is None and first.var not in _loop_vars(second):
                    renamed = _rename(second, second.var, first.var)
                # a parallel loop merged with a serial one would run serially
                same_kind = first.parallel == second.parallel
                if renamed is not None and same_kind and _can_merge(first, renamed):
                    merged = first.with_body(first.body + renamed.body)
                    merged.footprint, first.footprint = first.footprint, None
                    merged.footprint.add(footprint(renamed))  # type: ignore[union-attr]
                    body[i : j + 1] = [*above, merged, *below]
                    i += len(above)
                    continue
        i += 1
    return [n.with_body(fuse(n.body)) if isinstance(n, Loop) else n for n in body]


def contract(body: list[Node], parallel: bool) -> list[Node]:
    """Shrink arrays that live within one iteration of a top-level loop.

    An array allocated at the top level whose every access is inside one loop,
    at the slice of the loop's variable, only carries values from an iteration
    to itself: it becomes a buffer of one slice (a scalar for 1-D arrays),
    allocated once (inside the loop when it runs in parallel). This keeps
    temporaries like softmax's exp(x - max) in cache.
    """
    body = list(body)
    touching: dict[str, list[int]] = {}  # array -> positions of the nodes accessing it
    for k, node in enumerate(body):
        for name in _names(node):
            touching.setdefault(name, []).append(k)
    accesses: dict[int, dict[str, list[tuple[str, ...] | None]]] = {}  # per loop
    into: dict[int, list[tuple[str, Stmt]]] = {}  # loop position -> (array, allocation)
    for k, alloc in enumerate(body):
        if not (isinstance(alloc, Stmt) and alloc.allocates is not None):
            continue
        name = alloc.writes[0][0]
        others = [p for p in touching.get(name, []) if p != k]
        if len(others) != 1 or not isinstance(body[others[0]], Loop):
            continue
        position = others[0]
        loop = body[position]
        if position not in accesses:
            accesses[position] = {}
            for st in _stmts(loop):
                for n, idx in st.reads + st.writes:
                    accesses[position].setdefault(n, []).append(idx)
        found = accesses[position].get(name, [])
        if not found or any(idx is None or not idx or idx[0] != loop.var for idx in found):
            continue
        into.setdefault(position, []).append((name, alloc))
    contracted = {id(alloc) for allocs in into.values() for _, alloc in allocs}
    out: list[Node] = []
    for k, node in enumerate(body):
        if id(node) in contracted:
            continue
        if k not in into:
            out.append(node)
            continue
        names = {name for name, _ in into[k]}
        new_loop = _drop_first_index(
            _map_text(node, _drop_first_index_text(names, node.var)), names
        )
        buffers = []
        for name, alloc in into[k]:
            shape = alloc.allocates[1:]  # type: ignore[index]
            if shape:
                text = re.sub(r"\(\(.*?\)", f"({shape!r}", alloc.text, count=1) + " (one slice)"
                buffers.append(Stmt(text, writes=[(name, None)], allocates=shape))
        if parallel and node.parallel:  # type: ignore[union-attr]
            new_loop.body[:0] = reversed(buffers)
            out.append(new_loop)
        else:
            out += [*buffers, new_loop]
    return out


def _drop_first_index_text(names: set[str], var: str) -> Callable[[str], str]:
    """`name[var, i]` -> `name[i]` and `name[var]` -> `name` in generated text."""
    pattern = re.compile(rf"\b(\w+)\[{re.escape(var)}(\]|, )")

    def drop(m: re.Match) -> str:
        name = m.group(1)
        if name not in names:
            return m.group(0)
        return name if m.group(2) == "]" else name + "["

    return lambda text: pattern.sub(drop, text)


def _names(node: Node) -> set[str]:
    return {n for st in _stmts(node) for n, _ in st.reads + st.writes}


def _map_text(node: Node, f: Callable[[str], str]) -> Node:
    if isinstance(node, Stmt):
        return Stmt(
            f(node.text),
            node.reads,
            node.writes,
            node.scalar_reads,
            node.scalar_writes,
            node.opaque,
            node.allocates,
            node.work,
            node.raises,
        )
    return node.with_body([_map_text(c, f) for c in node.body])


def _drop_first_index(node: Node, names: set[str]) -> Node:
    """Accesses of `names` lose their first index; 0-d ones become scalar accesses."""
    if isinstance(node, Loop):
        return node.with_body([_drop_first_index(c, names) for c in node.body])

    def split(accesses: list[Access]) -> tuple[list[Access], set[str]]:
        arrays, scalars = [], set()
        for n, idx in accesses:
            if n not in names:
                arrays.append((n, idx))
            elif len(idx) > 1:  # type: ignore[arg-type]
                arrays.append((n, idx[1:]))  # type: ignore[index]
            else:
                scalars.add(n)
        return arrays, scalars

    reads, scalar_reads = split(node.reads)
    writes, scalar_writes = split(node.writes)
    return Stmt(
        node.text, reads, writes, node.scalar_reads | scalar_reads,
        node.scalar_writes | scalar_writes, node.opaque, node.allocates, node.work, node.raises,
    )  # fmt: skip


# Elements a loop nest computes before running it on threads pays: a prange
# costs a few microseconds (waking the threads, splitting the range). Measured
# on 2 cores (OpenMP layer) with `benchmarks/parallel.py --force`: a tanh chain
# gains 1.1x at 2 000 elements, 1.4x at 5 000, 1.7x at 10 000; a sum of one
# 1.06x at 2 000 and 5 000, 1.36x at 10 000, 1.57x at 20 000.
PARALLEL_MIN = 10_000


def work(node: Node) -> int:
    """Elements a node computes: its statements' work times the trip counts around them."""
    if isinstance(node, Stmt):
        return node.work
    trips = len(range(node.start, node.extent, node.step))
    return trips * sum(work(child) for child in node.body)


def serial_if_small(body: list[Node]) -> list[Node]:
    """Clear `parallel` on loops with less than PARALLEL_MIN elements of work, or
    that may raise, so that fusion merges them freely with serial loops (see `fuse`)."""
    out: list[Node] = []
    for node in body:
        if isinstance(node, Loop):
            loop = node.with_body(serial_if_small(node.body))
            raises = any(s.raises for s in _stmts(node))
            loop.parallel = node.parallel and work(node) >= PARALLEL_MIN and not raises
            node = loop
        out.append(node)
    return out


def parallelize(body: list[Node], shared: frozenset[str] = frozenset()) -> list[Node]:
    """Keep `parallel` on top-level loops with PARALLEL_MIN elements of work, and on
    no loop nested in another (Numba runs only the outermost prange in parallel).
    A loop touching a name in `shared` (a scratch array allocated outside this
    body, not privatized per thread) stays serial."""

    def serial(node: Node) -> Node:
        if isinstance(node, Stmt):
            return node
        loop = node.with_body([serial(c) for c in node.body])
        loop.parallel = False
        return loop

    out: list[Node] = []
    for node in body:
        if isinstance(node, Loop):
            keep = node.parallel and work(node) >= PARALLEL_MIN and not (_names(node) & shared)
            loop = node.with_body([serial(c) for c in node.body])
            loop.parallel = keep
            node = loop
        out.append(node)
    return out


def place_scratch(body: list[Node], scratch: list[Stmt]) -> list[Node]:
    """Put each scratch allocation where its users run: at the start of every
    parallel top-level loop using it (Numba then allocates it once per thread),
    and at the top once if a serial node uses it too. A parallel loop's copy
    then gets a name of its own: Numba takes a name assigned both outside and
    inside a prange for one array the threads share."""
    top: list[Node] = []
    body = list(body)
    for alloc in scratch:
        name = alloc.writes[0][0]
        users = [i for i, n in enumerate(body) if name in _names(n)]
        parallel = [i for i in users if isinstance(body[i], Loop) and body[i].parallel]
        shared = len(parallel) < len(users)
        for i in parallel:
            own = f"{name}_{body[i].var}" if shared else name
            loop = _rename(body[i], name, own) if shared else body[i]
            assert isinstance(loop, Loop)
            body[i] = loop.with_body([_rename(alloc, name, own), *loop.body])
        if shared or not users:
            top.append(alloc)
    return top + body


def render(body: list[Node], indent: int, lines: list[str]) -> None:
    for node in body:
        if isinstance(node, Stmt):
            lines.extend("    " * indent + line for line in node.text.split("\n"))
        else:
            rng = "prange" if node.parallel else "range"
            bounds = str(node.extent)
            if (node.start, node.step) != (0, 1):
                bounds = f"{node.start}, {node.extent}, {node.step}"
            lines.append("    " * indent + f"for {node.var} in {rng}({bounds}):")
            render(node.body, indent + 1, lines)
