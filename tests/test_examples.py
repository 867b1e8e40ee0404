"""The example scripts run as documented and print what they claim."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs(script, capsys):
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert capsys.readouterr().out


def test_quickstart_agrees_with_numpy(capsys):
    runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    losses = {
        line.split("=")[0].strip(): float(line.split("=")[1].split()[0])
        for line in out.splitlines()
        if line.startswith(("loss (", "value_and_grad: loss"))
    }
    assert len(losses) == 4, out  # interpreter, NumPy, native, value_and_grad
    assert len(set(losses.values())) == 1, losses
    assert "func @mlp_loss(" in out and "def entry(" in out


def test_newton_example_converges(capsys):
    runpy.run_path(str(EXAMPLES / "newton.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Rosenbrock: " in out and "x = [1. 1.]" in out
    residual = float(out.split("|F(u)| = ")[1].split()[0])
    assert residual < 1e-9
