"""np.einsum on traced arrays, lowered to the tracer's existing operations.

A subscript string is parsed into one list of labels per operand (the axes an
ellipsis covers get labels of their own, aligned from the right so that they
broadcast as NumPy's do) and a list for the output. Each operand then has its
repeated labels taken as diagonals (an index gather), its broadcast (size-1)
axes dropped, and the labels that no other operand and not the output use summed
out. The operands are contracted two at a time, in NumPy's greedy order (or the
one `optimize=` names): the shared labels still needed later are batch axes, the
other shared ones are summed by a (batched) matmul; a pair that shares nothing
to sum is a broadcast multiply, and one with no free labels (a dot product) a
multiply and a sum, which fuse. So the derivatives are the existing rules'
gathers, scatters, matmuls and sums: contractions again.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ShapeError, UnsupportedError
from . import ops
from .builder import located
from .numpy_api import (
    _cast_for_join,
    _sum,
    asarray,
    astype,
    copy,
    implements,
    reshape,
    transpose,
    wrap,
)
from .numpy_shapes import diagonal

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _error(message: str, kind: type = ShapeError) -> Exception:
    return located(kind(f"np.einsum: {message}"))


# parsing ------------------------------------------------------------------------


def _interleaved(operands: tuple) -> tuple[str, list[Any]]:
    """np.einsum(a, [0, 1], b, [1, 2], [0, 2]) as the subscript string 'ab,bc->ac'."""

    def letters(sublist: Any) -> str:
        out = []
        for s in sublist:
            if s is Ellipsis:
                out.append("...")
            elif isinstance(s, (int, np.integer)) and 0 <= s < len(_LETTERS):
                out.append(_LETTERS[s])
            else:
                raise _error(f"subscript {s!r} in a sublist is not an integer in [0, 52)")
        return "".join(out)

    arrays = list(operands[0::2])
    terms = [letters(s) for s in operands[1::2]]
    if len(operands) % 2:  # an output sublist at the end
        arrays.pop()
        return ",".join(terms) + "->" + letters(operands[-1]), arrays
    return ",".join(terms), arrays


def _term_labels(term: str, ndim: int, k: int) -> list[str]:
    """The labels of operand k's axes; those under an ellipsis are '.0', '.1', ...
    counted from the right, so that they broadcast against other operands'."""
    if term.count("...") > 1 or term.replace("...", "").count("."):
        raise _error(f"subscripts {term!r} of operand {k}: '.' is only allowed in one '...'")
    for c in term.replace("...", ""):
        if c not in _LETTERS:
            raise _error(f"invalid subscript {c!r} in {term!r}: subscripts must be letters")
    head, ellipsis, tail = term.partition("...")
    named = len(head) + len(tail)
    if named > ndim or (not ellipsis and named != ndim):
        raise _error(
            f"operand {k} has {ndim} dimension(s) but its subscripts {term!r} name {named}"
        )
    covered = ndim - named
    return [*head, *(f".{i}" for i in reversed(range(covered))), *tail]


def _parse(subscripts: str, ndims: list[int]) -> tuple[list[list[str]], list[str]]:
    spec = subscripts.replace(" ", "")
    if spec.count("->") > 1:
        raise _error(f"subscripts {subscripts!r}: '->' may appear only once")
    lhs, arrow, rhs = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise _error(
            f"subscripts {subscripts!r} name {len(terms)} operand(s) but {len(ndims)} were given"
        )
    labels = [_term_labels(t, n, k) for k, (t, n) in enumerate(zip(terms, ndims))]
    broadcast = max((sum(lb.startswith(".") for lb in ls) for ls in labels), default=0)
    ellipsis = [f".{i}" for i in reversed(range(broadcast))]
    if not arrow:
        counts: dict[str, int] = {}
        for ls in labels:
            for lb in ls:
                counts[lb] = counts.get(lb, 0) + 1
        once = sorted(lb for lb, c in counts.items() if c == 1 and not lb.startswith("."))
        return labels, ellipsis + sorted(once, key=_LETTERS.index)
    if rhs.count("...") > 1 or rhs.replace("...", "").count("."):
        raise _error(f"output subscripts {rhs!r}: '.' is only allowed in one '...'")
    head, dots, tail = rhs.partition("...")
    if broadcast and not dots:
        raise _error(
            f"subscripts {subscripts!r}: the operands' '...' covers {broadcast} dimension(s) "
            "but the output has no '...' to place them"
        )
    seen = {lb for ls in labels for lb in ls}
    for c in head + tail:
        if c not in _LETTERS:
            raise _error(
                f"invalid subscript {c!r} in the output {rhs!r}: subscripts must be letters"
            )
        if c not in seen:
            raise _error(f"output subscript {c!r} of {subscripts!r} appears in no operand")
        if (head + tail).count(c) > 1:
            raise _error(f"output subscript {c!r} of {subscripts!r} appears more than once")
    return labels, [*head, *(ellipsis if dots else ()), *tail]


