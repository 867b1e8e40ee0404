"""The adjit exception family: every error a user can see derives from AdjitError.

Warnings (RecompileWarning) derive from UserWarning."""

from __future__ import annotations


class AdjitError(Exception):
    """Base class of every error adjit raises on purpose."""


class TracingError(AdjitError):
    """The Python function does something that cannot be traced into IR."""


class UnsupportedError(TracingError):
    """A NumPy function or Python construct adjit does not support (yet)."""


class ShapeError(TracingError, ValueError):
    """Operand shapes are incompatible (broadcasting, matmul, reshape...)."""


class ControlFlowError(TracingError):
    """Python control flow (bool(), if, while) depends on a traced value."""


class MutationError(TracingError):
    """An in-place update would diverge from NumPy's aliasing semantics."""


class IRError(AdjitError):
    """Malformed IR: a verifier failure or a parse error."""


class ParseError(IRError):
    """The IR text could not be parsed."""


class VerificationError(IRError):
    """The IR breaks an invariant (SSA, types, region scoping)."""


class RecompileWarning(UserWarning):
    """One function was compiled again and again for values of a static argument."""


class TieredWarning(UserWarning):
    """A background compilation failed; adjit compiled the function in the caller instead."""
