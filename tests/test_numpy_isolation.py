"""Tracing never changes NumPy observably; random draws, np.r_/np.c_ and every NumPy
function adjit does not implement give a clean AdjitError on traced values.

Cases that used to kill the interpreter run in a child process (`run_isolated`).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import adjit
from adjit.compiler import numpy_api

REPO = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, sys, importlib.util
import numpy as np
import adjit
spec = importlib.util.spec_from_file_location("cases", sys.argv[1])
cases = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cases)
x = np.linspace(0.1, 0.9, 4).reshape(2, 2)
for i in range(int(sys.argv[2]), int(sys.argv[3])):
    try:
        out = adjit.trace(getattr(cases, f"case_{i}"))(x)
        result = ["returned", str(out)[:200]]
    except adjit.AdjitError as e:
        result = ["AdjitError", f"{type(e).__name__}: {e}"]
    except BaseException as e:
        result = ["error", f"{type(e).__name__}: {e}"[:300]]
    print("@result", json.dumps([i] + result), flush=True)
"""


def run_isolated(bodies: list[str], tmp_path: Path, header: str = "") -> list[tuple[str, str]]:
    """Trace `lambda x: <body>` for each body in a child process; (kind, detail) each.

    The functions live in one module, after `header`.
    kind is 'AdjitError', 'error' (any other exception), 'returned' or 'crash'
    (the child died on it; the next child starts from the following body).
    """
    source = "import numpy\nimport numpy as np\nimport numpy.linalg, numpy.fft, numpy.random\n"
    source += textwrap.dedent(header)
    source += "".join(f"\n\ndef case_{i}(x):\n    return {b}\n" for i, b in enumerate(bodies))
    module = tmp_path / "cases.py"
    module.write_text(source)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    results: dict[int, tuple[str, str]] = {}
    start = 0
    while start < len(bodies):
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(module), str(start), str(len(bodies))],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        for line in proc.stdout.splitlines():
            if not line.startswith("@result "):
                continue  # something a NumPy function printed
            i, kind, detail = json.loads(line.removeprefix("@result "))
            results[i] = (kind, detail)
        start = max(results, default=-1) + 1
        if start < len(bodies) and proc.returncode != 0:
            results[start] = ("crash", f"exit status {proc.returncode}: {proc.stderr[-300:]}")
            start += 1
    return [results[i] for i in range(len(bodies))]


# ------------------------------------------------------------ NumPy unchanged

_WATCHED = ("zeros", "ones", "empty", "full", "array", "asarray", "arange", "eye", "identity")


def test_numpy_functions_are_the_same_objects_during_a_trace() -> None:
    before = {name: getattr(np, name) for name in _WATCHED}
    seen_inside: dict[str, bool] = {}
    seen_by_thread: dict[str, bool] = {}
    in_trace, checked = threading.Event(), threading.Event()

    def other_thread() -> None:
        in_trace.wait(10)
        seen_by_thread.update({n: getattr(np, n) is before[n] for n in _WATCHED})
        seen_by_thread["zeros gives an ndarray"] = type(np.zeros(3)) is np.ndarray
        checked.set()

    def f(x):
        real = sys.modules["numpy"]  # the module itself, not what this function sees
        seen_inside.update({n: getattr(real, n) is before[n] for n in _WATCHED})
        in_trace.set()
        checked.wait(10)
        a = np.zeros(3)  # still traced: the buffer takes traced values
        a[1] = x
        return a

    t = threading.Thread(target=other_thread)
    t.start()
    fn = adjit.trace(f)(2.0)
    t.join()
    assert all(seen_inside.values()), seen_inside
    assert seen_by_thread and all(seen_by_thread.values()), seen_by_thread
    assert {name: getattr(np, name) for name in _WATCHED} == before
    np.testing.assert_array_equal(adjit.ir.interpret(fn, 2.0)[0], [0.0, 2.0, 0.0])


# ------------------------------------------------------------- random numbers

_RANDOM_BODIES = [
    "x + np.random.normal(size=2)",
    "x + np.random.rand(2)",
    "x + np.random.normal()",
    "x + np.random.default_rng(0).normal(size=2)",
    "x + numpy.random.uniform()",
    "x + RNG.normal(size=2)",
    "x + STATE.rand(2)",
    "x + normal()",
    "x + default_rng(1).random()",
    "x + npr.standard_normal(2)",
]
_RANDOM_HEADER = """
from numpy.random import normal, default_rng
import numpy.random as npr
RNG = np.random.default_rng(0)
STATE = np.random.RandomState(0)
"""


