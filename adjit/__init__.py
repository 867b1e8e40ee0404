"""adjit: a differentiation compiler for NumPy code."""

from . import ir
from .api import cond, fori_loop, grad, jit, trace, value_and_grad, vjp, while_loop
from .errors import (
    AdjitError,
    ControlFlowError,
    IRError,
    MutationError,
    ParseError,
    ShapeError,
    TracingError,
    UnsupportedError,
    VerificationError,
)

__version__ = "0.1.0"

__all__ = [
    "AdjitError",
    "ControlFlowError",
    "IRError",
    "MutationError",
    "ParseError",
    "ShapeError",
    "TracingError",
    "UnsupportedError",
    "VerificationError",
    "cond",
    "fori_loop",
    "grad",
    "ir",
    "jit",
    "trace",
    "value_and_grad",
    "vjp",
    "while_loop",
]
