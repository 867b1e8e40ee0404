"""adjit.export: packages that run in a fresh process where adjit cannot be imported.

Each child process starts with `sys.modules["adjit"] = None` (so `import adjit`
raises), no PYTHONPATH and the repository off its path; it imports the exported
package, calls it and prints its results as JSON, which are compared with the
in-process adjit results.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from adbench import data_path, gmm_objective, read_gmm

import adjit

BLOCKED = """
import sys
for _name in {blocked!r}:
    sys.modules[_name] = None  # the package must not need it
sys.path.insert(0, {parent!r})
import json, time
import numpy as np
try:
    import adjit
except ImportError:
    pass
else:
    raise SystemExit("adjit is importable in the child")
"""


def run_isolated(parent: pathlib.Path, body: str, blocked=("adjit",)) -> dict:
    """Run `body` in a fresh interpreter that cannot import `blocked`; its JSON output."""
    script = BLOCKED.format(blocked=list(blocked), parent=str(parent)) + body
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_close(got, want, rtol=1e-12):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0)


# ------------------------------------------------------------------ ADBench GMM


@pytest.fixture(scope="module")
def gmm_export(tmp_path_factory):
    """value_and_grad of the ADBench GMM d2 K5 objective over a dict of parameters,
    with the 1000 x 2 data points closed over (a hidden constant array)."""
    data = read_gmm(data_path("gmm", "1k", "gmm_d2_K5.txt"))
    x, gamma, m = data["x"], data["gamma"], data["m"]

    def gmm(params):
        return gmm_objective(params["alphas"], params["means"], params["icf"], x, gamma, m)

    params = {k: data[k] for k in ("alphas", "means", "icf")}
    vg = adjit.value_and_grad(gmm)
    path = tmp_path_factory.mktemp("export") / "gmm_vg"
    assert adjit.export(vg, params, path=path) == path
    return path, vg, params, x


GMM_CALL = """
import gmm_vg
params = {{k: np.array(v) for k, v in {params!r}.items()}}
t0 = time.perf_counter()
value, grads = gmm_vg.gmm(params)
first = time.perf_counter() - t0
try:
    gmm_vg.gmm(dict(params, alphas=params["alphas"][:4]))
except TypeError as exc:
    wrong = str(exc)
from numba.core.registry import CPUDispatcher
compiled = loaded = 0  # Numba's own counts, over the package's jitted functions
for name, module in list(sys.modules.items()):
    if name.startswith("gmm_vg"):
        for fn in vars(module).values():
            if isinstance(fn, CPUDispatcher):
                compiled += sum(fn.stats.cache_misses.values())
                loaded += sum(fn.stats.cache_hits.values())
print(json.dumps({{"value": float(value), "kind": type(value).__name__,
                  "grads": {{k: v.tolist() for k, v in grads.items()}},
                  "first": first, "wrong": wrong, "compiled": compiled, "loaded": loaded}}))
