"""Benchmark workloads: one plain NumPy function per workload and its peers.

Each workload has
  * ``numpy_fn``: plain NumPy, run eagerly and handed to ``adjit.jit``;
  * ``numba_fn``: a hand-written ``@numba.njit`` version, written the way an
    expert would (explicit loops, fused, no temporaries, ``np.dot`` for matrix
    products);
  * ``jax_fn``: the same computation in ``jax.numpy`` (wrapped in ``jax.jit``
    by the runner), or None when JAX is not installed;
  * ``make_inputs``: the inputs, shared by every implementation.

All functions take the inputs positionally. Everything is float64.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from adbench import data_path, gmm_objective, read_gmm  # noqa: E402

sys.path.pop(0)

from peers import jax, jnp  # noqa: E402

GMM_FILE = data_path("gmm", "1k", "gmm_d10_K25.txt")  # ADJIT_ADBENCH_DIR overrides the folder


@dataclass
class Workload:
    name: str
    description: str
    make_inputs: Callable[[], tuple]
    numpy_fn: Callable[..., Any]
    numba_fn: Callable[..., Any]
    jax_fn: Callable[..., Any] | None


# ---------------------------------------------------------------------------
# 1. scalar function: call overhead
# ---------------------------------------------------------------------------


def scalar_np(x):
    return x * x + np.sin(x)


@numba.njit(cache=False)
def scalar_nb(x):
    return x * x + math.sin(x)


def scalar_jax(x):
    return x * x + jnp.sin(x)


def scalar_inputs():
    return (0.7,)


# ---------------------------------------------------------------------------
# 2. element-wise chain on 1e6 elements
# ---------------------------------------------------------------------------

CHAIN_N = 1_000_000


def chain_np(x):
    return np.tanh(np.exp(-x * x) * 2.0 + np.sin(x) * np.cos(x)) - np.log1p(np.abs(x))


@numba.njit(cache=False)
def chain_nb(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = math.tanh(math.exp(-v * v) * 2.0 + math.sin(v) * math.cos(v)) - math.log1p(abs(v))
    return out


def chain_jax(x):
    return jnp.tanh(jnp.exp(-x * x) * 2.0 + jnp.sin(x) * jnp.cos(x)) - jnp.log1p(jnp.abs(x))


def chain_inputs():
    rng = np.random.default_rng(0)
    return (rng.uniform(-3.0, 3.0, CHAIN_N),)


# ---------------------------------------------------------------------------
# 3. softmax over the rows of a 4096 x 512 matrix
# ---------------------------------------------------------------------------


def softmax_np(x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


@numba.njit(cache=False)
def softmax_nb(x):
    n, m = x.shape
    out = np.empty_like(x)
    for i in range(n):
        mx = -np.inf
        for j in range(m):
            mx = max(mx, x[i, j])
        s = 0.0
        for j in range(m):
            e = math.exp(x[i, j] - mx)
            out[i, j] = e
            s += e
        r = 1.0 / s
        for j in range(m):
            out[i, j] *= r
    return out


def softmax_jax(x):
    e = jnp.exp(x - jnp.max(x, axis=1, keepdims=True))
    return e / jnp.sum(e, axis=1, keepdims=True)


def softmax_inputs():
    rng = np.random.default_rng(1)
    return (rng.standard_normal((4096, 512)),)


# ---------------------------------------------------------------------------
# 4. MLP forward pass + mean cross-entropy, batch 256, 784-256-10
# ---------------------------------------------------------------------------


def mlp_np(x, w1, b1, w2, b2, y):
    h = np.maximum(x @ w1 + b1, 0.0)
    z = h @ w2 + b2
    zmax = np.max(z, axis=1, keepdims=True)
    logp = z - zmax - np.log(np.sum(np.exp(z - zmax), axis=1, keepdims=True))
    return -np.sum(logp[np.arange(x.shape[0]), y]) / x.shape[0]


@numba.njit(cache=False)
def mlp_nb(x, w1, b1, w2, b2, y):
    n = x.shape[0]
    h = np.dot(x, w1)
    for i in range(n):
        for j in range(h.shape[1]):
            h[i, j] = max(h[i, j] + b1[j], 0.0)
    z = np.dot(h, w2)
    loss = 0.0
    for i in range(n):
        zmax = -np.inf
        for j in range(z.shape[1]):
            zmax = max(zmax, z[i, j] + b2[j])
        s = 0.0
        for j in range(z.shape[1]):
            s += math.exp(z[i, j] + b2[j] - zmax)
        loss += z[i, y[i]] + b2[y[i]] - zmax - math.log(s)
    return -loss / n


def mlp_jax(x, w1, b1, w2, b2, y):
    h = jnp.maximum(x @ w1 + b1, 0.0)
    z = h @ w2 + b2
    zmax = jnp.max(z, axis=1, keepdims=True)
    logp = z - zmax - jnp.log(jnp.sum(jnp.exp(z - zmax), axis=1, keepdims=True))
    return -jnp.sum(logp[jnp.arange(x.shape[0]), y]) / x.shape[0]


def mlp_inputs():
    rng = np.random.default_rng(2)
    n, d, h, c = 256, 784, 256, 10
    x = rng.standard_normal((n, d))
    w1 = rng.standard_normal((d, h)) / math.sqrt(d)
    b1 = 0.1 * rng.standard_normal(h)
    w2 = rng.standard_normal((h, c)) / math.sqrt(h)
    b2 = 0.1 * rng.standard_normal(c)
    y = rng.integers(0, c, n).astype(np.int64)
    return (x, w1, b1, w2, b2, y)


# ---------------------------------------------------------------------------
# 5. ADBench GMM objective, d=10, K=25, n=1000
# ---------------------------------------------------------------------------

_GMM: dict[str, Any] = {}


def _gmm_data() -> dict[str, Any]:
    if not _GMM:
        _GMM.update(read_gmm(GMM_FILE))
    return _GMM


def gmm_inputs():
    g = _gmm_data()
    return (g["alphas"], g["means"], g["icf"], g["x"])


def gmm_np(alphas, means, icf, x):
    # gamma and m are static Python scalars of the instance (they enter math.log)
    g = _gmm_data()
    return gmm_objective(alphas, means, icf, x, g["gamma"], g["m"])


@functools.lru_cache
def _gmm_constants(n: int, d: int, k: int, gamma: float, m: int) -> float:
    """The part of the GMM objective that depends only on sizes and the prior's scalars."""
    from scipy.special import multigammaln

    n_w = d + m + 1
    prior_const = -k * (
        n_w * d * math.log(gamma / math.sqrt(2.0)) - float(multigammaln(0.5 * n_w, d))
    )
    data_const = -n * d * 0.5 * math.log(2.0 * math.pi)
    return prior_const + data_const


