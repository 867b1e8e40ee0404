"""Batched values held as sums of strided diagonals, for the batching pass.

A Jacobian is computed by batching a tangent (or cotangent) function over the
unit directions: the batch of n unit arrays is the identity, and what
element-wise ops, slices and sums make of it stays sparse: the tangent of
sin(x) is cos(x) on the diagonal, the tangent of x[1:] - x[:-1] two shifted
diagonals, the tangent of a stencil a few bands. A `Banded` value keeps those
bands, O(n) each, instead of n x n arrays, and a matrix product with one is a
scaled copy of the other factor instead of an O(n^3) product. Ops without a
rule here get the dense value (`Banded.dense`).

Band (d, row0, stride): slice i of the batch holds d.flat[j] at flat position j
where i == row0 + stride * j, and nothing else. A row outside 0 .. n-1 only
ever holds a zero of d (a band moved by a scatter keeps zeros where nothing
was written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..ir.core import Op, Value
from ..ir.indexing import Slice, indexed_shape, normalize_slice
from . import ops
from .builder import current


@dataclass(frozen=True)
class Band:
    d: Value
    row0: int
    stride: int

    def rows(self) -> range:
        return range(self.row0, self.row0 + self.stride * self.d.type.size, self.stride)


@dataclass(frozen=True)
class Banded:
    """A batched value of shape (n, *shape): the sum of its bands (see module doc)."""

    bands: tuple[Band, ...]
    n: int
    shape: tuple[int, ...]

    @staticmethod
    def unit(ones: Value, start: int, n: int) -> Banded:
        """The unit directions start .. start + ones.size of n, as arrays of ones' shape."""
        return Banded((Band(ones, start, 1),), n, ones.type.shape)

    def dense(self) -> Value:
        size = int(np.prod(self.shape, dtype=np.int64))
        total = None
        for band in self.bands:
            rows = ops.iota((self.n, size), 0)
            cols = ops.iota((self.n, size), 1)
            at = ops.elementwise("mul", cols, band.stride) if band.stride != 1 else cols
            at = ops.elementwise("add", at, band.row0) if band.row0 else at
            unit = ops.convert(ops.elementwise("eq", rows, at), band.d.type.dtype)
            term = ops.elementwise("mul", unit, ops.reshape(band.d, (1, size)))
            total = term if total is None else ops.elementwise("add", total, term)
        return ops.reshape(total, (self.n, *self.shape))

    def place(self, values: list[Value]) -> Value:
        """Sum over bands of values[b] (one row per element of band b) put at the band's rows."""
        total = None
        for band, v in zip(self.bands, values):
            r = band.rows()
            inside = [j for j, row in enumerate(r) if 0 <= row < self.n]  # a contiguous run
            if not inside:
                continue
            lo, hi = inside[0], inside[-1] + 1
            if (lo, hi) != (0, len(r)):  # rows outside hold zeros: leave them out
                v = ops.gather(v, (Slice(lo, hi, 1), *(Slice(0, k, 1) for k in v.type.shape[1:])))
                r = r[lo:hi]
            if r.step < 0:  # place in increasing row order
                v = ops.gather(v, (Slice(v.type.shape[0] - 1, None, -1),))
                r = r[::-1]
            term = self._rows_of(v, r)
            total = term if total is None else ops.elementwise("add", total, term)
        if total is None:  # every row outside: all zeros
            total = ops.zeros(values[0].type.with_shape((self.n, *values[0].type.shape[1:])))
        return total

    def _rows_of(self, v: Value, r: range) -> Value:
        """An n-row value holding v's rows at rows r (increasing), zeros elsewhere."""
        rest = v.type.shape[1:]
        if r.step == 1:  # contiguous: padded with zero rows before and after
            parts = []
            if r.start:
                parts.append(ops.zeros(v.type.with_shape((r.start, *rest))))
            parts.append(v)
            if self.n - r.stop:
                parts.append(ops.zeros(v.type.with_shape((self.n - r.stop, *rest))))
            return ops.concatenate(parts, 0)
        spec = (normalize_slice(slice(r.start, r.stop, r.step), self.n),)
        spec += tuple(Slice(0, k, 1) for k in rest)
        return ops.scatter(ops.zeros(v.type.with_shape((self.n, *rest))), spec, v)


