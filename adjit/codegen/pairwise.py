"""NumPy's pairwise summation order, for the sums the generated code computes.

NumPy sums a contiguous axis in blocks of at most 128 elements, each with eight
running sums, and splits longer ranges in halves (a multiple of 8 to the left).
`helpers.numpy_blocks` gives the blocks and the tree that adds their sums; `block_sum`
is the sum of one block, compiled once (Numba's cache) and inlined by LLVM into
the generated code, which imports it. A generated sum computes a block's
elements into a buffer by a loop of its own (it vectorises, element-wise math
included) and then calls `block_sum`: its result equals NumPy's bit for bit.

Longer sums (more than helpers.CHUNK elements) are cut into chunks of CHUNK elements
from the start, whatever the number of threads: each chunk is NumPy's pairwise
sum of its elements (sixteen blocks, their sums added by `tree_sum`); the last
n % BLOCK elements are one more part, and the parts are added by `tree_sum`.
The chunks may run on different threads; the result does not depend on it, and
equals NumPy's when n is CHUNK times a power of two.
"""

from __future__ import annotations

from .native_cache import njit_cached


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


@njit_cached(error_model="numpy")
def tree_sum(parts, n):
    """The sum of parts[:n] as a tree: neighbours are added level by level (an odd
    one out moves up as it is). For n a power of two this is NumPy's tree of
    halves. Overwrites parts."""
    if n == 0:
        return -0.0
    while n > 1:
        half = n // 2
        for i in range(half):
            parts[i] = parts[2 * i] + parts[2 * i + 1]
        if n % 2:
            parts[half] = parts[n - 1]
        n -= half
    return parts[0]
