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
exist), as in JAX; likewise svd's singular vectors with repeated singular values
(and, on the thin side, with a zero one).
qr's rules (JAX's forward rule and its transpose) need rows >= columns and a
nonsingular r.
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


def _svd_factors(a: Value) -> tuple[Value, Value, Value, Value]:
    """u, s, v (not v^T) of the thin SVD, and F[i, j] = 1 / (s_j^2 - s_i^2), 0 on
    the diagonal (inf/NaN where singular values repeat: no derivative there)."""
    u, s, v = la.svd(a, "u"), la.svd(a, "s"), la.mT(la.svd(a, "vt"))
    return u, s, v, _gaps(_mul(s, s))


def _col(v: Value) -> Value:
    """(..., n) as (..., n, 1): scales the rows of a matrix."""
    return ops.reshape(v, (*v.type.shape, 1))


def _svd_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    # JAX's rule: dS = U^T da V; dU = U (F o (dS S + S dS^T)) + (I - U U^T) da V S^-1;
    # dV = V (F o (S dS + dS^T S)) + (I - V V^T) da^T U S^-1 (the last terms: thin sides)
    a, ta = xs[0], ts[0]
    part = op.attrs["part"]
    m, n = a.type.shape[-2:]
    if part == "s":  # ds_k = u_k^T da v_k
        u, v = la.svd(a, "u"), la.mT(la.svd(a, "vt"))
        return ops.reduce("reduce_sum", _mul(u, ops.matmul(ta, v)), [a.type.ndim - 2])
    u, s, v, f = _svd_factors(a)
    ds = ops.matmul(la.mT(u), ops.matmul(ta, v))
    if part == "u":
        ds_s = _mul(ds, _row(s))
        du = ops.matmul(u, _mul(f, ops.elementwise("add", ds_s, la.mT(ds_s))))
        if m > n:
            dav = ops.matmul(ta, v)
            rest = ops.elementwise("sub", dav, ops.matmul(u, ops.matmul(la.mT(u), dav)))
            du = ops.elementwise("add", du, ops.elementwise("div", rest, _row(s)))
        return du
    s_ds = _mul(_col(s), ds)
    dv = ops.matmul(v, _mul(f, ops.elementwise("add", s_ds, la.mT(s_ds))))
    if n > m:
        dau = ops.matmul(la.mT(ta), u)
        rest = ops.elementwise("sub", dau, ops.matmul(v, ops.matmul(la.mT(v), dau)))
        dv = ops.elementwise("add", dv, ops.elementwise("div", rest, _row(s)))
    return la.mT(dv)


def _svd(ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]) -> Cotangents:
    # the transpose of the forward rule: with G = F o (U^T ct_u), H = F o (V^T ct_v),
    # ct_a = U ((G + G^T) S + S (H + H^T)) V^T + (I - U U^T) ct_u S^-1 V^T
    #        + U S^-1 ((I - V V^T) ct_v)^T
    a = xs[0]
    part = op.attrs["part"]
    m, n = a.type.shape[-2:]
    if part == "s":  # ct_a = U diag(ct) V^T
        u, vt = la.svd(a, "u"), la.svd(a, "vt")
        return (ops.matmul(_mul(u, _row(ct)), vt),)
    u, s, v, f = _svd_factors(a)
    if part == "u":
        g = _mul(f, ops.matmul(la.mT(u), ct))
        inner = _mul(ops.elementwise("add", g, la.mT(g)), _row(s))
        ct_a = ops.matmul(u, ops.matmul(inner, la.mT(v)))
        if m > n:
            rest = ops.elementwise("sub", ct, ops.matmul(u, ops.matmul(la.mT(u), ct)))
            scaled = ops.elementwise("div", rest, _row(s))
            ct_a = ops.elementwise("add", ct_a, ops.matmul(scaled, la.mT(v)))
        return (ct_a,)
    ct_v = la.mT(ct)
    h = _mul(f, ops.matmul(la.mT(v), ct_v))
    inner = _mul(_col(s), ops.elementwise("add", h, la.mT(h)))
    ct_a = ops.matmul(u, ops.matmul(inner, la.mT(v)))
    if n > m:
        rest = ops.elementwise("sub", ct_v, ops.matmul(v, ops.matmul(la.mT(v), ct_v)))
        scaled = ops.elementwise("div", rest, _row(s))
        ct_a = ops.elementwise("add", ct_a, ops.matmul(u, la.mT(scaled)))
    return (ct_a,)


# -------------------------------------------------------------------- qr


def _qr_parts(op: Op, a: Value) -> tuple[Value, Value]:
    m, n = a.type.shape[-2:]
    if m < n:
        raise UnsupportedError(
            f"the derivative of np.linalg.qr of a wide matrix ({m}x{n}) is not implemented: "
            "it needs rows >= columns" + describe_location(op.loc)
        )
    return la.qr(a, "q"), la.qr(a, "r")


def _times_r_inverse(x: Value, r: Value) -> Value:
    """x r^-1, by a triangular solve: r^T (x r^-1)^T = x^T."""
    return la.mT(la.solve_triangular(la.mT(r), la.mT(x), lower=True))


def _qr_jvp(op: Op, xs: Sequence[Value], out: Value, ts: Tangents) -> Value | None:
    # C = q^T da r^-1, w = strict-lower(C) - its transpose (skew):
    # dq = q (w - C) + da r^-1, dr = (C - w) r
    q, r = _qr_parts(op, xs[0])
    da_rinv = _times_r_inverse(ts[0], r)
    c = ops.matmul(la.mT(q), da_rinv)
    lower = la.triangle(c, True, strict=True)
    w = ops.elementwise("sub", lower, la.mT(lower))
    if op.attrs["part"] == "q":
        return ops.elementwise("add", ops.matmul(q, ops.elementwise("sub", w, c)), da_rinv)
    return ops.matmul(ops.elementwise("sub", c, w), r)


def _qr(ct: Value, op: Op, xs: Sequence[Value], out: Value, need: Sequence[bool]) -> Cotangents:
    # the transpose of the forward rule: with M = q^T ct_q - ct_r r^T and
    # N = strict-lower(M - M^T) - M, ct_a = (ct_q + q N) r^-T
    q, r = _qr_parts(op, xs[0])
    if op.attrs["part"] == "q":
        m, y = ops.matmul(la.mT(q), ct), ct
    else:
        m, y = ops.elementwise("neg", ops.matmul(ct, la.mT(r))), None
    n = ops.elementwise(
        "sub", la.triangle(ops.elementwise("sub", m, la.mT(m)), True, strict=True), m
    )
    qn = ops.matmul(q, n)
    y = qn if y is None else ops.elementwise("add", y, qn)
    return (la.mT(la.solve_triangular(r, la.mT(y), lower=False)),)


JVP_RULES = {
    "solve": _solve_jvp,
    "solve_triangular": _tri_jvp,
    "cholesky": _cholesky_jvp,
    "det": _det_jvp,
    "slogdet": _slogdet_jvp,
    "eigh": _eigh_jvp,
    "svd": _svd_jvp,
    "qr": _qr_jvp,
}

VJP_RULES = {
    "solve": _solve,
    "solve_triangular": _tri,
    "cholesky": _cholesky,
    "det": _det,
    "slogdet": _slogdet,
    "eigh": _eigh,
    "svd": _svd,
    "qr": _qr,
}