@numba.njit(cache=False)
def _gmm_nb(alphas, means, icf, x, gamma, m, const):
    # As an expert would write it for Numba: Q_k is never formed; Q_k (x_i - mu_k)
    # comes from the triangular parametrisation (the strictly lower part stored
    # column by column), with the innermost loops running over the points so that
    # they vectorise: x is transposed once, and one (d, n) buffer serves every k.
    n, d = x.shape
    k = alphas.shape[0]
    xt = np.empty((d, n))
    for i in range(n):
        for j in range(d):
            xt[j, i] = x[i, j]
    inner = np.empty((k, n))
    qx = np.empty((d, n))
    prior = 0.0
    for c in range(k):
        s = 0.0
        sq = 0.0
        for j in range(d):
            s += icf[c, j]
            e = math.exp(icf[c, j])
            sq += e * e
            mj = means[c, j]
            for i in range(n):
                qx[j, i] = e * (xt[j, i] - mj)
        pos = d
        for col in range(d):
            mc = means[c, col]
            for j in range(col + 1, d):
                lower = icf[c, pos]
                sq += lower * lower
                for i in range(n):
                    qx[j, i] += lower * (xt[col, i] - mc)
                pos += 1
        prior += 0.5 * gamma * gamma * sq - m * s
        base = alphas[c] + s
        for i in range(n):
            inner[c, i] = base
        for j in range(d):
            for i in range(n):
                inner[c, i] -= 0.5 * qx[j, i] * qx[j, i]
    total = 0.0
    mx = np.empty(n)
    for i in range(n):
        mx[i] = inner[0, i]
    for c in range(1, k):
        for i in range(n):
            mx[i] = max(mx[i], inner[c, i])
    ssum = np.zeros(n)
    for c in range(k):
        for i in range(n):
            ssum[i] += math.exp(inner[c, i] - mx[i])
    for i in range(n):
        total += math.log(ssum[i]) + mx[i]
    amax = alphas[0]
    for c in range(1, k):
        amax = max(amax, alphas[c])
    s = 0.0
    for c in range(k):
        s += math.exp(alphas[c] - amax)
    return const + total - n * (math.log(s) + amax) + prior


