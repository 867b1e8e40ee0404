"""Re-created transforms: the time of one step of a loop that writes `adjit.grad(loss)(...)`.

    python benchmarks/retrace.py

A training loop often re-creates its transform each step (`adjit.grad(loss)(w, X, y)`,
`adjit.vjp(f, x)`, `adjit.vmap(g)(xs)`, a `lambda` closing over the data). Each row
times one step written that way against the same call on a transform created
once, after a warm-up step; "new static int" is the first call with a Python int
argument not seen before (a step counter), which compiles again by design.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import THREAD_ENV, fmt_ratio, fmt_time, machine_line, per_call, table  # noqa: E402

for _key, _value in THREAD_ENV.items():
    os.environ.setdefault(_key, _value)

import numpy as np  # noqa: E402

import adjit  # noqa: E402

TARGET = 0.05  # seconds per timing repeat


def loss(w, X, y):
    return np.mean((np.tanh(X @ w) - y) ** 2)


def g(x):
    return np.sum(np.sin(x) * x)


def scaled(x, n):
    return np.sum(x * x) * n


def main() -> None:
    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(64, 8)), rng.normal(size=64), rng.normal(size=8)
    xs = rng.normal(size=(16, 8))
    held_grad = adjit.grad(loss)
    held_gg = adjit.grad(adjit.grad(g))
    held_vmap = adjit.vmap(g)
    _, held_pullback = adjit.vjp(g, w)
    cases = [
        ("grad(loss)(w, X, y)", lambda: adjit.grad(loss)(w, X, y), lambda: held_grad(w, X, y)),
        (
            "grad(lambda w: loss(w, X, y))(w)",
            lambda: adjit.grad(lambda v: loss(v, X, y))(w),
            lambda: held_grad(w, X, y),
        ),
        ("vjp(g, w)[1](1.0)", lambda: adjit.vjp(g, w)[1](1.0), lambda: held_pullback(1.0)),
        ("vmap(g)(xs)", lambda: adjit.vmap(g)(xs), lambda: held_vmap(xs)),
        ("grad(grad(g))(0.3)", lambda: adjit.grad(adjit.grad(g))(0.3), lambda: held_gg(0.3)),
    ]
    rows = []
    for name, recreated, held in cases:
        recreated(), held()
        t_new = per_call(recreated, (), TARGET)
        t_held = per_call(held, (), TARGET)
        rows.append([name, fmt_time(t_new), fmt_time(t_held), fmt_ratio(t_new, t_held)])
    step = adjit.grad(scaled)
    step(w, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        for n in range(2, 5):
            step(w, n)
        t_int = (time.perf_counter() - t0) / 3
    rows.append(["grad(scaled)(w, n), new static int n", fmt_time(t_int), "—", "—"])
    print(machine_line())
    print(table(["step", "re-created transform", "held transform", "ratio"], rows))


if __name__ == "__main__":
    main()
