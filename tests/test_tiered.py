"""Tiered execution (adjit/codegen/tiered.py): a new signature is served by the
interpreter on the optimised IR while a child process compiles it into the disk
cache; later calls switch to native code.

The suite runs with the tier off (conftest); these tests switch it on. Most
replace the child by a stand-in (never done, failing, killed) so that they spawn
no Numba; one waits for a real child.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher
from test_jit_random_programs import _program

import adjit
from adjit import transform_cache, tree
from adjit.codegen import cache, tiered
from adjit.errors import TieredWarning

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def tier_on(monkeypatch, tmp_path):
    """The tier on, an empty cache directory, no specialization or module shared
    with other tests."""
    monkeypatch.setenv("ADJIT_TIERED", "1")
    monkeypatch.setenv("ADJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "_memo", {})
    transform_cache.clear()
    yield tmp_path
    tiered.shutdown()
    transform_cache.clear()


class _NeverDone:
    """A background compilation that never ends: every call stays interpreted."""

    def __init__(self, job: dict) -> None:
        self.job = job

    def poll(self) -> None:
        return None


def _native(monkeypatch, make, *args):
    """make()(*args) compiled in this process, the tier off (the reference)."""
    monkeypatch.setenv("ADJIT_TIERED", "0")
    transform_cache.clear()
    try:
        fn = make()
        out = fn(*args)
        assert fn.tier(*args) == "native"  # the tier off: compiled here
        return out
    finally:
        monkeypatch.setenv("ADJIT_TIERED", "1")


def _assert_agree(got, want):
    got, want = tree.flatten(got)[0], tree.flatten(want)[0]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w) and np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-300)


def test_random_programs_interpreted_agree_with_native(tier_on, monkeypatch):
    monkeypatch.setattr(tiered, "_Child", _NeverDone)
    rng = np.random.default_rng(11)
    # ("assign" writes into np.zeros: captured in a top-level function only)
    kinds = ["unary", "binary", "reduce", "slice", "matmul", "cond", "loop", "while"]
    programs = [
        _program([(kinds[k % len(kinds)], *rng.integers(0, 21, 3)) for k in rng.permutation(12)])
        for _ in range(6)
    ]

    def all_programs(x, y):  # one compiled function for all of them
        return [p(x, y) for p in programs]

    x, y = rng.normal(size=(3, 4)), rng.normal(size=4)
    f = adjit.jit(all_programs)
    first = f(x, y)
    assert f.tier(x, y) == "interpreter"
    _assert_agree(first, _native(monkeypatch, lambda: adjit.jit(all_programs), x, y))


def test_gradient_with_control_flow_interpreted_agrees_with_native(tier_on, monkeypatch):
    monkeypatch.setattr(tiered, "_Child", _NeverDone)

    def loss(w, x, n):
        def body(i, s):
            return adjit.cond(np.sum(s) > 0.0, lambda v: np.tanh(v * w), lambda v: v * v, s)

        s = adjit.fori_loop(0, n, body, x)  # a traced trip count: the loop tape
        s, k = adjit.while_loop(
            lambda c: np.sum(c[0] ** 2) < 50.0, lambda c: (c[0] * 1.7, c[1] + 1), (s + 0.1, 0)
        )
        return np.sum(np.sin(s) * w) + k

    rng = np.random.default_rng(3)
    w, x, n = rng.normal(size=5), rng.normal(size=5), np.int64(4)
    g = adjit.value_and_grad(loss, argnums=(0, 1))
    first = g(w, x, n)
    assert g.tier(w, x, n) == "interpreter"
    want = _native(monkeypatch, lambda: adjit.value_and_grad(loss, argnums=(0, 1)), w, x, n)
    _assert_agree(first, want)

    # the other transforms take the same path
    def h(v):
        return np.tanh(v) * np.sum(v)

    ws = np.stack([w, 2.0 * w])
    makers = [
        (lambda: adjit.jacfwd(h), w),
        (lambda: adjit.vmap(adjit.grad(lambda v: np.sum(h(v)))), ws),
    ]
    for make, a in makers:
        first = make()(a)
        assert make().tier(a) == "interpreter"
        _assert_agree(first, _native(monkeypatch, make, a))
    out, pullback = adjit.vjp(h, w)
    first = (out, pullback(w))
    monkeypatch.setenv("ADJIT_TIERED", "0")
    transform_cache.clear()
    out, pullback = adjit.vjp(h, w)
    _assert_agree(first, (out, pullback(w)))


def test_interpreted_results_are_fresh_contiguous_arrays(tier_on, monkeypatch):
    monkeypatch.setattr(tiered, "_Child", _NeverDone)
    x = np.arange(6.0).reshape(2, 3)
    out = adjit.jit(lambda a: a.T)(x)
    assert out.flags.c_contiguous and not np.may_share_memory(out, x)
    np.testing.assert_array_equal(out, x.T)


def test_switches_to_the_native_code_the_child_left_on_disk(tier_on):
    def f(x, y):
        return np.sum(np.tanh(x @ y) ** 2) + np.sin(x).sum()

    g = adjit.value_and_grad(f)
    x, y = np.linspace(-1, 1, 12).reshape(3, 4), np.linspace(0, 2, 8).reshape(4, 2)
    with warnings.catch_warnings():
        # a failed child warns and the caller compiles: then the child left nothing
        warnings.simplefilter("error", adjit.TieredWarning)
        first = g(x, y)
        assert g.tier(x, y) == "interpreter"
        spec = g._lookup((x, y), {})[0]
        assert spec.tiered.wait(timeout=600)
        second = g(x, y)
    assert g.tier(x, y) == "native"
    assert isinstance(spec.entry, Dispatcher)  # the fast path calls it with no tier in between
    # loaded from what the child left, not compiled here
    assert sum(spec.entry.stats.cache_hits.values()) == 1, spec.entry.stats
    assert not spec.entry.stats.cache_misses, spec.entry.stats
    assert g._fast[((x.dtype, x.shape), (y.dtype, y.shape))] is spec.call_flat
    _assert_agree(first, second)
    # what the child left: the module under the parent's key, and Numba's index beside it
    key = cache._key(spec.source)
    assert [p.name for p in tier_on.glob(f"*{key[:24]}.py")]
    assert list((tier_on / "__pycache__").glob(f"*{key[:24]}.entry-*.nbi"))

    # a warm cache: the first call loads the native code, nothing is interpreted
    cache._memo.clear()
    transform_cache.clear()

    def no_interpreter(*args):
        raise AssertionError("the warm-cache path interpreted")

    g2 = adjit.value_and_grad(f)
    spec2 = g2._lookup((x, y), {})[0]
    spec2.tiered._interpret = no_interpreter
    _assert_agree(g2(x, y), second)
    assert g2.tier(x, y) == "native" and spec2.tiered._child is None


def _stand_in(monkeypatch, code: str) -> None:
    monkeypatch.setattr(tiered, "CHILD_COMMAND", [sys.executable, "-c", code])


def test_a_failed_child_is_reported_and_the_caller_compiles(tier_on, monkeypatch):
    _stand_in(
        monkeypatch, "import sys; sys.stderr.write('LLVM ERROR: out of registers\\n'); sys.exit(3)"
    )
    f = adjit.jit(lambda x: np.exp(x) * 2.0)
    x = np.linspace(0, 1, 5)
    assert f(x) is not None and f.tier(x) == "interpreter"
    f._lookup((x,), {})[0].tiered.wait(60)
    with pytest.warns(
        TieredWarning, match="exited with status 3: LLVM ERROR: out of registers"
    ) as w:
        out = f(x)
    assert w[0].filename == __file__  # the user's line
    assert f.tier(x) == "native"
    np.testing.assert_allclose(out, np.exp(x) * 2.0, rtol=1e-15)


def test_a_killed_child_is_reported_and_the_caller_compiles(tier_on, monkeypatch):
    _stand_in(monkeypatch, "import time; time.sleep(600)")
    f = adjit.jit(lambda x: np.cos(x) + 1.0)
    x = np.linspace(0, 1, 5)
    f(x)
    entry = f._lookup((x,), {})[0].tiered
    for _ in range(3):  # still compiling: still interpreted
        np.testing.assert_allclose(f(x), np.cos(x) + 1.0, rtol=1e-15)
        assert f.tier(x) == "interpreter"
    entry._child.proc.send_signal(signal.SIGKILL)
    assert entry.wait(60)
    with pytest.warns(TieredWarning, match="killed by signal 9"):
        out = f(x)
    assert f.tier(x) == "native"
    np.testing.assert_allclose(out, np.cos(x) + 1.0, rtol=1e-15)


def test_switched_off_compiles_in_the_caller(tier_on, monkeypatch):
    monkeypatch.setenv("ADJIT_TIERED", "0")

    def no_child(job):
        raise AssertionError("a child was started with the tier off")

    monkeypatch.setattr(tiered, "_Child", no_child)
    f = adjit.jit(lambda x: np.sin(x) * 3.0)
    x = np.linspace(0, 1, 4)
    np.testing.assert_allclose(f(x), np.sin(x) * 3.0, rtol=1e-15)
    spec = f._lookup((x,), {})[0]
    assert spec.tiered is None and f.tier(x) == "native"
    monkeypatch.setenv("ADJIT_TIERED", "1")
    monkeypatch.setenv("ADJIT_CACHE_DIR", "off")  # no disk cache to hand code over: no tier
    assert not tiered.enabled()


def test_no_child_outlives_the_interpreter(tmp_path):
    script = textwrap.dedent(
        """
        import sys, numpy as np, adjit
        from adjit.codegen import tiered
        tiered.CHILD_COMMAND = [sys.executable, "-c", "import time; time.sleep(600)"]
        f = adjit.jit(lambda x: x * 2.0)
        f(np.ones(3))
        print(f._lookup((np.ones(3),), {})[0].tiered._child.proc.pid, flush=True)
        """
    )
    # an empty cache of its own: the function may be on disk already, from another test
    env = dict(os.environ, ADJIT_TIERED="1", PYTHONPATH=ROOT, ADJIT_CACHE_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[-1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("the background compilation outlived its parent")


def test_at_most_two_children_compile_at_once(tier_on, monkeypatch):
    _stand_in(monkeypatch, "import time; time.sleep(600)")
    f = adjit.jit(lambda x: x * 3.0)
    xs = [np.ones(n) for n in (2, 3, 4)]
    for x in xs:
        np.testing.assert_array_equal(f(x), x * 3.0)
    entries = [f._lookup((x,), {})[0].tiered for x in xs]
    assert entries[0]._child and entries[1]._child and entries[2]._child is None  # queued
    entries[0]._child.proc.send_signal(signal.SIGKILL)
    entries[0].wait(60)
    f(xs[2])  # a slot is free: the waiting signature starts its child
    assert entries[2]._child is not None and f.tier(xs[2]) == "interpreter"


def test_a_long_loop_switches_to_native_code_mid_call(tier_on, monkeypatch):
    # the stand-in "compiles" in a second and leaves nothing on disk: the caller compiles
    _stand_in(monkeypatch, "import time; time.sleep(1.0)")

    def f(x, n):
        return np.sum(adjit.fori_loop(0, n, lambda i, s: s + 1e-7 * np.sin(s[::-1]) * x, x))

    finished = []

    def interpret(*args):
        out = adjit.ir.interpret(*args)
        finished.append(True)
        return out

    monkeypatch.setattr(tiered, "interpret", interpret)
    g = adjit.grad(f)
    x, n = np.linspace(0.0, 1.0, 4), np.int64(10**6)  # interpreted: minutes
    t0 = time.monotonic()
    with pytest.warns(TieredWarning, match="left no native code"):
        got = g(x, n)
    assert not finished and g.tier(x, n) == "native"
    assert time.monotonic() - t0 < 100
    _assert_agree(got, _native(monkeypatch, lambda: adjit.grad(f), x, n))


def test_an_unusable_cache_directory_means_no_tier(tier_on, monkeypatch):
    not_a_directory = tier_on / "file"
    not_a_directory.write_text("")
    monkeypatch.setenv("ADJIT_CACHE_DIR", str(not_a_directory))

    def no_child(job):
        raise AssertionError("a child cannot hand code over without a disk cache")

    monkeypatch.setattr(tiered, "_Child", no_child)
    f = adjit.jit(lambda x: np.sqrt(x) + 2.0)
    x = np.linspace(0, 1, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cache.AdjitCacheWarning)  # reported once per process
        np.testing.assert_allclose(f(x), np.sqrt(x) + 2.0, rtol=1e-15)
    assert f.tier(x) == "native"


_COLD = """
import sys
import numpy as np
import adjit
from adjit.codegen import tiered

