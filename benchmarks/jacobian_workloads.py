"""Jacobian, Hessian and Hessian-vector-product benchmark workloads.

Three functions of x (float64, 100 variables) and one per-observation residual,
each written once per framework, op for op:

  * ``dense``: F(x) = tanh(A @ x + b) * x + sin(x) * (A2 @ x), 100 -> 100, with
    fixed random A, A2 (100x100) and b passed as non-differentiated arguments;
  * ``logdense``: s(x) = sum(log1p((A @ x)**2)) + 0.5 x.x, 100 -> scalar;
  * ``rosen``: the extended Rosenbrock function (More, Garbow and Hillstrom's
    problem 21), sum over pairs of 100 (x[2i+1] - x[2i]**2)**2 + (1 - x[2i])**2,
    n = 100, 100 -> scalar;
  * ``ba``: ADBench bundle adjustment, one observation's reprojection residual
    w * (project(cam, X) - feat), (cam (11,), X (3,), w (), feat (2,)) -> (2,),
    on ba1_n49_m7776_p31843 (p = 31843 observations).

A workload is one of those functions and a transform (jacfwd, jacrev, hessian,
hvp, or vmap_jacfwd: jacfwd with respect to ``Function.argnums`` mapped over the
leading axis of every argument, ADBench's sparse Jacobian as p blocks of 2x15);
the runner (``jacobian.py``) builds each implementation from the function's
ports. Every function also has a hand-written ``@numba.njit`` derivative (the
analytic Jacobian, Hessian or Hessian-vector product, fused loops and
``np.dot``), as a floor.

Arguments: ``(x, *data)`` for the Jacobians and Hessians, ``(x, v, *data)`` for
the Hessian-vector products (v the direction), the mapped function's arguments,
a leading axis added, for vmap_jacfwd.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from adbench import data_path, read_ba  # noqa: E402

sys.path.pop(0)

from peers import anp, jax, jnp, torch  # noqa: E402

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
    # hand-written Numba derivatives, by transform (jacobian, hessian, hvp, vmap_jacfwd)
    numba: dict[str, Callable[..., Any]]
    argnums: tuple[int, ...] = (0,)  # the differentiated arguments (vmap_jacfwd only)


@dataclass
class JacWorkload:
    name: str
    transform: str  # "jacfwd", "jacrev", "hessian", "hvp" or "vmap_jacfwd"
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
# 4. ADBench bundle adjustment: one observation's residual, mapped over p = 31843
# ---------------------------------------------------------------------------

BA_FILE = ("ba", "ba1_n49_m7776_p31843.txt")  # read in place (ADJIT_ADBENCH_DIR overrides)
_I1, _I2 = np.array([1, 2, 0]), np.array([2, 0, 1])  # cross product by index gathers


def ba_np(cam, x, w, feat):
    # cam: Rodrigues rotation (0:3), centre (3:6), focal (6), principal point (7:9),
    # radial distortion (9:11); tests/adbench.py's ba_residuals for one observation
    rot = cam[0:3]
    p = x - cam[3:6]
    theta = np.sqrt(np.sum(rot * rot))
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    axis = rot / theta
    cross = axis[_I1] * p[_I2] - axis[_I2] * p[_I1]
    p_cam = p * cos_t + cross * sin_t + axis * (np.sum(axis * p) * (1.0 - cos_t))
    proj = p_cam[0:2] / p_cam[2]
    rsq = np.sum(proj * proj)
    distorted = proj * (1.0 + cam[9] * rsq + cam[10] * rsq * rsq)
    return w * (distorted * cam[6] + cam[7:9] - feat)


def ba_jax(cam, x, w, feat):
    rot = cam[0:3]
    p = x - cam[3:6]
    theta = jnp.sqrt(jnp.sum(rot * rot))
    cos_t, sin_t = jnp.cos(theta), jnp.sin(theta)
    axis = rot / theta
    cross = axis[_I1] * p[_I2] - axis[_I2] * p[_I1]
    p_cam = p * cos_t + cross * sin_t + axis * (jnp.sum(axis * p) * (1.0 - cos_t))
    proj = p_cam[0:2] / p_cam[2]
    rsq = jnp.sum(proj * proj)
    distorted = proj * (1.0 + cam[9] * rsq + cam[10] * rsq * rsq)
    return w * (distorted * cam[6] + cam[7:9] - feat)


def ba_torch(cam, x, w, feat):
    i1, i2 = torch.from_numpy(_I1), torch.from_numpy(_I2)
    rot = cam[0:3]
    p = x - cam[3:6]
    theta = torch.sqrt(torch.sum(rot * rot))
    cos_t, sin_t = torch.cos(theta), torch.sin(theta)
    axis = rot / theta
    cross = axis[i1] * p[i2] - axis[i2] * p[i1]
    p_cam = p * cos_t + cross * sin_t + axis * (torch.sum(axis * p) * (1.0 - cos_t))
    proj = p_cam[0:2] / p_cam[2]
    rsq = torch.sum(proj * proj)
    distorted = proj * (1.0 + cam[9] * rsq + cam[10] * rsq * rsq)
    return w * (distorted * cam[6] + cam[7:9] - feat)


@numba.njit(cache=False)
def ba_jac_nb(C, P, w, F):
    # per observation: q = R(rot) (X - c), out = w (f dist(q[:2] / q[2]) + x0 - feat);
    # with G = dout/dq the 2x15 block is rot: G Jr, centre: -G R, focal, principal
    # point, distortion: direct, X: G R, w: the unweighted residual
    n = C.shape[0]
    jac = np.empty((n, 2, 15))
    R = np.empty((3, 3))  # dq/dX = R = cos I + sin [k]x + (1 - cos) k k^T
    Jr = np.empty((3, 3))  # dq/drot
    G = np.empty((2, 3))  # dout/dq
    for i in range(n):
        r0, r1, r2 = C[i, 0], C[i, 1], C[i, 2]
        p0, p1, p2 = P[i, 0] - C[i, 3], P[i, 1] - C[i, 4], P[i, 2] - C[i, 5]
        theta = math.sqrt(r0 * r0 + r1 * r1 + r2 * r2)
        ct, st = math.cos(theta), math.sin(theta)
        omc = 1.0 - ct
        k0, k1, k2 = r0 / theta, r1 / theta, r2 / theta
        kp = k0 * p0 + k1 * p1 + k2 * p2
        x0, x1, x2 = k1 * p2 - k2 * p1, k2 * p0 - k0 * p2, k0 * p1 - k1 * p0  # k x p
        q0 = p0 * ct + x0 * st + k0 * kp * omc
        q1 = p1 * ct + x1 * st + k1 * kp * omc
        q2 = p2 * ct + x2 * st + k2 * kp * omc
        R[0, 0], R[0, 1], R[0, 2] = (
            ct + omc * k0 * k0,
            omc * k0 * k1 - st * k2,
            omc * k0 * k2 + st * k1,
        )
        R[1, 0], R[1, 1], R[1, 2] = (
            omc * k1 * k0 + st * k2,
            ct + omc * k1 * k1,
            omc * k1 * k2 - st * k0,
        )
        R[2, 0], R[2, 1], R[2, 2] = (
            omc * k2 * k0 - st * k1,
            omc * k2 * k1 + st * k0,
            ct + omc * k2 * k2,
        )
        for j in range(3):  # along rot_j: theta' = k_j, k' = (e_j - k k_j) / theta
            kj = k0 if j == 0 else (k1 if j == 1 else k2)
            dct, dst = -st * kj, ct * kj
            dk0 = ((1.0 if j == 0 else 0.0) - k0 * kj) / theta
            dk1 = ((1.0 if j == 1 else 0.0) - k1 * kj) / theta
            dk2 = ((1.0 if j == 2 else 0.0) - k2 * kj) / theta
            a = kp * omc
            b = (dk0 * p0 + dk1 * p1 + dk2 * p2) * omc - kp * dct
            Jr[0, j] = p0 * dct + (dk1 * p2 - dk2 * p1) * st + x0 * dst + dk0 * a + k0 * b
            Jr[1, j] = p1 * dct + (dk2 * p0 - dk0 * p2) * st + x1 * dst + dk1 * a + k1 * b
            Jr[2, j] = p2 * dct + (dk0 * p1 - dk1 * p0) * st + x2 * dst + dk2 * a + k2 * b
        u, v = q0 / q2, q1 / q2
        rsq = u * u + v * v
        L = 1.0 + C[i, 9] * rsq + C[i, 10] * rsq * rsq
        dL = 2.0 * (C[i, 9] + 2.0 * C[i, 10] * rsq)  # dL/du = dL u, dL/dv = dL v
        f, wi = C[i, 6], w[i]
        s = wi * f
        duu, duv, dvv = s * (L + dL * u * u), s * dL * u * v, s * (L + dL * v * v)
        G[0, 0], G[0, 1], G[0, 2] = duu / q2, duv / q2, -(duu * u + duv * v) / q2
        G[1, 0], G[1, 1], G[1, 2] = duv / q2, dvv / q2, -(duv * u + dvv * v) / q2
        for a in range(2):
            for j in range(3):
                jac[i, a, j] = G[a, 0] * Jr[0, j] + G[a, 1] * Jr[1, j] + G[a, 2] * Jr[2, j]
                gr = G[a, 0] * R[0, j] + G[a, 1] * R[1, j] + G[a, 2] * R[2, j]
                jac[i, a, 3 + j] = -gr
                jac[i, a, 11 + j] = gr
            pa = u if a == 0 else v
            jac[i, a, 6] = wi * pa * L
            jac[i, a, 7] = wi if a == 0 else 0.0
            jac[i, a, 8] = 0.0 if a == 0 else wi
            jac[i, a, 9] = s * pa * rsq
            jac[i, a, 10] = s * pa * rsq * rsq
            jac[i, a, 14] = f * pa * L + C[i, 7 + a] - F[i, a]
    return jac


def ba_inputs():
    # each observation's camera and point gathered once, outside the timed call
    data = read_ba(data_path(*BA_FILE))
    obs = data["obs"]
    return (data["cams"][obs[:, 0]], data["X"][obs[:, 1]], data["w"], data["feats"])


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
BA = Function(
    "one observation's ADBench BA reprojection residual wrt (cam, X, w): ba1, p=31843 2x15"
    " blocks (no w_err rows)",
    ba_inputs,
    ba_np,
    ba_jax,
    ba_torch,
    None,  # autograd has no vmap
    {"vmap_jacfwd": ba_jac_nb},
    argnums=(0, 1, 2),
)

for _f in (DENSE, LOGDENSE, ROSEN, BA):
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
    JacWorkload("ba_jacobian", "vmap_jacfwd", BA),
]
BY_NAME = {w.name: w for w in WORKLOADS}
