"""adjit: a differentiation compiler for NumPy code."""

from .dependencies import check_installed

check_installed()

from . import ir  # noqa: E402
from .api import (  # noqa: E402
    cond,
    custom_jvp,
    custom_vjp,
    export,
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
from .errors import (  # noqa: E402
    AdjitError,
    ControlFlowError,
    IRError,
    MutationError,
    ParseError,
    RecompileWarning,
    ShapeError,
    TieredWarning,
    TracingError,
    UnsupportedError,
    VerificationError,
)
from .graph import graph  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "AdjitError",
    "ControlFlowError",
    "IRError",
    "MutationError",
    "ParseError",
    "RecompileWarning",
    "ShapeError",
    "TieredWarning",
    "TracingError",
    "UnsupportedError",
    "VerificationError",
    "cond",
    "custom_jvp",
    "custom_vjp",
    "export",
    "fori_loop",
    "grad",
    "graph",
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
