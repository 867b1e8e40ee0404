"""Ahead-of-time export: a compiled function as a package that runs without adjit.

`write_package` turns compiled signatures (generated source, argument and result
layouts, hidden constant arrays, an example call) into a Python package:

    NAME/__init__.py      the exported function, an `Exported` of its signatures
    NAME/_runtime.py      flatten/unflatten and signature matching (aot_runtime.py)
    NAME/_sig0.py, ...    the generated Numba source of each signature (kind="numba")
    NAME/_native*.so      all signatures compiled by numba.pycc (kind="pycc")
    NAME/_vecmath.py, NAME/_pairwise.py, NAME/_linalg.py
                                          adjit's helpers the generated code imports
    NAME/_kernels_scan.py                 (scans and sorts along an axis)
    NAME/_c0_0.npy, ...   the large constants (closed-over weights) of each signature

kind="numba" needs NumPy and Numba at run time; the package is then imported
and called once per signature in a subprocess, so Numba's cache beside the
files (`__pycache__`) holds the native code and a new process does not compile.
kind="pycc" builds one CPython extension module with Numba's AOT compiler and
needs only NumPy at run time, and SciPy where the code calls BLAS (matrix
products): Numba's helpers linked into the module look BLAS up in SciPy.
"""

from __future__ import annotations

import keyword
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import types
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import tree
from ..errors import AdjitError
from . import aot_runtime, kernels_linalg, kernels_scan, pairwise, vecmath

__all__ = ["KINDS", "ExportSignature", "write_package"]

KINDS = ("numba", "pycc")
MARKER = "# adjit export package"


@dataclass
class ExportSignature:
    """One compiled signature of the function to export."""

    source: str  # generated module: entry(*flat_args, *constants) -> tuple of results
    in_tree: tree.TreeDef  # structure of (args, kwargs)
    params: list[tuple[str, tuple[int, ...]]]  # dtype and shape of each flat argument
    out_tree: tree.TreeDef
    results: list[tuple[str, tuple[int, ...]]]
    constants: Sequence[np.ndarray]
    example: list[Any]  # the flat leaves of an example call


def literal(t: tree.TreeDef) -> tuple:
    """A TreeDef as the plain literal the run-time module uses."""
    if t.kind == tree.LEAF:
        return aot_runtime.LEAF
    if t.kind == "static":
        return ("static", t.static)
    children = tuple(literal(c) for c in t.children)
    return ("dict", t.keys, children) if t.kind == "dict" else (t.kind, children)


def _helper_source(module: types.ModuleType) -> str:
    """A helper module's source with plain `numba.njit(cache=True)` for adjit's njit_cached."""
    text = pathlib.Path(module.__file__).read_text()
    line = "from .native_cache import njit_cached\n"
    if line not in text:
        raise AdjitError(f"export: {module.__name__} no longer imports njit_cached as expected")
    plain = (
        "import numba\n\n\n"
        "def njit_cached(**options):\n"
        "    return numba.njit(cache=True, **options)\n"
    )
    return text.replace(line, plain)


_ADJIT_IMPORT = re.compile(r"^\s*(from|import)\s+adjit\b", re.MULTILINE)


def standalone_source(source: str) -> str:
    """Generated source importing the package's helper copies, with Numba's cache on."""
    text = source.replace(f"from {pairwise.__name__} import", "from ._pairwise import")
    text = text.replace(f"from {vecmath.__name__} import", "from ._vecmath import")
    text = text.replace(f"from {kernels_scan.__name__} import", "from ._kernels_scan import")
    text = text.replace(f"from {kernels_linalg.__name__} import", "from ._linalg import")
    if _ADJIT_IMPORT.search(text):
        raise AdjitError("export: the generated code imports adjit modules other than its helpers")
    return f"CACHE = True\n{text}"


def _check_target(path: pathlib.Path, name: str) -> None:
    for what, ident in (("package name (the last component of path)", path.name), ("name", name)):
        if not ident.isidentifier() or keyword.iskeyword(ident):
            raise ValueError(f"export: the {what} {ident!r} is not a Python identifier")
    if name.startswith("_"):
        raise ValueError(f"export: name {name!r} must not start with an underscore")
    if path.exists():
        init = path / "__init__.py"
        earlier = init.is_file() and init.read_text().startswith(MARKER)
        if not path.is_dir() or (any(path.iterdir()) and not earlier):
            raise FileExistsError(
                f"export: {path} exists and is not a package written by adjit.export; "
                "choose another path or remove it"
            )


def write_package(
    path: str | os.PathLike,
    name: str,
    signatures: Sequence[ExportSignature],
    kind: str = "numba",
    origin: str = "",
) -> pathlib.Path:
    """Write the package for `signatures` at `path` and warm or build its native code."""
    if kind not in KINDS:
        raise ValueError(f"export: kind={kind!r}; choose one of {', '.join(KINDS)}")
    path = pathlib.Path(path).resolve()
    _check_target(path, name)
    # build beside the target, then swap it in: a failed export leaves no half package
    path.parent.mkdir(parents=True, exist_ok=True)
    build = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        staged = build / path.name
        staged.mkdir()
        _write(staged, name, signatures, kind, origin)
        if path.exists():
            shutil.rmtree(path)
        # a rename keeps the files' mtimes, which Numba's cache index checks
        os.replace(staged, path)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    if kind == "numba":
        warm(path, name, signatures)
    return path


