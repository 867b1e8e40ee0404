"""Pack the small arrays a piece of split code hands on into one buffer per dtype.

A piece of a split body (split.py) returns every array it allocated that later
pieces read, and those take each one as an argument. Numba's cost grows with
the number of values a function passes and unpacks (an unrolled gradient step
hands some twenty arrays to the reverse sweep), and an int or a slice costs it
about as much as an array, so the count itself must shrink: the allocations
``x = np.empty(shape, dtype=...)`` whose values leave a piece become slices of
one block per dtype (and per repetition of a repeated step) that the piece
allocates and returns, and a piece that reads them takes the block and slices
it again at offsets fixed in its text. The offsets follow the order of the
allocations, so the repeated steps of an unrolled loop keep identical text and
still share one function.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass

__all__ = ["Member", "packable", "pack_piece"]

# a block holds arrays of at most this many elements: a large array costs Numba no
# more as an argument than a small one, and in a block it would outlive its last use
_MAX_ELEMENTS = 4096
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ALLOC = re.compile(r"^    (\w+) = np\.empty\((\([0-9, ]*\)), dtype=(np\.\w+)\)(  #.*)?$")


@dataclass(frozen=True)
class Alloc:
    """A packable allocation: the dtype's constructor name and the shape."""

    dtype: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Member:
    """Where a packed value lives: its block's variable name and element range."""

    block: str
    start: int
    alloc: Alloc

    def bind(self, name: str) -> str:
        """The line binding `name` to its slice of the block."""
        stop = self.start + self.alloc.size
        view = f"{self.block}[{self.start}:{stop}]"
        if len(self.alloc.shape) > 1:
            view += f".reshape({self.alloc.shape})"
        return f"    {name} = {view}"


def packable(
    body: list[str], stmts: list[ast.stmt], defs: list[set[str]], keep: set[str]
) -> dict[int, tuple[str, Alloc]]:
    """statement index -> (name, allocation) for the top-level ``np.empty``
    statements of small static shape whose name no other statement stores and
    that are not in `keep` (parameters, the values returned)."""
    stores: dict[str, int] = {}
    for stored in defs:
        for name in stored:
            stores[name] = stores.get(name, 0) + 1
    found = {}
    for i, stmt in enumerate(stmts):
        if not isinstance(stmt, ast.Assign) or stmt.lineno != stmt.end_lineno:
            continue
        m = _ALLOC.match(body[stmt.lineno - 1])
        if m is None or m.group(1) in keep or stores[m.group(1)] != 1:
            continue
        alloc = Alloc(m.group(3), tuple(int(d) for d in re.findall(r"\d+", m.group(2))))
        if alloc.shape and 0 < alloc.size <= _MAX_ELEMENTS:
            found[i] = (m.group(1), alloc)
    return found


def pack_piece(
    lines: list[str],
    first_line: int,
    allocs: dict[int, tuple[str, Alloc, str]],
    members: dict[str, Member],
    inputs: set[str],
    outputs: set[str],
) -> tuple[list[str], set[str], set[str]]:
    """The lines of a piece that starts at body line `first_line`, with the
    allocations among `allocs` (packable statements by body line: name,
    allocation, and the name of its block less the dtype) whose values are
    `outputs` made slices of new blocks, recorded in `members`, and the packed
    values among `inputs` bound from their blocks; and the piece's inputs and
    outputs, blocks in place of their members."""
    lines = list(lines)
    sizes: dict[str, int] = {}
    dtypes: dict[str, str] = {}
    packed = set()
    for line_no in sorted(allocs):
        name, alloc, tag = allocs[line_no]
        if name not in outputs:
            continue
        block = f"{tag}_{alloc.dtype.removeprefix('np.').rstrip('_')}"
        dtypes[block] = alloc.dtype
        member = Member(block, sizes.get(block, 0), alloc)
        sizes[block] = member.start + alloc.size
        members[name] = member
        packed.add(name)
        lines[line_no - first_line] = member.bind(name)
    news = [f"    {b} = np.empty(({size},), dtype={dtypes[b]})" for b, size in sizes.items()]
    # in order of first appearance, so that repeated pieces keep the same text
    read = list(
        dict.fromkeys(n for n in _IDENT.findall("\n".join(lines)) if n in inputs and n in members)
    )
    binds = [members[n].bind(n) for n in read]
    inputs = (inputs - set(read)) | {members[n].block for n in read}
    outputs = (outputs - packed) | set(sizes)
    return news + binds + lines, inputs, outputs
