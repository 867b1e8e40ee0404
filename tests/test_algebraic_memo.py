"""The algebraic pass's shortcuts (algebraic_memo.py) decide as SymPy does.

The screen may skip only regions the pass keeps; decisions read back from the
disk memo give the IR SymPy gives. The reference is the pass with the shortcuts
off, on the random expressions of test_algebraic.py and on their gradients
(whose adjoints have many regions of adds and muls).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from test_algebraic import CORPUS, inputs, optimized

import adjit
from adjit.codegen import cache
from adjit.compiler.passes import algebraic, algebraic_memo
from adjit.ir import print_function

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _programs():
    """Traced corpus expressions and their gradients (small inputs: only types matter)."""
    out = []
    for names, g, _ in CORPUS[:40]:
        args = [a[:3] for a in inputs(len(names), np.float64)]

        def f(*xs, g=g, names=names):
            out = g(dict(zip(names, xs)))
            return np.sum(out * (xs[0] * 0 + 1))

        out.append(adjit.trace(f)(*args))
        out.append(adjit.trace(adjit.grad(f))(*args))
    a, b, c, d = (np.linspace(-1.0, 1.0, 6).reshape(2, 3) + k for k in range(4))
    for f in (
        lambda a, b, c, d: np.sum((a * b + c) * d),
        lambda a, b, c, d: np.sum((a - b) * (c + d)),
        lambda a, b, c, d: np.sum(a * b - c * d),
        lambda a, b, c, d: np.sum(a * a + b * c),  # a read twice: SymPy decides
        lambda a, b, c, d: np.sum(a + a + a + b),  # 3 a: SymPy rewrites it
        lambda a, b, c, d: np.sum(2.0 * (3.0 * a) + b * c),  # constants: SymPy decides
        lambda a, b, c, d: np.sum(a[0] * b * a[1, 0] + c - d),  # broadcasts: SymPy decides
    ):
        out.append(adjit.trace(f)(a, b, c, d))
        out.append(adjit.trace(adjit.grad(f, argnums=(0, 1, 2, 3)))(a, b, c, d))
    return out


PROGRAMS = _programs()


def test_screened_regions_are_kept_by_sympy(monkeypatch):
    screened = []
    decide = algebraic._decide

    def checked(region, producers):
        def constant(v):
            return algebraic._constant_value(producers.get(v), producers)

        if algebraic_memo.cannot_simplify(region, constant):
            screened.append(region)
            assert algebraic._simplified(region, producers) is None, [op.name for op in region.ops]
        return decide(region, producers)

    monkeypatch.setattr(algebraic, "_decide", checked)
    monkeypatch.setattr(algebraic, "SHORTCUTS", False)
    for fn in PROGRAMS:
        optimized(fn)
    assert len(screened) >= 3  # the screen is exercised


def test_memo_and_screen_give_sympys_ir(tmp_path, monkeypatch):
    monkeypatch.setattr(algebraic, "SHORTCUTS", False)
    want = [print_function(optimized(fn)) for fn in PROGRAMS]
    monkeypatch.setattr(algebraic, "SHORTCUTS", True)
    monkeypatch.setattr(cache, "_override", tmp_path)
    stored = [print_function(optimized(fn)) for fn in PROGRAMS]  # decided, then stored
    entries = list((tmp_path / "algebraic").iterdir())
    rewrites = [p for p in entries if p.read_text().startswith("rewrite")]
    assert len(rewrites) >= 5 and len(entries) > len(rewrites)

    def no_sympy(*args):
        raise AssertionError("a decision on disk was not used")

    monkeypatch.setattr(algebraic, "_simplified", no_sympy)
    loaded = [print_function(optimized(fn)) for fn in PROGRAMS]  # read back
    assert stored == want
    assert loaded == want


def test_a_damaged_entry_is_decided_again(tmp_path, monkeypatch):
    fn = PROGRAMS[1]
    monkeypatch.setattr(algebraic, "SHORTCUTS", False)
    want = print_function(optimized(fn))
    monkeypatch.setattr(algebraic, "SHORTCUTS", True)
    monkeypatch.setattr(cache, "_override", tmp_path)
    optimized(fn)
    entries = list((tmp_path / "algebraic").iterdir())
    for p in entries:
        p.write_text("rewrite 1\nfunc @broken(")
    got = print_function(optimized(fn))
    assert entries and all(not p.read_text().endswith("(") for p in entries)
    assert got == want


_COLD = """
import sys
import numpy as np
import adjit

def f(w, x, b):
    return np.sum((x @ w + b) * x[:, :2])

def h(w, x, b):
    return np.sum(np.tanh(x @ w + b) ** 2)

w = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
x = np.linspace(0.0, 1.0, 12).reshape(4, 3)
b = np.ones((4, 2))
vf = adjit.value_and_grad(f)(w, x, b)
print("sympy" in sys.modules, "numba" in sys.modules)
vh = adjit.value_and_grad(h)(w, x, b)
print("sympy" in sys.modules)
want = [adjit.ir.interpret(adjit.trace(adjit.value_and_grad(g))(w, x, b), w, x, b) for g in (f, h)]
for got, ref in zip((vf, vh), want):
    print(max(float(np.max(np.abs(np.asarray(a) - np.asarray(r)))) for a, r in
              zip(adjit.tree.flatten(got)[0], ref)))
"""


def test_a_first_call_needs_no_sympy(tmp_path):
    """A program whose regions the screen decides imports no SymPy (nor Numba: the
    interpreter tier serves it); one whose rewrite is on disk neither, in a new
    process whose traced-source cache is gone."""
    root = pathlib.Path(__file__).resolve().parents[1]
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, ADJIT_CACHE_DIR=str(tmp_path), ADJIT_TIERED="1", PYTHONPATH=path)

    def run() -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", _COLD],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.split("\n")

    first = run()
    assert first[0] == "False False"  # f: screened
    assert first[1] == "True"  # h: tanh's adjoint is rewritten by SymPy, then kept on disk
    for p in tmp_path.glob("adjit_source_*"):
        p.unlink()  # the passes run again: the decisions come from the disk
    second = run()  # (the first run's children may have left native code: Numba then)
    assert second[0].split()[0] == "False" and second[1] == "False"
    for line in first[2:4] + second[2:4]:
        assert float(line) < 1e-12
