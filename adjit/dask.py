"""Data-parallel gradients on a Dask cluster: `adjit.dask.value_and_grad`.

For a loss that is a sum or a mean over the rows of its data,

    vg = adjit.dask.value_and_grad(loss, reduce="mean")
    value, grads = vg(params, X, y)   # X, y: dask arrays chunked along rows, or lists of chunks

gives what `adjit.value_and_grad(loss)(params, X, y)` gives on the whole data,
computed chunk by chunk where the chunks live. Each chunk task runs
`adjit.value_and_grad(loss)` on its rows: the user's function travels to the
workers pickled (cloudpickle, as Dask sends every function) and is compiled
there once per worker process and chunk shape (a per-process cache keyed by a
hash of the pickled function; adjit's disk cache lets a second worker load the
native code). The per-chunk (value, gradient) pairs are summed in a tree of
`split_every`-way combine tasks; for "mean" each chunk counts by its row count.
With a `distributed.Client` active the call's constant part (the function,
parameters and any other non-data arguments) is sent to every worker once per
call (`client.scatter(..., broadcast=True)`); without one, Dask's default
scheduler runs the same graph in this process. Start workers under
`dask.config.set(worker_config())`: Dask's default malloc settings for its
workers make every large temporary fresh pages (see WORKER_MALLOC).

Needs the `dask` extra: `pip install "adjit[dask]"` (dask[array] and distributed).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

try:
    import dask
    import dask.array as da
except ImportError as e:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "adjit.dask needs Dask: install adjit's 'dask' extra (pip install \"adjit[dask]\")"
    ) from e

import numpy as np

from . import tree
from .api import trace
from .api import value_and_grad as _value_and_grad
from .errors import AdjitError
from .ir import interpret

__all__ = [
    "REDUCTIONS",
    "WORKER_MALLOC",
    "DaskValueAndGrad",
    "RowError",
    "value_and_grad",
    "worker_config",
]

REDUCTIONS = ("sum", "mean")
# transforms kept per worker process, most recently used last
MAX_CACHED = 32
# glibc malloc settings for the workers. Dask's nanny starts them with
# MALLOC_TRIM_THRESHOLD_=65536 (distributed.nanny.pre-spawn-environ), which also stops
# glibc from raising its mmap threshold: every temporary over 128 KiB is then fresh
# pages, a page fault per 4 KiB, and chunk gradients ran at half speed
# (benchmarks/dask_grad.py). These keep temporaries up to 32 MiB in reused heap memory.
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": 32 * 2**20, "MALLOC_TRIM_THRESHOLD_": 256 * 2**20}
# the row check compares the loss of two rows with its per-row parts to this relative tolerance
ROW_CHECK_RTOL = 1e-9


class RowError(AdjitError, ValueError):
    """A call that cannot be split into row chunks: the data's chunking, the loss (not a
    sum or mean over rows, not a scalar), or the options (reduce, argnums)."""


def value_and_grad(
    f: Callable,
    argnums: int | tuple[int, ...] = 0,
    *,
    reduce: str = "sum",
    data_argnums: int | tuple[int, ...] | None = None,
    split_every: int = 4,
    check_rows: bool = True,
) -> DaskValueAndGrad:
    """`adjit.value_and_grad(f, argnums)` of a loss summed (`reduce="sum"`) or averaged
    (`reduce="mean"`) over the rows of its data, computed chunk by chunk with Dask.

    The arguments at `data_argnums` (default: every positional argument not in
    `argnums`) are the data: each a `dask.array.Array` chunked along its first
    axis, or a list of NumPy arrays (the chunks, stacked along the first axis).
    All of them must have the same rows per chunk. The other arguments are
    sent whole to every chunk. `f(*args)` on one chunk's rows must be the sum
    (or the mean) of `f` on each of its rows: with `check_rows`, the first call
    per signature checks this on the first two rows (a trace of `f` on one and
    on two rows, run by adjit's NumPy interpreter) and raises `RowError` if not.
    """
    if reduce not in REDUCTIONS:
        raise RowError(
            f"adjit.dask.value_and_grad: reduce={reduce!r}, expected one of {REDUCTIONS}"
        )
    if not isinstance(split_every, int) or split_every < 2:
        raise RowError(
            f"adjit.dask.value_and_grad: split_every={split_every!r}, expected an int >= 2"
        )
    return DaskValueAndGrad(f, argnums, reduce, data_argnums, split_every, check_rows)


def worker_config() -> dict[str, Any]:
    """Dask settings for workers that run compiled numeric code: pass them to
    `dask.config.set(...)` before starting a cluster (see WORKER_MALLOC)."""
    return {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC.items()}


class DaskValueAndGrad:
    """The callable `adjit.dask.value_and_grad` returns: `(*args) -> (value, gradient)`."""

    def __init__(
        self,
        f: Callable,
        argnums: int | tuple[int, ...],
        reduce: str,
        data_argnums: int | tuple[int, ...] | None,
        split_every: int,
        check_rows: bool,
    ) -> None:
        self.f = f
        self.argnums = argnums
        self.reduce = reduce
        self.data_argnums = data_argnums
        self.split_every = split_every
        self.check_rows = check_rows
        self.token = _function_token(f, argnums)
        self._checked: set[Any] = set()

    def __call__(self, *args: Any) -> tuple[Any, Any]:
        diff = _positions(self.argnums, len(args), "argnums")
        if self.data_argnums is None:
            data = tuple(i for i in range(len(args)) if i not in diff)
        else:
            data = _positions(self.data_argnums, len(args), "data_argnums")
        if not data:
            raise RowError(
                "adjit.dask.value_and_grad: no data argument (every argument is in argnums)"
            )
        if set(data) & set(diff):
            raise RowError(
                f"adjit.dask.value_and_grad: argument(s) {sorted(set(data) & set(diff))} are both "
                "differentiated (argnums) and data (data_argnums)"
            )
        rows, blocks = _chunked(args, data)
        if self.check_rows:
            self._check_rows(args, data)
        template = tuple(None if i in data else a for i, a in enumerate(args))
        payload = (self.token, self.f, self.argnums, self.reduce, template, data)
        client = _client()
        if client is not None:
            # hash=False: a key of its own, not one a finished call's release may still free
            payload = client.scatter([payload], broadcast=True, hash=False)[0]
        parts = [
            dask.delayed(_chunk_task, pure=False)(payload, *chunk)
            for n, chunk in zip(rows, zip(*blocks))
            if n  # an empty chunk adds nothing to a sum and would be another signature
        ]
        root = _tree_reduce(parts, self.split_every)
        if client is not None:
            value, grads, total = client.compute(root).result()
        else:
            value, grads, total = dask.compute(root)[0]
        if self.reduce == "mean":
            value = value / total
            grads = _map(grads, lambda g: g / total)
        return value, grads

    def _check_rows(self, args: tuple, data: tuple[int, ...]) -> None:
        """Raise RowError unless f of two rows is the sum (mean) of f of each row."""
        key = _signature(args, data)
        if key in self._checked:
            return
        heads = [_first_rows(args[i], 2) for i in data]
        if len(heads[0]) < 2:
            self._checked.add(key)  # one row in all: nothing to split
            return

        def loss(rows: slice) -> float:
            call = list(args)
            for i, h in zip(data, heads):
                call[i] = h[rows]
            fn = trace(self.f)(*call)
            if len(fn.results) != 1 or fn.results[0].type.ndim != 0:
                raise RowError(
                    "adjit.dask.value_and_grad: the loss must return one scalar, got "
                    f"{', '.join(str(r.type) for r in fn.results)}"
                )
            leaves, _ = tree.flatten((tuple(call), {}))
            return float(interpret(fn, *leaves)[0])

        both, first, second = loss(slice(0, 2)), loss(slice(0, 1)), loss(slice(1, 2))
        parts = first + second if self.reduce == "sum" else (first + second) / 2
        if not abs(both - parts) <= ROW_CHECK_RTOL * max(abs(both), abs(parts)):
            other = "mean" if self.reduce == "sum" else "sum"
            raise RowError(
                f"adjit.dask.value_and_grad: the loss is not a {self.reduce} over rows: on the "
                f"first two rows it is {both!r}, the {self.reduce} of its values on each row is "
                f"{parts!r}. Pass reduce={other!r} if it is a {other}; a loss that mixes rows "
                "(or adds a term once per call) cannot be split into chunks"
            )
        self._checked.add(key)


def _function_token(f: Callable, argnums: Any) -> str:
    """A key for the per-worker cache: equal for the same pickled function."""
    import cloudpickle  # a dependency of dask

    try:
        data = cloudpickle.dumps((f, argnums))
    except Exception:  # noqa: BLE001 - unpicklable: runs only with the threaded scheduler
        return uuid.uuid4().hex
    return hashlib.sha256(data).hexdigest()


def _positions(nums: int | tuple[int, ...], nargs: int, what: str) -> tuple[int, ...]:
    items = (nums,) if isinstance(nums, int) else tuple(nums)
    for i in items:
        if not isinstance(i, int) or not -nargs <= i < nargs:
            raise RowError(
                f"adjit.dask.value_and_grad: {what}={nums!r} is out of range for a call with "
                f"{nargs} positional argument(s)"
            )
    return tuple(i % nargs for i in items)


def _chunked(args: tuple, data: tuple[int, ...]) -> tuple[tuple[int, ...], list[list[Any]]]:
    """The rows per chunk shared by every data argument, and each one's chunks."""
    rows: tuple[int, ...] | None = None
    blocks = []
    for i in data:
        r, b = _chunks_of(args[i], i)
        if rows is not None and r != rows:
            raise RowError(
                f"adjit.dask.value_and_grad: data arguments {data[0]} and {i} are chunked "
                f"differently along their rows: {rows} and {r}; rechunk one like the other "
                f"(y.rechunk({{0: X.chunks[0]}}))"
            )
        rows = r
        blocks.append(b)
    if not sum(rows):
        raise RowError("adjit.dask.value_and_grad: the data has no rows")
    return rows, blocks


def _chunks_of(x: Any, i: int) -> tuple[tuple[int, ...], list[Any]]:
    if isinstance(x, da.Array):
        if x.ndim == 0:
            raise RowError(f"adjit.dask.value_and_grad: data argument {i} is a 0-d array: no rows")
        if any(np.isnan(n) for n in x.chunks[0]):
            raise RowError(
                f"adjit.dask.value_and_grad: data argument {i} has unknown chunk sizes; "
                "call its compute_chunk_sizes() first"
            )
        if any(n > 1 for n in x.numblocks[1:]):
            x = x.rechunk({axis: -1 for axis in range(1, x.ndim)})  # whole rows per chunk
        return tuple(int(n) for n in x.chunks[0]), list(x.to_delayed().ravel())
    if isinstance(x, (list, tuple)) and x and all(isinstance(c, np.ndarray) for c in x):
        if any(c.ndim == 0 for c in x):
            raise RowError(f"adjit.dask.value_and_grad: data argument {i} has a 0-d chunk: no rows")
        return tuple(len(c) for c in x), list(x)
    raise RowError(
        f"adjit.dask.value_and_grad: data argument {i} must be a dask.array.Array or a list of "
        f"NumPy arrays (its chunks), got {type(x).__name__}; for a NumPy array use "
        "dask.array.from_array(x, chunks=(rows_per_chunk, ...)), or pass data_argnums"
    )


def _first_rows(x: Any, n: int) -> np.ndarray:
    """The first n rows (fewer if there are fewer) of a data argument."""
    if isinstance(x, da.Array):
        return np.asarray(x[:n].compute())
    got: list[np.ndarray] = []
    count = 0
    for c in x:
        if count >= n:
            break
        got.append(c[: n - count])
        count += len(got[-1])
    return np.concatenate(got)


def _signature(args: tuple, data: tuple[int, ...]) -> Any:
    """What the row check depends on: structure, shapes and dtypes (not values)."""
    rest = tuple(a for i, a in enumerate(args) if i not in data)
    leaves, treedef = tree.flatten(rest)
    shapes = tuple((np.shape(x), np.result_type(x).str) for x in leaves)
    rows = []
    for i in data:
        x = args[i]
        first = x if isinstance(x, da.Array) else x[0]
        rows.append((first.shape[1:], np.dtype(first.dtype).str))
    return treedef, shapes, tuple(rows)


def _client() -> Any:
    """The active distributed client, or None (then Dask's default scheduler runs)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _tree_reduce(parts: list[Any], split_every: int) -> Any:
    while len(parts) > 1:
        parts = [
            dask.delayed(_combine, pure=False)(*parts[k : k + split_every])
            for k in range(0, len(parts), split_every)
        ]
    return parts[0]


# --- run on the workers ---------------------------------------------------------------

_TRANSFORMS: OrderedDict[str, Any] = OrderedDict()
_LOCK = threading.Lock()


def _transform(token: str, f: Callable, argnums: Any) -> Any:
    """This process's `adjit.value_and_grad(f, argnums)` for the function with this token."""
    with _LOCK:
        vg = _TRANSFORMS.get(token)
        if vg is None:
            vg = _TRANSFORMS[token] = _value_and_grad(f, argnums)
            if len(_TRANSFORMS) > MAX_CACHED:
                _TRANSFORMS.popitem(last=False)
        else:
            _TRANSFORMS.move_to_end(token)
        return vg


def _chunk_task(payload: tuple, *chunk: np.ndarray) -> tuple[Any, Any, int]:
    """(value, gradient, rows) of one chunk; for a mean, value and gradient times rows."""
    token, f, argnums, reduce, template, data = payload
    args = list(template)
    for i, c in zip(data, chunk):
        # an array received over the network may start at any byte: NumPy marks it
        # unaligned and Numba compiles another, slower (2x here) variant for it, so copy
        args[i] = np.require(c, requirements="CA")
    value, grads = _transform(token, f, argnums)(*args)
    n = len(chunk[0])
    if reduce == "mean":
        return value * n, _map(grads, lambda g: g * n), n
    return value, grads, n


def _combine(*parts: tuple[Any, Any, int]) -> tuple[Any, Any, int]:
    value = parts[0][0]
    leaves, treedef = tree.flatten(parts[0][1])
    for v, g, _ in parts[1:]:
        value = value + v
        leaves = [a + b for a, b in zip(leaves, tree.flatten(g)[0])]
    return value, tree.unflatten(treedef, leaves), sum(p[2] for p in parts)


def _map(grads: Any, fn: Callable[[Any], Any]) -> Any:
    leaves, treedef = tree.flatten(grads)
    return tree.unflatten(treedef, [fn(leaf) for leaf in leaves])
