"""Split a long generated function body into pieces of bounded size.

Numba's compile time for one function grows faster than its length (type
inference and LLVM's passes are super-linear in it), so a long body is cut
between its top-level statements into pieces of about ``limit`` lines, each its
own ``@njit`` function, called in order from a small entry. A piece takes the
variables it reads that earlier statements defined and returns those that later
ones read; arrays are passed by reference, so writes into a buffer an earlier
piece allocated stay visible. Pieces whose text is the same once their local
variables are renamed in order of appearance (the steps of an unrolled loop) are
one function, compiled once and called many times. In a long run of such steps
the small arrays a piece hands on travel packed in a few blocks (packing.py). A
group that would take or return more than _MAX_INTERFACE values is halved: long
tuples of arrays cost Numba more than their length (the tape a reverse sweep
reads is one).
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from .packing import Member, pack_piece, packable

__all__ = ["Piece", "split_body"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_INTERFACE = 32
_MAX_PERIOD = 400  # statements: longer repeated steps are split like other code
# Packing (packing.py) puts where a value lives into the text of the pieces that
# read it, so the first and last steps of a run need pieces of their own: a few
# more functions to compile, which pay off once the run has as many steps.
_PACK_MIN_REPEATS = 24  # rk4 grad: packed and not cost the same CPU time near 24 steps


@dataclass
class Piece:
    """A function of the split body: its name, source lines (with its header), and
    whether it uses ``prange``."""

    name: str
    lines: list[str]
    parallel: bool


def split_body(
    body: list[str], params: list[str], limit: int, level: int = 0
) -> tuple[list[Piece], list[str]] | None:
    """Pieces computing `body` (the lines of a function of `params`, indented by 4
    and ending in its one ``return``) and the lines of the entry calling them, or
    None when the body is short enough to stay one function. An entry that is
    itself long is split again: its repeated calls become a piece calling a piece."""
    body = "\n".join(body).split("\n")  # a control-flow statement comes as one string
    if len(body) <= limit:
        return None
    stmts = ast.parse("\n".join(line[4:] for line in body)).body
    spans = [(s.lineno - 1, s.end_lineno) for s in stmts]
    spans[0] = (0, spans[0][1])  # leading comments stay with the first statement
    for i in range(1, len(spans)):
        spans[i] = (spans[i - 1][1], spans[i][1])  # comment lines go with the next one
    names = [_names(s) for s in stmts]  # (loaded, stored, loop variables)
    loops = set().union(*(n[2] for n in names))
    uses = [loaded - loops for loaded, _, _ in names]
    defs = [stored - loops for _, stored, _ in names]
    last_use: dict[str, int] = {}
    for i, names in enumerate(uses):
        for name in names:
            last_use[name] = i
    local = set(params) | loops | set().union(*defs)
    signatures = [_canonical(body[a:b], [], [], local)[0] for a, b in spans]
    steps: list[int] = []
    groups = _plan(signatures, spans, 0, len(stmts), limit, steps)
    first_def = {name: -1 for name in params}
    for i, stored in enumerate(defs):
        for name in stored:
            first_def.setdefault(name, i)
    allocs = {}
    run = _periodic_run(signatures)
    if (run[2] if run else 0) >= _PACK_MIN_REPEATS:
        allocs = packable(body, stmts, defs, set(params) | uses[-1])
    # a group of several repetitions keeps one block per repetition, so that a piece
    # reading a repetition's values finds them in the same place whichever group
    # (and whichever place in it) the repetition fell in
    steps.sort()
    block_of = {name: (bisect_right(steps, i), a.dtype) for i, (name, a) in allocs.items()}
    groups = _cap_interface(groups, uses, defs, first_def, last_use, block_of)
    entry: list[str] = []
    pieces: list[Piece] = []
    by_text: dict[str, Piece] = {}
    members: dict[str, Member] = {}  # packed value -> its block and place
    defined = set(params)
    for g, (lo, hi) in enumerate(groups):
        stored = set().union(*defs[lo:hi])
        # a variable defined before and stored here is passed in too: a store on
        # one path of an `if` must not leave it undefined on the other
        inputs = (set().union(*uses[lo:hi]) | stored) & defined
        outputs = {name for name in stored if last_use.get(name, -1) >= hi}
        text = body[spans[lo][0] : spans[hi - 1][1]]
        mine = {
            stmts[i].lineno - 1: (*allocs[i], f"blk{level}_{g}_{bisect_right(steps, i)}")
            for i in range(lo, hi)
            if i in allocs
        }
        text, inputs, outputs = pack_piece(text, spans[lo][0], mine, members, inputs, outputs)
        local |= outputs  # the blocks packing made
        key, lines, inputs, outputs, args, outs = _canonical(text, inputs, outputs, local)
        if hi < len(stmts):
            lines.append(f"    return ({''.join(o + ', ' for o in outs)})")
            key += "\n" + lines[-1]
        key = f"({', '.join(args)})\n{key}"
        piece = by_text.get(key)
        if piece is None:
            name = f"_piece{len(pieces)}" if level == 0 else f"_group{level}_{len(pieces)}"
            piece = Piece(name, [f"def {name}({', '.join(args)}):", *lines], "prange(" in key)
            pieces.append(piece)
            by_text[key] = piece
        call = f"{piece.name}({', '.join(inputs)})"
        if hi == len(stmts):
            entry.append(f"    return {call}")
        elif outputs:
            entry.append(f"    {''.join(o + ', ' for o in outputs)}= {call}")
        else:
            entry.append(f"    {call}")
        defined |= stored | set(outputs)
    if limit < len(entry) < len(body):
        outer = split_body(entry, params, limit, level + 1)
        if outer is not None:
            return pieces + outer[0], outer[1]
    return pieces, entry


def _plan(
    signatures: list[str],
    spans: list[tuple[int, int]],
    lo: int,
    hi: int,
    limit: int,
    steps: list[int],
) -> list[tuple[int, int]]:
    """Groups of statements lo..hi-1 of about `limit` lines, cut at the same places
    in every repetition of the longest periodic run (the steps of an unrolled loop),
    so that repeated groups have the same text and share a function. The first
    statements of repetitions that share a group are added to `steps`."""
    found = _periodic_run(signatures[lo:hi])
    if found is None:
        return _groups(spans, lo, hi, limit)
    start, period, count = found
    start += lo
    size = spans[start + period - 1][1] - spans[start][0]  # lines of one period
    per = min(count, max(1, limit // max(size, 1)))  # whole periods per group
    inner = _groups(spans, start, start + period, limit)
    step = period * per
    groups = _plan(signatures, spans, lo, start, limit, steps)
    end = start + (count // per) * step
    for base in range(start, end, step):
        if per > 1:
            groups.append((base, base + step))
            steps += range(base + period, base + step, period)
        else:
            groups += [(a - start + base, b - start + base) for a, b in inner]
    return groups + _plan(signatures, spans, end, hi, limit, steps)


def _cap_interface(
    groups: list[tuple[int, int]],
    uses: list[set[str]],
    defs: list[set[str]],
    first_def: dict[str, int],
    last_use: dict[str, int],
    block_of: dict[str, tuple[int, str]],
) -> list[tuple[int, int]]:
    """`groups` with those taking or returning more than _MAX_INTERFACE values
    halved: Numba's cost for a function passed, returning (and a caller unpacking)
    a long tuple of arrays grows faster than its length (the tape of many
    reverse-mode steps is one). Packed arrays (packing.py) count as the blocks
    that hold them (`block_of`: repetition and dtype, in each producing group)."""
    out: list[tuple[int, int]] = []
    starts: list[int] = []
    todo = list(reversed(groups))
    while todo:
        lo, hi = todo.pop()
        stored = set().union(*defs[lo:hi])
        leaving = {n for n in stored if last_use.get(n, -1) >= hi}
        n_out = len({block_of.get(n, n) for n in leaving})
        entering = {n for n in set().union(*uses[lo:hi]) | stored if first_def.get(n, hi) < lo}
        n_in = len(
            {
                (bisect_right(starts, first_def[n]), *block_of[n]) if n in block_of else n
                for n in entering
            }
        )
        if hi - lo > 1 and max(n_in, n_out) > _MAX_INTERFACE:
            mid = (lo + hi) // 2
            todo += [(mid, hi), (lo, mid)]
        else:
            out.append((lo, hi))
            starts.append(lo)
    return out


def _periodic_run(signatures: list[str]) -> tuple[int, int, int] | None:
    """(start, period, count) of the longest run of `count` >= 3 repetitions of a
    sequence of statements, the shortest period among the longest; None if none."""
    n = len(signatures)
    if n < 6:
        return None
    codes = {}
    seq = np.array([codes.setdefault(s, len(codes)) for s in signatures])
    best = None
    for p in range(1, min(_MAX_PERIOD, n // 3) + 1):
        same = np.concatenate(([False], seq[:-p] == seq[p:], [False]))
        edges = np.flatnonzero(np.diff(same.astype(np.int8)))
        if not len(edges):
            continue
        starts, stops = edges[0::2], edges[1::2]
        i = int(np.argmax(stops - starts))
        run = int(stops[i] - starts[i])  # seq[j] == seq[j + p] for j in starts..stops-1
        count = (run + p) // p
        covered = count * p
        if count >= 3 and (best is None or covered > best[0]):
            best = (covered, int(starts[i]), p, count)
    return None if best is None else best[1:]


def _groups(spans: list[tuple[int, int]], lo: int, hi: int, limit: int) -> list[tuple[int, int]]:
    """Runs of consecutive statements of about `limit` lines (a longer statement alone)."""
    groups = []
    start = lo
    for i in range(lo + 1, hi + 1):
        if i == hi or spans[i][1] - spans[start][0] > limit:
            groups.append((start, i))
            start = i
    return groups


def _names(stmt: ast.stmt) -> tuple[set[str], set[str], set[str]]:
    """The names `stmt` loads, stores, and uses as loop variables."""
    loaded, stored, loops = set(), set(), set()
    for n in ast.walk(stmt):
        if isinstance(n, ast.Name):
            (loaded if isinstance(n.ctx, ast.Load) else stored).add(n.id)
        elif isinstance(n, ast.For) and isinstance(n.target, ast.Name):
            loops.add(n.target.id)
    return loaded, stored, loops


def _canonical(
    lines: list[str], inputs: set[str], outputs: set[str], local: set[str]
) -> tuple[str, list[str], list[str], list[str], list[str], list[str]]:
    """The code of `lines` with its local variables renamed ``x0, x1, ...`` in order
    of first appearance, without comments (the key of a piece); the renamed lines
    with their comments; inputs and outputs in order of first appearance, and
    their new names."""
    rename: dict[str, str] = {}

    def sub(m: re.Match) -> str:
        word = m.group(0)
        if word not in local:
            return word
        return rename.setdefault(word, f"x{len(rename)}")

    key: list[str] = []
    renamed: list[str] = []
    for line in lines:
        code, sep, comment = line.partition("  #")  # generated code holds no "#" or strings
        code = _IDENT.sub(sub, code)
        key.append(code)
        renamed.append(code + sep + comment)
    order = list(rename)
    ins = [n for n in order if n in inputs]
    outs = [n for n in order if n in outputs]
    return (
        "\n".join(key),
        renamed,
        ins,
        outs,
        [rename[n] for n in ins],
        [rename[n] for n in outs],
    )
