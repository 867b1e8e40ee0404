"""Checks of the plain-NumPy ADBench objectives in adbench.py against ADBench's reference values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from adbench import (
    ba_reference_jacobian_test,
    ba_residuals,
    data_path,
    expected_test_values,
    gmm_objective,
    gmm_reference_gradient_test,
    read_ba,
    read_gmm,
    rho,
)
from scipy.special import multigammaln


def _central_differences(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Jacobian of f (returning a flat array) at flat x, shape (f.size, x.size)."""
    cols = []
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = h
        cols.append((np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2.0 * h))
    return np.stack(cols, axis=-1)


def _gmm_objective_loops(alphas, means, icf, x, gamma, m) -> float:
    """Independent per-point transcription of ADBench's GMM objective."""
    n, d = x.shape
    k = alphas.shape[0]
    qs = []
    for c in range(k):
        q = np.diag(np.exp(icf[c, :d]))
        idx = d
        for col in range(d):
            for row in range(col + 1, d):
                q[row, col] = icf[c, idx]
                idx += 1
        qs.append(q)

    def lse(v):
        mx = max(v)
        return mx + math.log(sum(math.exp(t - mx) for t in v))

    total = -n * d * 0.5 * math.log(2 * math.pi) - n * lse(alphas)
    for i in range(n):
        total += lse(
            [
                alphas[c] + icf[c, :d].sum() - 0.5 * np.sum((qs[c] @ (x[i] - means[c])) ** 2)
                for c in range(k)
            ]
        )
    n_w = d + m + 1
    for c in range(k):
        total += 0.5 * gamma**2 * np.sum(qs[c] ** 2) - m * icf[c, :d].sum()
        total -= n_w * d * math.log(gamma / math.sqrt(2)) - multigammaln(0.5 * n_w, d)
    return total


def test_gmm_read_shapes():
    g = read_gmm(data_path("gmm", "test.txt"))
    assert g["alphas"].shape == (3,)
    assert g["means"].shape == (3, 2)
    assert g["icf"].shape == (3, 3)
    assert g["x"].shape == (1, 2)
    assert g["gamma"] == 1.0 and g["m"] == 0

    g = read_gmm(data_path("gmm", "1k", "gmm_d10_K5.txt"))
    assert g["x"].shape == (1000, 10)
    assert g["icf"].shape == (5, 10 + 45)


def test_gmm_read_replicate_point():
    g = read_gmm(data_path("gmm", "2.5M", "gmm_d2_K5.txt"), replicate_point=True)
    assert g["x"].shape == (2_500_000, 2)
    assert np.all(g["x"] == g["x"][0])


def test_gmm_objective_value():
    g = read_gmm(data_path("gmm", "test.txt"))
    expected = expected_test_values()["gmm_objective"]
    assert expected == 8.07380408004975791
    assert rho(gmm_objective(**g), expected) < 1e-12


@pytest.mark.parametrize("name", ["gmm_d10_K5.txt", "gmm_d20_K5.txt"])
def test_gmm_objective_matches_loop_version(name):
    # test.txt has d=2 (one off-diagonal entry), so this is what checks the
    # lower-triangle fill order.
    g = read_gmm(data_path("gmm", "1k", name))
    g["x"] = g["x"][:50]
    rng = np.random.default_rng(0)
    g["icf"] = g["icf"] + 0.1 * rng.standard_normal(g["icf"].shape)
    g["m"] = 2
    assert rho(gmm_objective(**g), _gmm_objective_loops(**g)) < 1e-12


def test_gmm_gradient_finite_differences():
    g = read_gmm(data_path("gmm", "test.txt"))
    ref = gmm_reference_gradient_test()
    for name in ("alphas", "means", "icf"):
        assert ref[name].shape == g[name].shape
        base = g[name]

        def f(v, name=name, base=base):
            return gmm_objective(**{**g, name: v.reshape(base.shape)})

        fd = _central_differences(f, base.reshape(-1)).reshape(base.shape)
        assert np.max(rho(fd, ref[name])) < 1e-6, name


def test_ba_read():
    b = read_ba(data_path("ba", "test.txt"))
    assert b["cams"].shape == (2, 11)
    assert b["X"].shape == (10, 3)
    assert b["w"].shape == (10,)
    assert b["feats"].shape == (10, 2)
    assert b["obs"].shape == (10, 2) and b["obs"].dtype.kind == "i"
    np.testing.assert_array_equal(b["obs"][:, 0], np.arange(10) % 2)
    np.testing.assert_array_equal(b["obs"][:, 1], np.arange(10))


def test_ba_residual_values():
    b = read_ba(data_path("ba", "test.txt"))
    reproj_err, w_err = ba_residuals(b["cams"], b["X"], b["w"], b["feats"], b["obs"])
    expected = expected_test_values()
    np.testing.assert_array_equal(
        expected["ba_reproj_err"], [-2.69048849235189402e-01, 2.59944792677901881e-01]
    )
    assert expected["ba_w_err"] == 8.26092651515999976e-01

    assert reproj_err.shape == (10, 2) and w_err.shape == (10,)
    assert np.max(rho(reproj_err, expected["ba_reproj_err"])) < 1e-12
    assert np.max(rho(w_err, expected["ba_w_err"])) < 1e-12


def test_ba_reference_jacobian_structure():
    jac = ba_reference_jacobian_test()
    assert jac["shape"] == (30, 62)
    assert jac["indptr"][-1] == jac["indices"].size == jac["data"].size == 310
    # Column indices increase within each row, as in ADBench's BASparseMat.
    for r in range(30):
        row_cols = jac["indices"][jac["indptr"][r] : jac["indptr"][r + 1]]
        assert np.all(np.diff(row_cols) > 0)
    np.testing.assert_allclose(np.diag(jac["dense"][20:, 52:]), -2 * 0.417022)


def test_ba_jacobian_finite_differences():
    b = read_ba(data_path("ba", "test.txt"))
    cams, X, w = b["cams"], b["X"], b["w"]
    sizes = np.cumsum([cams.size, X.size])

    def f(params):
        c, x, ww = np.split(params, sizes)
        reproj_err, w_err = ba_residuals(
            c.reshape(cams.shape), x.reshape(X.shape), ww, b["feats"], b["obs"]
        )
        return np.concatenate([reproj_err.reshape(-1), w_err])

    params = np.concatenate([cams.reshape(-1), X.reshape(-1), w])
    fd = _central_differences(f, params)
    ref = ba_reference_jacobian_test()["dense"]
    assert fd.shape == ref.shape
    assert np.max(rho(fd, ref)) < 1e-6
