"""Kernel templates of the CUDA target: the source of one numba-cuda kernel each.

Given the element expressions the emitter built (element-wise source over named
index variables), these write the kernel around them:
  - `elementwise`: a grid-stride loop over the flat output index, unravelled
    into one index per dim;
  - `reduction`: each block reduces a strided share of one output's elements,
    then a tree in shared memory; with several blocks per output the partials
    go to a buffer that a second launch reduces. The blocks per output and the
    threads per block depend on the sizes only, so the result does not depend
    on the device;
  - `matmul`: square tiles (TILE) of both operands in shared memory;
  - `scatter`: a grid-stride loop writing (or, for scatter_add, atomically adding)
    the updates.
Shapes are static, so sizes are constants in the source.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir.types import TensorType
from .cuda_launch import THREADS, simulating

TILE = 8 if simulating() else 16  # the simulator runs TILE * TILE Python threads per block
NUMBA_TYPE = {"f64": "float64", "f32": "float32", "i64": "int64", "i32": "int32", "bool": "boolean"}


def unravel(flat: str, shape: tuple[int, ...], names: list[str]) -> list[str]:
    """Lines setting names[d] to the d-th index of flat position `flat` in `shape`."""
    lines, stride = [], 1
    strides = []
    for n in reversed(shape):
        strides.append(stride)
        stride *= n
    strides.reverse()
    for d, (n, s) in enumerate(zip(shape, strides)):
        div = flat if s == 1 else f"({flat} // {s})"
        lines.append(f"{names[d]} = {div}" if d == 0 else f"{names[d]} = {div} % {n}")
    return lines


def _indent(lines: list[str], n: int) -> list[str]:
    return [" " * n + line for line in lines]


def elementwise(name: str, params: list[str], shape: tuple[int, ...], body: list[str]) -> str:
    """A kernel running `body` (which uses i0, i1, ...) for every index of `shape`."""
    size = 1
    for n in shape:
        size *= n
    idx = [f"i{d}" for d in range(len(shape))]
    head = [f"def {name}({', '.join(params)}):"]
    if not shape:  # one element: the first thread
        return "\n".join(head + ["    if cuda.grid(1) == 0:"] + _indent(body, 8)) + "\n"
    loop = [f"    for t in range(cuda.grid(1), {size}, cuda.gridsize(1)):"]
    return "\n".join(head + loop + _indent(unravel("t", shape, idx) + body, 8)) + "\n"


def combine(kind: str, acc: str, value: str) -> str:
    """Source of acc (op) value; a float max/min propagates NaN as NumPy does."""
    if kind == "sum":
        return f"{acc} + {value}"
    if kind == "prod":
        return f"{acc} * {value}"
    return f"_m.{'maximum' if kind == 'max' else 'minimum'}({acc}, {value})"


def reduction_parts(outputs: int, n: int) -> int:
    """Blocks sharing one output: enough for long reductions, from the sizes only."""
    if outputs >= 64:
        return 1
    return max(1, min(32, n // (THREADS * 8)))


def reduction(
    name: str,
    params: list[str],
    kind: str,
    dt: TensorType,
    init: str,
    outputs: int,
    n: int,
    parts: int,
    element: tuple[list[str], str],
    store: list[str],
) -> str:
    """A kernel reducing n elements for each of `outputs` outputs, `parts` blocks each.

    element: (lines, expression) of element j of output m; store: the lines writing
    block b's result `s[0]` (output b // parts, part b % parts).
    """
    lines, expr = element
    first = "t" if parts == 1 else f"(b % {parts}) * {THREADS} + t"
    body = [
        f"def {name}({', '.join(params)}):",
        f"    s = cuda.shared.array({THREADS}, numba.{NUMBA_TYPE[dt.dtype]})",
        "    t = cuda.threadIdx.x",
        f"    for b in range(cuda.blockIdx.x, {outputs * parts}, cuda.gridDim.x):",
        "        m = b" if parts == 1 else f"        m = b // {parts}",
        f"        acc = {init}",
        f"        for j in range({first}, {n}, {parts * THREADS}):",
        *_indent(lines, 12),
        f"            acc = {combine(kind, 'acc', expr)}",
        "        s[t] = acc",
        "        cuda.syncthreads()",
        f"        w = {THREADS // 2}",
        "        while w > 0:",
        "            if t < w:",
        f"                s[t] = {combine(kind, 's[t]', 's[t + w]')}",
        "            cuda.syncthreads()",
        "            w //= 2",
        "        if t == 0:",
        *_indent(store, 12),
        "        cuda.syncthreads()",
    ]
    return "\n".join(body) + "\n"


def matmul(
    name: str,
    params: list[str],
    dt: TensorType,
    batch: tuple[int, ...],
    m: int,
    k: int,
    n: int,
    a: Callable[[list[str], str, str], str],
    b: Callable[[list[str], str, str], str],
    out: Callable[[list[str], str, str], str],
) -> str:
    """out[z, row, col] = sum_k a[z, row, k] b[z, k, col], tiled in shared memory.

    a, b and out give the element source for (batch index names, row, column)."""
    nbatch = 1
    for d in batch:
        nbatch *= d
    bidx = [f"z{d}" for d in range(len(batch))]
    ty = f"numba.{NUMBA_TYPE[dt.dtype]}"
    zero = "0.0" if dt.is_float else "0"
    body = [
        f"def {name}({', '.join(params)}):",
        f"    sa = cuda.shared.array(({TILE}, {TILE}), {ty})",
        f"    sb = cuda.shared.array(({TILE}, {TILE}), {ty})",
        "    tx = cuda.threadIdx.x",
        "    ty = cuda.threadIdx.y",
        f"    row = cuda.blockIdx.y * {TILE} + ty",
        f"    col = cuda.blockIdx.x * {TILE} + tx",
        f"    for z in range(cuda.blockIdx.z, {nbatch}, cuda.gridDim.z):",
        *_indent(unravel("z", batch, bidx), 8),
        f"        acc = {zero}",
        f"        for k0 in range(0, {k}, {TILE}):",
        f"            if row < {m} and k0 + tx < {k}:",
        f"                sa[ty, tx] = {a(bidx, 'row', 'k0 + tx')}",
        "            else:",
        f"                sa[ty, tx] = {zero}",
        f"            if k0 + ty < {k} and col < {n}:",
        f"                sb[ty, tx] = {b(bidx, 'k0 + ty', 'col')}",
        "            else:",
        f"                sb[ty, tx] = {zero}",
        "            cuda.syncthreads()",
        f"            for kk in range({TILE}):",
        "                acc += sa[ty, kk] * sb[kk, tx]",
        "            cuda.syncthreads()",
        f"        if row < {m} and col < {n}:",
        f"            {out(bidx, 'row', 'col')} = acc",
    ]
    return "\n".join(body) + "\n"