def _describe(label: str) -> str:
    return f"index {label!r}" if not label.startswith(".") else "a dimension under '...'"


# lowering -----------------------------------------------------------------------


class _Term:
    """An operand on its way through the contraction: an array and its axes' labels."""

    def __init__(self, x: Any, labels: list[str]) -> None:
        self.x, self.labels = x, labels


def _take_diagonals(term: _Term, k: int) -> _Term:
    """Repeated labels within one operand ('ii->i') become one axis: the diagonal."""
    x, labels = term.x, list(term.labels)
    while len(set(labels)) < len(labels):
        label = next(lb for lb in labels if labels.count(lb) > 1)
        i = labels.index(label)
        j = labels.index(label, i + 1)
        if x.shape[i] != x.shape[j]:
            raise _error(
                f"operand {k} repeats {_describe(label)} over dimensions of sizes "
                f"{x.shape[i]} and {x.shape[j]}"
            )
        x = diagonal(x, 0, i, j)  # the diagonal goes last
        labels = [lb for n, lb in enumerate(labels) if n not in (i, j)] + [label]
    return _Term(x, labels)


def _sizes(terms: list[_Term]) -> dict[str, int]:
    """Each label's size; size 1 broadcasts against any other, as NumPy's einsum does."""
    sizes: dict[str, tuple[int, int]] = {}
    for k, term in enumerate(terms):
        for label, n in zip(term.labels, term.x.shape):
            known, where = sizes.get(label, (1, k))
            if n != 1 and known != 1 and n != known:
                raise _error(
                    f"{_describe(label)} has size {known} in operand {where} but {n} in operand {k}"
                )
            if n != 1:
                sizes[label] = (n, k)
            elif label not in sizes:
                sizes[label] = (1, k)
    return {label: n for label, (n, _) in sizes.items()}


def _drop_broadcast(term: _Term, sizes: dict[str, int]) -> _Term:
    """Size-1 axes of labels other operands give a larger size: the operand does
    not vary along them, so they are dropped and the label leaves this operand."""
    keep = [i for i, lb in enumerate(term.labels) if term.x.shape[i] == sizes[lb]]
    if len(keep) == len(term.labels):
        return term
    return _Term(reshape(term.x, [term.x.shape[i] for i in keep]), [term.labels[i] for i in keep])


def _sum_out(term: _Term, needed: set[str]) -> _Term:
    axes = tuple(i for i, lb in enumerate(term.labels) if lb not in needed)
    if not axes:
        return term
    return _Term(_sum(term.x, axis=axes), [lb for lb in term.labels if lb in needed])


def _arranged(term: _Term, order: list[str], shape: list[int] | None = None) -> Any:
    """term's array with its axes in `order` (then reshaped to `shape`)."""
    x = term.x
    perm = [term.labels.index(lb) for lb in order]
    if perm != list(range(len(perm))):
        x = transpose(x, perm)
    return reshape(x, shape) if shape is not None and tuple(shape) != x.shape else x


