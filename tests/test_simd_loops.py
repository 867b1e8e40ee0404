"""Loop fusion keeps vectorising math vectorisable (codegen/loops.py).

An innermost loop of vecmath calls (tanh, exp, ...) is not merged with a loop
that carries an accumulator: LLVM vectorises no loop with a float recurrence, so
the merged loop would compute tanh one element at a time.
"""

from __future__ import annotations

import numpy as np
from oracle import flat_args

import adjit
from adjit.ir import interpret


def _loop_of(source: str, needle: str) -> list[str]:
    """The lines of the innermost `for` loop holding the first line with `needle`."""
    lines = source.splitlines()
    at = next(i for i, line in enumerate(lines) if needle in line)
    indent = len(lines[at]) - len(lines[at].lstrip())
    start = next(
        i
        for i in range(at, -1, -1)
        if lines[i].lstrip().startswith("for ") and len(lines[i]) - len(lines[i].lstrip()) < indent
    )
    body = []
    for line in lines[start + 1 :]:
        if len(line) - len(line.lstrip()) < indent:
            break
        body.append(line)
    return body


def test_tanh_loop_is_not_merged_with_a_row_sum() -> None:
    def f(w, x):
        return np.sum(np.tanh(x @ w.T) ** 2, axis=1), np.sum(np.exp(x) * x, axis=1)

    def outer_products(w, x):  # per-example outer products: a loop nested in the consumer
        t = np.tanh(x @ w.T)
        return t[:, :, None] * x[:, None, :]

    rng = np.random.default_rng(0)
    w, x = rng.standard_normal((8, 4)), rng.standard_normal((6, 4))
    jitted = adjit.jit(f)
    got = jitted(w, x)
    want = interpret(adjit.trace(f)(w, x), *flat_args(w, x))
    for g, r, n in zip(got, want, f(w, x)):
        np.testing.assert_allclose(r, n, rtol=1e-13)
        np.testing.assert_allclose(g, n, rtol=1e-13)
    source = jitted.source(w, x)
    body = _loop_of(source, "_tanh(")
    assert not any("+=" in line for line in body), "\n".join(body)
    # exp(x) * x read once by the sum: computed inside the accumulating loop (nothing to split)
    assert any("+=" in line and "_exp(" in line for line in source.splitlines())

    outer = adjit.jit(outer_products)
    np.testing.assert_allclose(outer(w, x), outer_products(w, x), rtol=1e-13)
    body = _loop_of(outer.source(w, x), "_tanh(")
    assert not any(line.lstrip().startswith("for ") for line in body), "\n".join(body)
