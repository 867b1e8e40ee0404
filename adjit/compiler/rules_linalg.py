"""Derivative rules of the linear-algebra primitives: forward (JVP) and reverse (VJP).

The conventions are those of rules.py, whose tables these entries join. Every
rule is the standard matrix-calculus identity written with the primitives
themselves, so derivatives are IR like any other and can be differentiated
again. Stable forms: an inverse is never formed, a solve is (a^-T = solve(a^T, I)
where a whole inverse transpose is the answer, as for det); Cholesky's rules use
triangular solves with the factor.

cholesky and eigh take a symmetric matrix (numpy_linalg.py builds it from the
lower triangle, as LAPACK reads it): their tangents are symmetric and their
cotangents are symmetrized. eigh's eigenvector rules divide by differences of
eigenvalues: repeated eigenvalues give inf/NaN there (the derivative does not
exist), as in JAX. svd's singular values have rules; its vectors do not yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UnsupportedError
from ..ir.core import Op, Value
from . import ops
from . import ops_linalg as la
from .builder import describe_location

Cotangents = tuple[Value | None, ...]
Tangents = Sequence[Value | None]


def _mul(a: Value, b: Value) -> Value:
    return ops.elementwise("mul", a, b)


def _sub(a: Value | None, b: Value) -> Value:
    return ops.elementwise("neg", b) if a is None else ops.elementwise("sub", a, b)


def _half_sym(z: Value) -> Value:
    """(z + z^T) / 2: the cotangent of a symmetric operand."""
    return _mul(ops.elementwise("add", z, la.mT(z)), ops.constant(0.5, z.type.np_dtype))


def _sum_matrix(x: Value) -> Value:
    n = x.type.ndim
    return ops.reduce("reduce_sum", x, [n - 2, n - 1])


def _inverse_transpose(a: Value) -> Value:
    """a^-T, by a solve (a^T x = I), never by inverting and transposing."""
    n = a.type.shape[-1]
    return la.solve(la.mT(a), ops.broadcast_to(la.eye(n, a.type.np_dtype), a.type.shape))


# ------------------------------------------------------------------ solves


def _solve_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    # a x = b: a dx = db - da x
    (a, _), (ta, tb) = xs, ts
    rhs = tb if ta is None else _sub(tb, ops.matmul(ta, out))
    return la.solve(a, rhs)


def _solve(ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]) -> Cotangents:
    # ct_b = a^-T ct, ct_a = -ct_b x^T
    a = xs[0]
    ct_b = la.solve(la.mT(a), ct)
    ct_a = ops.elementwise("neg", ops.matmul(ct_b, la.mT(out))) if need[0] else None
    return (ct_a, ct_b)


def _tri_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    # as solve; only the triangle the op reads carries a tangent
    (a, _), (ta, tb) = xs, ts
    lower, unit = op.attrs["lower"], op.attrs["unit_diagonal"]
    rhs = tb if ta is None else _sub(tb, ops.matmul(la.triangle(ta, lower, unit), out))
    return la.solve_triangular(a, rhs, lower, unit)


def _tri(ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]) -> Cotangents:
    a = xs[0]
    lower, unit = op.attrs["lower"], op.attrs["unit_diagonal"]
    ct_b = la.solve_triangular(la.mT(a), ct, not lower, unit)
    ct_a = None
    if need[0]:
        ct_a = ops.elementwise("neg", la.triangle(ops.matmul(ct_b, la.mT(out)), lower, unit))
    return (ct_a, ct_b)


# -------------------------------------------------------------- cholesky


def _phi(x: Value) -> Value:
    """The lower triangle of x with its diagonal halved."""
    n = x.type.shape[-1]
    half = ops.elementwise("mul", la.eye(n, x.type.np_dtype), 0.5)
    return _mul(x, ops.elementwise("sub", la.mask(n, n, x.type.np_dtype, "ge"), half))


def _cholesky_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    # dL = L phi(L^-1 da L^-T)
    m = la.solve_triangular(out, ts[0], lower=True)  # L^-1 da
    x = la.mT(la.solve_triangular(out, la.mT(m), lower=True))  # L^-1 da L^-T
    return ops.matmul(out, _phi(x))


def _cholesky(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    # ct_a = sym(L^-T phi(L^T ct) L^-1) (Murray 2016), by two triangular solves
    lt = la.mT(out)
    y = la.solve_triangular(lt, _phi(ops.matmul(lt, ct)), lower=False)  # L^-T P
    z = la.mT(la.solve_triangular(lt, la.mT(y), lower=False))  # L^-T P L^-1
    return (_half_sym(z),)


# ---------------------------------------------------------- determinants


def _det_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    # d det = det tr(a^-1 da)
    trace = _sum_matrix(_mul(_inverse_transpose(xs[0]), ts[0]))
    return trace if op.name == "slogdet" else _mul(out, trace)


def _det(ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]) -> Cotangents:
    # ct_a = ct det a^-T (slogdet's log|det|: ct a^-T)
    a = xs[0]
    scale = ct if op.name == "slogdet" else _mul(ct, out)
    return (_mul(la.batch_matrix(scale, a.type.shape), _inverse_transpose(a)),)


def _slogdet_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    return None if op.attrs["part"] == "sign" else _det_jvp(op, xs, out, ts)


def _slogdet(
    ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]
) -> Cotangents:
    return (None,) if op.attrs["part"] == "sign" else _det(ct, op, xs, out, need)


# ------------------------------------------------------------------ eigh


def _gaps(w: Value) -> Value:
    """F[i, j] = 1 / (w_j - w_i) off the diagonal, 0 on it."""
    n = w.type.shape[-1]
    diff = ops.elementwise(
        "sub", ops.reshape(w, (*w.type.shape[:-1], 1, n)), ops.reshape(w, (*w.type.shape, 1))
    )
    on_diag = ops.elementwise("eq", ops.iota((n, n), 0), ops.iota((n, n), 1))
    safe = ops.elementwise("select", on_diag, 1.0, diff)
    return ops.elementwise("select", on_diag, 0.0, ops.elementwise("div", 1.0, safe))


def _row(v: Value) -> Value:
    """(..., n) as (..., 1, n): scales the columns of a matrix."""
    return ops.reshape(v, (*v.type.shape[:-1], 1, v.type.shape[-1]))


def _eigh_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    a, ta = xs[0], ts[0]
    if op.attrs["part"] == "values":  # dw_k = v_k^T da v_k
        v = la.eigh(a, "vectors")
        return ops.reduce("reduce_sum", _mul(v, ops.matmul(ta, v)), [v.type.ndim - 2])
    # dV = V (F o (V^T da V))
    w = la.eigh(a, "values")
    return ops.matmul(out, _mul(_gaps(w), ops.matmul(la.mT(out), ops.matmul(ta, out))))


def _eigh(ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]) -> Cotangents:
    a = xs[0]
    if op.attrs["part"] == "values":  # ct_a = V diag(ct) V^T
        v = la.eigh(a, "vectors")
        return (ops.matmul(_mul(v, _row(ct)), la.mT(v)),)
    # ct_a = sym(V (F o (V^T ct)) V^T)
    w = la.eigh(a, "values")
    inner = _mul(_gaps(w), ops.matmul(la.mT(out), ct))
    return (_half_sym(ops.matmul(ops.matmul(out, inner), la.mT(out))),)


# ------------------------------------------------------------------- svd


def _svd_vectors(op: Op) -> UnsupportedError:
    return UnsupportedError(
        "the derivative of np.linalg.svd's singular vectors is not implemented: "
        "differentiate the singular values (compute_uv=False) or use eigh"
        + describe_location(op.loc)
    )


def _svd_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    if op.attrs["part"] != "s":
        raise _svd_vectors(op)
    a = xs[0]
    u, vt = la.svd(a, "u"), la.svd(a, "vt")  # ds_k = u_k^T da v_k
    return ops.reduce("reduce_sum", _mul(u, ops.matmul(ts[0], la.mT(vt))), [a.type.ndim - 2])


def _svd(ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]) -> Cotangents:
    if op.attrs["part"] != "s":
        raise _svd_vectors(op)
    a = xs[0]
    u, vt = la.svd(a, "u"), la.svd(a, "vt")  # ct_a = U diag(ct) V^T
    return (ops.matmul(_mul(u, _row(ct)), vt),)


JVP_RULES = {
    "solve": _solve_jvp,
    "solve_triangular": _tri_jvp,
    "cholesky": _cholesky_jvp,
    "det": _det_jvp,
    "slogdet": _slogdet_jvp,
    "eigh": _eigh_jvp,
    "svd": _svd_jvp,
}

VJP_RULES = {
    "solve": _solve,
    "solve_triangular": _tri,
    "cholesky": _cholesky,
    "det": _det,
    "slogdet": _slogdet,
    "eigh": _eigh,
    "svd": _svd,
}
