"""The public transformations: trace (and, as they land, jit, grad, jvp, ...)."""

from __future__ import annotations

from .compiler.control import cond, fori_loop, while_loop
from .compiler.trace import trace

__all__ = ["cond", "fori_loop", "trace", "while_loop"]
