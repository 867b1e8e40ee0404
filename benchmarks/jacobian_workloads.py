"""Jacobian, Hessian and Hessian-vector-product benchmark workloads.

Three functions of x (float64, 100 variables), each written once per framework,
op for op:

  * ``dense``: F(x) = tanh(A @ x + b) * x + sin(x) * (A2 @ x), 100 -> 100, with
    fixed random A, A2 (100x100) and b passed as non-differentiated arguments;
  * ``logdense``: s(x) = sum(log1p((A @ x)**2)) + 0.5 x.x, 100 -> scalar;
  * ``rosen``: the extended Rosenbrock function (More, Garbow and Hillstrom's
    problem 21), sum over pairs of 100 (x[2i+1] - x[2i]**2)**2 + (1 - x[2i])**2,
    n = 100, 100 -> scalar.

A workload is one of those functions and a transform (jacfwd, jacrev, hessian,
hvp); the runner (``jacobian.py``) builds each implementation from the
function's ports. Every function also has a hand-written ``@numba.njit``
derivative (the analytic Jacobian, Hessian or Hessian-vector product, fused
loops and ``np.dot``), as a floor.

Arguments: ``(x, *data)`` for the Jacobians and Hessians, ``(x, v, *data)`` for
the Hessian-vector products (v the direction).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

try:
    if os.environ.get("ADJIT_BENCH_NO_JAX"):
        raise ImportError("ADJIT_BENCH_NO_JAX is set")
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
except ImportError:
    jax = jnp = None
try:
    import torch
except ImportError:
    torch = None
try:
    import autograd.numpy as anp
except ImportError:
    anp = None

N = 100


@dataclass
class Function:
    """One function of x (first argument) and non-differentiated data, in every framework."""

    description: str
    make_inputs: Callable[[], tuple]  # (x, *data)
    numpy_fn: Callable[..., Any]
    jax_fn: Callable[..., Any] | None
    torch_fn: Callable[..., Any] | None
    autograd_fn: Callable[..., Any] | None
    # hand-written Numba derivatives, by transform (jacobian, hessian, hvp)
    numba: dict[str, Callable[..., Any]]


@dataclass
class JacWorkload:
    name: str
    transform: str  # "jacfwd", "jacrev", "hessian" or "hvp"
    fn: Function

    @property
    def description(self) -> str:
        return f"{self.transform} of {self.fn.description}"

    def make_inputs(self) -> tuple:
        x, *data = self.fn.make_inputs()
        if self.transform != "hvp":
            return (x, *data)
        v = np.random.default_rng(7).standard_normal(x.shape)
        return (x, v, *data)


# ---------------------------------------------------------------------------
# 1. dense 100 -> 100: F(x) = tanh(A @ x + b) * x + sin(x) * (A2 @ x)
# ---------------------------------------------------------------------------


def dense_np(x, A, b, A2):
    return np.tanh(A @ x + b) * x + np.sin(x) * (A2 @ x)


def dense_jax(x, A, b, A2):
    return jnp.tanh(A @ x + b) * x + jnp.sin(x) * (A2 @ x)


def dense_torch(x, A, b, A2):
    return torch.tanh(A @ x + b) * x + torch.sin(x) * (A2 @ x)


def dense_ag(x, A, b, A2):
    return anp.tanh(anp.dot(A, x) + b) * x + anp.sin(x) * anp.dot(A2, x)


@numba.njit(cache=False)
def dense_jac_nb(x, A, b, A2):
    # J[i, j] = (1 - t_i^2) x_i A[i, j] + sin(x_i) A2[i, j] + [i == j] (t_i + cos(x_i) (A2 x)_i)
    n = x.shape[0]
    u = np.dot(A, x)
    w = np.dot(A2, x)
    jac = np.empty((n, A.shape[1]))
    for i in range(n):
        t = math.tanh(u[i] + b[i])
        r = (1.0 - t * t) * x[i]
        s = math.sin(x[i])
        for j in range(A.shape[1]):
            jac[i, j] = r * A[i, j] + s * A2[i, j]
        jac[i, i] += t + math.cos(x[i]) * w[i]
    return jac


def dense_inputs():
    rng = np.random.default_rng(20)
    A = rng.standard_normal((N, N)) / math.sqrt(N)
    A2 = rng.standard_normal((N, N)) / math.sqrt(N)
    b = rng.standard_normal(N)
    x = rng.standard_normal(N)
    return (x, A, b, A2)


# ---------------------------------------------------------------------------
# 2. dense 100 -> scalar: s(x) = sum(log1p((A @ x)**2)) + 0.5 x.x
# ---------------------------------------------------------------------------


def logdense_np(x, A):
    return np.sum(np.log1p((A @ x) ** 2)) + 0.5 * (x @ x)


def logdense_jax(x, A):
    return jnp.sum(jnp.log1p((A @ x) ** 2)) + 0.5 * (x @ x)


def logdense_torch(x, A):
    return torch.sum(torch.log1p((A @ x) ** 2)) + 0.5 * (x @ x)


def logdense_ag(x, A):
    return anp.sum(anp.log1p(anp.dot(A, x) ** 2)) + 0.5 * anp.dot(x, x)


@numba.njit(cache=False)
def _logdense_curvature(x, A):
    # d^2/du^2 log1p(u^2) = 2 (1 - u^2) / (1 + u^2)^2, u = A x
    u = np.dot(A, x)
    for i in range(u.shape[0]):
        q = 1.0 + u[i] * u[i]
        u[i] = 2.0 * (2.0 - q) / (q * q)
    return u


@numba.njit(cache=False)
def logdense_hess_nb(x, A):
    # H = A^T diag(d) A + I
    d = _logdense_curvature(x, A)
    m, n = A.shape
    da = np.empty((m, n))
    for i in range(m):
        for j in range(n):
            da[i, j] = d[i] * A[i, j]
    hess = np.dot(A.T, da)
    for j in range(n):
        hess[j, j] += 1.0
    return hess


@numba.njit(cache=False)
def logdense_hvp_nb(x, v, A):
    # H v = A^T (d * (A v)) + v
    d = _logdense_curvature(x, A)
    av = np.dot(A, v)
    for i in range(av.shape[0]):
        av[i] *= d[i]
    out = np.dot(A.T, av)
    for j in range(out.shape[0]):
        out[j] += v[j]
    return out


def logdense_inputs():
    rng = np.random.default_rng(21)
    A = rng.standard_normal((N, N)) / math.sqrt(N)
    x = rng.standard_normal(N)
    return (x, A)


# ---------------------------------------------------------------------------
# 3. extended Rosenbrock, n = 100
# ---------------------------------------------------------------------------


def rosen_np(x):
    xo, xe = x[0::2], x[1::2]
    return np.sum(100.0 * (xe - xo**2) ** 2 + (1.0 - xo) ** 2)


def rosen_jax(x):
    xo, xe = x[0::2], x[1::2]
    return jnp.sum(100.0 * (xe - xo**2) ** 2 + (1.0 - xo) ** 2)


def rosen_torch(x):
    xo, xe = x[0::2], x[1::2]
    return torch.sum(100.0 * (xe - xo**2) ** 2 + (1.0 - xo) ** 2)


def rosen_ag(x):
    xo, xe = x[0::2], x[1::2]
    return anp.sum(100.0 * (xe - xo**2) ** 2 + (1.0 - xo) ** 2)


@numba.njit(cache=False)
def rosen_hess_nb(x):
    # 2x2 blocks on the diagonal: [[1200 a^2 - 400 c + 2, -400 a], [-400 a, 200]]
    n = x.shape[0]
    hess = np.zeros((n, n))
    for i in range(0, n, 2):
        a, c = x[i], x[i + 1]
        hess[i, i] = 1200.0 * a * a - 400.0 * c + 2.0
        hess[i, i + 1] = hess[i + 1, i] = -400.0 * a
        hess[i + 1, i + 1] = 200.0
    return hess


@numba.njit(cache=False)
def rosen_hvp_nb(x, v):
    n = x.shape[0]
    out = np.empty(n)
    for i in range(0, n, 2):
        a, c = x[i], x[i + 1]
        out[i] = (1200.0 * a * a - 400.0 * c + 2.0) * v[i] - 400.0 * a * v[i + 1]
        out[i + 1] = -400.0 * a * v[i] + 200.0 * v[i + 1]
    return out


def rosen_inputs():
    rng = np.random.default_rng(22)
    return (rng.uniform(-1.5, 1.5, N),)


# ---------------------------------------------------------------------------

DENSE = Function(
    "F(x) = tanh(A@x + b)*x + sin(x)*(A2@x), 100 -> 100",
    dense_inputs,
    dense_np,
    dense_jax,
    dense_torch,
    dense_ag,
    {"jacobian": dense_jac_nb},
)
LOGDENSE = Function(
    "sum(log1p((A@x)**2)) + x@x/2, A 100x100",
    logdense_inputs,
    logdense_np,
    logdense_jax,
    logdense_torch,
    logdense_ag,
    {"hessian": logdense_hess_nb, "hvp": logdense_hvp_nb},
)
ROSEN = Function(
    "extended Rosenbrock, n=100",
    rosen_inputs,
    rosen_np,
    rosen_jax,
    rosen_torch,
    rosen_ag,
    {"hessian": rosen_hess_nb, "hvp": rosen_hvp_nb},
)

for _f in (DENSE, LOGDENSE, ROSEN):
    if jax is None:
        _f.jax_fn = None
    if torch is None:
        _f.torch_fn = None
    if anp is None:
        _f.autograd_fn = None

WORKLOADS: list[JacWorkload] = [
    JacWorkload("jacfwd_dense", "jacfwd", DENSE),
    JacWorkload("jacrev_dense", "jacrev", DENSE),
    JacWorkload("hessian_logdense", "hessian", LOGDENSE),
    JacWorkload("hessian_rosen", "hessian", ROSEN),
    JacWorkload("hvp_logdense", "hvp", LOGDENSE),
    JacWorkload("hvp_rosen", "hvp", ROSEN),
]
BY_NAME = {w.name: w for w in WORKLOADS}
