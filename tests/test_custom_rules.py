"""adjit.custom_vjp and adjit.custom_jvp: user rules in every transform, checked
against NumPy, hand-derived derivatives and JAX (x64) running the same rules."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adjit
from adjit.compiler.custom import lower_custom
from adjit.compiler.passes import simplify
from adjit.ir import interpret, parse, verify

jax.config.update("jax_enable_x64", True)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------- the rules


@adjit.custom_vjp
def log1pexp(x):
    return np.log1p(np.exp(x))


def _log1pexp_fwd(x):
    return log1pexp(x), x


def _log1pexp_bwd(x, g):
    return (g * (1.0 - 1.0 / (1.0 + np.exp(x))),)


log1pexp.defvjp(_log1pexp_fwd, _log1pexp_bwd)


@adjit.custom_vjp
def clip_gradient(x):
    return x


clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (np.clip(g, -1.0, 1.0),))


@jax.custom_vjp
def jax_clip_gradient(x):
    return x


jax_clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (jnp.clip(g, -1.0, 1.0),))


@adjit.custom_jvp
def softplus(x):
    return np.logaddexp(0.0, x)


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t * sigmoid(x)


X = np.array([-3.0, 0.5, 2.0, 1000.0])


# ---------------------------------------------------------------- custom_vjp


def test_outside_a_trace_the_function_just_runs():
    assert log1pexp(2.0) == np.log1p(np.exp(2.0))
    assert log1pexp.__name__ == "log1pexp"
    np.testing.assert_array_equal(adjit.jit(log1pexp)(X[:3]), np.log1p(np.exp(X[:3])))


def test_stable_gradient_where_the_naive_one_overflows():
    naive = adjit.grad(lambda x: np.log1p(np.exp(x)))(1000.0)
    assert np.isnan(naive)  # exp(1000) overflows: inf / inf
    assert adjit.grad(log1pexp)(1000.0) == 1.0
    g = adjit.grad(lambda x: np.sum(log1pexp(x)))(X)
    np.testing.assert_allclose(g, sigmoid(X), rtol=1e-14)


def test_clipped_gradient_matches_jax():
    x = np.array([0.1, 1.0, -2.0])
    g = adjit.grad(lambda x: np.sum(3.0 * clip_gradient(x) ** 2))(x)
    np.testing.assert_allclose(g, np.clip(6.0 * x, -1.0, 1.0))
    oracle = jax.grad(lambda x: jnp.sum(3.0 * jax_clip_gradient(x) ** 2))(x)
    np.testing.assert_allclose(g, oracle)


def test_nested_in_fori_loop_and_cond_matches_jax():
    def loop(x):
        return adjit.fori_loop(0, 3, lambda i, s: s + clip_gradient(s * x), x)

    def jax_loop(x):
        return jax.lax.fori_loop(0, 3, lambda i, s: s + jax_clip_gradient(s * x), x)

    for x in (0.5, 1.5):
        assert adjit.grad(loop)(x) == pytest.approx(float(jax.grad(jax_loop)(x)), rel=1e-14)

    def branch(x):
        return adjit.cond(x > 0, lambda v: clip_gradient(5.0 * v) ** 2, lambda v: v * 2.0, x)

    assert adjit.grad(branch)(0.1) == pytest.approx(5.0)  # 10 * 0.5 clipped to 1, times 5
    assert adjit.grad(branch)(-1.0) == 2.0


def test_vmap_of_grad_and_grad_of_vmap():
    np.testing.assert_allclose(adjit.vmap(adjit.grad(log1pexp))(X), sigmoid(X), rtol=1e-14)
    g = adjit.grad(lambda x: np.sum(adjit.vmap(log1pexp)(x)))(X)
    np.testing.assert_allclose(g, sigmoid(X), rtol=1e-14)
    x = np.array([0.3, -4.0, 2.0])
    g = adjit.grad(lambda x: np.sum(adjit.vmap(lambda v: 3.0 * clip_gradient(v) ** 2)(x)))(x)
    np.testing.assert_allclose(g, np.clip(6.0 * x, -1.0, 1.0))


def test_hessian_differentiates_the_rules():
    # jacfwd(jacrev): the forward pass differentiates fwd and bwd, as JAX does
    assert adjit.hessian(log1pexp)(2.0) == pytest.approx(sigmoid(2.0) * sigmoid(-2.0), rel=1e-12)


def _affine_fwd(params, x):
    y = np.tanh(params["w"] @ x + params["b"])
    return affine(params, x), (params["w"], x, y)


def _affine_bwd(res, ct):
    w, x, y = res
    g = ct["y"] * (1.0 - y**2) + ct["total"]  # d total/dy is 1
    return {"w": np.outer(g, x), "b": g}, w.T @ g


@adjit.custom_vjp
def affine(params, x):
    y = np.tanh(params["w"] @ x + params["b"])
    return {"y": y, "total": np.sum(y)}


affine.defvjp(_affine_fwd, _affine_bwd)


def test_pytrees_and_array_residuals_match_jax():
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=3)}
    x = rng.normal(size=4)

    @jax.custom_vjp
    def jax_affine(params, x):
        y = jnp.tanh(params["w"] @ x + params["b"])
        return {"y": y, "total": jnp.sum(y)}

    def jax_fwd(params, x):
        y = jnp.tanh(params["w"] @ x + params["b"])
        return jax_affine(params, x), (params["w"], x, y)

    def jax_bwd(res, ct):
        w, x, y = res
        g = ct["y"] * (1.0 - y**2) + ct["total"]
        return {"w": jnp.outer(g, x), "b": g}, w.T @ g

    jax_affine.defvjp(jax_fwd, jax_bwd)

    def loss(p, x, lib=np, f=affine):
        out = f(p, x)
        return lib.sum(out["y"] ** 2) + 0.5 * out["total"]

    ours = adjit.grad(loss, argnums=(0, 1))(params, x)
    theirs = jax.grad(lambda p, x: loss(p, x, jnp, jax_affine), argnums=(0, 1))(params, x)
    for k in ("w", "b"):
        np.testing.assert_allclose(ours[0][k], theirs[0][k], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)
    value = adjit.jit(loss)(params, x)
    assert value == pytest.approx(loss(params, x), rel=1e-14)


def test_nondiff_argnums():
    @functools.partial(adjit.custom_vjp, nondiff_argnums=(0,))
    def scaled(k, x):
        return k * np.sin(x)

    scaled.defvjp(lambda k, x: (scaled(k, x), np.cos(x)), lambda k, c, g: (k * c * g * 10.0,))
    assert adjit.grad(lambda x: scaled(2, x), argnums=0)(0.3) == pytest.approx(20 * np.cos(0.3))

    power = adjit.custom_jvp(lambda n, x: x**n, nondiff_argnums=(0,))
    power.defjvp(lambda n, p, t: (p[0] ** n, n * p[0] ** (n - 1) * t[0]))
    assert adjit.jvp(lambda x: power(3, x), (2.0,), (1.0,))[1] == pytest.approx(12.0)
    assert adjit.grad(lambda x: power(3, x))(2.0) == pytest.approx(12.0)


# ---------------------------------------------------------------- custom_jvp


def test_custom_jvp_in_both_modes():
    out, tan = adjit.jvp(softplus, (X,), (np.ones_like(X),))
    np.testing.assert_allclose(out, np.logaddexp(0.0, X))
    np.testing.assert_allclose(tan, sigmoid(X), rtol=1e-14)
    for jac in (adjit.jacfwd, adjit.jacrev):
        np.testing.assert_allclose(jac(softplus)(X), np.diag(sigmoid(X)), rtol=1e-14)
    g = adjit.grad(lambda x: np.sum(softplus(x)))(X)
    np.testing.assert_allclose(g, sigmoid(X), rtol=1e-14)
    np.testing.assert_allclose(adjit.vmap(adjit.grad(softplus))(X), sigmoid(X), rtol=1e-14)


def test_custom_jvp_rule_is_what_runs():
    @adjit.custom_jvp
    def f(x):
        return np.sin(x)

    f.defjvp(lambda p, t: (np.sin(p[0]), 2.0 * t[0]))  # deliberately not cos
    assert adjit.jvp(f, (0.4,), (1.5,))[1] == 3.0
    assert adjit.grad(f)(0.4) == 2.0
    # d/dx (f'(x) x + f(x)) with f' = 2 by the rule, both times
    assert adjit.hessian(lambda x: f(x) * x)(0.4) == pytest.approx(4.0)


def test_hessian_of_custom_jvp_matches_jax():
    @jax.custom_jvp
    def jax_softplus(x):
        return jnp.logaddexp(0.0, x)

    @jax_softplus.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return jax_softplus(x), t * jax.nn.sigmoid(x)

    x = np.array([0.5, -1.0, 2.0])
    ours = adjit.hessian(lambda x: np.sum(softplus(x) * x))(x)
    theirs = jax.hessian(lambda x: jnp.sum(jax_softplus(x) * x))(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


# ---------------------------------------------------------------- the IR


def test_ir_text_parses_back_and_lowers_to_the_primal():
    for f in (lambda x: log1pexp(x) * 2.0, lambda x: softplus(x) + clip_gradient(x)):
        fn = adjit.trace(f)(2.0)
        text = str(fn)
        assert "custom_" in text
        assert str(parse(text)) == text
        lowered = verify(lower_custom(fn))
        assert "custom_" not in str(lowered)
        np.testing.assert_allclose(interpret(fn, 2.0), interpret(lowered, 2.0))
        np.testing.assert_allclose(interpret(fn, 2.0), f(2.0))
    assert "custom_" not in adjit.jit(log1pexp).source(2.0)


# ---------------------------------------------------------------- errors


def test_bwd_returning_the_wrong_number_of_cotangents():
    @adjit.custom_vjp
    def two(x, y):
        return x * y

    two.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g * res[1],))
    with pytest.raises(
        adjit.TracingError, match=r"two .*test_custom_rules.py:\d+.*1 cotangents for 2"
    ):
        adjit.grad(two)(1.0, 2.0)


def test_bwd_returning_the_wrong_shape():
    @adjit.custom_vjp
    def f(x):
        return np.sum(x)

    f.defvjp(lambda x: (np.sum(x), None), lambda _, g: (g,))
    with pytest.raises(
        adjit.TracingError, match=r"cotangent 0 has shape \(\), its argument \(3,\)"
    ):
        adjit.grad(f)(np.ones(3))


def test_defvjp_never_called():
    @adjit.custom_vjp
    def f(x):
        return x * 2.0

    assert f(1.5) == 3.0
    with pytest.raises(adjit.TracingError, match=r"f .*defvjp"):
        adjit.grad(f)(1.0)


def test_forward_mode_through_custom_vjp_is_refused():
    with pytest.raises(adjit.UnsupportedError, match="reverse rule only"):
        adjit.jvp(clip_gradient, (1.0,), (1.0,))


def test_differentiated_closure_is_refused():
    def outer(w):
        f = adjit.custom_vjp(lambda x: x * w)
        f.defvjp(lambda x: (x * w, None), lambda _, g: (g * w,))
        return f(3.0)

    with pytest.raises(adjit.UnsupportedError, match="pass it as an argument"):
        adjit.grad(outer)(2.0)


def test_passes_keep_the_rule():
    fn = adjit.trace(lambda x: log1pexp(x) + log1pexp(x) * 0.0)(2.0)
    simplified = simplify(fn)
    assert str(simplified).count("custom_vjp") == 2  # CSE leaves ops with regions alone
    assert str(parse(str(simplified))) == str(simplified)
    assert interpret(simplified, 2.0) == interpret(fn, 2.0)
    value, g = adjit.jit(adjit.value_and_grad(lambda x: log1pexp(x) * 3.0))(1000.0)
    assert (value, g) == (np.inf, 3.0)


def test_verifier_rejects_a_malformed_rule_region():
    text = str(adjit.trace(log1pexp)(2.0))
    bad = text.replace("bwd(%7: f64[], %8: f64[])", "bwd(%7: f64[], %8: f32[])")
    assert bad != text
    with pytest.raises(adjit.VerificationError, match="bwd region takes"):
        verify(parse(bad))


def test_jvp_rule_returning_the_wrong_shape():
    @adjit.custom_jvp
    def f(x):
        return np.sum(x)

    f.defjvp(lambda p, t: (np.sum(p[0]), t[0]))
    with pytest.raises(adjit.TracingError, match=r"f .*jvp rule .*tangents\) returns outputs"):
        adjit.jvp(f, (np.ones(3),), (np.ones(3),))


def test_fwd_must_return_a_pair():
    @adjit.custom_vjp
    def f(x):
        return x

    f.defvjp(lambda x: x, lambda _, g: (g,))
    with pytest.raises(adjit.TracingError, match="fwd must return a pair"):
        adjit.grad(f)(1.0)
