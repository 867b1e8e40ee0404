"""The spelled-out forms the SymPy derivation lowers to more accurate primitives.

derivatives._named recognizes log(1 + a), exp(a) - 1 and 1/(1 + exp(-a)) in a
derived expression; no primitive's derivative in today's table happens to need
all three, so the recognizer is checked here directly, each answer against SymPy
(the named primitive applied to the argument found equals the expression).
"""

from __future__ import annotations

import pytest

sp = pytest.importorskip("sympy")

from adjit.compiler import derivatives  # noqa: E402

a, b = sp.symbols("a b", real=True)

_DEFINITIONS = {
    "log1p": lambda u: sp.log(1 + u),
    "expm1": lambda u: sp.exp(u) - 1,
    "logistic": lambda u: 1 / (1 + sp.exp(-u)),
}


@pytest.mark.parametrize(
    ("expr", "name"),
    [
        (sp.log(1 + a * b), "log1p"),
        (sp.exp(a * b) - 1, "expm1"),
        (1 / (1 + sp.exp(-a * b)), "logistic"),
        (1 / (1 + sp.exp(a + b)), "logistic"),
    ],
)
def test_spelled_out_forms_are_named(expr, name):
    found = derivatives._named(sp, expr)
    assert found is not None and found[0] == name
    assert sp.simplify(_DEFINITIONS[name](found[1]) - expr) == 0


@pytest.mark.parametrize(
    "expr",
    [sp.log(2 + a), sp.exp(a) - 2, 1 / (2 + sp.exp(-a)), 1 / (1 + sp.sin(a)), sp.exp(a) + 1],
)
def test_other_forms_are_not_named(expr):
    assert derivatives._named(sp, expr) is None
