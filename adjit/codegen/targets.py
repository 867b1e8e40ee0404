"""The compile targets besides the default CPU one: checking one is usable, and
compiling an optimized ir.Function for it into (source, entry).

The generated source is cached on disk under the IR's text like the CPU
backend's, and its kernels use numba-cuda's cache (`cuda.jit(cache=True)`), so a
second process neither regenerates nor recompiles them."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import AdjitError
from ..ir.core import Function

TARGETS = ("cpu", "cuda")


def check_target(target: str) -> None:
    """Raise a clear AdjitError for an unknown target, or one this machine cannot run."""
    if target not in TARGETS:
        raise AdjitError(f"unknown target {target!r}; use one of {', '.join(map(repr, TARGETS))}")
    if target == "cuda":
        from .cuda_launch import require_cuda

        require_cuda()


def compile_for_target(
    target: str, fn: Function, n_constants: int = 0
) -> tuple[str, Callable[..., tuple]]:
    """The generated source of fn for `target` and the entry users' arguments go to
    (fn's last n_constants parameters are lifted constants, passed after them)."""
    from .cache import load_module, load_source, store_source
    from .cuda_launch import THREADS, launcher
    from .numba_cuda import generate_cuda_source

    assert target == "cuda", target
    key = f"{fn}\ntarget=cuda threads={THREADS}"  # the simulator's kernels use fewer threads
    source = load_source(key)
    if source is None:
        source = generate_cuda_source(fn)
        store_source(key, source)
    module = load_module(source, fn.name)  # its kernels keep their machine code on disk too
    shapes = [r.type.shape for r in fn.results]
    return source, launcher(module.entry, len(fn.params) - n_constants, shapes)
