"""adjit's code generators (Numba CPU, CUDA, ahead-of-time modules)."""
