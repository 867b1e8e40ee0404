"""The small arrays a piece of split code hands on travel packed in one block per
dtype (codegen/packing.py): the results stay those of the single function, and
an unrolled gradient step passes a few blocks instead of its twenty-odd arrays."""

from __future__ import annotations

import re
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_jit_random_programs import INPUT_KINDS, STEP, _program, inputs
from test_split import _run_as_python, _source, rk4

import adjit
from adjit.codegen import split as split_module
from adjit.codegen.split import _PACK_MIN_REPEATS, split_body


def _traffic(source: str, *args: np.ndarray) -> tuple[tuple, int]:
    """The results of `source`'s entry run as Python, and how many values its
    pieces were passed and returned in all, over every call."""
    text = re.sub(r"^@numba\.njit\(.*\)$", "", source, flags=re.M)
    module = types.ModuleType("adjit_packing_test")
    module.__dict__["CACHE"] = False
    exec(compile(text, "<packing test>", "exec"), module.__dict__)
    count = [0]

    def counted(piece):
        def call(*a):
            out = piece(*a)
            count[0] += len(a) + (len(out) if isinstance(out, tuple) else 1)
            return out

        return call

    for name in list(module.__dict__):
        if re.fullmatch(r"_piece\d+", name):
            module.__dict__[name] = counted(module.__dict__[name])
    return module.entry(*args), count[0]


def test_an_unrolled_gradient_passes_blocks_and_keeps_its_values(monkeypatch):
    x = np.linspace(-1.0, 1.0, 10)
    f = rk4(_PACK_MIN_REPEATS + 2)
    fn = adjit.grad(f).ir(x)
    split = _source(fn, 60)
    assert "= np.empty((" in split and re.search(r"\bblk0_[0-9_]+_float64\b", split)
    got, packed = _traffic(split, x)
    np.testing.assert_array_equal(got[0], _run_as_python(_source(fn, 10**9), x)[0])
    np.testing.assert_allclose(got[0], adjit.ir.interpret(fn, x)[0], rtol=1e-12)
    eps = 1e-6
    fd = [(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(10)]
    np.testing.assert_allclose(got[0], fd, rtol=1e-6, atol=1e-8)
    # unpacked, each step hands the reverse sweep about 20 arrays one by one
    monkeypatch.setattr(split_module, "_PACK_MIN_REPEATS", 10**9)
    unpacked = _source(fn, 60)
    assert "blk0_" not in unpacked
    want, loose = _traffic(unpacked, x)
    np.testing.assert_array_equal(got[0], want[0])
    assert 3 * packed < loose, (packed, loose)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(STEP, min_size=2, max_size=10),
    n=st.integers(1, 5),
    m=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    kind=INPUT_KINDS,
    limit=st.integers(1, 12),
)
def test_packed_pieces_agree_with_the_single_function_on_random_programs(
    steps, n, m, seed, kind, limit
):
    x, y = inputs(kind, seed, (n, m), (m,))
    fn = adjit.trace(_program(steps))(x, y)
    want = _run_as_python(_source(fn, 10**9), x, y)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(split_module, "_PACK_MIN_REPEATS", 0)  # pack every body
        got = _run_as_python(_source(fn, limit), x, y)
    reference = adjit.ir.interpret(fn, x, y)
    for g, w, r in zip(got, want, reference):
        np.testing.assert_array_equal(g, w)
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-300)


def test_a_short_run_stays_unpacked():
    # its extra end pieces would cost Numba more than packing saves
    x = np.linspace(-1.0, 1.0, 10)
    short = _source(adjit.grad(rk4(6)).ir(x), 60)
    assert "_piece" in short and "blk0_" not in short


def _body(step: int) -> list[str]:
    """Statements of one step of a hand-written body: a 2-D f64 and a bool array
    (packed), an array stored twice and a large one (each kept as it is)."""
    return [
        f"    m{step} = np.empty((2, 3), dtype=np.float64)  # packed, 2-D",
        "    for i in range(6):",
        f"        m{step}[i // 3, i % 3] = s{step}[i % 3] * (i + 1)",
        f"    b{step} = np.empty((3,), dtype=np.bool_)",
        "    for i in range(3):",
        f"        b{step}[i] = m{step}[1, i] > m{step}[0, i] + 2.0",
        f"    t{step} = np.empty((3,), dtype=np.float64)",
        f"    t{step} = t{step} * 0.0 + 1.0  # stored twice: not packed",
        f"    big{step} = np.empty((5000,), dtype=np.float64)  # too large: not packed",
        f"    big{step}[:] = m{step}[0, 0]",
        f"    s{step + 1} = np.empty((3,), dtype=np.float64)",
        "    for i in range(3):",
        f"        s{step + 1}[i] = (m{step}[0, i] if b{step}[i] else -m{step}[1, i]) * t{step}[i] * 0.5"
        f" + big{step}[4999]",
    ]


def test_packed_blocks_hold_2d_bool_and_leave_other_arrays_alone():
    steps = _PACK_MIN_REPEATS + 4
    body = [line for k in range(steps) for line in _body(k)]
    # the reverse order reads every step's arrays again, as a reverse sweep does
    body += ["    acc = np.zeros(3)"]
    body += [f"    acc = acc + m{k}[1] * b{k} + t{k} + big{k}[:3]" for k in reversed(range(steps))]
    body += [f"    return (acc, s{steps})"]
    split = split_body(body, ["s0"], 12)
    assert split is not None
    pieces, entry = split
    source = "\n".join(
        ["import numpy as np"]
        + [line for p in pieces for line in p.lines]
        + ["def entry(s0):", *entry]
    )
    assert ".reshape((2, 3))" in source and "dtype=np.bool_)" in source
    assert re.search(r"\w+ = np\.empty\(\(5000,\)", source)  # large: its own array
    assert re.search(r"\w+ = np\.empty\(\(3,\), dtype=np\.float64\)\n\s+\w+ = \w+ \* 0\.0", source)
    whole = "\n".join(["import numpy as np", "def entry(s0):", *body])
    s0 = np.array([0.5, -1.0, 2.0])
    want = _run_as_python(whole, s0)
    got = _run_as_python(source, s0)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    # the repeated steps still share their pieces
    defined = re.findall(r"^def (_piece\d+)\(", source, re.M)
    assert len(defined) < steps // 2, defined