def gmm_nb(alphas, means, icf, x):
    g = _gmm_data()
    n, d = x.shape
    const = _gmm_constants(n, d, alphas.shape[0], g["gamma"], g["m"])
    return _gmm_nb(alphas, means, icf, x, g["gamma"], float(g["m"]), const)


def gmm_jax(alphas, means, icf, x):
    g = _gmm_data()
    return gmm_jax_objective(alphas, means, icf, x, g["gamma"], g["m"])


def gmm_jax_objective(alphas, means, icf, x, gamma, m):
    """The GMM objective in jax.numpy (shared with the gradient benchmarks)."""
    n, d = x.shape
    k = alphas.shape[0]
    diag = np.arange(d)
    cols, rows = np.triu_indices(d, 1)

    log_qdiag = icf[:, :d]
    qdiag = jnp.exp(log_qdiag)
    lower = icf[:, d:]
    sum_qs = jnp.sum(log_qdiag, axis=1)

    q = jnp.zeros((k, d, d), dtype=icf.dtype)
    q = q.at[:, diag, diag].set(qdiag)
    q = q.at[:, rows, cols].set(lower)

    xc = x[jnp.newaxis, :, :] - means[:, jnp.newaxis, :]
    qxc = xc @ jnp.transpose(q, (0, 2, 1))
    sqsum = jnp.sum(qxc * qxc, axis=2)
    inner = (alphas + sum_qs)[:, jnp.newaxis] - 0.5 * sqsum

    inner_max = jnp.max(inner, axis=0, keepdims=True)
    lse = jnp.log(jnp.sum(jnp.exp(inner - inner_max), axis=0)) + inner_max[0]

    alphas_max = jnp.max(alphas)
    lse_alphas = jnp.log(jnp.sum(jnp.exp(alphas - alphas_max))) + alphas_max

    prior = jnp.sum(
        0.5 * gamma * gamma * (jnp.sum(qdiag * qdiag, axis=1) + jnp.sum(lower * lower, axis=1))
        - m * sum_qs
    )
    return jnp.sum(lse) - n * lse_alphas + prior + _gmm_constants(n, d, k, gamma, m)


# ---------------------------------------------------------------------------

WORKLOADS: list[Workload] = [
    Workload(
        "scalar", "x*x + sin(x), Python float", scalar_inputs, scalar_np, scalar_nb, scalar_jax
    ),
    Workload("chain", "element-wise chain, 1e6 f64", chain_inputs, chain_np, chain_nb, chain_jax),
    Workload(
        "softmax", "row softmax, 4096x512", softmax_inputs, softmax_np, softmax_nb, softmax_jax
    ),
    Workload(
        "mlp", "MLP 784-256-10 + cross-entropy, batch 256", mlp_inputs, mlp_np, mlp_nb, mlp_jax
    ),
    Workload("gmm", "ADBench GMM objective d=10 K=25 n=1000", gmm_inputs, gmm_np, gmm_nb, gmm_jax),
]

if jax is None:
    for _w in WORKLOADS:
        _w.jax_fn = None

BY_NAME = {w.name: w for w in WORKLOADS}
