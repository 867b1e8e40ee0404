"""ADBench GMM and BA benchmarks in plain, traceable NumPy.

Loads the ADBench data (github.com/microsoft/ADBench, MIT; see SOURCE.txt and
LICENSE.TXT in ``tests/data/adbench``, vendored with the repository) and implements the two
objectives used to test adjit:

* ``gmm_objective``: Gaussian mixture model log-likelihood with a Wishart
  prior (a scalar).
* ``ba_residuals``: bundle-adjustment reprojection and weight residuals.

The objective functions stick to the NumPy subset adjit's tracer handles:
element-wise ufuncs, ``@``, broadcasting, reshapes/transposes, basic slicing,
integer-array indexing with index arrays that depend only on static shapes,
item assignment into an array created inside the function, and ``sum``/``max``
reductions. No einsum, linalg, scipy, boolean masks or loops over data points.

The data folder defaults to ``tests/data/adbench`` (a small subset of ADBench's
data, about 1 MB) and can be overridden with the ``ADJIT_ADBENCH_DIR`` environment
variable.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import multigammaln

ADBENCH_DIR: Path = Path(
    os.environ.get(
        "ADJIT_ADBENCH_DIR",
        Path(__file__).resolve().parent / "data" / "adbench",
    )
)

BA_NCAMPARAMS = 11
# Camera parameter layout: rotation (Rodrigues vector), centre, focal length,
# principal point, radial distortion coefficients.
ROT_IDX, C_IDX, F_IDX, X0_IDX, RAD_IDX = 0, 3, 6, 7, 9

PathLike = str | os.PathLike


def data_path(*parts: str) -> Path:
    """Path of a file in the ADBench data folder, e.g. ``data_path("gmm", "test.txt")``."""
    if not ADBENCH_DIR.is_dir():  # a missing data set fails the tests, it never skips them
        raise FileNotFoundError(f"ADBench data not found in {ADBENCH_DIR}; set ADJIT_ADBENCH_DIR")
    return ADBENCH_DIR.joinpath(*parts)


def rho(x: Any, y: Any) -> np.ndarray:
    """ADBench's element-wise error measure |x - y| / max(1, |x| + |y|)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return np.abs(x - y) / np.maximum(1.0, np.abs(x) + np.abs(y))


# --------------------------------------------------------------------------
# GMM
# --------------------------------------------------------------------------


def _floats(line: str) -> list[float]:
    return [float(v) for v in line.split()]


