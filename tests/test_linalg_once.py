"""One factorization per matrix: eigh, slogdet, svd and qr run once per operand.

The IR has one op per result (eigh{values}, eigh{vectors}, ...); generated code
and the reference interpreter must still factor each distinct (primitive,
operand) once per call, also when reverse rules ask for the other parts.
Counted in the generated source (kernel calls) and in the interpreter (NumPy's
np.linalg functions wrapped by counters); values and gradients checked against
NumPy and central finite differences.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from linalg_samples import well_conditioned
from samples import normal
from test_split import _run_as_python

import adjit
from adjit.codegen.numba_cpu import generate_source

A = well_conditioned(3, 3, seed=21)
R = normal(4, 3, seed=22)  # tall: qr's derivative needs rows >= columns
C = normal(3, 3, seed=23)
CR = normal(4, 3, seed=24)


def everything(a, r):
    """Every part of each factorization, sign-invariant where LAPACK picks signs."""
    w, v = np.linalg.eigh(a)
    sign, logabs = np.linalg.slogdet(a)
    u, s, vt = np.linalg.svd(r, full_matrices=False)
    q, rr = np.linalg.qr(r)
    return (
        np.sum(w * w)
        + np.sum(v**2 * C)
        + sign * logabs
        + np.sum(u**2 * CR)
        + np.sum(s)
        + np.sum(vt**2 * C)
        + np.sum(q * CR)
        + np.sum(rr * C)
    )


def _calls(source: str, name: str) -> int:
    """How many times the source calls a kernel of factorization `name`."""
    return len(re.findall(rf"\b_la_{name}\w*\(", source))


def test_generated_code_calls_each_factorization_once_per_operand():
    source = adjit.value_and_grad(everything, argnums=(0, 1)).source(A, R)
    for name in ("eigh", "slogdet", "svd", "qr"):
        assert _calls(source, name) == 1, name

    def eigh_of_two(a):  # two operands: two factorizations, each shared by its parts
        w, v = np.linalg.eigh(a)
        w2, v2 = np.linalg.eigh(a + 1.0)
        return np.sum(w) + np.sum(v**3) + np.sum(w2 * v2)

    assert _calls(adjit.value_and_grad(eigh_of_two).source(A), "eigh") == 2

    def slogdet_product(a):
        sign, logabs = np.linalg.slogdet(a)
        return sign * logabs

    assert _calls(adjit.grad(slogdet_product).source(A), "slogdet") == 1


def test_interpreter_runs_each_factorization_once(monkeypatch):
    fn = adjit.value_and_grad(everything, argnums=(0, 1)).ir(A, R)
    counts = dict.fromkeys(("eigh", "slogdet", "svd", "qr"), 0)
    for name in counts:
        original = getattr(np.linalg, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(np.linalg, name, counted)
    value, ga, gr = adjit.ir.interpret(fn, A, R)
    assert counts == dict.fromkeys(counts, 1)
    monkeypatch.undo()
    np.testing.assert_allclose(value, everything(A, R), rtol=1e-12)


def _finite_differences(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[idx] = h
        grad[idx] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


def test_shared_factorizations_give_numpys_values_and_gradients():
    value, (ga, gr) = adjit.value_and_grad(everything, argnums=(0, 1))(A, R)
    np.testing.assert_allclose(value, everything(A, R), rtol=1e-12)
    fd_a = _finite_differences(lambda a: everything(a, R), A)
    fd_r = _finite_differences(lambda r: everything(A, r), R)
    np.testing.assert_allclose(ga, fd_a, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gr, fd_r, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("limit", [4, 12])
def test_split_pieces_see_the_shared_parts(limit):
    # pieces of a few lines: a factorization's parts are read in later pieces than
    # the one calling its kernel, and must be passed there
    fn = adjit.value_and_grad(everything, argnums=(0, 1)).ir(A, R)
    source = generate_source(fn, split_lines=limit)
    assert "def _piece" in source, "the body was not split"
    assert all(_calls(source, name) == 1 for name in ("eigh", "slogdet", "svd", "qr"))
    got = _run_as_python(source, A, R)
    want = adjit.ir.interpret(fn, A, R)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
