"""Linear-algebra primitives: dense factorizations and solves over leading batch axes.

Each acts on the last two axes of its operands; the leading axes are a batch,
the same for every operand (the NumPy-facing functions broadcast first). The
reference semantics are NumPy's (and SciPy's for the triangular solve); a
singular or non-positive-definite matrix raises `numpy.linalg.LinAlgError`, in
the interpreter and in compiled code alike. Functions with several results
(slogdet, eigh, svd, qr) are one primitive with a `part` attribute naming the
result, so each op still has one result.

A factorization is nevertheless run once per operand: the ops of its parts are
read as one. CSE merges identical parts; the interpreter keeps the result of
`factorize` per (primitive, operand) for the run of a block, and the generated
code calls one kernel returning every part (codegen/numba_cpu.py). Sharing at
run time rather than with a multi-result op keeps the IR's one-result-per-op
invariant that the verifier, the passes, batching and the derivative rules
(which ask for the other parts by building the same ops) rely on.

  solve(a, b)                       x with a @ x = b; b is (..., n, k)
  solve_triangular(a, b) {lower, unit_diagonal}
                                    the same with a triangular (the other triangle unread)
  cholesky(a)                       lower L with a = L @ L.T (a's lower triangle read)
  det(a)                            determinant
  slogdet(a) {part}                 "sign" or "logabs": det = sign * exp(logabs)
  eigh(a) {part}                    "values" (ascending) or "vectors" (columns), lower triangle read
  svd(a) {part}                     "u", "s" or "vt" of the thin SVD, s descending
  qr(a) {part}                      "q" or "r" of the reduced QR (NumPy's mode='reduced')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ShapeError, VerificationError
from .primitives import Attrs, Primitive, _register
from .types import TensorType

PARTS = {
    "slogdet": ("sign", "logabs"),
    "eigh": ("values", "vectors"),
    "svd": ("u", "s", "vt"),
    "qr": ("q", "r"),
}


def _float_matrix(name: str, x: TensorType, square: bool = True) -> None:
    if not x.is_float:
        raise VerificationError(f"{name}: needs floating-point operands, got {x}")
    if x.ndim < 2:
        raise ShapeError(f"{name}: needs an array of at least 2 dimensions, got shape {x.shape}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"{name}: last 2 dimensions of the array must be square, got {x.shape}")


def _part(name: str, attrs: Attrs) -> str:
    part = attrs.get("part")
    if part not in PARTS[name]:
        raise VerificationError(f"{name}: part must be one of {PARTS[name]}, got {part!r}")
    return part


def _solve_infer(types: Sequence[TensorType], attrs: Attrs, name: str = "solve") -> TensorType:
    a, b = types
    _float_matrix(name, a)
    if b.dtype != a.dtype or b.ndim != a.ndim:
        raise VerificationError(f"{name}: b must be {a.dtype} with {a.ndim} dimensions, got {b}")
    if b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
        raise ShapeError(f"{name}: shapes {a.shape} and {b.shape} do not match")
    return b


def _triangular_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    for key in ("lower", "unit_diagonal"):
        if not isinstance(attrs.get(key), bool):
            raise VerificationError(f"solve_triangular: attribute {key} must be true or false")
    return _solve_infer(types, attrs, "solve_triangular")


def _square_infer(name: str):
    def infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
        (a,) = types
        _float_matrix(name, a)
        if name in PARTS:
            part = _part(name, attrs)
            if part in ("sign", "logabs"):
                return a.with_shape(a.shape[:-2])
            if part == "values":
                return a.with_shape(a.shape[:-1])
        if name == "det":
            return a.with_shape(a.shape[:-2])
        return a

    return infer


def _svd_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (a,) = types
    _float_matrix("svd", a, square=False)
    *batch, m, n = a.shape
    k = min(m, n)
    shape = {"u": (m, k), "s": (k,), "vt": (k, n)}[_part("svd", attrs)]
    return a.with_shape((*batch, *shape))


def _qr_infer(types: Sequence[TensorType], attrs: Attrs) -> TensorType:
    (a,) = types
    _float_matrix("qr", a, square=False)
    *batch, m, n = a.shape
    k = min(m, n)
    shape = {"q": (m, k), "r": (k, n)}[_part("qr", attrs)]
    return a.with_shape((*batch, *shape))


def _batched(fn, *args: np.ndarray) -> np.ndarray:
    """fn applied to each matrix of the leading batch (SciPy's triangular solve is 2-D)."""
    batch = args[0].shape[:-2]
    first = fn(*(a[(0,) * len(batch)] for a in args)) if all(batch) else None
    if first is None:
        return np.zeros(args[-1].shape, args[-1].dtype)
    out = np.empty(batch + first.shape, first.dtype)
    for i in np.ndindex(*batch):
        out[i] = fn(*(a[i] for a in args))
    return out


def _solve_triangular_eval(args: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
    import scipy.linalg

    def one(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return scipy.linalg.solve_triangular(
            a, b, lower=attrs["lower"], unit_diagonal=attrs["unit_diagonal"]
        )

    return _batched(one, *args)


def factorize(name: str, a: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every part of factorization `name` of a, in the order of PARTS[name]."""
    if name == "slogdet":
        return tuple(np.linalg.slogdet(a))
    if name == "eigh":
        return tuple(np.linalg.eigh(a))
    if name == "svd":
        return tuple(np.linalg.svd(a, full_matrices=False))
    return tuple(np.linalg.qr(a))


def part_index(name: str, attrs: Attrs) -> int:
    """The position of the op's part among its factorization's results."""
    return PARTS[name].index(attrs["part"])


def _part_eval(name: str):
    def evaluate(args: Sequence[np.ndarray], attrs: Attrs) -> np.ndarray:
        return factorize(name, args[0])[part_index(name, attrs)]

    return evaluate


def _linalg(name: str, arity: int, infer, evaluate) -> None:
    _register(Primitive(name, "structural", arity, infer, evaluate))


_linalg("solve", 2, _solve_infer, lambda a, at: np.linalg.solve(a[0], a[1]))
_linalg("solve_triangular", 2, _triangular_infer, _solve_triangular_eval)
_linalg("cholesky", 1, _square_infer("cholesky"), lambda a, at: np.linalg.cholesky(a[0]))
_linalg("det", 1, _square_infer("det"), lambda a, at: np.linalg.det(a[0]))
_linalg("slogdet", 1, _square_infer("slogdet"), _part_eval("slogdet"))
_linalg("eigh", 1, _square_infer("eigh"), _part_eval("eigh"))
_linalg("svd", 1, _svd_infer, _part_eval("svd"))
_linalg("qr", 1, _qr_infer, _part_eval("qr"))

LINALG = frozenset(("solve", "solve_triangular", "cholesky", "det", "slogdet", "eigh", "svd", "qr"))
