"""The programs the CUDA target is checked on, and the checks, run in a subprocess.

`python tests/cuda_programs.py run` computes every program with target="cuda"
(on a GPU, or on Numba's CUDA simulator when NUMBA_ENABLE_CUDASIM=1) and with the
CPU backend, and prints one JSON line per program: the largest difference and
any error. `python tests/cuda_programs.py ptx` compiles every kernel of every
program to PTX for sm_90 with numba-cuda's compiler (no GPU needed) and prints
the kernels' count per program. test_cuda.py runs both: the simulator must be
enabled before Numba is imported, which other tests do first.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import adjit  # noqa: E402

rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4))
Y = rng.standard_normal(4)
T = rng.standard_normal((3, 4, 5))
LONG = rng.standard_normal(9000)


def elementwise(x, y):
    return np.sin(x) * np.exp(-y) + np.tanh(x * y) / (1.0 + x**2) - np.maximum(x, y) ** 2


def reductions(t, v):
    return (
        t.sum(axis=0), t.sum(axis=1), t.sum(axis=2), t.sum(axis=(0, 2)), t.sum(),
        t.max(axis=1), t.min(axis=0), np.prod(t, axis=2), np.exp(t).sum(axis=(1, 2)),
        v.sum(), v.max(), np.abs(v).min(),
    )  # fmt: skip


def matmuls(a, b, c):
    return a @ b, c @ b, a[0] @ b, a @ b[:, 0], a.T @ a, b.T @ a.T


def pick(x, i):
    return x[i] * 2.0 + x[:, i].sum()


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def mlp_loss(params, x, y):
    h = np.tanh(x @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


def per_example_loss(w, x):
    return np.sum(np.tanh(x @ w) ** 2)


def newton_sqrt(a):
    def cond(state):
        x, k = state
        return np.abs(x * x - a) > 1e-12

    def body(state):
        x, k = state
        return 0.5 * (x + a / x), k + 1.0

    return adjit.while_loop(cond, body, (a, 0.0))


def looped(x):
    def body(i, s):
        return np.sin(s) * x + s * 0.5

    return adjit.fori_loop(0, 4, body, x).sum()


def gmm_case() -> tuple[Callable, tuple]:
    from adbench import data_path, gmm_objective, read_gmm

    data = read_gmm(data_path("gmm", "test.txt"))
    gamma, m = data["gamma"], data["m"]

    def objective(alphas, means, icf, x):
        return gmm_objective(alphas, means, icf, x, gamma, m)

    args = (data["alphas"], data["means"], data["icf"], data["x"])
    return adjit.grad(objective, argnums=(0, 1, 2)), args


def programs() -> dict[str, tuple[Callable, tuple]]:
    params = {
        "W1": rng.standard_normal((6, 5)) * 0.5,
        "b1": rng.standard_normal(5) * 0.1,
        "W2": rng.standard_normal((5, 3)) * 0.5,
        "b2": rng.standard_normal(3) * 0.1,
    }
    xb, yb = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    w = rng.standard_normal((4, 2))
    examples = rng.standard_normal((5, 3, 4))
    return {
        "elementwise": (elementwise, (X, Y)),
        "reductions": (reductions, (T, LONG)),
        "matmul": (matmuls, (X, rng.standard_normal((4, 2)), rng.standard_normal((2, 3, 4)))),
        "softmax": (softmax, (rng.standard_normal((4, 6)),)),
        "gather": (pick, (rng.standard_normal((4, 4)), np.array([3, -1, 0]))),
        "mlp_grad": (adjit.grad(mlp_loss), (params, xb, yb)),
        "vmap_grad": (adjit.vmap(adjit.grad(per_example_loss), in_axes=(None, 0)), (w, examples)),
        "while_loop": (newton_sqrt, (2.0,)),
        "for_loop_grad": (adjit.grad(looped), (rng.standard_normal(5),)),
        "gmm_grad": gmm_case(),
    }


def _max_difference(got, want) -> float:
    import jax  # noqa: F401  (jax.tree_util flattens the nested results)

    from adjit import tree

    g, w = tree.flatten(got)[0], tree.flatten(want)[0]
    assert len(g) == len(w), (len(g), len(w))
    worst = 0.0
    for a, b in zip(g, w):
        a = a.copy_to_host() if hasattr(a, "copy_to_host") else np.asarray(a)
        b = np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        scale = np.maximum(1.0, np.abs(b))
        worst = max(worst, float(np.max(np.abs(a - b) / scale, initial=0.0)))
    return worst


def run() -> None:
    from numba import cuda

    for name, (f, args) in programs().items():
        try:
            want = adjit.jit(f)(*args)
            got = adjit.jit(f, target="cuda")(*args)
            report = {"name": name, "difference": _max_difference(got, want)}
            if name == "reductions":  # the grid size must not change a bit of the result
                from adjit.codegen import cuda_launch

                blocks = cuda_launch._max_blocks
                cuda_launch._max_blocks = lambda: 1
                try:
                    again = adjit.jit(f, target="cuda")(*args)
                finally:
                    cuda_launch._max_blocks = blocks
                report["grid_independent"] = all(np.array_equal(a, b) for a, b in zip(got, again))
            if name == "gather":  # out of range: IndexError, as on the CPU
                try:
                    adjit.jit(f, target="cuda")(args[0], np.array([0, 4, 1]))
                    report["index_error"] = "none"
                except IndexError as e:
                    report["index_error"] = str(e)
            if name == "elementwise":  # device arrays in: no copy, device arrays out
                dev = [cuda.to_device(a) for a in args]
                out = adjit.jit(f, target="cuda")(*dev)
                report["device_result"] = hasattr(out, "copy_to_host")
                report["device_difference"] = _max_difference(out, want)
        except Exception:
            report = {"name": name, "error": traceback.format_exc()}
        print(json.dumps(report), flush=True)
    # target= on the transforms themselves, not only on jit of them
    params, xb, yb = programs()["mlp_grad"][1]
    w, examples = programs()["vmap_grad"][1]
    direct = {
        "grad_target": lambda t: adjit.value_and_grad(mlp_loss, target=t)(params, xb, yb),
        "jacrev_target": lambda t: adjit.jacrev(softmax, target=t)(X),
        "vmap_target": lambda t: adjit.vmap(
            adjit.grad(per_example_loss), in_axes=(None, 0), target=t
        )(w, examples),
    }
    for name, call in direct.items():
        try:
            report = {"name": name, "difference": _max_difference(call("cuda"), call("cpu"))}
        except Exception:
            report = {"name": name, "error": traceback.format_exc()}
        print(json.dumps(report), flush=True)


def ptx() -> None:
    from numba import cuda

    from adjit.codegen import cuda_launch
    from adjit.codegen.cache import load_module

    # compile only: nothing is launched, so no GPU (or simulator) is needed
    cuda_launch.require_cuda = lambda: None
    for name, (f, args) in programs().items():
        try:
            source = adjit.jit(f, target="cuda").source(*args)
            sizes = []
            for kernel, (pyfunc, signature) in load_module(source, name).KERNELS.items():
                code, _ = cuda.compile_ptx(pyfunc, signature, cc=(9, 0))
                assert ".visible .entry" in code, kernel
                sizes.append(len(code))
            report = {"name": name, "kernels": len(sizes)}
        except Exception:
            report = {"name": name, "error": traceback.format_exc()}
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    {"run": run, "ptx": ptx}[sys.argv[1]]()