def _pair(a: _Term, b: _Term, needed: set[str], sizes: dict[str, int]) -> _Term:
    """The contraction of two operands; `needed`: labels other operands or the output use."""
    a = _sum_out(a, needed | set(b.labels))
    b = _sum_out(b, needed | set(a.labels))
    batch = [lb for lb in a.labels if lb in b.labels and lb in needed]
    summed = [lb for lb in a.labels if lb in b.labels and lb not in needed]
    free_a = [lb for lb in a.labels if lb not in b.labels]
    free_b = [lb for lb in b.labels if lb not in a.labels]
    labels = batch + free_a + free_b

    def size(group: list[str]) -> list[int]:
        return [sizes[lb] for lb in group]

    if not summed:  # an outer (or element-wise) product: broadcast and multiply
        x = _arranged(a, batch + free_a, size(batch + free_a) + [1] * len(free_b))
        y = _arranged(b, batch + free_b, size(batch) + [1] * len(free_a) + size(free_b))
        return _Term(x * y, labels)
    if not free_a and not free_b:  # (batched) dot products: multiply and sum, which fuse
        x, y = _arranged(a, batch + summed), _arranged(b, batch + summed)
        inner = tuple(range(len(batch), len(batch) + len(summed)))
        return _Term(_sum(x * y, axis=inner), labels)
    nb, m, k, n = (math.prod(size(g)) for g in (batch, free_a, summed, free_b))
    lead = [nb] if batch else []
    # without batch axes a side with no free labels stays a vector: matrix-vector
    # products, whose derivatives are outer products (not k-by-1 matrix products)
    x_rows = [m] if free_a or batch else []
    y_cols = [n] if free_b or batch else []
    x = _arranged(a, batch + free_a + summed, lead + x_rows + [k])
    y = _arranged(b, batch + summed + free_b, lead + [k] + y_cols)
    product = wrap(ops.matmul(x.value, y.value))
    return _Term(reshape(product, size(labels)), labels)


def _path(subscripts: str, arrays: list[Any], optimize: Any) -> list[tuple[int, ...]]:
    """The order of contraction as NumPy's einsum_path gives it (each step: the
    positions of the operands to contract, whose product goes last): the path
    `optimize` names or holds, else the greedy one, as JAX's einsum does by
    default. The order changes only the rounding, and the cost by orders of
    magnitude ('ij,jk,k' left to right is a matrix product)."""
    if len(arrays) < 3:
        return [tuple(range(len(arrays)))]
    if optimize is False or optimize is None or optimize is True:
        optimize = "greedy"
    shells = [np.broadcast_to(np.zeros((), x.dtype), x.shape) for x in arrays]
    try:
        path, _ = np.einsum_path(subscripts, *shells, optimize=optimize)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise _error(f"optimize={optimize!r}: {e}", UnsupportedError) from None
    return [tuple(step) for step in path[1:]]


@implements(np.einsum)
def einsum(
    *operands: Any,
    optimize: Any = False,
    dtype: Any = None,
    order: str = "K",
    casting: str = "safe",
) -> Any:
    """np.einsum: string or interleaved subscripts, any number of operands.

    `optimize` picks the order of the pairwise contractions (NumPy's einsum_path;
    greedy by default); `dtype` and `casting` as NumPy's; `order` (the memory
    layout) does not change the values.
    """
    if not operands:
        raise _error("no subscripts and no operands were given")
    if isinstance(operands[0], str):
        subscripts, arrays = operands[0], list(operands[1:])
    else:
        subscripts, arrays = _interleaved(operands)
    xs = [asarray(x) for x in arrays]
    if not xs:
        raise _error(f"subscripts {subscripts!r} but no operands were given")
    dtype = _cast_for_join(xs, dtype, casting, "np.einsum")
    if dtype is not None:
        xs = [astype(x, dtype) for x in xs]
    if any(x.dtype == np.bool_ for x in xs):
        raise _error(
            "einsum of bool arrays is not supported: convert them to int or float", UnsupportedError
        )
    labels, output = _parse(subscripts, [x.ndim for x in xs])
    terms = [_take_diagonals(_Term(x, ls), k) for k, (x, ls) in enumerate(zip(xs, labels))]
    sizes = _sizes(terms)
    terms = [_drop_broadcast(t, sizes) for t in terms]
    result_dtype = ops.result_dtype(*(x.value for x in xs))
    for step in _path(subscripts, xs, optimize):
        chosen = [terms[i] for i in step]
        rest = [t for i, t in enumerate(terms) if i not in step]
        needed = set(output).union(*(t.labels for t in rest))
        term = chosen[0]
        for k, other in enumerate(chosen[1:]):
            later = set().union(*(t.labels for t in chosen[k + 2 :]))
            term = _pair(term, other, needed | later, sizes)
        terms = [*rest, term]
    (term,) = terms
    term = _sum_out(term, set(output))
    out = _arranged(term, output)
    if out.dtype != result_dtype:  # a product of a lone operand keeps its dtype
        out = astype(out, result_dtype)
    return copy(out)
