"""Tests of the on-disk cache of generated modules (adjit.codegen.cache)."""

import inspect
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import traceback
import warnings

import numpy as np
import pytest
from unprivileged import unprivileged

from adjit.codegen import cache, native_cache
from adjit.codegen.cache import AdjitCacheWarning, cache_dir, load_module, set_cache_dir

REPO = pathlib.Path(__file__).resolve().parents[1]


def make_source(offset: float = 1.0) -> str:
    return textwrap.dedent(
        f"""\
        import numba
        import numpy as np


        @numba.njit(cache=CACHE)
        def entry(x):
            return x * 2.0 + {offset!r}


        @numba.njit(cache=CACHE)
        def total(a):
            s = 0.0
            for i in range(a.shape[0]):
                s += entry(a[i])
            return s


        def fails(x):
            raise ValueError("boom")
        """
    )


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    """Each test: its own cache directory, an empty memo, no warnings given yet."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("ADJIT_CACHE_DIR", str(directory))
    monkeypatch.setattr(cache, "_override", cache._UNSET)
    monkeypatch.setattr(cache, "_memo", {})
    monkeypatch.setattr(native_cache, "_warned", set())
    return directory


def entries(directory: pathlib.Path) -> list[pathlib.Path]:
    return sorted(directory.glob("*.py"))


def run_python(
    code: str, directory: pathlib.Path, *args: str, as_user: bool = False, **popen
) -> subprocess.Popen:
    """`python -c code args`; as_user: without root's right to ignore file permissions."""
    env = dict(os.environ, ADJIT_CACHE_DIR=str(directory), PYTHONPATH=str(REPO))
    env.pop("NUMBA_CACHE_DIR", None)
    argv = [sys.executable, "-c", code, *args]
    return subprocess.Popen(
        unprivileged(argv) if as_user else argv,
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def check_output(proc: subprocess.Popen, timeout: float = 60) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


# --- cache_dir / set_cache_dir ------------------------------------------------------------


def test_cache_dir_reads_environment_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("ADJIT_CACHE_DIR", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a"
    for value in ("off", "OFF", "0", ""):
        monkeypatch.setenv("ADJIT_CACHE_DIR", value)
        assert cache_dir() is None


def test_cache_dir_default_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv("ADJIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "adjit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "adjit"


def test_set_cache_dir_overrides_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ADJIT_CACHE_DIR", "off")
    set_cache_dir(tmp_path / "b")
    assert cache_dir() == tmp_path / "b"
    set_cache_dir(str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.setenv("ADJIT_CACHE_DIR", str(tmp_path / "d"))
    set_cache_dir(None)
    assert cache_dir() is None


# --- load_module in one process ------------------------------------------------------------


def test_writes_entry_named_by_content_hash(fresh_cache):
    module = load_module(make_source(), "my-fn")
    assert module.entry(3.0) == 7.0
    assert module.total(np.arange(3.0)) == 9.0
    assert module.CACHE is True
    (path,) = entries(fresh_cache)
    assert path.name.startswith("adjit_my_fn_") and len(path.stem) == len("adjit_my_fn_") + 24
    assert module.__file__ == str(path)
    assert path.read_text().endswith(make_source())
    assert "return x * 2.0 + 1.0" in inspect.getsource(module.entry.py_func)
    # Different source (or versions): different entry.
    load_module(make_source(2.0), "my-fn")
    assert len(entries(fresh_cache)) == 2


def test_module_file_names_the_file_load_module_keeps(fresh_cache, monkeypatch):
    # the interpreter tier asks module_file whether native code can be on disk
    predicted = cache.module_file(make_source(4.0), "my-fn")
    assert not predicted.exists()
    module = load_module(make_source(4.0), "my-fn")
    assert predicted == pathlib.Path(module.__file__) and predicted.exists()
    monkeypatch.setenv("ADJIT_CACHE_DIR", "off")
    assert cache.module_file(make_source(4.0), "my-fn") is None


def test_source_without_a_final_newline_loads(fresh_cache):
    module = load_module("def entry(x):\n    return x + 1", "no-newline")
    assert module.entry(1) == 2
    assert pathlib.Path(module.__file__).read_text().endswith("return x + 1\n")


def test_same_source_returns_same_module(fresh_cache):
    first = load_module(make_source())
    assert load_module(make_source()) is first
    assert load_module(make_source(), "other_hint") is first
    assert load_module(make_source(5.0)) is not first


def test_valid_entry_is_reused_untouched(fresh_cache):
    load_module(make_source())
    (path,) = entries(fresh_cache)
    stamp = path.stat().st_mtime_ns
    cache._memo.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_module(make_source()).entry(1.0) == 3.0
    assert path.stat().st_mtime_ns == stamp  # rewriting would invalidate Numba's index


@pytest.mark.parametrize("how", ["disabled-env", "disabled-api"])
def test_disabled_cache_compiles_in_memory(fresh_cache, monkeypatch, how):
    if how == "disabled-env":
        monkeypatch.setenv("ADJIT_CACHE_DIR", "off")
    else:
        set_cache_dir(None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module = load_module(make_source())
    assert module.CACHE is False
    assert module.entry(3.0) == 7.0
    assert not fresh_cache.exists()
    check_source_is_visible(module)


def check_source_is_visible(module):
    assert "return x * 2.0 + 1.0" in inspect.getsource(module.entry.py_func)
    assert 'raise ValueError("boom")' in inspect.getsource(module.fails)
    with pytest.raises(ValueError) as caught:
        module.fails(1.0)
    assert 'raise ValueError("boom")' in "".join(traceback.format_tb(caught.tb))


# --- corrupt entries -----------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "edited", "header"])
def test_corrupt_entry_is_rebuilt(fresh_cache, damage):
    module = load_module(make_source())
    assert module.entry(3.0) == 7.0
    (path,) = entries(fresh_cache)
    good = path.read_bytes()
    damaged = {
        "truncated": good[: len(good) // 2],
        "garbage": b"\x00\xff not python \x9c" * 10,
        "empty": b"",
        # Still valid Python, but it would give a wrong result.
        "edited": good.replace(b"x * 2.0 + 1.0", b"x * 2.0 + 9.0"),
        "header": good.replace(b"CACHE = True", b"CACHE = False"),
    }[damage]
    assert damaged != good
    path.write_bytes(damaged)
    cache._memo.clear()
    with pytest.warns(AdjitCacheWarning, match="corrupt"):
        module = load_module(make_source())
    assert module.entry(3.0) == 7.0
    assert module.total(np.ones(4)) == 12.0
    assert path.read_bytes() == good
    assert not list(fresh_cache.glob("*.tmp"))


def test_corrupt_entries_warn_once_per_process(fresh_cache):
    for offset in (1.0, 2.0):
        load_module(make_source(offset))
    for path in entries(fresh_cache):
        path.write_text("garbage")
    cache._memo.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_module(make_source(1.0)).entry(0.0) == 1.0
        assert load_module(make_source(2.0)).entry(0.0) == 2.0
    assert [w.category for w in caught] == [AdjitCacheWarning]


# --- corrupt Numba cache files -------------------------------------------------------------


@pytest.mark.parametrize(
    "damage", ["index-garbage", "index-truncated", "data-garbage", "data-truncated"]
)
def test_corrupt_numba_cache_recompiles(fresh_cache, damage):
    source = make_source(4.0)
    module = load_module(source)
    assert module.entry(3.0) == 10.0
    numba_dir = pathlib.Path(module.entry.stats.cache_path)
    suffix = ".nbi" if damage.startswith("index") else ".nbc"
    files = sorted(numba_dir.glob(f"{module.__name__}.entry-*{suffix}"))
    assert files
    for f in files:
        data = f.read_bytes()
        f.write_bytes(b"garbage\n" if damage.endswith("garbage") else data[: len(data) // 2])

    # Numba alone would raise the unpickling error from the call; adjit recompiles.
    cache._memo.clear()
    module = load_module(source)
    with pytest.warns(AdjitCacheWarning, match="Numba"):
        assert module.entry(3.0) == 10.0
    assert sum(module.entry.stats.cache_misses.values()) == 1

    # The recompiled code was saved: the next load is a cache hit again.
    cache._memo.clear()
    module = load_module(source)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert module.entry(3.0) == 10.0
    assert sum(module.entry.stats.cache_hits.values()) == 1


# --- unusable cache directory --------------------------------------------------------------


def test_directory_under_a_file_falls_back_to_memory(fresh_cache, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("ADJIT_CACHE_DIR", str(blocker / "sub"))  # not creatable, even by root
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = load_module(make_source(1.0))
        second = load_module(make_source(2.0))
    assert [w.category for w in caught] == [AdjitCacheWarning]
    assert "unusable" in str(caught[0].message)
    assert first.CACHE is False and second.CACHE is False
    assert first.entry(3.0) == 7.0 and second.entry(3.0) == 8.0
    check_source_is_visible(first)


READ_ONLY = """
import sys, warnings
from adjit.codegen.cache import AdjitCacheWarning, load_module
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    new = load_module(sys.argv[1])
assert [w.category for w in caught] == [AdjitCacheWarning], caught
assert "unusable" in str(caught[0].message)
assert new.CACHE is False and new.entry(3.0) == 8.0
old = load_module(sys.argv[2])  # existing entries are still read
assert old.CACHE is True and old.entry(3.0) == 7.0
print("ok")
"""


def test_read_only_directory(fresh_cache):
    load_module(make_source(1.0))  # a valid entry made before the directory turned read-only
    fresh_cache.chmod(0o500)
    try:
        # in a child without root's right to write anywhere (see test_deployment.py)
        proc = run_python(
            READ_ONLY,
            fresh_cache,
            make_source(2.0),
            make_source(1.0),
            as_user=True,
        )
        assert check_output(proc) == "ok\n"
    finally:
        fresh_cache.chmod(0o700)


def test_helpers_keep_their_native_code_beside_a_writable_package():
    # adjit's locators come after Numba's in-tree one: ADJIT_CACHE_DIR only when
    # the package is read-only (test_deployment.py)
    from adjit.codegen import pairwise

    package_cache = pathlib.Path(pairwise.__file__).parent / "__pycache__"
    assert pathlib.Path(pairwise.block_sum._cache.cache_path) == package_cache


NEW_SIGNATURE = """
import sys
from adjit.codegen.cache import load_module
module = load_module(sys.argv[1])
assert module.entry(3.0) == 7.0  # loaded from the read-only cache
assert module.entry(3) == 7.0  # a new signature: compiled, and not saved
print("ok")
"""


def test_read_only_cache_compiles_a_new_signature_without_saving_it(fresh_cache):
    load_module(make_source(1.0)).entry(3.0)  # Numba's index of the entry, for floats
    pycache = fresh_cache / "__pycache__"
    assert list(pycache.glob("*.nbi"))
    for path in (pycache, fresh_cache):
        path.chmod(0o500)
    try:
        proc = run_python(NEW_SIGNATURE, fresh_cache, make_source(1.0), as_user=True)
        out, err = proc.communicate(timeout=120)
    finally:
        for path in (fresh_cache, pycache):
            path.chmod(0o700)
    assert proc.returncode == 0 and out == "ok\n", err
    assert err.count("AdjitCacheWarning") == 1 and "cannot save" in err, err


# --- several processes ---------------------------------------------------------------------

TIMED = """
import json, sys, time
import numba
from adjit.codegen.cache import load_module
numba.njit(lambda x: x + 1)(1.0)  # Numba's one-time set-up, so that only our function is timed
t0 = time.perf_counter()
module = load_module(sys.argv[1], "timed")
t1 = time.perf_counter()
value = module.entry(3.0)
t2 = time.perf_counter()
stats = module.entry.stats
print(json.dumps({"load": t1 - t0, "first_call": t2 - t1, "value": value,
                  "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""


def test_second_process_hits_numba_cache(fresh_cache):
    source = make_source(3.0)
    cold = json.loads(check_output(run_python(TIMED, fresh_cache, source)))
    warm = json.loads(check_output(run_python(TIMED, fresh_cache, source)))
    print(f"first call: cold {cold['first_call']:.3f} s, warm {warm['first_call']:.3f} s")
    assert cold["value"] == warm["value"] == 9.0
    assert (cold["hits"], cold["misses"]) == (0, 1)
    assert (warm["hits"], warm["misses"]) == (1, 0)
    assert warm["first_call"] < cold["first_call"] / 2
    assert len(entries(fresh_cache)) == 1


RACER = """
import os, sys, time, warnings
from adjit.codegen import cache
warnings.simplefilter("error", cache.AdjitCacheWarning)
sources = sys.argv[2:]
print("ready", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.001)
for i, source in enumerate(sources):
    assert cache.load_module(source, "race").entry(3.0) == 6.0 + i
print("ok")
"""


def test_concurrent_writers_both_succeed(fresh_cache, tmp_path):
    go = tmp_path / "go"
    sources = [make_source(float(i)) for i in range(8)]
    procs = [run_python(RACER, fresh_cache, str(go), *sources) for _ in range(2)]
    for proc in procs:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
    go.touch()
    for proc in procs:
        assert check_output(proc) == "ok\n"
    assert len(entries(fresh_cache)) == len(sources)
    assert not list(fresh_cache.glob(".*"))  # no temporary files left behind
    for i, source in enumerate(sources):
        assert load_module(source).entry(3.0) == 6.0 + i


def test_unusable_directory_in_subprocess(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code = "from adjit.codegen.cache import load_module; import sys\n"
    code += "print(load_module(sys.argv[1]).entry(3.0))"
    proc = run_python(code, blocker / "sub", make_source())
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == "7.0\n"
    assert err.count("AdjitCacheWarning") == 1


def test_generated_source_is_cached_by_ir_text_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("ADJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native_cache, "_warned", set())
    cache.store_source("func @f ...", "def entry(x):\n    return (x,)\n")
    assert cache.load_source("func @f ...") == "def entry(x):\n    return (x,)\n"
    assert cache.load_source("func @g ...") is None
    (entry,) = tmp_path.glob("adjit_source_*.txt")
    entry.write_text(entry.read_text().replace("return (x,)", "return (x + 1,)"))
    with pytest.warns(cache.AdjitCacheWarning, match="corrupt"):
        assert cache.load_source("func @f ...") is None


def test_jit_survives_a_corrupt_source_entry(tmp_path, monkeypatch):
    import adjit

    monkeypatch.setenv("ADJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native_cache, "_warned", set())
    x = np.linspace(0.0, 1.0, 5)
    np.testing.assert_allclose(adjit.jit(lambda v: np.exp(v) * 3.0)(x), np.exp(x) * 3.0)
    (entry,) = tmp_path.glob("adjit_source_*.txt")
    entry.write_text(entry.read_text().replace("3.0", "4.0"))
    with pytest.warns(cache.AdjitCacheWarning):
        got = adjit.jit(lambda v: np.exp(v) * 3.0)(x)  # a new Jitted: looks the entry up again
    np.testing.assert_allclose(got, np.exp(x) * 3.0)
