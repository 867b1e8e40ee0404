"""Contractions by shape: small matrix products as loop nests, large ones through BLAS.

The cost model (adjit/codegen/contraction.py) is checked on both sides of its
threshold, with a broadcast batch dim on either operand, 1-D operands, transposed
views and integers; every compiled result against the reference interpreter and
NumPy. The matmul rule's folding of a summed broadcast batch dim into the
contracted axis is checked against JAX and on the IR it produces.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from oracle import assert_same, flat_args

import adjit
from adjit.codegen import contraction
from adjit.ir import interpret

jax.config.update("jax_enable_x64", True)

LIMIT = contraction.LOOP_MAX_WORK  # 1024 = 8 * 16 * 8


def products(a, b, c, d, v, w, p, q, e, f, g, h, ia, ib, sa, sb):
    return (
        a @ b,  # (4, 3, 3) @ (5, 4, 3, 2): a broadcast over the leading batch dim
        c @ d,  # (5, 4, 2, 3) @ (1, 4, 3, 3): d broadcast
        v @ b,  # (3,) @ (5, 4, 3, 2): a promoted vector on the left
        c @ v,  # (5, 4, 2, 3) @ (3,): on the right
        w @ p,  # (2, 3) @ (3, 4): one small product
        v @ v,  # a dot product: a scalar
        p.T @ w.T,  # transposed views: (4, 3) @ (3, 2)
        q @ e,  # (2, 8, 16) @ (16, 8): 1024 multiply-adds, at the threshold: loops
        q @ f,  # (2, 8, 16) @ (16, 9): 1152, above: BLAS
        g @ h,  # (16, 16) @ (16, 16): BLAS
        ia @ ib,  # integers: always loops
        sa @ sb,  # float32 loops accumulate in float32, as NumPy's product does
    )


def _inputs() -> tuple:
    rng = np.random.default_rng(0)

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape)

    ints = rng.integers(-5, 6, (3, 2, 4)), rng.integers(-5, 6, (4, 3))
    singles = r(2, 3, 4).astype(np.float32), r(4, 2).astype(np.float32)
    return (
        r(4, 3, 3), r(5, 4, 3, 2), r(5, 4, 2, 3), r(1, 4, 3, 3), r(3), r(2, 3), r(3, 4),
        r(2, 8, 16), r(16, 8), r(16, 9), r(16, 16), r(16, 16), *ints, *singles,
    )  # fmt: skip


def test_cost_model_threshold() -> None:
    assert contraction.use_loops(8, 16, 8, True)  # exactly LOOP_MAX_WORK
    assert not contraction.use_loops(8, 16, 9, True)
    assert contraction.use_loops(10, 10, 1, True)  # the GMM's matrix-vector products
    assert not contraction.use_loops(64, 64, 64, True)
    assert contraction.use_loops(64, 64, 64, False)  # Numba's np.dot takes floats only


def test_products_against_interpreter() -> None:
    args = _inputs()
    want = products(*args)
    fn = adjit.trace(products)(*args)
    got_ir = interpret(fn, *flat_args(*args))
    compiled = adjit.jit(products)
    got = compiled(*args)
    assert len(got) == len(want) == len(got_ir)
    for i, (g, r, w) in enumerate(zip(got, got_ir, want)):
        tol = 1e-5 if w.dtype == np.float32 else 1e-12
        assert_same(r, w, rtol=tol, atol=tol, what=f"interpreter, result {i}: ")
        assert_same(g, w, rtol=tol, atol=tol, what=f"compiled, result {i}: ")
    source = compiled.source(*args)
    # BLAS for the two products above the threshold only; no broadcast materialized
    assert source.count("np.dot(") == 2, source
    assert "_int_matmul" not in source
    assert "(5, 4, 3, 3)" not in source  # neither a nor d broadcast to the batch


def _folded(q, x):
    # Q_k (x_i) for every point i and component k, Q broadcast over the points
    y = (q[None] @ x[:, :, :, None])[:, :, :, 0]
    return np.sum(np.tanh(y) ** 2)


def _folded_jax(q, x):
    y = (q[None] @ x[:, :, :, None])[:, :, :, 0]
    return jnp.sum(jnp.tanh(y) ** 2)


def _lead(w, x):
    # a 2-D weight against a batch of column vectors: the batch dim is missing on w
    return np.sum(np.sin(w @ x))


def _lead_jax(w, x):
    return jnp.sum(jnp.sin(w @ x))


@pytest.mark.parametrize(
    "f, fj, shapes",
    [
        (_folded, _folded_jax, ((3, 4, 4), (50, 3, 4))),
        (_lead, _lead_jax, ((4, 4), (50, 4, 1))),
    ],
)
def test_broadcast_operand_gradient(f, fj, shapes) -> None:
    rng = np.random.default_rng(1)
    args = tuple(rng.standard_normal(s) / 2 for s in shapes)
    vg = adjit.value_and_grad(f, argnums=(0, 1))
    value, grads = vg(*args)
    want_value, want_grads = jax.value_and_grad(fj, argnums=(0, 1))(*args)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-10, atol=1e-12)
    # the weight's cotangent is one product over the points, not one per point
    ir = vg.ir(*args)
    n = shapes[1][0]
    matmuls = [op for op in ir.body.ops if op.name == "matmul"]
    assert any(n in op.operands[0].type.shape[-1:] for op in matmuls), str(ir)
    assert all(op.result.type.size < n * shapes[0][-1] ** 2 for op in matmuls), str(ir)
    # and the IR computes what the compiled code does
    got = interpret(ir, *flat_args(*args))
    np.testing.assert_allclose(got[0], value, rtol=1e-12)
    for g, w in zip(got[1:], grads):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "sa, sb",
    [
        ((1, 3, 2, 4), (5, 3, 4, 2)),  # a broadcast over the first batch dim
        ((3, 2, 4), (5, 3, 4, 2)),  # ... missing it
        ((5, 1, 2, 4), (1, 3, 4, 2)),  # each operand broadcast over a different dim
        ((2, 4), (6, 5, 4, 3)),  # two summed dims, folded together
        ((6, 5, 2, 4), (4, 3)),  # b broadcast
        ((2, 1, 3, 2, 4), (1, 5, 3, 4, 2)),
        ((4,), (6, 4, 3)),  # promoted vectors
        ((6, 2, 4), (4,)),
    ],
)
def test_broadcast_cotangents_in_the_ir(sa, sb) -> None:
    """The folded cotangents of every broadcast pattern, by the reference interpreter."""
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    vg = adjit.value_and_grad(lambda a, b: np.sum(np.sin(a @ b)), argnums=(0, 1))
    got = interpret(adjit.trace(lambda a, b: vg(a, b))(a, b), a, b)
    value, grads = jax.value_and_grad(lambda a, b: jnp.sum(jnp.sin(a @ b)), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(got[0], value, rtol=1e-12)
    for g, w in zip(got[1:], grads):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-10, atol=1e-12)
