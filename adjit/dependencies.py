"""adjit's run-time dependencies, checked at import so that a missing one is one clear line.

Without this, a missing SciPy surfaces only at the first compiled matrix product,
as a long Numba traceback ("scipy 0.16+ is required for linear algebra").
Only whether each is installed is checked (no import: SymPy is slow to import).
"""

from __future__ import annotations

import importlib.util
import sys

REQUIRED = ("numpy", "scipy", "sympy", "numba")


def check_installed() -> None:
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        names = " ".join(missing)
        raise ImportError(
            f"adjit needs {', '.join(missing)}, not installed for {sys.executable}: "
            f"pip install {names}"
        )