def _with(banded: Banded, ds: Sequence[Value], shape: tuple[int, ...] | None = None) -> Banded:
    bands = tuple(Band(d, b.row0, b.stride) for b, d in zip(banded.bands, ds))
    return Banded(bands, banded.n, banded.shape if shape is None else shape)


def _merged(bands: Sequence[Band]) -> tuple[Band, ...]:
    """Bands on the same rows added together."""
    out: dict[tuple[int, int], Value] = {}
    for b in bands:
        key = (b.row0, b.stride)
        out[key] = ops.elementwise("add", out[key], b.d) if key in out else b.d
    return tuple(Band(d, r, s) for (r, s), d in out.items())


def _known(v: Value) -> np.ndarray | None:
    return current().consts.get(v)


def _is_ones(v: Value) -> bool:
    known = _known(v)
    return known is not None and bool(np.all(known == 1))


def banded_rule(
    op: Op, xs: Sequence[Value | Banded], flags: Sequence[bool]
) -> Value | Banded | None:
    """op's batched result when it is cheap to get from banded operands; None: use
    the dense operands instead."""
    banded = [x for x in xs if isinstance(x, Banded)]
    first = banded[0]
    shape = op.result.type.shape
    others_unbatched = all(isinstance(x, Banded) or not on for x, on in zip(xs, flags))
    same_shape = all(b.shape == shape for b in banded)
    name = op.name
    if name in ("neg", "convert") and same_shape:
        return _with(first, [current().emit(name, (b.d,), op.attrs, op.loc) for b in first.bands])
    if name in ("mul", "div") and len(banded) == 1 and others_unbatched and same_shape:
        if name == "div" and xs[0] is not first:
            return None  # not linear in the divisor
        (other,) = [x for x in xs if x is not first]
        if name == "mul" and _is_ones(other):
            return first
        if name == "mul":
            ds = [_times(ops.broadcast_to(other, shape), b.d) for b in first.bands]
        else:
            ds = [ops.elementwise("div", b.d, other) for b in first.bands]
        return _with(first, ds)
    if name in ("add", "sub") and len(banded) == 2 and same_shape:
        a, c = banded
        other = (
            c.bands
            if name == "add"
            else tuple(Band(ops.elementwise("neg", b.d), b.row0, b.stride) for b in c.bands)
        )
        return Banded(_merged(a.bands + other), a.n, shape)
    if name == "reshape":
        return _with(first, [ops.reshape(b.d, shape) for b in first.bands], shape)
    if name == "reduce_sum" and len(op.attrs["axes"]) == len(first.shape):
        return first.place([ops.reshape(b.d, (b.d.type.size,)) for b in first.bands])
    if name == "matmul" and others_unbatched and len(banded) == 1:
        return _matmul(xs, first)
    if name == "gather" and len(xs) == 1:
        return _gather(first, op.attrs["index"], shape)
    if name == "concatenate" and len(shape) == 1:
        return _concatenate(xs, shape)
    if name in ("scatter", "scatter_add") and len(xs) == 2:
        if isinstance(xs[0], Banded) or not flags[0]:
            return _scatter(op, xs, shape)
    return None


def _matmul(xs: Sequence[Value | Banded], banded: Banded) -> Value | None:
    """A @ B or B @ A for B banded with vector slices: row i is a scaled row (or
    column) of A, placed at the band's rows."""
    a, b = xs
    if len(banded.shape) != 1:
        return None
    if b is banded and isinstance(a, Value) and a.type.ndim in (1, 2):  # A e_j d_j: column j
        scaled = [_times(a, band.d) for band in banded.bands]
        return banded.place([ops.transpose(s, (1, 0)) if a.type.ndim == 2 else s for s in scaled])
    if a is banded and isinstance(b, Value) and b.type.ndim in (1, 2):  # d_j e_j^T A: row j
        rows = []
        for band in banded.bands:
            column = ops.reshape(band.d, (band.d.type.size, 1)) if b.type.ndim == 2 else band.d
            rows.append(_times(b, column))
        return banded.place(rows)
    return None


