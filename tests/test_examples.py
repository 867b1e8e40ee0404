"""The example scripts run as documented and show what they claim.

Each runs in a subprocess from the repository root, in fast mode
(ADJIT_EXAMPLES_FAST=1) unless said otherwise, writing its files to a
temporary folder; the tests check the numbers and files it reports (accuracy
above a threshold, gradients equal to independent formulas, PNG files that are
PNG files, an exported package that ran where adjit could not be imported).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_example(script: str, out: Path, fast: bool = True) -> str:
    """The standard output of examples/`script`, run as a user runs it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["ADJIT_EXAMPLES_OUT"] = str(out)
    env["ADJIT_EXAMPLES_FAST"] = "1" if fast else "0"
    done = subprocess.run(
        [sys.executable, str(Path("examples") / script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def floats_after(label: str, text: str) -> list[float]:
    return [float(x) for x in re.findall(re.escape(label) + r"\s*([-+0-9.e]+)", text)]


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC, path


def test_quickstart(tmp_path):
    out = run_example("quickstart.py", tmp_path)
    assert "func @f(%x1: f64[], %x2: f64[]) -> f64[] {" in out
    assert "func @grad_f(" in out and "cos %x2" in out and "def entry(" in out
    g1, g2 = (float(v) for v in re.search(r"grad f\(1.5, 0.5\)\s*= \((\S+), (\S+)\)", out).groups())
    np.testing.assert_allclose([g1, g2], [0.5, 1.5 + np.cos(0.5)], rtol=1e-14)
    assert "gradient check: passed" in out
    assert "add distributes: (da, db) = (1, 1)" in out
    assert "mul swaps      : (da, db) = (3, 2)" in out
    assert "max routes     : (da, db) = (0, 1)" in out
    assert "ReLU vjp: [ 4. -1.  5.  9.] -> [4. 0. 5. 0.]" in out


def test_logistic_regression(tmp_path):
    out = run_example("logistic_regression.py", tmp_path)
    ir = out.split("(simplified):")[1].split("}")[0]
    assert "logistic" in ir and "div" not in ir and "exp " not in ir, ir
    accuracies = floats_after("test accuracy", out)
    assert len(accuracies) == 4 and min(accuracies) > 0.9, out
    assert "gradient check against NumPy by hand" in out and ": passed" in out, out
    assert "adjit.value_and_grad" in out and "NumPy by hand" in out


@pytest.mark.slow
def test_mlp_digits(tmp_path, size):
    out = run_example("mlp_digits.py", tmp_path, fast=size == "small")
    (accuracy,) = floats_after("test accuracy", out)
    assert accuracy > (0.95 if size == "full" else 0.85), out
    losses = floats_after("final training loss", out)
    assert losses and losses[0] < 0.5, out
    assert_png(tmp_path / "mlp_digits_loss.png")


def test_forward_vs_reverse(tmp_path):
    out = run_example("forward_vs_reverse.py", tmp_path)
    assert "Jacobian check against the closed form: passed" in out
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s.*(forward|reverse) \(", out, re.MULTILINE)
    assert {(int(n), int(m)) for n, m, _ in rows} == {(256, 4), (4, 256)}, out
    assert_png(tmp_path / "forward_vs_reverse.png")


def test_ship_a_model(tmp_path):
    out = run_example("ship_a_model.py", tmp_path)
    assert "exported module ran without adjit: yes (import adjit failed there: True" in out
    (accuracy,) = floats_after("test accuracy", out)
    assert accuracy > 0.9, out
    package = tmp_path / "ship_a_model_build" / "tumour_model"
    assert (package / "__init__.py").exists()
    if shutil.which("dot") is None and not os.environ.get("ADJIT_REQUIRE_DOT"):
        assert "no picture (drawing a graph needs Graphviz's `dot` program" in out, out
        assert (tmp_path / "ship_a_model_graph.dot").read_text().startswith("digraph")
    else:
        svg = (tmp_path / "ship_a_model_graph.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_cluster(tmp_path):
    out = run_example("cluster.py", tmp_path)
    assert "cluster: 2 workers" in out
    assert "agreement with one process: max relative difference" in out and ": passed" in out


def test_newton_example_converges(tmp_path):
    out = run_example("newton.py", tmp_path)
    assert "Rosenbrock: " in out and "x = [1. 1.]" in out
    residual = float(out.split("|F(u)| = ")[1].split()[0])
    assert residual < 1e-9


def test_physics(tmp_path):
    out = run_example("physics.py", tmp_path)
    (target,) = floats_after("target", out)
    (speed,) = floats_after("launch speed", out)
    (gravity,) = floats_after("g =", out)
    (drag,) = floats_after("drag k =", out)
    rows = re.findall(r"^\s*(\d+)\s+([-0-9.]+)\s+([-0-9.]+)\s+([-+0-9.e]+)$", out, re.MULTILINE)
    assert len(rows) > 5 and int(rows[-1][0]) == len(rows) - 1, out
    (miss,) = floats_after("final miss distance:", out)
    (tolerance,) = floats_after("(tolerance", out)
    assert "): hit" in out and tolerance <= 1e-3 and miss < tolerance, out
    angle, landed = float(rows[-1][1]), float(rows[-1][2])
    assert abs(landed - target) == pytest.approx(miss, rel=1e-2)
    # The final angle lands on the target in the exact physics too: the ODE
    # integrated by SciPy to 1e-12, up to the example's discretisation error.
    assert abs(landing_by_scipy(np.radians(angle), speed, gravity, drag) - target) < 0.01
    (worst,) = floats_after("max relative difference", out)
    assert "central differences: max relative difference" in out and ": passed" in out, out
    assert worst < 1e-6 and len(re.findall(r"adjit (\S+), central differences (\S+)\n", out)) == 3
    assert_png(tmp_path / "physics.png")


def landing_by_scipy(angle: float, speed: float, gravity: float, drag: float) -> float:
    """Where dv/dt = -g e_y - k |v| v from the origin at `angle` and `speed` returns to y = 0."""
    from scipy.integrate import solve_ivp

    def rates(t, state):
        _, _, vx, vy = state
        k = drag * np.hypot(vx, vy)
        return [vx, vy, -k * vx, -gravity - k * vy]

    def ground(t, state):
        return state[1]

    ground.terminal, ground.direction = True, -1
    start = [0.0, 0.0, speed * np.cos(angle), speed * np.sin(angle)]
    done = solve_ivp(rates, (0.0, 60.0), start, events=ground, rtol=1e-12, atol=1e-12)
    (landed,) = done.y_events[0]
    return landed[0]


def test_every_example_is_tested():
    tested = {
        "quickstart.py",
        "logistic_regression.py",
        "mlp_digits.py",
        "forward_vs_reverse.py",
        "ship_a_model.py",
        "cluster.py",
        "newton.py",
        "physics.py",
    }
    scripts = {p.name for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_")}
    assert scripts == tested
