"""Host side of the CUDA target: availability, launch sizes, moving arguments and results.

The generated module's `entry` takes device arrays (0-d values as host scalars)
and returns device arrays; `launcher` wraps it for users: NumPy arrays are
copied to the device and the results copied back, while arrays that already
live on the device (anything with `__cuda_array_interface__`: Numba device
arrays, CuPy arrays, PyTorch CUDA tensors) are used without a copy, and then
the results stay on the device too. 0-d results always come back as NumPy
scalars. Grid sizes come from the device's properties (multiprocessor count);
they never change a result: element-wise kernels loop over their elements
with a grid stride, and reductions fix their own block count from the sizes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import AdjitError
from ..tree import is_device_array

UNAVAILABLE = (
    "target='cuda' needs a CUDA GPU with its driver, or Numba's CUDA simulator, and "
    "neither is available here ({why}). Install the CUDA target with "
    "`pip install 'adjit[cuda]'` (numba-cuda) on a machine with an NVIDIA GPU, or set "
    "NUMBA_ENABLE_CUDASIM=1 before Python starts to run the kernels on the simulator "
    "(slow; for testing)"
)


def simulating() -> bool:
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", 0))


# Threads per block of element-wise and reduction kernels (a constant of their
# source). The simulator runs each thread as a Python thread: it gets fewer.
THREADS = 32 if simulating() else 128


def require_cuda() -> None:
    """Raise one clear AdjitError unless a GPU or the simulator can run kernels."""
    try:
        from numba import cuda
    except Exception as e:  # numba-cuda missing, or its toolkit broken
        raise AdjitError(UNAVAILABLE.format(why=f"numba.cuda cannot be imported: {e}")) from None
    if simulating():
        return
    try:
        available = cuda.is_available()
    except Exception:
        available = False
    if not available:
        why = "no CUDA GPU or driver found"
        if os.environ.get("NUMBA_ENABLE_CUDASIM") and not simulating():
            why += "; NUMBA_ENABLE_CUDASIM was set after Numba was imported"
        raise AdjitError(UNAVAILABLE.format(why=why))


@functools.cache
def _max_blocks() -> int:
    if simulating():
        return 2  # the simulator runs each thread as a Python thread
    from numba import cuda

    sms = cuda.get_current_device().MULTIPROCESSOR_COUNT
    return 32 * sms  # enough resident blocks to fill the device


def blocks(n: int) -> int:
    """Blocks of THREADS for a grid-stride loop over n elements."""
    return max(1, min(-(-n // THREADS), _max_blocks()))


def _to_device(x: Any) -> Any:
    from numba import cuda

    if is_device_array(x):
        return x if simulating() else cuda.as_cuda_array(x)
    if isinstance(x, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(x))
    return x  # a host scalar: a kernel argument


def device_scalar(x: Any, dtype: str) -> Any:
    """A 0-d value as the one-element device array that kernels index with [0]."""
    if is_device_array(x):
        return x
    from numba import cuda

    return cuda.to_device(np.array([x], dtype=dtype))


def host_scalar(x: Any) -> Any:
    """A 0-d value on the host (to branch on, or to return)."""
    if is_device_array(x):
        return x.copy_to_host()[0]
    return x


_constants: dict[int, tuple[np.ndarray, Any]] = {}


def constant(arr: np.ndarray) -> Any:
    """A module's constant array on the device, copied there once."""
    held = _constants.get(id(arr))
    if held is None or held[0] is not arr:
        from numba import cuda

        held = _constants[id(arr)] = (arr, cuda.to_device(arr))
    return held[1]


def index_flag() -> Any:
    """The flag kernels raise on an out-of-range run-time index (cuda_math.checked)."""
    from numba import cuda

    return cuda.to_device(np.zeros(1, dtype=np.int64))


def check_indices(flag: Any) -> None:
    if flag.copy_to_host()[0]:
        raise IndexError("index out of bounds in a run-time (traced) index")


def device_copy(x: Any) -> Any:
    from numba import cuda

    out = cuda.device_array(x.shape, dtype=x.dtype)
    out.copy_to_device(x)
    return out


def launcher(entry: Callable[..., tuple], n_params: int, shapes: list[tuple]) -> Callable:
    """`entry` taking host or device arrays; results of the given shapes (host or device).

    Arguments past the first n_params are the function's lifted constants: copied
    to the device once, on the first call.
    """
    constants: list[Any] = []

    def run(*args: Any) -> tuple:
        on_device = any(is_device_array(a) for a in args[:n_params])
        if not constants and len(args) > n_params:
            constants.extend(_to_device(c) for c in args[n_params:])
        moved = [_to_device(a) for a in args[:n_params]] + constants
        outs = entry(*moved)
        results = []
        for o, shape in zip(outs, shapes):
            if not shape:
                results.append(host_scalar(o))
            elif on_device:
                results.append(o)
            else:
                results.append(o.copy_to_host().reshape(shape))
        return tuple(results)

    return run
