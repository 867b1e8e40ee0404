"""Gradient benchmark workloads: value and gradient of a scalar loss.

Each workload has
  * ``numpy_fn``: the loss in plain NumPy, given to ``adjit.jit`` (primal) and
    ``adjit.value_and_grad``;
  * ``jax_fn`` / ``torch_fn`` / ``autograd_fn``: the same program in
    ``jax.numpy``, ``torch`` (float64) and ``autograd.numpy``, op for op (the
    max-subtracted log-sum-exp is written out as in the NumPy code, not taken
    from a library), or None when the package is missing;
  * ``numba_vg``: a hand-written ``@numba.njit`` value and gradient (manual
    backprop, fused loops, ``np.dot`` for matrix products), or None;
  * ``argnums``: the positions of the parameters; the other arguments are data;
  * ``make_inputs``: the inputs, shared by every implementation (float64).

Every value-and-gradient callable here returns ``(value, grads)`` with ``grads``
a tuple in ``argnums`` order (the runner normalises the peers' outputs).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "tests"))
from adbench import data_path, gmm_objective, read_gmm  # noqa: E402

sys.path.pop(0)
sys.path.insert(0, str(HERE))
import workloads  # noqa: E402
from peers import anp, jax, jnp, torch  # noqa: E402
from workloads import _gmm_constants, gmm_jax_objective  # noqa: E402  (shared with run.py)

sys.path.pop(0)


@dataclass
class GradWorkload:
    name: str
    description: str
    make_inputs: Callable[[], tuple]
    argnums: tuple[int, ...]
    numpy_fn: Callable[..., Any]
    jax_fn: Callable[..., Any] | None
    torch_fn: Callable[..., Any] | None
    autograd_fn: Callable[..., Any] | None
    numba_vg: Callable[..., Any] | None


# ---------------------------------------------------------------------------
# 1. logistic regression, X 10000 x 100
# ---------------------------------------------------------------------------


def logreg_np(w, X, y):
    return np.mean(np.logaddexp(0.0, -y * (X @ w)))


def logreg_jax(w, X, y):
    return jnp.mean(jnp.logaddexp(0.0, -y * (X @ w)))


def logreg_torch(w, X, y):
    m = -y * (X @ w)
    return torch.mean(torch.logaddexp(torch.zeros_like(m), m))


def logreg_ag(w, X, y):
    return anp.mean(anp.logaddexp(0.0, -y * anp.dot(X, w)))


@numba.njit(cache=False)
def _logreg_vg_nb(w, X, y):
    n = X.shape[0]
    z = np.dot(X, w)
    loss = 0.0
    inv = 1.0 / n
    for i in range(n):
        t = -y[i] * z[i]
        e = math.exp(-abs(t))  # stable softplus and logistic
        loss += max(t, 0.0) + math.log1p(e)
        s = 1.0 / (1.0 + e) if t >= 0 else e / (1.0 + e)
        z[i] = -y[i] * s * inv  # d loss / d z, in place
    return loss * inv, np.dot(X.T, z)


def logreg_nb(w, X, y):
    value, gw = _logreg_vg_nb(w, X, y)
    return value, (gw,)


def logreg_inputs():
    rng = np.random.default_rng(10)
    n, d = 10000, 100
    X = rng.standard_normal((n, d))
    w = 0.1 * rng.standard_normal(d)
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return (w, X, y)


# ---------------------------------------------------------------------------
# 2. MLP 784-256-10, tanh hidden layer, softmax cross-entropy, batch 256
# ---------------------------------------------------------------------------


def mlp_np(w1, b1, w2, b2, x, y):
    h = np.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    zmax = np.max(z, axis=1, keepdims=True)
    logp = z - zmax - np.log(np.sum(np.exp(z - zmax), axis=1, keepdims=True))
    return -np.sum(logp[np.arange(x.shape[0]), y]) / x.shape[0]


def mlp_jax(w1, b1, w2, b2, x, y):
    h = jnp.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    zmax = jnp.max(z, axis=1, keepdims=True)
    logp = z - zmax - jnp.log(jnp.sum(jnp.exp(z - zmax), axis=1, keepdims=True))
    return -jnp.sum(logp[jnp.arange(x.shape[0]), y]) / x.shape[0]


def mlp_torch(w1, b1, w2, b2, x, y):
    h = torch.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    zmax = torch.amax(z, dim=1, keepdim=True)
    logp = z - zmax - torch.log(torch.sum(torch.exp(z - zmax), dim=1, keepdim=True))
    return -torch.sum(logp[torch.arange(x.shape[0]), y]) / x.shape[0]


def mlp_ag(w1, b1, w2, b2, x, y):
    h = anp.tanh(anp.dot(x, w1) + b1)
    z = anp.dot(h, w2) + b2
    zmax = anp.max(z, axis=1, keepdims=True)
    logp = z - zmax - anp.log(anp.sum(anp.exp(z - zmax), axis=1, keepdims=True))
    return -anp.sum(logp[np.arange(x.shape[0]), y]) / x.shape[0]


@numba.njit(cache=False)
def _mlp_vg_nb(w1, b1, w2, b2, x, y):
    n = x.shape[0]
    nh = w1.shape[1]
    nc = w2.shape[1]
    h = np.dot(x, w1)
    for i in range(n):
        for j in range(nh):
            h[i, j] = math.tanh(h[i, j] + b1[j])
    dz = np.dot(h, w2)  # logits, then d loss / d logits in place
    inv = 1.0 / n
    loss = 0.0
    gb2 = np.zeros(nc)
    for i in range(n):
        zmax = -np.inf
        for j in range(nc):
            dz[i, j] += b2[j]
            zmax = max(zmax, dz[i, j])
        s = 0.0
        for j in range(nc):
            e = math.exp(dz[i, j] - zmax)
            dz[i, j] = e
            s += e
        loss += math.log(s) - math.log(dz[i, y[i]])
        r = inv / s
        for j in range(nc):
            dz[i, j] *= r
        dz[i, y[i]] -= inv
        for j in range(nc):
            gb2[j] += dz[i, j]
    gw2 = np.dot(h.T, dz)
    dh = np.dot(dz, w2.T)
    gb1 = np.zeros(nh)
    for i in range(n):
        for j in range(nh):
            v = dh[i, j] * (1.0 - h[i, j] * h[i, j])
            dh[i, j] = v
            gb1[j] += v
    gw1 = np.dot(x.T, dh)
    return loss * inv, gw1, gb1, gw2, gb2


def mlp_nb(w1, b1, w2, b2, x, y):
    value, *grads = _mlp_vg_nb(w1, b1, w2, b2, x, y)
    return value, tuple(grads)


def mlp_inputs():
    x, w1, b1, w2, b2, y = workloads.mlp_inputs()  # the jit benchmark's data, params first
    return (w1, b1, w2, b2, x, y)


# ---------------------------------------------------------------------------
# 3. ADBench GMM objective, gradient w.r.t. alphas, means, icf
# ---------------------------------------------------------------------------


@numba.njit(cache=False)
def _gmm_vg_nb(alphas, means, icf, x, gamma, m, const):
    # The primal as in workloads._gmm_nb (Q_k never formed, points innermost), keeping
    # Q_k (x_i - mu_k) for every k; then the reverse sweep of ADBench's manual
    # gradient: with p[k, i] the posterior of component k for point i and
    # t[j, i] = p[k, i] (Q_k (x_i - mu_k))_j, every gradient entry comes from the
    # sums of t over the points and from t @ x.
    n, d = x.shape
    k = alphas.shape[0]
    g2 = gamma * gamma
    xt = np.empty((d, n))
    for i in range(n):
        for j in range(d):
            xt[j, i] = x[i, j]
    inner = np.empty((k, n))
    qx = np.empty((k, d, n))
    ediag = np.empty((k, d))
    prior = 0.0
    for c in range(k):
        s = 0.0
        sq = 0.0
        for j in range(d):
            s += icf[c, j]
            e = math.exp(icf[c, j])
            ediag[c, j] = e
            sq += e * e
            mj = means[c, j]
            for i in range(n):
                qx[c, j, i] = e * (xt[j, i] - mj)
        pos = d
        for col in range(d):
            mc = means[c, col]
            for j in range(col + 1, d):
                lower = icf[c, pos]
                sq += lower * lower
                for i in range(n):
                    qx[c, j, i] += lower * (xt[col, i] - mc)
                pos += 1
        prior += 0.5 * g2 * sq - m * s
        base = alphas[c] + s
        for i in range(n):
            inner[c, i] = base
        for j in range(d):
            for i in range(n):
                inner[c, i] -= 0.5 * qx[c, j, i] * qx[c, j, i]
    mx = np.empty(n)
    for i in range(n):
        mx[i] = inner[0, i]
    for c in range(1, k):
        for i in range(n):
            mx[i] = max(mx[i], inner[c, i])
    ssum = np.zeros(n)
    for c in range(k):
        for i in range(n):
            e = math.exp(inner[c, i] - mx[i])
            inner[c, i] = e  # inner now holds the unnormalised posteriors
            ssum[i] += e
    total = 0.0
    for i in range(n):
        total += math.log(ssum[i]) + mx[i]
        ssum[i] = 1.0 / ssum[i]
    amax = alphas[0]
    for c in range(1, k):
        amax = max(amax, alphas[c])
    sa = 0.0
    for c in range(k):
        sa += math.exp(alphas[c] - amax)
    value = const + total - n * (math.log(sa) + amax) + prior

    g_alphas = np.empty(k)
    g_means = np.empty((k, d))
    g_icf = np.empty_like(icf)
    p = np.empty(n)
    t = np.empty((d, n))
    tsum = np.empty(d)
    for c in range(k):
        psum = 0.0
        for i in range(n):
            p[i] = inner[c, i] * ssum[i]
            psum += p[i]
        g_alphas[c] = psum - n * math.exp(alphas[c] - amax) / sa
        for j in range(d):
            acc = 0.0
            for i in range(n):
                v = p[i] * qx[c, j, i]
                t[j, i] = v
                acc += v
            tsum[j] = acc
        # a[j, col] = sum_i t[j, i] x[i, col]: one (d, n) x (n, d) product
        a = np.dot(t, x)
        for j in range(d):  # diagonal: d inner / d icf[c, j] = 1 - qx_j e_j (x_j - mu_j)
            e = ediag[c, j]
            g_icf[c, j] = psum - e * (a[j, j] - means[c, j] * tsum[j]) + g2 * e * e - m
            g_means[c, j] = e * tsum[j]  # means: Q_k^T (sum_i t_i)
        pos = d
        for col in range(d):
            mc = means[c, col]
            for j in range(col + 1, d):
                lower = icf[c, pos]
                g_icf[c, pos] = mc * tsum[j] - a[j, col] + g2 * lower
                g_means[c, col] += lower * tsum[j]
                pos += 1
    return value, g_alphas, g_means, g_icf


class GmmInstance:
    """One ADBench GMM file: the loss with gamma and m bound, and its ports."""

    def __init__(self, path: Path) -> None:
        g = read_gmm(path)
        self.data = g
        self.gamma, self.m = g["gamma"], g["m"]
        n, d = g["x"].shape
        k = g["alphas"].shape[0]
        self.const = _gmm_constants(n, d, k, self.gamma, self.m)
        self.cols, self.rows = np.triu_indices(d, 1)
        gamma, m = self.gamma, self.m

        def gmm(alphas, means, icf, x):
            return gmm_objective(alphas, means, icf, x, gamma, m)

        self.numpy_fn = gmm

    def inputs(self) -> tuple:
        g = self.data
        return (g["alphas"], g["means"], g["icf"], g["x"])

    def numba_vg(self, alphas, means, icf, x):
        value, *grads = _gmm_vg_nb(alphas, means, icf, x, self.gamma, float(self.m), self.const)
        return value, tuple(grads)

    def jax_fn(self, alphas, means, icf, x):
        return gmm_jax_objective(alphas, means, icf, x, self.gamma, self.m)

    def torch_fn(self, alphas, means, icf, x):
        gamma, m = self.gamma, self.m
        n, d = x.shape
        k = alphas.shape[0]
        log_qdiag = icf[:, :d]
        qdiag = torch.exp(log_qdiag)
        lower = icf[:, d:]
        sum_qs = torch.sum(log_qdiag, dim=1)
        ql = torch.zeros((k, d, d), dtype=icf.dtype)
        ql[:, self.rows, self.cols] = lower
        q = torch.diag_embed(qdiag) + ql
        xc = x[None, :, :] - means[:, None, :]
        qxc = xc @ torch.transpose(q, 1, 2)
        sqsum = torch.sum(qxc * qxc, dim=2)
        inner = (alphas + sum_qs)[:, None] - 0.5 * sqsum
        inner_max = torch.amax(inner, dim=0, keepdim=True)
        lse = torch.log(torch.sum(torch.exp(inner - inner_max), dim=0)) + inner_max[0]
        alphas_max = torch.amax(alphas)
        lse_alphas = torch.log(torch.sum(torch.exp(alphas - alphas_max))) + alphas_max
        prior = torch.sum(
            0.5
            * gamma
            * gamma
            * (torch.sum(qdiag * qdiag, dim=1) + torch.sum(lower * lower, dim=1))
            - m * sum_qs
        )
        return torch.sum(lse) - n * lse_alphas + prior + self.const

    def autograd_fn(self, alphas, means, icf, x):
        # autograd has no item assignment: Q_k = diag(exp(.)) + L_k is built from
        # constant 0/1 selection matrices instead.
        gamma, m = self.gamma, self.m
        n, d = x.shape
        k = alphas.shape[0]
        if not hasattr(self, "_sel"):
            sel = np.zeros((len(self.rows), d * d))
            sel[np.arange(len(self.rows)), self.rows * d + self.cols] = 1.0
            self._sel = sel
        log_qdiag = icf[:, :d]
        qdiag = anp.exp(log_qdiag)
        lower = icf[:, d:]
        sum_qs = anp.sum(log_qdiag, axis=1)
        q = qdiag[:, :, None] * np.eye(d)[None] + anp.reshape(anp.dot(lower, self._sel), (k, d, d))
        xc = x[np.newaxis, :, :] - means[:, np.newaxis, :]
        qxc = anp.matmul(xc, anp.transpose(q, (0, 2, 1)))
        sqsum = anp.sum(qxc * qxc, axis=2)
        inner = (alphas + sum_qs)[:, np.newaxis] - 0.5 * sqsum
        inner_max = anp.max(inner, axis=0, keepdims=True)
        lse = anp.log(anp.sum(anp.exp(inner - inner_max), axis=0)) + inner_max[0]
        alphas_max = anp.max(alphas)
        lse_alphas = anp.log(anp.sum(anp.exp(alphas - alphas_max))) + alphas_max
        prior = anp.sum(
            0.5 * gamma * gamma * (anp.sum(qdiag * qdiag, axis=1) + anp.sum(lower * lower, axis=1))
            - m * sum_qs
        )
        return anp.sum(lse) - n * lse_alphas + prior + self.const


def gmm_workload(name: str, file: str) -> GradWorkload:
    g = GmmInstance(data_path("gmm", "1k", file))
    n, d = g.data["x"].shape
    k = g.data["alphas"].shape[0]
    return GradWorkload(
        name,
        f"ADBench GMM d={d} K={k} n={n}",
        g.inputs,
        (0, 1, 2),
        g.numpy_fn,
        g.jax_fn,
        g.torch_fn,
        g.autograd_fn,
        g.numba_vg,
    )


# ---------------------------------------------------------------------------

WORKLOADS: list[GradWorkload] = [
    GradWorkload(
        "logreg",
        "logistic regression, X 10000x100",
        logreg_inputs,
        (0,),
        logreg_np,
        logreg_jax,
        logreg_torch,
        logreg_ag,
        logreg_nb,
    ),
    GradWorkload(
        "mlp",
        "MLP 784-256-10 tanh + cross-entropy, batch 256",
        mlp_inputs,
        (0, 1, 2, 3),
        mlp_np,
        mlp_jax,
        mlp_torch,
        mlp_ag,
        mlp_nb,
    ),
    gmm_workload("gmm_d10_K25", "gmm_d10_K25.txt"),
    gmm_workload("gmm_d20_K10", "gmm_d20_K10.txt"),
]

for _w in WORKLOADS:
    if jax is None:
        _w.jax_fn = None
    if torch is None:
        _w.torch_fn = None
    if anp is None:
        _w.autograd_fn = None

BY_NAME = {w.name: w for w in WORKLOADS}