def test_random_draws_inside_a_trace_raise_a_clear_error(tmp_path: Path) -> None:
    results = run_isolated(_RANDOM_BODIES, tmp_path, _RANDOM_HEADER)
    bad = {}
    for i, (body, (kind, detail)) in enumerate(zip(_RANDOM_BODIES, results)):
        ok = (
            kind == "AdjitError"
            and detail.startswith("UnsupportedError")
            and "pass them in as arguments" in detail
            and f"cases.py:{_line_of(tmp_path, i)}" in detail
        )
        if not ok:
            bad[body] = (kind, detail)
    assert not bad, bad


def _line_of(tmp_path: Path, i: int) -> int:
    lines = (tmp_path / "cases.py").read_text().splitlines()
    return lines.index(f"def case_{i}(x):") + 2


def test_random_generator_from_a_closure_raises() -> None:
    rng = np.random.default_rng(0)

    def f(x):
        return x + rng.normal()

    with pytest.raises(adjit.UnsupportedError, match="pass them in as arguments") as info:
        adjit.trace(f)(1.0)
    assert f"{__file__}:" in str(info.value)
    assert isinstance(rng.normal(), float)  # the generator itself is untouched


# ------------------------------------------------------------ np.r_ and np.c_


def test_r_and_c_on_traced_values_raise(tmp_path: Path) -> None:
    bodies = ["np.r_[x, x]", "np.c_[x, x]", "np.r_[x[0], 1.0]", "numpy.c_[x]"]
    results = run_isolated(bodies, tmp_path)
    bad = {b: r for b, r in zip(bodies, results) if r[0] != "AdjitError"}
    assert not bad, bad
    assert "np.concatenate" in results[0][1]


def test_r_on_constants_still_works() -> None:
    fn = adjit.trace(lambda x: x + np.r_[1.0, 2.0])(np.zeros(2))
    np.testing.assert_array_equal(adjit.ir.interpret(fn, np.zeros(2))[0], [1.0, 2.0])


# ------------------------------------------- joining functions: NumPy's signatures

_JOINS = [
    (lambda a, b: np.vstack([a, b], casting="same_kind"), None),
    (lambda a, b: np.hstack((a, b), dtype=np.float64, casting="same_kind"), None),
    (lambda a, b: np.stack([a, b], 1, None, dtype=np.float64, casting="unsafe"), None),
    (lambda a, b: np.concatenate((a, b), 0, None, dtype=None, casting="same_kind"), None),
    (lambda a, b: np.concatenate((a, b), axis=None), None),
    (lambda a, b: np.stack([a, b], axis=-1, out=None), None),
]


@pytest.mark.parametrize("k", range(len(_JOINS)))
def test_joining_functions_take_numpys_arguments(k: int) -> None:
    f, _ = _JOINS[k]
    a, b = np.arange(6.0).reshape(2, 3), np.arange(6.0, 12.0).reshape(2, 3)
    fn = adjit.trace(f)(a, b)
    np.testing.assert_array_equal(adjit.ir.interpret(fn, a, b)[0], f(a, b))


def test_joining_functions_refuse_what_numpy_refuses() -> None:
    a = np.arange(3.0)
    with pytest.raises(adjit.UnsupportedError, match="cannot cast"):
        adjit.trace(lambda x: np.concatenate([x, x], dtype=np.int64))(a)
    with pytest.raises(adjit.UnsupportedError, match="out="):
        adjit.trace(lambda x: np.concatenate([x, x], 0, np.zeros(6)))(a)
    with pytest.raises(adjit.UnsupportedError, match="casting"):
        adjit.trace(lambda x: np.stack([x, x], casting="no", dtype=np.float32))(a)


def test_implementations_keep_numpys_defaults() -> None:
    """Arguments at NumPy's default are dropped before the implementation is called,
    so each implementation's default must be NumPy's."""
    bad = []
    for func, impl in numpy_api.FUNCTIONS.items():
        theirs = inspect.signature(func).parameters
        for name, param in inspect.signature(impl).parameters.items():
            numpy_default = theirs[name].default if name in theirs else inspect.Parameter.empty
            if numpy_default in (inspect.Parameter.empty, np._NoValue):
                continue
            if param.default is not numpy_default and param.default != numpy_default:
                bad.append(f"{func.__name__}({name}={param.default!r}, numpy: {numpy_default!r})")
    assert not bad, bad


