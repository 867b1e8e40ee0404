"""Contractions by shape: does one matrix product call BLAS or run as a loop nest?

A matmul of shapes (..., m, k) @ (..., k, n) is a batch of m x k x n products.
BLAS (`np.dot`) wins on large products, but each call costs about 100 ns of
dispatch and checks (and, without `out=`, an allocation), which dominates small
ones: the GMM objective written as `Q[None] @ xc[:, :, :, None]` makes 25 000
10x10x1 products per evaluation. Below a work threshold the generator emits a
loop nest instead (batch loops outermost, one scalar accumulator per output
element, k innermost); a broadcast batch operand is read in place at index 0 in
either form, never materialized.

Measured on one core (AMD EPYC, Numba 0.68, OpenBLAS, batches of 20..2000,
time per product): 10x10x1 np.dot 91 ns, loops 31 ns; 10x1x10 115 / 36 ns;
1x10x10 129 / 45 ns; 16x16x16 215 / 258 ns; 8x8x64 312 / 366 ns; 32x32x32
1255 / 2445 ns. The crossover lies between 1 000 and 4 000 multiply-adds per
product; below LOOP_MAX_WORK loops are at least as fast everywhere measured.
Products of integers always run as loops (Numba's np.dot takes floats only).
"""

from __future__ import annotations

LOOP_MAX_WORK = 1024  # multiply-adds in one product (m * k * n)


def use_loops(m: int, k: int, n: int, is_float: bool) -> bool:
    """Run an m x k x n product (each one of a batch) as a loop nest rather than BLAS."""
    return not is_float or m * k * n <= LOOP_MAX_WORK
