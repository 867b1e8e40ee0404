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

import re

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

# sin, cos and tan inline a long range reduction: past this many calls in one
# generated function LLVM's compile time dominates (a 120-step chain of sin: 20 s
# for its gradient), so there they call one out-of-line copy each (1.4 s), scalar.
INLINED_TRIG_LIMIT = 8
OUTLINED_TRIG = {"_sin": "_sin_call", "_cos": "_cos_call", "_tan": "_tan_call"}
_TRIG_CALL = re.compile(rf"\b({'|'.join(OUTLINED_TRIG)})\(")


def outline_trig(lines: list[str]) -> list[str]:
    """A generated function's lines, with its sin, cos and tan called out of line
    when it has more than INLINED_TRIG_LIMIT of them."""
    if sum(len(_TRIG_CALL.findall(line)) for line in lines) <= INLINED_TRIG_LIMIT:
        return lines
    return [_TRIG_CALL.sub(lambda m: f"{OUTLINED_TRIG[m.group(1)]}(", line) for line in lines]


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
