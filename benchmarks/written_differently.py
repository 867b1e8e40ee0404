"""The same models, written differently: adjit against jax.jit, one process, one core.

    python benchmarks/written_differently.py [--quick] [--only NAME] [--clock cpu]

adjit is fast on the formulations of `grad_workloads.py`; this suite checks the
other ways users write the same models: the GMM objective as a batched product
over components and as a broadcasting batched matrix-vector product (and with
`np.einsum`, when adjit supports it), an MLP with ReLU and with tanh, per-example
gradients by `vmap(grad(f))`, a kernel matrix by broadcasting, a row softmax, a
1-D convolution from slices. Each model is one function written against an array
module `xp`, run as NumPy by adjit and as `jax.numpy` by JAX, so both trace the
same program. Every row times the primal (`jit` of the loss) and the value and
gradient, adjit's and JAX's calls interleaved (on a loaded machine, read the
ratios), checks adjit's results against JAX's, and prints the first-call times
(adjit's cache is a fresh temporary directory). Threads are pinned to one (BLAS,
Numba, XLA) and the process to one CPU, as in `run.py`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import THREAD_ENV, WARM_HEAP, machine_line, pin_to_one_cpu, table  # noqa: E402

if any(key not in os.environ for key in WARM_HEAP):
    # glibc reads its malloc settings when the process starts: run again with them
    os.execve(sys.executable, [sys.executable, *sys.argv], {**WARM_HEAP, **os.environ})
for _key, _value in THREAD_ENV.items():
    os.environ.setdefault(_key, _value)
os.environ.setdefault("ADJIT_CACHE_DIR", tempfile.mkdtemp(prefix="adjit-written-"))
pin_to_one_cpu()

import numpy as np  # noqa: E402

import adjit  # noqa: E402

sys.path.insert(0, str(HERE.parents[0] / "tests"))
from adbench import data_path, gmm_objective, read_gmm  # noqa: E402
from peers import jax, jnp  # noqa: E402
from workloads import gmm_jax_objective  # noqa: E402

RTOL = 1e-8
ROUNDS = 15  # interleaved timing rounds


@dataclass
class Row:
    name: str
    description: str
    inputs: Callable[[], tuple]
    loss: Callable[[Any], Callable[..., Any]] | None  # xp -> loss(*args)
    argnums: tuple[int, ...] = (0,)
    # a row that is not "jit(loss) and value_and_grad(loss)": xp -> (primal, derivative)
    custom: Callable[[Any, bool], tuple[Callable, Callable]] | None = None
    requires: Callable[[], str | None] | None = None  # a reason to skip, or None


# ---------------------------------------------------------------------------
# GMM: ADBench's objective, three ways of writing the Mahalanobis terms
# ---------------------------------------------------------------------------

_GMM = {}


def _gmm_data() -> dict[str, Any]:
    if not _GMM:
        _GMM.update(read_gmm(data_path("gmm", "1k", "gmm_d10_K25.txt")))
    return _GMM


def gmm_inputs() -> tuple:
    g = _gmm_data()
    return (g["alphas"], g["means"], g["icf"], g["x"])


def gmm_batched(xp: Any) -> Callable:
    """As in grad_workloads.py: one (n, d) @ (d, d) product per component."""
    g = _gmm_data()
    if xp is np:
        return lambda a, mu, icf, x: gmm_objective(a, mu, icf, x, g["gamma"], g["m"])
    return lambda a, mu, icf, x: gmm_jax_objective(a, mu, icf, x, g["gamma"], g["m"])


def _gmm_q(xp: Any, icf: Any, k: int, d: int) -> Any:
    """Q_k = diag(exp(icf[k, :d])) + the strictly lower triangle from icf[k, d:]."""
    cols, rows = np.triu_indices(d, 1)
    lower = xp.zeros((k, d, d))
    if xp is np:
        lower[:, rows, cols] = icf[:, d:]
    else:
        lower = lower.at[:, rows, cols].set(icf[:, d:])
    return xp.exp(icf[:, :d])[:, :, None] * np.eye(d) + lower


def _gmm_rest(xp: Any, alphas: Any, icf: Any, sqsum: Any, n: int, d: int) -> Any:
    """The objective from sqsum[i, k] = |Q_k (x_i - mu_k)|^2, shaped (n, K)."""
    from workloads import _gmm_constants

    g = _gmm_data()
    gamma, m = g["gamma"], g["m"]
    k = alphas.shape[0]
    sum_qs = xp.sum(icf[:, :d], axis=1)
    inner = (alphas + sum_qs)[None, :] - 0.5 * sqsum
    inner_max = xp.max(inner, axis=1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(inner - inner_max), axis=1)) + inner_max[:, 0]
    alphas_max = xp.max(alphas)
    lse_alphas = xp.log(xp.sum(xp.exp(alphas - alphas_max))) + alphas_max
    qdiag = xp.exp(icf[:, :d])
    prior = xp.sum(
        0.5 * gamma * gamma * (xp.sum(qdiag * qdiag, axis=1) + xp.sum(icf[:, d:] ** 2, axis=1))
        - m * sum_qs
    )
    return xp.sum(lse) - n * lse_alphas + prior + _gmm_constants(n, d, k, gamma, m)


def gmm_broadcast(xp: Any) -> Callable:
    """Q_k (x_i - mu_k) for all i, k as one broadcasting batched matrix-vector product."""

    def loss(alphas, means, icf, x):
        n, d = x.shape
        q = _gmm_q(xp, icf, alphas.shape[0], d)
        xc = x[:, None, :] - means[None, :, :]  # (n, K, d)
        qxc = (q[None] @ xc[:, :, :, None])[:, :, :, 0]  # (n, K, d)
        return _gmm_rest(xp, alphas, icf, xp.sum(qxc * qxc, axis=2), n, d)

    return loss


def gmm_einsum(xp: Any) -> Callable:
    """The same product as gmm_broadcast, as np.einsum."""

    def loss(alphas, means, icf, x):
        n, d = x.shape
        q = _gmm_q(xp, icf, alphas.shape[0], d)
        xc = x[:, None, :] - means[None, :, :]
        qxc = xp.einsum("kab,nkb->nka", q, xc)
        return _gmm_rest(xp, alphas, icf, xp.sum(qxc * qxc, axis=2), n, d)

    return loss


def einsum_supported() -> str | None:
    try:
        adjit.jit(lambda a, b: np.einsum("ij,j->i", a, b))(np.ones((2, 2)), np.ones(2))
    except adjit.AdjitError as e:
        return f"np.einsum is not supported by adjit yet ({type(e).__name__})"
    return None


# ---------------------------------------------------------------------------
# MLP 784-256-10, softmax cross-entropy, batch 256: ReLU and tanh
# ---------------------------------------------------------------------------


def mlp_inputs() -> tuple:
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((784, 256)) / 28
    b1 = 0.1 * rng.standard_normal(256)
    w2 = rng.standard_normal((256, 10)) / 16
    b2 = 0.1 * rng.standard_normal(10)
    x = rng.standard_normal((256, 784))
    y = rng.integers(0, 10, 256)
    return (w1, b1, w2, b2, x, y)


def mlp(activation: str) -> Callable:
    def make(xp: Any) -> Callable:
        def loss(w1, b1, w2, b2, x, y):
            a = x @ w1 + b1
            h = xp.maximum(a, 0.0) if activation == "relu" else xp.tanh(a)
            z = h @ w2 + b2
            zmax = xp.max(z, axis=1, keepdims=True)
            logp = z - zmax - xp.log(xp.sum(xp.exp(z - zmax), axis=1, keepdims=True))
            return -xp.sum(logp[xp.arange(x.shape[0]), y]) / x.shape[0]

        return loss

    return make


# ---------------------------------------------------------------------------
# per-example gradients: vmap(grad(f), in_axes=(None, 0)), a tanh layer, 128 examples
# ---------------------------------------------------------------------------


def per_example_inputs() -> tuple:
    rng = np.random.default_rng(2)
    return (rng.standard_normal((32, 16)) / 4, rng.standard_normal((128, 16)))


def _layer(xp: Any) -> Callable:
    return lambda w, x: xp.sum(xp.tanh(w @ x) ** 2)


def per_example(xp: Any, is_jax: bool) -> tuple[Callable, Callable]:
    f = _layer(xp)
    if is_jax:
        return jax.jit(jax.vmap(f, in_axes=(None, 0))), jax.jit(
            jax.vmap(jax.grad(f), in_axes=(None, 0))
        )
    return adjit.jit(adjit.vmap(f, in_axes=(None, 0))), adjit.jit(
        adjit.vmap(adjit.grad(f), in_axes=(None, 0))
    )


# ---------------------------------------------------------------------------
# kernel matrix from pairwise distances; row softmax; 1-D convolution from slices
# ---------------------------------------------------------------------------


def kernel_inputs() -> tuple:
    return (np.random.default_rng(3).standard_normal((256, 64)) / 8,)


def kernel(xp: Any) -> Callable:
    def loss(x):
        d2 = xp.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=2)
        return xp.sum(xp.exp(-0.5 * d2))

    return loss


def softmax_inputs() -> tuple:
    rng = np.random.default_rng(4)
    return (rng.standard_normal((4096, 512)), rng.standard_normal((4096, 512)))


def softmax(xp: Any) -> Callable:
    def loss(z, t):
        e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
        return xp.sum(e / xp.sum(e, axis=1, keepdims=True) * t)

    return loss


def conv_inputs() -> tuple:
    rng = np.random.default_rng(5)
    return (rng.standard_normal(9) / 3, rng.standard_normal(16384))


def conv(xp: Any) -> Callable:
    def loss(w, x):
        m = x.shape[0] - w.shape[0] + 1
        y = w[0] * x[0:m]
        for j in range(1, w.shape[0]):
            y = y + w[j] * x[j : j + m]
        return xp.sum(xp.tanh(y) ** 2)

    return loss


ROWS = [
    Row("gmm_batched", "GMM d=10 K=25 n=1000, batched over components", gmm_inputs,
        gmm_batched, (0, 1, 2)),
    Row("gmm_broadcast", "GMM, Q[None] @ xc[:, :, :, None]", gmm_inputs, gmm_broadcast,
        (0, 1, 2)),
    Row("gmm_einsum", "GMM, einsum('kab,nkb->nka')", gmm_inputs, gmm_einsum, (0, 1, 2),
        requires=einsum_supported),
    Row("mlp_relu", "MLP 784-256-10 np.maximum ReLU, batch 256", mlp_inputs, mlp("relu"),
        (0, 1, 2, 3)),
    Row("mlp_tanh", "MLP 784-256-10 tanh, batch 256", mlp_inputs, mlp("tanh"), (0, 1, 2, 3)),
    Row("per_example", "vmap(grad) of a 32x16 tanh layer, 128 examples", per_example_inputs,
        None, custom=per_example),
    Row("kernel", "pairwise-distance kernel by broadcasting, 256x64", kernel_inputs, kernel),
    Row("softmax", "row softmax 4096x512 (weighted sum)", softmax_inputs, softmax),
    Row("conv1d", "1-D convolution from 9 slices, n=16384", conv_inputs, conv),
]  # fmt: skip


# ---------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------


def _callables(row: Row, is_jax: bool) -> tuple[Callable, Callable]:
    if row.custom is not None:
        return row.custom(jnp if is_jax else np, is_jax)
    f = row.loss(jnp if is_jax else np)
    if is_jax:
        return jax.jit(f), jax.jit(jax.value_and_grad(f, argnums=row.argnums))
    return adjit.jit(f), adjit.value_and_grad(f, argnums=row.argnums)


def _close(got: Any, want: Any) -> bool:
    g_leaves, w_leaves = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    if len(g_leaves) != len(w_leaves):
        return False
    for a, b in zip(g_leaves, w_leaves):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        if a.shape != b.shape or not np.allclose(a, b, rtol=RTOL, atol=RTOL * 1e-3 * scale):
            return False
    return True


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCK["wall"]


def _interleaved(calls: dict[str, tuple[Callable, tuple]], target: float) -> dict[str, float]:
    """Time per call of each callable: the minimum over ROUNDS rounds, each round
    timing every callable once in turn, so that a load on the machine that comes and
    goes weighs on adjit and JAX alike (the ratios are what to read)."""
    timers, counts = {}, {}
    for key, (fn, a) in calls.items():
        timers[key] = timeit.Timer(lambda fn=fn, a=a: fn(*a), timer=clock)
        n = 1
        while timers[key].timeit(n) < target / ROUNDS / 4 and n < 10**6:
            n *= 4
        counts[key] = n
    best = dict.fromkeys(calls, math.inf)
    for _ in range(ROUNDS):
        for key, timer in timers.items():
            best[key] = min(best[key], timer.timeit(counts[key]) / counts[key])
    return best


def bench(row: Row, target: float) -> dict[str, Any]:
    args = row.inputs()
    jargs = tuple(jax.device_put(a) for a in args)
    out: dict[str, Any] = {}
    calls = {}
    for impl in ("adjit", "jax"):
        is_jax = impl == "jax"
        primal, deriv = _callables(row, is_jax)
        a = jargs if is_jax else args
        for kind, fn in (("primal", primal), ("grad", deriv)):
            call = (lambda *x, fn=fn: jax.block_until_ready(fn(*x))) if is_jax else fn
            t0 = time.perf_counter()
            out[f"{impl}_{kind}_value"] = call(*a)
            out[f"{impl}_{kind}_first"] = time.perf_counter() - t0
            calls[f"{impl}_{kind}"] = (call, a)
    out.update(_interleaved(calls, target))
    out["agree"] = all(
        _close(out[f"adjit_{k}_value"], out[f"jax_{k}_value"]) for k in ("primal", "grad")
    )
    return out


def call_path() -> list[list[str]]:
    """Per-call time of each transform on a scalar function of two Python floats:
    what a call costs besides the native code (jit, grad, value_and_grad)."""

    def f(x, y):
        return x * y + np.sin(x)

    def fj(x, y):
        return x * y + jnp.sin(x)

    rows = []
    for name, a, j in (
        ("jit", adjit.jit(f), jax.jit(fj)),
        ("grad, argnums=(0, 1)", adjit.grad(f, argnums=(0, 1)), jax.jit(jax.grad(fj, (0, 1)))),
        (
            "value_and_grad, argnums=(0, 1)",
            adjit.value_and_grad(f, argnums=(0, 1)),
            jax.jit(jax.value_and_grad(fj, (0, 1))),
        ),
    ):
        calls = {
            "adjit": (a, (1.0, 2.0)),
            "jax": (lambda *x, j=j: jax.block_until_ready(j(*x)), (1.0, 2.0)),
        }
        for fn, args in calls.values():
            fn(*args)
        t = _interleaved(calls, 0.3)
        rows.append([name, fmt(t["adjit"]), fmt(t["jax"]), f"{t['adjit'] / t['jax']:.2f}"])
    return rows


def fmt(t: float | None) -> str:
    if t is None:
        return "—"
    if t >= 1.0:
        return f"{t:.2f} s"
    return f"{t * 1e6:.1f} µs" if t < 1e-3 else f"{t * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing runs")
    parser.add_argument("--only", choices=[r.name for r in ROWS])
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCK),
        default="wall",
        help="cpu: the process's CPU time, which time spent waiting for a loaded CPU does not inflate",
    )
    opts = parser.parse_args()
    global clock
    clock = CLOCK[opts.clock]
    if jax is None:
        sys.exit("this suite compares against JAX: install jax")
    target = 0.3 if opts.quick else 1.5  # seconds per callable
    print(machine_line())
    print(
        f"one CPU, one thread everywhere; load average {os.getloadavg()[0]:.1f}; {opts.clock} time"
    )
    rows, firsts = [], []
    for row in ROWS:
        if opts.only and row.name != opts.only:
            continue
        reason = row.requires() if row.requires else None
        if reason:
            print(f"{row.name}: skipped: {reason}")
            continue
        r = bench(row, target)
        rows.append(
            [row.name, row.description]
            + [fmt(r[k]) for k in ("adjit_primal", "jax_primal")]
            + [f"{r['adjit_primal'] / r['jax_primal']:.2f}"]
            + [fmt(r[k]) for k in ("adjit_grad", "jax_grad")]
            + [f"{r['adjit_grad'] / r['jax_grad']:.2f}", "ok" if r["agree"] else "MISMATCH"]
        )
        firsts.append(
            [row.name]
            + [fmt(r[f"{i}_{k}_first"]) for k in ("primal", "grad") for i in ("adjit", "jax")]
        )
        print(f"  ({row.name} done)", file=sys.stderr)
    header = ["row", "model", "adjit.jit", "jax.jit", "ratio"]
    header += ["adjit v&g", "jax v&g", "ratio", "agree"]
    print(f"time per call (min of {ROUNDS} interleaved rounds), ratio = adjit / JAX:")
    print(table(header, rows))
    print("\nfirst call (compile + run), fresh adjit cache:")
    print(table(["row", "adjit.jit", "jax.jit", "adjit v&g", "jax v&g"], firsts))
    if not opts.only:
        print("\ncall path: f(x, y) = x * y + sin(x) on two Python floats, time per call:")
        print(table(["transform", "adjit", "JAX (jax.jit of it)", "ratio"], call_path()))


if __name__ == "__main__":
    main()
