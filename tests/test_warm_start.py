"""A new process on a warm cache needs no SymPy: element-wise partials come from
the table generated ahead (compiler/partials_table.py), which must equal a fresh
SymPy derivation, and the optimisation passes are skipped by the source cache."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from adjit.compiler import derivatives
from adjit.compiler.partials_table import PARTIALS
from adjit.errors import UnsupportedError
from adjit.ir.primitives import PRIMITIVES

ROOT = pathlib.Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
import numpy as np
import adjit

def loss(w, x):
    h = np.tanh(x @ w) + np.logaddexp(0.0, x @ w) * np.exp(-x @ w)
    return np.sum(np.sqrt(1.0 + h * h)) + np.sum(np.sin(w) ** 2)

w, x = np.linspace(-1.0, 1.0, 3), np.linspace(0.0, 1.0, 12).reshape(4, 3)
imported = "sympy" in sys.modules
g = adjit.grad(loss)(w, x)
print(imported, "sympy" in sys.modules, repr(g.tolist()))
"""


def _run(cache: pathlib.Path) -> list[str]:
    env = dict(os.environ, ADJIT_CACHE_DIR=str(cache))
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return out.stdout.split(maxsplit=2)


def test_a_warm_start_imports_no_sympy(tmp_path):
    cold = _run(tmp_path)
    warm = _run(tmp_path)
    assert cold[0] == "False", "import adjit imported SymPy"
    assert warm[:2] == ["False", "False"], "a gradient on a warm cache imported SymPy"
    assert warm[2] == cold[2]


@pytest.mark.parametrize("name", sorted(PARTIALS))
def test_generated_ahead_partials_equal_a_fresh_derivation(name):
    assert PARTIALS[name] == derivatives.derive_recipes(name), (
        f"compiler/partials_table.py is stale for {name}: "
        "regenerate it with python -m adjit.compiler.derivatives"
    )


def test_every_differentiable_elementwise_primitive_is_in_the_table():
    missing = []
    for name, prim in PRIMITIVES.items():
        if prim.kind != "elementwise" or prim.scalar is None or name in PARTIALS:
            continue
        if name in ("maximum", "minimum"):  # ties: a rule of their own, no SymPy
            continue
        try:
            derivatives.derive_recipes(name)
        except UnsupportedError:
            continue
        missing.append(name)
    assert not missing, (
        f"{missing} derive with SymPy at run time: regenerate compiler/partials_table.py "
        "with python -m adjit.compiler.derivatives"
    )


LAZY = """
import json
import sys
import numpy as np
import adjit

lazy = ("numba", "llvmlite", "scipy", "sympy", "numpy.random")
heavy = sorted(m for m in lazy if m in sys.modules)

def loss(w, x):
    if np.sum(w) > 0.0:  # captured control flow: the function's source is read
        w = w * 2.0
    return np.sum(np.tanh(x @ w) ** 2)

w, x = np.linspace(-0.5, 1.0, 3), np.linspace(0.0, 1.0, 12).reshape(4, 3)
g = adjit.grad(loss)(w, x)
(expected,) = adjit.ir.interpret(adjit.grad(loss).ir(w, x), w, x)
print(json.dumps([heavy, "numba" in sys.modules, g.tolist(), expected.tolist()]))
"""


def test_import_adjit_loads_no_compiler_and_the_first_call_still_compiles(tmp_path):
    """Numba (with llvmlite and SciPy, which it imports), SymPy and numpy.random
    (which NumPy loads on first use) load only when a call needs them: `import
    adjit` alone, or tracing and printing IR, stays light."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, ADJIT_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=path)
    script = tmp_path / "lazy.py"  # a file: capturing the `if` reads the function's source
    script.write_text(LAZY)
    for run in ("cold", "warm"):
        out = subprocess.run(
            [sys.executable, str(script)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr
        heavy, compiled, g, expected = json.loads(out.stdout)
        assert heavy == [], f"import adjit imported {heavy} ({run} cache)"
        assert compiled, f"the gradient was not compiled by Numba ({run} cache)"
        np.testing.assert_allclose(g, expected, rtol=1e-12, atol=0)