# ------------------------------------------------------ what user code sees

HELPER_CALLS = 0


def _buffer_helper(v):
    global HELPER_CALLS
    HELPER_CALLS += 1
    out = np.zeros(3)
    out[0] = v
    return out


def test_helpers_globals_closures_and_aliases_see_traced_creation() -> None:
    import numpy as onp
    from numpy import array, zeros

    scale = 3.0

    def inner(v):
        b = zeros(2)
        b[1] = v * scale
        return onp.concatenate([b, array([v, 1.0])])

    def f(x):
        return _buffer_helper(x).sum() + inner(x).sum() + adjit.jit(_buffer_helper)(x)[0]

    calls = HELPER_CALLS
    fn = adjit.trace(f)(2.0)
    assert HELPER_CALLS == calls + 2  # the `global` write reached this module
    assert adjit.ir.interpret(fn, 2.0)[0] == pytest.approx(f(2.0))
    g = adjit.grad(f)(2.0)
    assert g == pytest.approx(1.0 + 4.0 + 1.0)


def _numpy_as_argument(numpy_module, v):
    a = numpy_module.zeros(2)
    a[0] = v
    return a


def test_numpy_bound_by_partial_is_seen_as_traced() -> None:
    fn = adjit.trace(functools.partial(_numpy_as_argument, np))(2.0)
    np.testing.assert_array_equal(adjit.ir.interpret(fn, 2.0)[0], [2.0, 0.0])


def test_global_write_and_delete_reach_the_module() -> None:
    namespace: dict = {}
    exec(
        "import numpy as np\nCOUNT = 0\nGONE = 1\n"
        "def f(x):\n    global COUNT, GONE\n    COUNT += 1\n    del GONE\n    return np.sin(x)\n",
        namespace,
    )
    adjit.trace(namespace["f"])(1.0)
    assert namespace["COUNT"] == 1
    assert "GONE" not in namespace


def test_numpy_reached_outside_the_view_gives_an_adjit_error() -> None:
    def f(x):
        a = sys.modules["numpy"].zeros(3)  # a real array: adjit cannot see this call
        a[0] = x
        return a

    with pytest.raises(adjit.AdjitError, match="stored into a NumPy array") as info:
        adjit.trace(f)(1.0)
    assert f"{__file__}:" in str(info.value)


# ------------------------------------------ every NumPy function adjit lacks


def _unsupported_numpy_functions() -> list[str]:
    implemented = set(numpy_api.FUNCTIONS) | set(numpy_api._UFUNC_PRIMITIVE)
    implemented |= set(numpy_api._UFUNC_COMPOSITE)
    names = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for prefix, module in [
            ("numpy", np),
            ("numpy.linalg", np.linalg),
            ("numpy.fft", np.fft),
            ("numpy.random", np.random),
        ]:
            for name in sorted(dir(module)):
                obj = getattr(module, name, None)
                if name.startswith("_") or not callable(obj) or isinstance(obj, type):
                    continue
                if obj in implemented or (module is np and name in numpy_api.CREATION):
                    continue
                names.append(f"{prefix}.{name}")
    return names


def test_every_unsupported_numpy_function_raises_a_clean_adjit_error(tmp_path: Path) -> None:
    names = _unsupported_numpy_functions()
    assert len(names) > 300
    bodies = []
    for name in names:
        func = eval(name, {"numpy": np})
        arity = func.nin if isinstance(func, np.ufunc) else 1  # a ufunc checks its arity first
        bodies.append(f"{name}({', '.join(['x'] * arity)})")
    results = run_isolated(bodies, tmp_path)
    # these only read shapes and dtypes, so they answer for traced arrays as NumPy does
    metadata = {"numpy.isscalar", "numpy.iterable", "numpy.result_type", "numpy.can_cast"}
    bad = {}
    for name, (kind, detail) in zip(names, results):
        if kind == "AdjitError" or (kind in ("returned", "error") and name in metadata):
            continue
        bad[name] = f"{kind}: {detail[:120]}"
    assert not bad, f"{len(bad)} functions: " + "\n".join(f"{k}: {v}" for k, v in bad.items())
