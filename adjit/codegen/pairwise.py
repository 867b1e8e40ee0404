"""NumPy's pairwise summation order, for the sums the generated code computes.

NumPy sums a contiguous axis in blocks of at most 128 elements, each with eight
running sums, and splits longer ranges in halves (a multiple of 8 to the left).
`numpy_blocks` gives the blocks and the tree that adds their sums; `block_sum`
is the sum of one block, compiled once (Numba's cache) and inlined by LLVM into
the generated code, which imports it. A generated sum computes a block's
elements into a buffer by a loop of its own (it vectorises, element-wise math
included) and then calls `block_sum`: its result equals NumPy's bit for bit.
"""

from __future__ import annotations

from .native_cache import njit_cached

BLOCK = 128


def numpy_blocks(n: int) -> tuple[list[tuple[int, int]], str]:
    """The (start, count) blocks of NumPy's pairwise sum of n elements, and the
    expression adding their sums, in terms of `{0}`, `{1}`, ... (block numbers)."""
    blocks: list[tuple[int, int]] = []

    def split(start: int, count: int) -> str:
        if count <= BLOCK:
            blocks.append((start, count))
            return f"{{{len(blocks) - 1}}}"
        half = count // 2
        half -= half % 8
        return f"({split(start, half)} + {split(start + half, count - half)})"

    return blocks, split(0, n)


@njit_cached(forceinline=True, error_model="numpy")
def block_sum(x, n):
    """The sum of x[:n], n <= 128, in NumPy's order: eight running sums, then the rest."""
    if n < 8:
        total = -0.0  # -0.0 + v == v for every v, -0.0 included
        for i in range(n):
            total += x[i]
        return total
    r0, r1, r2, r3 = x[0], x[1], x[2], x[3]
    r4, r5, r6, r7 = x[4], x[5], x[6], x[7]
    lanes = n - n % 8
    for i in range(8, lanes, 8):
        r0 += x[i]
        r1 += x[i + 1]
        r2 += x[i + 2]
        r3 += x[i + 3]
        r4 += x[i + 4]
        r5 += x[i + 5]
        r6 += x[i + 6]
        r7 += x[i + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(lanes, n):
        total += x[i]
    return total