def f(w, x):
    return np.sum(np.tanh(x @ w) ** 2)

w = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
x = np.linspace(0.0, 1.0, 12).reshape(4, 3)
g = adjit.value_and_grad(f)
value, dw = g(w, x)
print(g.tier(w, x), "numba" in sys.modules, "llvmlite" in sys.modules)
spec = g._lookup((w, x), {})[0]
spec.tiered.wait(300)
value2, dw2 = g(w, x)
print(g.tier(w, x))
h = 1e-6
fd = np.zeros_like(w)
for i in np.ndindex(w.shape):
    e = np.zeros_like(w)
    e[i] = h
    fd[i] = (f(w + e, x) - f(w - e, x)) / (2 * h)
print(abs(value - f(w, x)), np.max(np.abs(dw - fd)), np.max(np.abs(dw - dw2)))
"""


def test_a_cold_first_call_imports_no_numba(tmp_path):
    """The interpreter serves the first call: Numba is imported by the child only,
    and the results are the gradient's (finite differences, then native code)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, ADJIT_CACHE_DIR=str(tmp_path), ADJIT_TIERED="1", PYTHONPATH=path)
    out = subprocess.run(
        [sys.executable, "-c", _COLD],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    first, then, errors = out.stdout.split("\n")[:3]
    assert first == "interpreter False False"
    assert then == "native"
    value_err, fd_err, tier_err = map(float, errors.split())
    assert value_err < 1e-12 and fd_err < 1e-7 and tier_err < 1e-12


def _run_child(job: object, tmp_path: pathlib.Path) -> tuple[int, str]:
    """The real child on `job`, its stdin kept open as the parent keeps it (it
    exits when stdin closes): its exit status and stderr."""
    with open(tmp_path / "stderr", "w+") as err:
        proc = subprocess.Popen(
            tiered.CHILD_COMMAND,
            stdin=subprocess.PIPE,
            stderr=err,
            cwd=tmp_path,
            env=dict(os.environ, PYTHONPATH=ROOT, ADJIT_TIERED="0"),
        )
        proc.stdin.write(pickle.dumps(job))
        proc.stdin.flush()
        try:
            code = proc.wait(timeout=120)
        finally:
            proc.kill()
            proc.stdin.close()
        err.seek(0)
        return code, err.read()


def test_the_child_refuses_a_job_keyed_by_another_adjit(tmp_path):
    source = "def entry(x):\n    return x\n"
    job = {"source": source, "key": "0" * 64, "cache_dir": str(tmp_path), "name_hint": "f"}
    code, stderr = _run_child(job, tmp_path)
    assert code == 3, stderr
    assert (
        f"another cache key than the parent (it imports another adjit, Numba or NumPy): {cache._key(source)} != {'0' * 64}"
        in stderr
    )


def test_a_child_that_raises_exits_with_status_1_while_its_stdin_is_open(tmp_path):
    code, stderr = _run_child({"cache_dir": str(tmp_path)}, tmp_path)  # no source: a KeyError
    assert code == 1, stderr
    assert "KeyError: 'source'" in stderr
