"""Jacobians whose unit directions stay banded: checked on the IR they run.

A banded rule that gives up returns the dense batch instead, which has the same
values: only the IR tells the two apart (an op on the whole n x m batch where
the banded form needs one on a vector). Values are compared with autograd too.
"""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
from samples import normal

import adjit


def _result_ranks(fn: adjit.ir.Function, name: str) -> list[int]:
    return [len(op.result.type.shape) for op in fn.walk() if op.name == name]


def test_concatenation_with_known_zeros_keeps_the_band():
    # jacfwd of [0, 0, 0, sin(x)]: the zeros join the band of cos(x) as a vector,
    # never as a (directions, 3) block beside the dense identity
    def make(np_):
        return lambda x: np_.concatenate([np_.zeros(3), np_.sin(x)])

    x = normal(7, seed=181)
    jac = adjit.jacfwd(make(np))
    np.testing.assert_allclose(jac(x), autograd.jacobian(make(anp))(x), rtol=1e-15)
    assert _result_ranks(jac.ir(x), "concatenate") == [1]
