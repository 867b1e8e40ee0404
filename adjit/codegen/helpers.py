"""What the code generator needs to know of its Numba helper modules, without Numba.

The generated CPU code imports compiled helpers from `vecmath.py` (SIMD math),
`pairwise.py` (NumPy's summation order), `kernels_scan.py` and
`kernels_linalg.py`. Those modules import Numba, which costs about a second, and
the first call the interpreter tier serves (`tiered.py`) generates the source
but compiles nothing: so their names, the table of vecmath's functions, the sum
blocks' layout live here. (The helper modules
themselves stay free of other adjit imports: `adjit.export` copies them.)
"""

from __future__ import annotations

VECMATH_MODULE = f"{__package__}.vecmath"
PAIRWISE_MODULE = f"{__package__}.pairwise"
KERNELS_SCAN_MODULE = f"{__package__}.kernels_scan"
KERNELS_LINALG_MODULE = f"{__package__}.kernels_linalg"

# primitive -> its function in vecmath.py
VECMATH = {
    "exp": "_exp",
    "sin": "_sin",
    "cos": "_cos",
    "tan": "_tan",
    "expm1": "_expm1",
    "log": "_log",
    "log1p": "_log1p",
    "tanh": "_tanh",
    "logistic": "_logistic",
    "erf": "_erf",
    "erfc": "_erfc",
    "gammaln": "_gammaln",
    "digamma": "_digamma",
    "trigamma": "_trigamma",
}


BLOCK = 128
CHUNK = 16 * BLOCK  # numpy_blocks(CHUNK): sixteen blocks, a balanced tree


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
