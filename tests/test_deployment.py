"""adjit installed as a normal user meets it: a read-only package, an unwritable HOME,
a cache directory another user filled and left read-only, missing dependencies.

The child processes run without root's right to ignore file permissions
(tests/unprivileged.py), so a read-only directory is read-only to them even
when the suite runs as root, as CI does.
"""

import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from unprivileged import unprivileged

REPO = pathlib.Path(__file__).resolve().parents[1]

PROGRAM = """
import json, sys, warnings
import numpy as np
warnings.simplefilter("always")
import adjit

def loss(x):
    return np.sum(np.tanh(x) ** 2)

x = np.linspace(-1.0, 1.0, 300)
f = adjit.jit(loss)
g = adjit.grad(loss)
value, grad = f(x), g(x)
from numba.core.dispatcher import Dispatcher
generated = [obj for name, module in list(sys.modules.items()) if name.startswith("adjit_")
             for obj in vars(module).values() if isinstance(obj, Dispatcher)]
stats = [d.stats for d in generated]
print(json.dumps({"value": float(value), "grad": grad.tolist(),
                  "hits": sum(sum(s.cache_hits.values()) for s in stats),
                  "misses": sum(sum(s.cache_misses.values()) for s in stats)}))
"""


def make_read_only(path: pathlib.Path) -> None:
    for p in [path, *path.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def make_writable(path: pathlib.Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


@pytest.fixture
def install(tmp_path):
    """A copy of the adjit package in its own site directory, and a HOME, both read-only."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "adjit", site / "adjit", ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    yield site, home
    make_writable(tmp_path)


def run(site: pathlib.Path, home: pathlib.Path, as_user: bool = True, **env: str):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ADJIT_", "NUMBA_"))}
    environ.pop("XDG_CACHE_HOME", None)
    # the interpreter tier off: these processes test the native code and its caches
    environ.update(PYTHONPATH=str(site), HOME=str(home), ADJIT_TIERED="0", **env)
    argv = [sys.executable, "-c", PROGRAM]
    proc = subprocess.run(
        unprivileged(argv) if as_user else argv,
        env=environ,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def check_numbers(result: dict) -> None:
    x = np.linspace(-1.0, 1.0, 300)
    t = np.tanh(x)
    np.testing.assert_allclose(result["value"], np.sum(t**2), rtol=1e-13)
    np.testing.assert_allclose(result["grad"], 2 * t * (1 - t**2), rtol=1e-13, atol=1e-15)


def test_children_cannot_write_read_only_directories(tmp_path):
    # the premise of the tests below, as root too
    locked = tmp_path / "locked"
    locked.mkdir()
    make_read_only(locked)
    code = f"open({str(locked / 'x')!r}, 'w')"
    proc = subprocess.run(unprivileged([sys.executable, "-c", code]), capture_output=True)
    make_writable(locked)
    assert proc.returncode != 0 and b"PermissionError" in proc.stderr


@pytest.mark.parametrize("cache_setting", [None, "off"])
def test_read_only_install_and_home(install, cache_setting):
    site, home = install
    make_read_only(site)
    make_read_only(home)
    env = {} if cache_setting is None else {"ADJIT_CACHE_DIR": cache_setting}
    result, stderr = run(site, home, **env)
    check_numbers(result)
    warnings = stderr.count("AdjitCacheWarning")
    # an unusable cache is reported once; a cache turned off is not a problem to report
    assert warnings == (1 if cache_setting is None else 0), stderr
    assert "Traceback" not in stderr


def test_read_only_install_caches_in_the_cache_directory(install, tmp_path):
    site, home = install
    make_read_only(site)
    make_read_only(home)
    cache = tmp_path / "cache"
    first, stderr = run(site, home, ADJIT_CACHE_DIR=str(cache))
    assert "AdjitCacheWarning" not in stderr, stderr
    assert list((cache / "native").rglob("*.nbi"))  # the helpers' native code
    second, stderr = run(site, home, ADJIT_CACHE_DIR=str(cache))
    assert "AdjitCacheWarning" not in stderr, stderr
    check_numbers(first)
    check_numbers(second)
    # compiled once, then loaded (the entries of f and grad f; what they call is inside them)
    assert first["hits"] == 0 and first["misses"] >= 2
    assert second["hits"] >= 2 and second["misses"] == 0


def test_cache_filled_by_another_user_then_read_only(install, tmp_path):
    site, home = install
    cache = tmp_path / "cache"
    filled, _ = run(site, home, as_user=False, ADJIT_CACHE_DIR=str(cache))
    assert filled["hits"] == 0 and filled["misses"] >= 2
    make_read_only(site)
    make_read_only(home)
    make_read_only(cache)
    result, stderr = run(site, home, ADJIT_CACHE_DIR=str(cache))
    check_numbers(result)
    assert result["hits"] >= 2 and result["misses"] == 0  # loaded, not compiled again
    assert "AdjitCacheWarning" not in stderr, stderr


def test_read_only_cache_without_native_code(install, tmp_path):
    # generated modules present, Numba's files for them gone: compiled in memory, said once
    site, home = install
    cache = tmp_path / "cache"
    run(site, home, as_user=False, ADJIT_CACHE_DIR=str(cache))
    for path in [*cache.glob("__pycache__/*.nb[ic]")]:
        path.unlink()
    make_read_only(site)
    make_read_only(home)
    make_read_only(cache)
    result, stderr = run(site, home, ADJIT_CACHE_DIR=str(cache))
    check_numbers(result)
    assert stderr.count("AdjitCacheWarning") == 1, stderr


def test_missing_dependency_is_one_clear_line():
    code = "import sys; sys.modules['scipy'] = None; import adjit"  # as if not installed
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "adjit needs scipy" in last and "pip install" in last, proc.stderr


def test_suite_writes_to_a_temporary_cache():
    # conftest.py: the test suite never fills the user's ~/.cache/adjit
    from adjit.codegen.cache import cache_dir

    if os.environ.get("ADJIT_TEST_CACHE_DIR"):
        pytest.skip("ADJIT_TEST_CACHE_DIR names the cache on purpose")
    directory = cache_dir()
    assert directory is not None
    assert pathlib.Path(tempfile.gettempdir()) in directory.resolve().parents
    assert pathlib.Path.home() not in directory.resolve().parents
