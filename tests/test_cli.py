"""The `adjit` command line through subprocesses, and `adjit.graph` in-process.

Oracles: the IR and source the same transforms give in this process (the
command line makes its arguments from types, and only types matter for
tracing), XML parsing of the SVG Graphviz draws, and the numbers adjit
computes in-process for an exported package.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import adjit
from adjit.graph import CONSTANT_COLOR, DERIVATIVE_COLOR, MIXED_COLOR, PRIMAL_COLOR, render

ROOT = Path(adjit.__file__).resolve().parent.parent

MODEL = textwrap.dedent(
    """
    import numpy as np
    import adjit

    def f(x1, x2):
        return np.sum(x1 * x2 + np.sin(x2))

    def smooth(x, w):
        return np.sum(np.tanh(x * w) ** 2)

    def loop(W, x):
        return np.sum(adjit.fori_loop(0, 3, lambda i, s: np.tanh(s @ W), x) ** 2)

    def unsupported(x):
        return np.linalg.eig(x)[0].sum()

    def broken(x):
        return x.no_such_attribute

    not_callable = 3
    """
)
exec(compile(MODEL, "<model>", "exec"), MODEL_NS := {})


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "model.py"
    path.write_text(MODEL)
    return path


def run(*argv: str, script: str | None = None) -> subprocess.CompletedProcess:
    """`python -m adjit ARGV` (or the console script), importing this checkout's adjit."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [script] if script else [sys.executable, "-m", "adjit"]
    return subprocess.run([*cmd, *argv], capture_output=True, text=True, env=env, timeout=300)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


X3 = ("--arg", "f64[3]", "--arg", "f64[3]")
zeros3 = (np.zeros(3), np.zeros(3))


# ------------------------------------------------------------------ ir, source


@pytest.mark.parametrize(
    "options, expected",
    [
        ((), lambda f: adjit.trace(f)(*zeros3)),
        (("--grad", "0,1"), lambda f: adjit.grad(f, argnums=(0, 1)).ir(*zeros3)),
        (("--grad",), lambda f: adjit.grad(f).ir(*zeros3)),
        (("--hessian", "1"), lambda f: adjit.hessian(f, argnums=1).ir(*zeros3)),
    ],
    ids=["primal", "grad01", "grad", "hessian1"],
)
def test_ir_matches_in_process(model, options, expected):
    out = ok(run("ir", f"{model}:smooth", *X3, *options))
    assert str(adjit.ir.parse(out)) == str(expected(MODEL_NS["smooth"]))


def test_ir_jvp_is_the_tangent_function(model):
    out = ok(run("ir", f"{model}:f", *X3, "--jvp"))
    f = MODEL_NS["f"]

    def jvp_f(primals, tangents):
        return adjit.jvp(f, primals, tangents)

    expected = adjit.jit(jvp_f).ir(zeros3, zeros3)
    assert str(adjit.ir.parse(out)) == str(expected)
    assert "cos" in out  # the tangent of sin


def test_source_is_the_generated_module(model):
    out = ok(run("source", f"{model}:f", *X3, "--value-and-grad"))
    expected = adjit.value_and_grad(MODEL_NS["f"]).source(*zeros3)
    assert out == expected
    assert "def entry" in out


