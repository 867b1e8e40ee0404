"""target="cuda" gradients against the CPU backend, PyTorch CUDA and JAX on the GPU.

    python benchmarks/cuda.py [--repeats N]

NEEDS AN NVIDIA GPU (and `pip install 'adjit[cuda]'`); without one it says so and
exits. Workloads (issue 13): the MLP gradient, batch 4096, 784-1024-10 (tanh,
softmax cross-entropy), and the ADBench GMM gradient d20 K10 on 100k points made
by repeating the 1k file's points. Every implementation's value is checked
against the CPU backend before timing. Inputs live on the device for the GPU
columns (adjit is given Numba device arrays, so nothing is copied per call);
the times are medians of `--repeats` calls after a warm-up call, synchronized.
PyTorch and JAX columns show "—" when not installed (or not on the GPU); the
GMM has no GPU peer column yet (grad_workloads' PyTorch port builds CPU tensors).
Not measured yet: no GPU was available where it was written.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import grad_workloads  # noqa: E402  (the MLP and its PyTorch and JAX ports)
from adbench import data_path  # noqa: E402

import adjit  # noqa: E402


def _median_time(call: Callable[[], object], sync: Callable[[], None], repeats: int) -> float:
    call()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def mlp_case() -> tuple[Callable, tuple, tuple[int, ...]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096, 784))
    y = rng.integers(0, 10, 4096)
    w1 = rng.standard_normal((784, 1024)) / 28.0
    b1 = np.zeros(1024)
    w2 = rng.standard_normal((1024, 10)) / 32.0
    b2 = np.zeros(10)
    return grad_workloads.mlp_np, (w1, b1, w2, b2, x, y), (0, 1, 2, 3)


def gmm_case() -> tuple[Callable, tuple, tuple[int, ...]]:
    g = grad_workloads.GmmInstance(data_path("gmm", "1k", "gmm_d20_K10.txt"))
    alphas, means, icf, x = g.inputs()
    x = np.ascontiguousarray(np.tile(x, (100, 1)))  # 100k points
    g.numpy_fn.__name__ = "gmm"
    return g.numpy_fn, (alphas, means, icf, x), (0, 1, 2)


def _torch_time(f: Callable, args: tuple, argnums: tuple, repeats: int) -> float | None:
    torch = grad_workloads.torch
    if torch is None or not torch.cuda.is_available():
        return None
    dev = [
        torch.tensor(a, device="cuda", requires_grad=i in argnums and a.dtype.kind == "f")
        for i, a in enumerate(args)
    ]

    def call() -> None:
        loss = f(*dev)
        torch.autograd.grad(loss, [dev[i] for i in argnums])

    return _median_time(call, torch.cuda.synchronize, repeats)


def _jax_time(f: Callable, args: tuple, argnums: tuple, repeats: int) -> float | None:
    jax = grad_workloads.jax
    if jax is None or jax.default_backend() != "gpu":
        return None
    vg = jax.jit(jax.value_and_grad(f, argnums=argnums))
    dev = [jax.device_put(a) for a in args]

    def call() -> None:
        jax.block_until_ready(vg(*dev))

    return _median_time(call, lambda: None, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    repeats = parser.parse_args().repeats
    try:
        from numba import cuda

        gpu = cuda.is_available() and not os.environ.get("NUMBA_ENABLE_CUDASIM")
    except ImportError:
        gpu = False
    if not gpu:
        sys.exit(
            "benchmarks/cuda.py needs an NVIDIA GPU with numba-cuda (pip install 'adjit[cuda]')"
        )
    print(f"device: {cuda.get_current_device().name.decode()}")
    print("| workload | CPU backend | adjit cuda | PyTorch CUDA | JAX GPU | cuda/torch |")
    print("|---|---|---|---|---|---|")
    for name, (f, args, argnums) in {"mlp": mlp_case(), "gmm_d20_K10": gmm_case()}.items():
        cpu = adjit.value_and_grad(f, argnums=argnums)
        gpu_fn = adjit.value_and_grad(f, argnums=argnums, target="cuda")
        want = cpu(*args)[0]
        got = gpu_fn(*args)[0]
        assert abs(got - want) <= 1e-9 * max(1.0, abs(want)), (name, got, want)
        dev = [cuda.to_device(a) for a in args]
        t_cpu = _median_time(functools.partial(cpu, *args), lambda: None, max(3, repeats // 5))
        t_cuda = _median_time(functools.partial(gpu_fn, *dev), cuda.synchronize, repeats)
        mlp = name == "mlp"  # the GMM's PyTorch port builds CPU tensors: MLP only
        t_torch = _torch_time(grad_workloads.mlp_torch, args, argnums, repeats) if mlp else None
        t_jax = _jax_time(grad_workloads.mlp_jax, args, argnums, repeats) if mlp else None

        def ms(t: float | None) -> str:
            return "—" if t is None else f"{t * 1e3:.2f} ms"

        ratio = "—" if t_torch is None else f"{t_cuda / t_torch:.2f}x"
        print(f"| {name} | {ms(t_cpu)} | {ms(t_cuda)} | {ms(t_torch)} | {ms(t_jax)} | {ratio} |")


if __name__ == "__main__":
    main()
