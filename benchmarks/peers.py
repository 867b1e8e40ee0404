"""The optional peers of the benchmarks: JAX (float64), PyTorch, autograd; None when missing.

`ADJIT_BENCH_NO_JAX=1` leaves JAX out. Imported by the workload modules only, in
the child processes that time them.
"""

from __future__ import annotations

import os

try:
    if os.environ.get("ADJIT_BENCH_NO_JAX"):
        raise ImportError("ADJIT_BENCH_NO_JAX is set")
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
except ImportError:  # its column is left empty
    jax = jnp = None
try:
    import torch
except ImportError:
    torch = None
try:
    import autograd.numpy as anp
except ImportError:
    anp = None

__all__ = ["anp", "jax", "jnp", "torch"]