def test_console_script(model):
    script = shutil.which("adjit", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the adjit console script is not installed (pip install -e . installs it)")
    out = ok(run("ir", f"{model}:f", *X3, script=script))
    assert str(adjit.ir.parse(out)) == str(adjit.trace(MODEL_NS["f"])(*zeros3))


# ----------------------------------------------------------------------- graph


def node_colors(dot: str) -> dict[str, str]:
    """`op name -> fill colour` of the op nodes of DOT text (`%3 = sin` -> sin)."""
    colors = {}
    for label, color in re.findall(r'label="%[^"]* = (\w+)[^"]*", fillcolor="([^"]+)"', dot):
        colors.setdefault(label, set()).add(color)
    return colors


def test_graph_dot_colours_clusters_and_types(model, tmp_path):
    out = tmp_path / "g.dot"
    assert ok(run("graph", f"{model}:loop", "--arg", "f64[3,3]", "--arg", "f64[3]", "--grad",
                  "-o", str(out))) == ""  # fmt: skip
    dot = out.read_text()
    colors = node_colors(dot)
    # the forward loop's tanh is primal, the adjoint loop's recomputed one and
    # 1 - tanh^2 are adjoint
    assert colors["tanh"] == {PRIMAL_COLOR, DERIVATIVE_COLOR}
    assert colors["scatter"] == {DERIVATIVE_COLOR}  # recording the tape
    assert colors["gather"] == {DERIVATIVE_COLOR}  # reading it back
    assert colors["constant"] == {CONSTANT_COLOR}
    # the forward loop also records the tape: both colours; the adjoint loop: adjoint
    assert colors["for"] == {MIXED_COLOR, DERIVATIVE_COLOR}
    assert dot.count("subgraph cluster_") == 2 * 2 + 1  # two loops, each with a body; legend
    assert dot.count('label="body"') == 2
    assert 'label="adjoint"' in dot
    assert '[label="f64[3,3]"]' in dot and '[label="f64[3]"]' in dot
    # every node named in an edge is declared
    declared = set(re.findall(r"^\s*(n\d+) \[", dot, re.M))
    used = set(re.findall(r"(n\d+) -> (n\d+)", dot))
    assert {n for pair in used for n in pair} <= declared


def test_graph_dot_on_stdout(model):
    dot = ok(run("graph", f"{model}:f", *X3, "--value-and-grad", "0,1"))
    colors = node_colors(dot)
    assert colors["sin"] == {PRIMAL_COLOR} and colors["cos"] == {DERIVATIVE_COLOR}
    assert colors["reduce_sum"] == {PRIMAL_COLOR}


def require_dot() -> None:
    """CI installs Graphviz (.ci/run) and sets ADJIT_REQUIRE_DOT: there, no skip."""
    if shutil.which("dot") is None:
        if os.environ.get("ADJIT_REQUIRE_DOT"):
            pytest.fail("Graphviz's dot is not installed but ADJIT_REQUIRE_DOT is set")
        pytest.skip("Graphviz's dot program is not installed")


def test_graph_svg(model, tmp_path):
    require_dot()
    out = tmp_path / "g.svg"
    ok(run("graph", f"{model}:f", *X3, "--grad", "0,1", "-o", str(out)))
    root = ET.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "cos" in text and "return" in text and "f64[3]" in text
    fills = {p.get("fill") for p in root.iter() if p.get("fill")}
    assert DERIVATIVE_COLOR in fills


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "argv, message",
    [
        (("ir", "{dir}/missing.py:f", "--arg", "f64[3]"), "no such file"),
        (("ir", "{model}:nope", "--arg", "f64[3]"), "has no function 'nope'"),
        (("ir", "{model}:not_callable"), "is not a function"),
        (("ir", "{model}", "--arg", "f64[3]"), "expected FILE.py:FUNCTION"),
        (("ir", "{model}:f", "--arg", "f64[3"), "malformed type 'f64[3'"),
        (("ir", "{model}:f", "--arg", "c128[3]"), "malformed type"),
        (("ir", "{model}:f", "--arg", "f64[3]"), "give one --arg per positional argument"),
        (("ir", "{model}:unsupported", "--arg", "f64[3,3]"), "np.linalg.eig is not supported"),
        (("source", "{model}:broken", "--arg", "f64[3]"), "no_such_attribute"),
        (("ir", "{model}:f", *X3, "--grad", "x"), "ARGNUMS must be ints"),
        (("graph", "{model}:f", *X3, "-o", "{dir}/g.txt"), "cannot save a graph"),
        (("frobnicate",), "invalid choice"),
        ((), "required: VERB"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_input_is_one_line_and_status_2(model, argv, message):
    argv = [a.format(model=model, dir=model.parent) for a in argv]
    done = run(*argv)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert message in done.stderr and "error" in done.stderr
    assert done.stdout == ""


def test_debug_shows_the_traceback(model):
    done = run("ir", f"{model}:unsupported", "--arg", "f64[3,3]", "--debug")
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "UnsupportedError" in done.stderr


def test_help_of_each_verb_has_an_example():
    for verb in ("ir", "source", "graph", "compile"):
        out = ok(run(verb, "--help"))
        assert f"example:\n  adjit {verb} model.py:loss --arg f64[3,4]" in out


# --------------------------------------------------------------------- compile


def test_compile_exports_a_package(model, tmp_path):
    pkg = tmp_path / "build" / "fpkg"
    ok(run("compile", f"{model}:f", *X3, "--value-and-grad", "-o", str(pkg)))
    x1, x2 = np.linspace(0.1, 0.9, 3), np.linspace(-1.0, 1.0, 3)
    code = (
        "import sys, numpy as np; sys.path.insert(0, sys.argv[1]); from fpkg import f; "
        f"v, g = f(np.array({x1.tolist()}), np.array({x2.tolist()})); "
        "print(repr(float(v))); print(repr(g.tolist()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(pkg.parent)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    value, grad = adjit.value_and_grad(MODEL_NS["f"])(x1, x2)
    lines = done.stdout.splitlines()
    assert float(lines[0]) == pytest.approx(value, rel=1e-14)
    np.testing.assert_allclose(eval(lines[1]), grad, rtol=1e-14)


# ------------------------------------------------------------ adjit.graph API


def test_graph_api_value_and_grad():
    f = MODEL_NS["f"]
    x = np.ones(4)
    g = adjit.graph(adjit.value_and_grad(f, argnums=(0, 1)))(x, x)
    assert str(g) == g.dot and g.dot.startswith('digraph "value_and_grad_f"')
    assert str(g.fn) == str(adjit.value_and_grad(f, argnums=(0, 1)).ir(x, x))
    colors = node_colors(g.dot)
    assert colors["sin"] == {PRIMAL_COLOR} and colors["mul"] == {PRIMAL_COLOR, DERIVATIVE_COLOR}
    assert colors["cos"] == {DERIVATIVE_COLOR}
    assert 'legend_derivative [label="adjoint"' in g.dot


def test_graph_api_plain_function_is_all_primal():
    g = adjit.graph(MODEL_NS["f"])(np.ones(3), np.ones(3))
    assert str(g.fn) == str(adjit.trace(MODEL_NS["f"])(np.ones(3), np.ones(3)))
    assert DERIVATIVE_COLOR not in g.dot and "legend" not in g.dot


def test_graph_api_cond_clusters_and_forward_mode():
    def h(x):
        y = adjit.cond(np.sum(x) > 0, lambda v: np.sin(v), lambda v: v * 2.0, x)
        return np.sum(y)

    x = np.ones(3)
    dot = adjit.graph(adjit.jacfwd(adjit.grad(h)))(x).dot
    assert 'label="then"' in dot and 'label="else"' in dot
    assert 'legend_derivative [label="derivative"' in dot  # forward over reverse
    dot = adjit.graph(adjit.jacfwd(h))(x).dot
    assert 'legend_derivative [label="tangent"' in dot
    colors = node_colors(dot)
    assert PRIMAL_COLOR in colors["sin"] and DERIVATIVE_COLOR in colors["cos"]


def test_graph_svg_rendering_paths(monkeypatch, tmp_path):
    require_dot()
    g = adjit.graph(adjit.grad(MODEL_NS["f"]))(np.ones(3), np.ones(3))
    svg = g._repr_svg_()
    assert ET.fromstring(svg).tag.endswith("svg")
    # without the graphviz package: the dot program directly, same picture
    monkeypatch.setitem(sys.modules, "graphviz", None)
    assert render(g.dot) == svg.encode()
    g.save(str(tmp_path / "g.png"))
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    # without dot either: a clear error, and notebooks fall back to the repr
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(adjit.AdjitError, match="needs Graphviz's `dot`"):
        g.svg()
    assert g._repr_svg_() is None
    g.save(str(tmp_path / "g.dot"))  # DOT needs no Graphviz
    assert (tmp_path / "g.dot").read_text() == g.dot
