"""Jacobians whose unit directions stay banded: checked on the IR they run.

A banded rule that gives up returns the dense batch instead, which has the same
values: only the IR tells the two apart (the op applied to the whole batch of
directions where the banded form applies it to one vector per band). Values are
compared with autograd too, through the reference interpreter (no compile).
"""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from samples import normal

import adjit

_A = np.arange(12.0).reshape(3, 4) - 5.0
_STACK = np.arange(24.0).reshape(2, 4, 3) / 7.0 - 1.5  # two 4x3 matrices


def _scattered(np_):
    def f(x):
        if np_ is np:
            y = np.zeros(6)
            y[1:5] = np.sin(x)
            return y
        return anp.concatenate([anp.zeros(1), anp.sin(x), anp.zeros(1)])

    return f


def _overwritten(np_):
    def f(x):
        if np_ is np:
            y = np.sin(x)
            y[1:3] = np.cos(x[:2])
            return y
        return anp.concatenate([anp.sin(x[:1]), anp.cos(x[:2]), anp.sin(x[3:])])

    return f


def _stacked(np_, vector_first: bool):
    def f(x):
        if np_ is anp:  # autograd's matmul does not broadcast a vector
            if vector_first:
                return anp.einsum("i,kij->kj", anp.sin(x), _STACK)
            return anp.einsum("kji,i->kj", _STACK, anp.sin(x[:3]))
        return np.sin(x) @ _STACK if vector_first else _STACK @ np.sin(x[:3])

    return f


# name -> (program over a length-4 vector, the op whose batched form must not appear,
# None: values only).
# Not here: div, sub and convert, whose dense fallback simplifies to the same IR.
_PROGRAMS = {
    "neg": (lambda np_: lambda x: -np_.sin(x), "neg"),
    "sum": (lambda np_: lambda x: np_.sum(np_.sin(x)), "reduce_sum"),
    "matmul": (lambda np_: lambda x: np_.dot(_A, np_.sin(x)), "matmul"),
    "rmatmul": (lambda np_: lambda x: np_.dot(np_.sin(x), _A.T), "matmul"),
    # a band reaching rows outside 0 .. n-1 (its padding), summed: those rows left out
    "padded_sum": (
        lambda np_: lambda x: np_.sum(np_.concatenate([np_.zeros(3), np_.sin(x)])),
        "reduce_sum",
    ),
    # a sum of bands of different shapes (broadcast): the dense form, right values
    "broadcast_add": (lambda np_: lambda x: np_.sin(x[0]) + np_.sin(x[1:]), None),
    # a band of negative stride: placed in increasing row order
    "matmul_reversed": (lambda np_: lambda x: np_.dot(_A, np_.sin(x[::-1])), "matmul"),
    # a band times a stack of matrices, and the stack times a band: no banded form,
    # the dense form's values
    "vector_at_stack": (lambda np_: _stacked(np_, vector_first=True), None),
    "stack_at_vector": (lambda np_: _stacked(np_, vector_first=False), None),
    "gather": (lambda np_: lambda x: np_.sin(x)[1::2], "gather"),
    # a band of stride 2 placed: its rows scattered, not padded
    "matmul_strided": (lambda np_: lambda x: np_.dot(_A[:, :2], np_.sin(x[::2])), "matmul"),
    "scatter": (_scattered, "scatter"),
    # written into a banded value: its bands keep zeros at the slice
    "overwrite": (_overwritten, "scatter"),
    "concatenate": (
        lambda np_: lambda x: np_.concatenate([np_.zeros(3), np_.sin(x)]),
        "concatenate",
    ),
}


def _batched(fn: adjit.ir.Function, name: str) -> list[str]:
    """The ops `name` with an operand or result of rank 2 or more: on a batch of
    directions (the programs' own values are vectors; the banded forms of the
    products with _A need no matmul), less the identity gathers of the final
    transposition."""
    found = []
    for op in fn.walk():
        ranks = [len(v.type.shape) for v in (*op.operands, op.result)]
        identity = op.name == "gather" and op.operands[0].type.shape == op.result.type.shape
        if op.name == name and max(ranks) >= 2 and not identity:
            found.append(str(op.result.type))
    return found


@pytest.mark.parametrize("program", sorted(_PROGRAMS))
def test_banded_rules_keep_the_directions_banded(program):
    make, name = _PROGRAMS[program]
    x = normal(4, seed=181)
    fn = adjit.jacfwd(make(np)).ir(x)
    (got,) = fn(x)
    np.testing.assert_allclose(got, autograd.jacobian(make(anp))(x), rtol=1e-14, atol=1e-15)
    if name is not None:
        assert _batched(fn, name) == []
