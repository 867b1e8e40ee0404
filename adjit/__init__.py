"""adjit: a differentiation compiler for NumPy code."""

from . import ir
from .api import (
    cond,
    fori_loop,
    grad,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jit,
    jvp,
    trace,
    value_and_grad,
    vjp,
    vmap,
    while_loop,
)
from .errors import (
    AdjitError,
    ControlFlowError,
    IRError,
    MutationError,
    ParseError,
    RecompileWarning,
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
    "RecompileWarning",
    "ShapeError",
    "TracingError",
    "UnsupportedError",
    "VerificationError",
    "cond",
    "fori_loop",
    "grad",
    "hessian",
    "hvp",
    "ir",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jit",
    "jvp",
    "trace",
    "value_and_grad",
    "vjp",
    "vmap",
    "while_loop",
]