def read_gmm(path: PathLike, replicate_point: bool = False) -> dict[str, Any]:
    """Read an ADBench GMM instance.

    File layout: ``d k n``; k alpha lines; k mean lines (d numbers); k icf
    lines (d + d(d-1)/2 numbers); n point lines (d numbers), or a single point
    line when ``replicate_point`` (the files in ``gmm/2.5M/``); ``gamma m``.

    Returns a dict with ``alphas`` (k,), ``means`` (k, d), ``icf``
    (k, d + d(d-1)/2), ``x`` (n, d) as float64 arrays, ``gamma`` (float) and
    ``m`` (int).
    """
    with open(path) as f:
        d, k, n = (int(v) for v in f.readline().split())
        alphas = np.array([float(f.readline()) for _ in range(k)])
        means = np.array([_floats(f.readline()) for _ in range(k)])
        icf = np.array([_floats(f.readline()) for _ in range(k)])
        if replicate_point:
            x = np.tile(np.array(_floats(f.readline())), (n, 1))
        else:
            x = np.array([_floats(f.readline()) for _ in range(n)])
        gamma_str, m_str = f.readline().split()

    x = x.reshape(n, d)
    assert means.shape == (k, d) and icf.shape == (k, d + d * (d - 1) // 2)
    return {
        "alphas": alphas,
        "means": means,
        "icf": icf,
        "x": x,
        "gamma": float(gamma_str),
        "m": int(m_str),
    }


def gmm_objective(
    alphas: np.ndarray,
    means: np.ndarray,
    icf: np.ndarray,
    x: np.ndarray,
    gamma: float,
    m: int,
) -> np.ndarray:
    """ADBench GMM objective (log-likelihood plus log Wishart prior), a 0-d array.

    ``icf`` row k parametrises the inverse-covariance Cholesky factor
    Q_k = diag(exp(icf[k, :d])) + L_k, where the strictly lower triangle of
    L_k is filled column by column from ``icf[k, d:]`` (ADBench's order).
    ``gamma`` and ``m`` are the Wishart prior's Python scalars.
    """
    n, d = x.shape
    k = alphas.shape[0]

    # Static index arrays. np.triu_indices enumerates (i, j), i < j, row by
    # row; swapping the roles gives the strictly lower triangle column by
    # column: (j, i) for column i, rows i+1..d-1.
    diag = np.arange(d)
    cols, rows = np.triu_indices(d, 1)

    log_qdiag = icf[:, :d]
    qdiag = np.exp(log_qdiag)
    lower = icf[:, d:]
    sum_qs = np.sum(log_qdiag, axis=1)

    q = np.zeros((k, d, d), dtype=icf.dtype)
    q[:, diag, diag] = qdiag
    q[:, rows, cols] = lower

    # xc[k, i] = x[i] - means[k]; (Q_k xc[k, i]) for all i as one batched matmul.
    xc = x[np.newaxis, :, :] - means[:, np.newaxis, :]
    qxc = xc @ np.transpose(q, (0, 2, 1))
    sqsum = np.sum(qxc * qxc, axis=2)  # (k, n)
    inner = (alphas + sum_qs)[:, np.newaxis] - 0.5 * sqsum

    inner_max = np.max(inner, axis=0, keepdims=True)
    lse = np.log(np.sum(np.exp(inner - inner_max), axis=0)) + inner_max[0]

    alphas_max = np.max(alphas)
    lse_alphas = np.log(np.sum(np.exp(alphas - alphas_max))) + alphas_max

    # Wishart prior; the part depending only on (d, m, gamma, k) is a constant.
    n_w = d + m + 1
    prior = np.sum(
        0.5 * gamma * gamma * (np.sum(qdiag * qdiag, axis=1) + np.sum(lower * lower, axis=1))
        - m * sum_qs
    )
    prior_const = -k * (
        n_w * d * math.log(gamma / math.sqrt(2.0)) - float(multigammaln(0.5 * n_w, d))
    )
    data_const = -n * d * 0.5 * math.log(2.0 * math.pi)

    return data_const + np.sum(lse) - n * lse_alphas + prior + prior_const


# --------------------------------------------------------------------------
# Reference values for the tiny test instances
# --------------------------------------------------------------------------


def expected_test_values(path: PathLike | None = None) -> dict[str, Any]:
    """Parse EXPECTED_test_values.txt.

    Returns ``gmm_objective`` (float), ``gmm_gradient`` (flat, ADBench order:
    alphas, means row-major, icf row-major), ``ba_reproj_err`` (2,) (the same
    for every observation), ``ba_w_err`` (float, same for every observation)
    and ``ba_jacobian_vals`` (nnz,) in CSR order.
    """
    path = data_path("EXPECTED_test_values.txt") if path is None else path
    lines = Path(path).read_text().splitlines()
    text = "\n".join(lines)

    def line_after(prefix: str) -> np.ndarray:
        i = next(i for i, line in enumerate(lines) if line.startswith(prefix))
        return np.array(_floats(lines[i + 1]))

    num = r"([-+0-9.eE]+)"
    reproj = re.search(r"reproj_err = \[" + num + r",\s*" + num + r"\]", text)
    return {
        "gmm_objective": float(re.search(r"objective = " + num, text).group(1)),
        "gmm_gradient": line_after("gradient"),
        "ba_reproj_err": np.array([float(reproj.group(1)), float(reproj.group(2))]),
        "ba_w_err": float(re.search(r"w_err = " + num, text).group(1)),
        "ba_jacobian_vals": line_after("Jacobian CSR"),
    }


def gmm_reference_gradient_test() -> dict[str, np.ndarray]:
    """Reference gradient of ``gmm_objective`` on gmm/test.txt.

    Returns ``alphas`` (k,), ``means`` (k, d), ``icf`` (k, d + d(d-1)/2),
    each the gradient with respect to that argument.
    """
    data = read_gmm(data_path("gmm", "test.txt"))
    grad = expected_test_values()["gmm_gradient"]
    out = {}
    offset = 0
    for name in ("alphas", "means", "icf"):
        shape = data[name].shape
        size = int(np.prod(shape))
        out[name] = grad[offset : offset + size].reshape(shape)
        offset += size
    assert offset == grad.size
    return out


# --------------------------------------------------------------------------
# BA
# --------------------------------------------------------------------------


def read_ba(path: PathLike) -> dict[str, np.ndarray]:
    """Read an ADBench BA instance (the "replicated" format of all ADBench BA files).

    File layout: ``n m p``, then ONE camera (11 numbers), ONE point (3), ONE
    weight and ONE feature (2); these are tiled to n cameras, m points and p
    observations, and observation i looks at camera i mod n and point i mod m.

    Returns ``cams`` (n, 11), ``X`` (m, 3), ``w`` (p,), ``obs`` (p, 2) int64
    (camera index, point index) and ``feats`` (p, 2).
    """
    with open(path) as f:
        n, m, p = (int(v) for v in f.readline().split())
        cam = np.array(_floats(f.readline()))
        point = np.array(_floats(f.readline()))
        weight = float(f.readline())
        feat = np.array(_floats(f.readline()))

    assert cam.shape == (BA_NCAMPARAMS,) and point.shape == (3,) and feat.shape == (2,)
    i = np.arange(p)
    return {
        "cams": np.tile(cam, (n, 1)),
        "X": np.tile(point, (m, 1)),
        "w": np.full(p, weight),
        "obs": np.stack([i % n, i % m], axis=1).astype(np.int64),
        "feats": np.tile(feat, (p, 1)),
    }


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (p, 3) arrays, via constant-index gathers."""
    i1 = np.array([1, 2, 0])
    i2 = np.array([2, 0, 1])
    return a[:, i1] * b[:, i2] - a[:, i2] * b[:, i1]


def ba_residuals(
    cams: np.ndarray,
    X: np.ndarray,
    w: np.ndarray,
    feats: np.ndarray,
    obs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """ADBench BA residuals: ``(reproj_err (p, 2), w_err (p,))``.

    ``obs`` is a constant (p, 2) integer array of (camera, point) indices.
    reproj_err[i] = w[i] * (project(cams[obs[i, 0]], X[obs[i, 1]]) - feats[i])
    and w_err = 1 - w**2.

    The Rodrigues rotation uses only the general formula. ADBench switches to
    X + rot x X when |rot| == 0; that branch is omitted (it would need
    np.where, which evaluates both sides) because no ADBench instance has a
    zero rotation. A zero rotation vector gives NaN here.
    """
    cam = cams[obs[:, 0]]
    pt = X[obs[:, 1]]

    rot = cam[:, ROT_IDX : ROT_IDX + 3]
    p_rel = pt - cam[:, C_IDX : C_IDX + 3]

    theta = np.sqrt(np.sum(rot * rot, axis=1, keepdims=True))
    cos_t = np.cos(theta)
    sin_t = np.sin(theta)
    axis = rot / theta
    axis_dot = np.sum(axis * p_rel, axis=1, keepdims=True)
    p_cam = p_rel * cos_t + _cross(axis, p_rel) * sin_t + axis * (axis_dot * (1.0 - cos_t))

    proj = p_cam[:, 0:2] / p_cam[:, 2:3]
    rsq = np.sum(proj * proj, axis=1, keepdims=True)
    kappa1 = cam[:, RAD_IDX : RAD_IDX + 1]
    kappa2 = cam[:, RAD_IDX + 1 : RAD_IDX + 2]
    distorted = proj * (1.0 + kappa1 * rsq + kappa2 * rsq * rsq)
    projected = distorted * cam[:, F_IDX : F_IDX + 1] + cam[:, X0_IDX : X0_IDX + 2]

    reproj_err = w[:, np.newaxis] * (projected - feats)
    w_err = 1.0 - w * w
    return reproj_err, w_err


def ba_jacobian_structure(
    n: int, m: int, obs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """CSR structure ``(indptr, indices, shape)`` of ADBench's sparse BA Jacobian.

    Rows: 2p reprojection rows (observation i gives rows 2i, 2i+1, i.e.
    ``reproj_err.reshape(-1)``), then p weight rows (``w_err``). Columns:
    11n camera parameters (camera-major), 3m point coordinates (point-major),
    then p weights. Each reprojection row holds its camera's 11 columns, its
    point's 3 columns and its weight's column, in that (increasing) order;
    weight row i holds only column 11n + 3m + i.
    """
    p = obs.shape[0]
    nrows = 3 * p
    ncols = BA_NCAMPARAMS * n + 3 * m + p

    cam_cols = BA_NCAMPARAMS * obs[:, 0:1] + np.arange(BA_NCAMPARAMS)  # (p, 11)
    pt_cols = BA_NCAMPARAMS * n + 3 * obs[:, 1:2] + np.arange(3)  # (p, 3)
    w_cols = (BA_NCAMPARAMS * n + 3 * m + np.arange(p))[:, np.newaxis]  # (p, 1)
    obs_cols = np.concatenate([cam_cols, pt_cols, w_cols], axis=1)  # (p, 15)
    reproj_cols = np.repeat(obs_cols, 2, axis=0).reshape(-1)  # two rows per observation

    per_row = BA_NCAMPARAMS + 3 + 1
    row_nnz = np.concatenate([np.full(2 * p, per_row), np.ones(p, dtype=np.int64)])
    indptr = np.concatenate([[0], np.cumsum(row_nnz)]).astype(np.int64)
    indices = np.concatenate([reproj_cols, w_cols[:, 0]]).astype(np.int64)
    return indptr, indices, (nrows, ncols)


def ba_reference_jacobian_test() -> dict[str, Any]:
    """Reference Jacobian of ``ba_residuals`` on ba/test.txt.

    Residuals are ordered ``concatenate([reproj_err.reshape(-1), w_err])`` and
    parameters ``concatenate([cams.reshape(-1), X.reshape(-1), w])`` (30 x 62
    for the test instance). Returns ``indptr``, ``indices``, ``data`` (the CSR
    arrays; ``indices`` reconstructed with ``ba_jacobian_structure`` since the
    expected-values file lists only the values), ``shape`` and ``dense`` (the
    same matrix as a dense (nrows, ncols) array).
    """
    data = read_ba(data_path("ba", "test.txt"))
    n, m = data["cams"].shape[0], data["X"].shape[0]
    indptr, indices, shape = ba_jacobian_structure(n, m, data["obs"])
    vals = expected_test_values()["ba_jacobian_vals"]
    assert vals.shape == indices.shape, (vals.shape, indices.shape)

    dense = np.zeros(shape)
    row_of = np.repeat(np.arange(shape[0]), np.diff(indptr))
    dense[row_of, indices] = vals
    return {"indptr": indptr, "indices": indices, "data": vals, "shape": shape, "dense": dense}