"""


def assert_loaded_not_compiled(out: dict) -> None:
    """The native code came from the package's warm Numba cache, not a compilation
    (Numba's cache-miss count, not a wall-clock bound a loaded machine would break)."""
    assert out["loaded"] >= 1 and out["compiled"] == 0, out


def test_gmm_value_and_grad_runs_without_adjit(gmm_export):
    path, vg, params, _ = gmm_export
    value, grads = vg(params)
    out = run_isolated(
        path.parent, GMM_CALL.format(params={k: v.tolist() for k, v in params.items()})
    )
    assert out["kind"] == "float64"
    assert_close(out["value"], value)
    assert sorted(out["grads"]) == ["alphas", "icf", "means"]
    for k, g in grads.items():
        assert_close(out["grads"][k], g)
    print(f"exported GMM value_and_grad: first call in a new process {out['first'] * 1e3:.1f} ms")
    assert_loaded_not_compiled(out)
    assert "expected ({'alphas': f64[5], 'icf': f64[5,3], 'means': f64[5,2]},)" in out["wrong"]
    assert "got ({'alphas': f64[4]" in out["wrong"]


def test_gmm_package_contents(gmm_export):
    path, *_, x = gmm_export
    names = {p.name for p in path.iterdir()}
    assert {"__init__.py", "_runtime.py", "_sig0.py", "_vecmath.py", "_pairwise.py"} <= names
    for module in path.glob("*.py"):
        text = module.read_text()
        assert "import adjit" not in text and "from adjit" not in text, module
    # the closed-over data points are a constant file (as x[np.newaxis]), not code
    (constant,) = path.glob("_c0_*.npy")
    np.testing.assert_array_equal(np.load(constant).reshape(x.shape), x)
    assert any(path.joinpath("__pycache__").glob("_sig0.entry-*.nbc"))


def test_gmm_constant_file_is_used(gmm_export, tmp_path):
    """Other data points in the .npy give the objective of those points; a copy that
    keeps the files' times (shutil.copy2) still finds its native code in the cache."""
    path, vg, params, x = gmm_export
    copy = tmp_path / "gmm_vg"
    shutil.copytree(path, copy, copy_function=shutil.copy2)
    (constant,) = copy.glob("_c0_*.npy")
    x2 = x[::-1] * 0.5 + 1.0
    np.save(constant, x2.reshape(np.load(constant).shape))
    data = read_gmm(data_path("gmm", "1k", "gmm_d2_K5.txt"))

    def gmm2(p):
        return gmm_objective(p["alphas"], p["means"], p["icf"], x2, data["gamma"], data["m"])

    value, grads = adjit.value_and_grad(gmm2)(params)
    assert not np.isclose(value, vg(params)[0])
    out = run_isolated(
        copy.parent, GMM_CALL.format(params={k: v.tolist() for k, v in params.items()})
    )
    assert_close(out["value"], value)
    for k, g in grads.items():
        assert_close(out["grads"][k], g)
    assert_loaded_not_compiled(out)


# --------------------------------------------- several signatures and structures


def pairs(pair, scale):
    a, b = pair
    return {"dot": np.sum(a * b) * scale, "scaled": [a * scale, np.exp(b)]}


def test_several_signatures_and_pytrees(tmp_path):
    f = adjit.jit(pairs)
    calls = [((np.arange(3.0), np.ones(3)), 2.0), ((np.arange(5.0), np.linspace(0, 1, 5)), -1.5)]
    path = adjit.export(f, path=tmp_path / "pairs_pkg", signatures=calls)
    body = """
import pairs_pkg
f = pairs_pkg.pairs
results = [f((np.arange(3.0), np.ones(3)), 2.0), f((np.arange(5.0), np.linspace(0, 1, 5)), -1.5)]
try:
    f((np.arange(3.0, dtype=np.float32), np.ones(3)), 2.0)
except TypeError as exc:
    wrong = str(exc)
print(json.dumps({"results": [{"dot": float(r["dot"]), "scaled": [s.tolist() for s in r["scaled"]],
                               "types": [type(r).__name__, type(r["scaled"]).__name__]}
                              for r in results],
                  "signatures": pairs_pkg.SIGNATURES, "wrong": wrong}))
"""
    out = run_isolated(path.parent, body)
    for got, args in zip(out["results"], calls):
        want = f(*args)
        assert got["types"] == ["dict", "list"]
        assert_close(got["dot"], want["dot"])
        for g, w in zip(got["scaled"], want["scaled"]):
            assert_close(g, w)
    assert out["signatures"] == ["((f64[3], f64[3]), f64[])", "((f64[5], f64[5]), f64[])"]
    assert "expected ((f64[3], f64[3]), f64[]) or ((f64[5], f64[5]), f64[])" in out["wrong"]
    assert "got ((f32[3], f64[3]), f64[])" in out["wrong"]


def test_export_hessian_and_vmap(tmp_path):
    """Transforms of f export too (a plain f, as jit(f): test_export_errors)."""

    def rosen(x):
        return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    x = np.array([0.5, -0.3, 1.2])
    xs = np.stack([x, x * 2.0])
    fs = {"hess": (adjit.hessian(rosen), x), "vm": (adjit.vmap(rosen), xs)}
    for name, (f, arg) in fs.items():
        adjit.export(f, arg, path=tmp_path / f"{name}_pkg", name=name)
    body = """
import importlib
x = np.array([0.5, -0.3, 1.2])
args = {"hess": x, "vm": np.stack([x, x * 2.0])}
print(json.dumps({k: np.asarray(getattr(importlib.import_module(k + "_pkg"), k)(a)).tolist()
                  for k, a in args.items()}))
"""
    out = run_isolated(tmp_path, body)
    for name, (f, arg) in fs.items():
        assert_close(out[name], f(arg))


def test_export_errors(tmp_path):
    def f(x):
        return x * 2.0

    x = np.ones(3)
    with pytest.raises(TypeError, match="not both"):
        adjit.export(f, x, path=tmp_path / "a", signatures=[(x,)])
    with pytest.raises(ValueError, match="kind='cuda'"):
        adjit.export(f, x, path=tmp_path / "a", kind="cuda")
    with pytest.raises(ValueError, match="not a Python identifier"):
        adjit.export(lambda y: y, x, path=tmp_path / "a")
    with pytest.raises(ValueError, match="not a Python identifier"):
        adjit.export(f, x, path=tmp_path / "my-package")
    other = tmp_path / "taken"
    other.mkdir()
    (other / "notes.txt").write_text("not an export")
    with pytest.raises(FileExistsError, match="not a package written by adjit.export"):
        adjit.export(f, x, path=other)
    assert (other / "notes.txt").exists()
    # an earlier export is replaced
    first = adjit.export(f, x, path=tmp_path / "again")
    adjit.export(f, np.ones(4), path=first)
    assert "[('float64', (4,))]" in (first / "__init__.py").read_text()


# ------------------------------------------------------------------------ pycc

W = np.linspace(-1.0, 1.0, 600).reshape(300, 2)  # closed over: a constant file


def small(x, y):
    return np.sum(np.tanh(W * x) * y[:, None]) / 3.0


def test_pycc_extension_needs_only_numpy(tmp_path):
    vg = adjit.value_and_grad(small, argnums=(0, 1))
    x, y = np.array([0.3, -0.2]), np.linspace(0.0, 2.0, 300)
    path = adjit.export(vg, x, y, path=tmp_path / "small_ext", kind="pycc")
    assert list(path.glob("_native*.so")) and not list(path.glob("_sig*.py"))
    body = """
import small_ext
x, y = np.array([0.3, -0.2]), np.linspace(0.0, 2.0, 300)
t0 = time.perf_counter()
value, (gx, gy) = small_ext.small(x, y)
first = time.perf_counter() - t0
try:
    small_ext.small(x, y[:3])
except TypeError as exc:
    wrong = str(exc)
print(json.dumps({"value": float(value), "gx": gx.tolist(), "gy": gy.tolist(), "first": first,
                  "wrong": wrong}))
"""
    out = run_isolated(path.parent, body, blocked=("adjit", "numba", "llvmlite", "scipy"))
    value, (gx, gy) = vg(x, y)
    assert_close(out["value"], value)
    assert_close(out["gx"], gx)
    assert_close(out["gy"], gy)
    assert "expected (f64[2], f64[300]), got (f64[2], f64[3])" in out["wrong"]