def _write(
    root: pathlib.Path, name: str, signatures: Sequence[ExportSignature], kind: str, origin: str
) -> None:
    (root / "_runtime.py").write_text(pathlib.Path(aot_runtime.__file__).read_text())
    entries = []
    if kind == "numba":
        (root / "_vecmath.py").write_text(_helper_source(vecmath))
        (root / "_pairwise.py").write_text(_helper_source(pairwise))
        (root / "_kernels_scan.py").write_text(_helper_source(kernels_scan))
        (root / "_linalg.py").write_text(_helper_source(kernels_linalg))
        for i, sig in enumerate(signatures):
            (root / f"_sig{i}.py").write_text(standalone_source(sig.source))
            entries.append(f"_sig{i}.entry")
        imports = [f"from . import {', '.join(f'_sig{i}' for i in range(len(signatures)))}"]
        needs = "NumPy and Numba"
    else:
        from .aot_pycc import build_extension

        sources = [sig.source for sig in signatures]
        examples = [[*sig.example, *sig.constants] for sig in signatures]
        build_extension(root, "_native", sources, examples)
        entries = [f"_native.sig{i}" for i in range(len(signatures))]
        imports = ["from . import _native"]
        needs = "NumPy"
        if any("np.dot(" in source for source in sources):
            # Numba's linked-in helpers find BLAS in SciPy when first called, and
            # abort the process if it is missing: fail at import instead
            imports.insert(0, "import scipy.linalg.cython_blas  # noqa: F401  (BLAS for np.dot)")
            needs = "NumPy and SciPy (BLAS)"
    lines = [
        MARKER,
        f'"""{name}: {origin or name}, exported by adjit.export (kind={kind!r}).',
        "",
        f"Needs {needs} at run time, not adjit. Call {name}(...) with the argument",
        "structures, dtypes and shapes it was exported for (listed in SIGNATURES).",
        '"""',
        "",
        "import os as _os",
        "",
        "from ._runtime import Exported as _Exported",
        "from ._runtime import Signature as _Signature",
        "from ._runtime import load_constants as _load_constants",
        *imports,
        "",
        "_here = _os.path.dirname(_os.path.abspath(__file__))",
        f"{name} = _Exported(",
        f"    {name!r},",
        "    [",
    ]
    for i, sig in enumerate(signatures):
        names = [f"_c{i}_{j}.npy" for j in range(len(sig.constants))]
        for fname, array in zip(names, sig.constants):
            np.save(root / fname, np.ascontiguousarray(array), allow_pickle=False)
        lines += [
            "        _Signature(",
            f"            {entries[i]},",
            f"            {literal(sig.in_tree)!r},",
            f"            {[(d, tuple(s)) for d, s in sig.params]!r},",
            f"            {literal(sig.out_tree)!r},",
            f"            {[(d, tuple(s)) for d, s in sig.results]!r},",
            f"            _load_constants(_here, {names!r}),",
            "        ),",
        ]
    lines += [
        "    ],",
        ")",
        f"SIGNATURES = [s.expected() for s in {name}.signatures]",
        f"__all__ = [{name!r}, 'SIGNATURES']",
        "",
    ]
    (root / "__init__.py").write_text("\n".join(lines))


_WARM = """\
import importlib, sys
sys.modules["adjit"] = None  # the package must not need it
sys.path.insert(0, {parent!r})
import numpy as np
package = importlib.import_module({package!r})
runtime = importlib.import_module({package!r} + "._runtime")
function = getattr(package, {name!r})
for i, sig in enumerate(function.signatures):
    with np.load({examples!r}.format(i), allow_pickle=False) as data:
        leaves = [data[f"a{{j}}"] for j in range(len(data.files))]
    args, kwargs = runtime.unflatten(sig.in_tree, leaves)
    function(*args, **kwargs)
"""


def warm(path: pathlib.Path, name: str, signatures: Sequence[ExportSignature]) -> None:
    """Import the package in a fresh process and call each signature once, so that
    Numba compiles and caches the native code beside the files."""
    with tempfile.TemporaryDirectory() as tmp:
        examples = os.path.join(tmp, "example{}.npz")
        for i, sig in enumerate(signatures):
            np.savez(
                examples.format(i), **{f"a{j}": np.asarray(a) for j, a in enumerate(sig.example)}
            )
        script = _WARM.format(
            parent=str(path.parent), package=path.name, name=name, examples=examples
        )
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True
        )
    if done.returncode != 0:
        raise AdjitError(
            f"export: the package at {path} failed to import or run in a fresh process:\n"
            f"{done.stderr.strip()}"
        )
    for line in done.stderr.splitlines():
        if "Warning" in line:
            warnings.warn(f"export: warming the package: {line}", stacklevel=3)
