"""target="cuda": the programs of cuda_programs.py against the CPU backend, and compiled to PTX.

The kernels run on a GPU when one is present, otherwise on Numba's CUDA simulator
(NUMBA_ENABLE_CUDASIM=1, which must be set before Numba is imported: hence a
subprocess). Every kernel is also compiled to PTX for sm_90 by numba-cuda's
compiler, which needs the CUDA toolkit wheels but no GPU: the simulator runs the
kernels as Python and accepts code the real compiler rejects. Both skip only
when numba-cuda (the `cuda` extra) is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import adjit

HERE = Path(__file__).resolve().parent
PROGRAMS = [
    "elementwise", "reductions", "matmul", "softmax", "gather", "mlp_grad", "vmap_grad", "while_loop",
    "for_loop_grad", "gmm_grad",
]  # fmt: skip
needs_numba_cuda = pytest.mark.skipif(
    importlib.util.find_spec("numba_cuda") is None,
    reason="numba-cuda is not installed (pip install 'adjit[cuda]')",
)


def _env(simulator: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return env


def _python(code: str, simulator: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(simulator)
    )


def _gpu_present() -> bool:
    probe = _python("from numba import cuda; print(cuda.is_available())")
    return probe.stdout.strip().endswith("True")


def _reports(mode: str, simulator: bool) -> dict[str, dict]:
    script = str(HERE / "cuda_programs.py")
    done = subprocess.run(
        [sys.executable, script, mode], capture_output=True, text=True, env=_env(simulator)
    )
    reports = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
            reports[report["name"]] = report
    assert reports, f"{mode} printed no reports:\n{done.stdout}\n{done.stderr}"
    return reports


@pytest.fixture(scope="module")
def semantics() -> dict[str, dict]:
    return _reports("run", simulator=not _gpu_present())


@pytest.fixture(scope="module")
def ptx() -> dict[str, dict]:
    return _reports("ptx", simulator=False)


@needs_numba_cuda
@pytest.mark.parametrize("name", PROGRAMS)
def test_cuda_matches_cpu(semantics, name):
    report = semantics[name]
    assert "error" not in report, report.get("error")
    assert report["difference"] < 1e-10


@needs_numba_cuda
@pytest.mark.parametrize("name", ["grad_target", "jacrev_target", "vmap_target"])
def test_target_option_of_transforms(semantics, name):
    report = semantics[name]
    assert "error" not in report, report.get("error")
    assert report["difference"] < 1e-10


@needs_numba_cuda
def test_reductions_do_not_depend_on_the_grid(semantics):
    assert semantics["reductions"]["grid_independent"]


@needs_numba_cuda
def test_out_of_range_index_raises(semantics):
    # the CPU backend's error: kernels raise a flag that the host checks
    assert semantics["gather"]["index_error"] == "index out of bounds in a run-time (traced) index"


@needs_numba_cuda
def test_cuda_device_arrays_in_and_out(semantics):
    report = semantics["elementwise"]
    assert report["device_result"], "device arguments must give device results"
    assert report["device_difference"] < 1e-10


@needs_numba_cuda
@pytest.mark.parametrize("name", PROGRAMS)
def test_every_kernel_compiles_to_ptx(ptx, name):
    report = ptx[name]
    assert "error" not in report, report.get("error")
    assert report["kernels"] > 0


def test_cuda_unavailable_says_how_to_get_it():
    if importlib.util.find_spec("numba") and _gpu_present():
        pytest.skip("a GPU is present: target='cuda' is available")
    done = _python(
        "import adjit\n"
        "try:\n"
        "    adjit.jit(lambda x: x + 1.0, target='cuda')\n"
        "except adjit.AdjitError as e:\n"
        "    print('ERROR', e)\n"
    )
    assert "ERROR" in done.stdout, done.stdout + done.stderr
    assert "adjit[cuda]" in done.stdout and "NUMBA_ENABLE_CUDASIM=1" in done.stdout


def test_unknown_target_is_named():
    with pytest.raises(adjit.AdjitError, match="unknown target 'tpu'"):
        adjit.jit(lambda x: x, target="tpu")
    with pytest.raises(adjit.AdjitError, match="unknown target 'gpu'"):
        adjit.grad(lambda x: np.sum(x), target="gpu")
