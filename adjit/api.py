"""The public transformations: trace (and, as they land, jit, grad, jvp, ...)."""

from __future__ import annotations

from .compiler.trace import trace

__all__ = ["trace"]