def _times(x: Value, d: Value) -> Value:
    """x * d, or x itself where d is known to be all ones (the unit directions)."""
    if _is_ones(d):
        return ops.broadcast_to(x, np.broadcast_shapes(x.type.shape, d.type.shape))
    return ops.elementwise("mul", x, d)


def _slice_of(spec: tuple, size: int) -> range | None:
    """The positions a 1-D basic slice or integer index selects (None for any other)."""
    if len(spec) != 1:
        return None
    (entry,) = spec
    if isinstance(entry, Slice):
        return range(size)[entry.to_slice()]
    if isinstance(entry, int) and not isinstance(entry, bool):
        return range(entry, entry + 1)
    return None


def _gather(banded: Banded, spec: tuple, shape: tuple[int, ...]) -> Banded | None:
    if len(banded.shape) != 1:
        return None
    picked = _slice_of(spec, banded.shape[0])
    if picked is None or len(picked) == 0:
        return None
    bands = tuple(
        Band(
            ops.reshape(ops.gather(b.d, spec), shape),
            b.row0 + b.stride * picked.start,
            b.stride * picked.step,
        )
        for b in banded.bands
    )
    return Banded(bands, banded.n, shape)


def _concatenate(xs: Sequence[Value | Banded], shape: tuple[int, ...]) -> Banded | None:
    """Vectors joined end to end: each piece's bands, shifted to its place, with zeros
    elsewhere (a piece without bands must be known zeros: others vary across the batch)."""
    n = next(x.n for x in xs if isinstance(x, Banded))
    bands, offset = [], 0
    for x in xs:
        size = (x.shape if isinstance(x, Banded) else x.type.shape)[0]
        if isinstance(x, Banded):
            for b in x.bands:
                zero = ops.constant(np.zeros((), b.d.type.np_dtype))
                pads = [(offset,), (shape[0] - offset - size,)]
                before, after = (ops.broadcast_to(zero, p) for p in pads)
                full = ops.concatenate([p for p in (before, b.d, after) if p.type.size], 0)
                bands.append(Band(full, b.row0 - b.stride * offset, b.stride))
        else:
            known = _known(x)
            if known is None or np.any(known != 0):
                return None
        offset += size
    return Banded(_merged(bands), n, shape)


def _scatter(op: Op, xs: Sequence[Value | Banded], shape: tuple[int, ...]) -> Banded | None:
    """x with v written (or added) at a 1-D slice, x banded or known zeros, v banded:
    v's band moves to x's positions when the slice's step divides its stride."""
    x, v = xs
    if (
        len(shape) != 1
        or not isinstance(v, Banded)
        or v.shape != indexed_shape(shape, op.attrs["index"])
    ):
        return None
    picked = _slice_of(op.attrs["index"], shape[0])
    if picked is None or len(picked) == 0:
        return None
    if isinstance(x, Banded):
        target = x
    else:
        known = _known(x)
        if known is None or np.any(known != 0):
            return None
        target = Banded((), v.n, shape)
    moved = []
    for b in v.bands:
        if b.stride % picked.step:
            return None
        stride = b.stride // picked.step
        row0 = b.row0 - stride * picked.start
        if not any(0 <= r < v.n for r in range(row0, row0 + stride * shape[0], stride)):
            return None
        zeros = ops.zeros(b.d.type.with_shape(shape))
        moved.append(Band(ops.scatter(zeros, op.attrs["index"], b.d), row0, stride))
    kept = target.bands
    if op.name == "scatter":  # x's entries at the slice are overwritten
        kept = tuple(
            Band(
                ops.scatter(b.d, op.attrs["index"], np.zeros((), b.d.type.np_dtype)),
                b.row0,
                b.stride,
            )
            for b in kept
        )
    return Banded(_merged(kept + tuple(moved)), v.n, shape)
