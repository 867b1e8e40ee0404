"""Build generated modules into one CPython extension module with Numba's AOT compiler.

`numba.pycc` (pending deprecation in Numba, with no successor yet) compiles
functions with explicit signatures into a shared library that needs only NumPy
at run time (Numba's runtime and helpers are linked in). Its limits shape this:

* it compiles the exported function itself with default flags (Python's error
  model: a division by zero would raise), so each exported `sigN` is a thin
  wrapper calling the generated `entry`, which keeps its own options
  (error_model='numpy'); dispatchers called from it, adjit's vecmath and
  pairwise helpers included, are compiled into the library;
* no `parallel=True` (no threading layer in the library): the generated code
  must be serial (api.export generates it again without prange);
* explicit signatures: the entry is compiled once here on the example call, and
  its argument and return types become the exported signature.
"""

from __future__ import annotations

import pathlib
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import AdjitError


def _load(source: str, index: int) -> types.ModuleType:
    """Execute generated `source` in memory (no disk cache) with an export wrapper."""
    name = f"adjit_pycc_sig{index}"
    n = source.split("def entry(", 1)[1].split(")", 1)[0].count(",") + 1
    params = ", ".join(f"a{i}" for i in range(n))
    text = f"CACHE = False\n{source}\n\ndef export({params}):\n    return entry({params})\n"
    module = types.ModuleType(name)
    sys.modules[name] = module  # Numba looks functions' modules up by name
    exec(compile(text, f"<{name}>", "exec"), module.__dict__)
    return module


def _as_entry_argument(x: Any) -> Any:
    a = np.asarray(x)
    return a[()] if a.ndim == 0 else np.ascontiguousarray(a)


def build_extension(
    directory: pathlib.Path, name: str, sources: Sequence[str], examples: Sequence[list[Any]]
) -> pathlib.Path:
    """Compile each source's entry as `name.sig{i}` into an extension module in `directory`.

    `examples[i]` are flat arguments of entry i (constants included): they fix its types.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycc's pending-deprecation warning
        from numba.pycc import CC

    cc = CC(name)
    cc.output_dir = str(directory)
    cc.verbose = False
    for i, (source, example) in enumerate(zip(sources, examples)):
        module = _load(source, i)
        args = [_as_entry_argument(x) for x in example]
        module.entry(*args)  # compiles it: its signature, return type included
        (signature,) = module.entry.nopython_signatures
        cc.export(f"sig{i}", signature)(module.export)
    try:
        cc.compile()
    except Exception as exc:  # a C compiler or linker failure, reported as ours
        raise AdjitError(f"export(kind='pycc'): building the extension failed: {exc}") from exc
    (built,) = directory.glob(f"{name}.*")
    return built
