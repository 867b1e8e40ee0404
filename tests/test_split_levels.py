"""A split entry that is itself long is split again (pieces calling pieces), and
a run of repeated steps is cut into groups of whole steps.

Checked on a plain chain of statements run by the Python interpreter (no Numba):
the nested pieces give the unsplit function's result, and the entry stays within
the limit.
"""

from __future__ import annotations

from adjit.codegen.split import split_body


def _run(source: str, x0: float) -> tuple:
    scope: dict = {}
    exec(compile(source, "<split levels>", "exec"), scope)
    return scope["entry"](x0)


def test_a_long_entry_is_split_again():
    body = ["    x1 = x0 * 1.5"]
    body += [f"    x{i} = x{i - 1} * 0.5 + x{i - 2}" for i in range(2, 301)]
    body += ["    return (x300,)"]
    limit = 10
    pieces, entry = split_body(body, ["x0"], limit)
    assert len(entry) <= limit
    assert any(p.name.startswith("_group1_") for p in pieces)  # a piece calling pieces
    split = "\n".join("\n".join(p.lines) for p in pieces) + "\ndef entry(x0):\n" + "\n".join(entry)
    whole = "def entry(x0):\n" + "\n".join(body)
    assert _run(split, 0.7) == _run(whole, 0.7)


def test_steps_after_other_statements_are_grouped_by_the_length_of_one_step():
    # five statements, then 12 repetitions of a two-line step: with a limit of 8
    # lines, a piece holds 8 // 2 = 4 steps, called three times (no second level)
    body = ["    p1 = x0 + 1.0", "    p2 = p1 * x0", "    p3 = p2 - 0.25"]
    body += ["    a0 = p3 * 2.0", "    b0 = p3 + p1"]
    for i in range(1, 13):
        body += [f"    a{i} = a{i - 1} * 0.5 + b{i - 1}", f"    b{i} = b{i - 1} - a{i} * 0.25"]
    body += ["    return (a12 + b12,)"]
    pieces, entry = split_body(body, ["x0"], 8)
    calls = [line.split("= ")[-1].split("(")[0] for line in entry]
    step = max(set(calls), key=calls.count)
    assert calls.count(step) == 3 and len(entry) == 5, entry
    assert all(len(p.lines) <= 1 + 8 + 1 for p in pieces)  # header, 8 lines, return
    split = "\n".join("\n".join(p.lines) for p in pieces) + "\ndef entry(x0):\n" + "\n".join(entry)
    whole = "def entry(x0):\n" + "\n".join(body)
    assert _run(split, 0.7) == _run(whole, 0.7)


def test_a_value_stored_and_never_read_stays_inside_its_piece():
    body = ["    x1 = x0 * 1.5", "    unused = x1 * 3.0"]
    body += [f"    x{i} = x{i - 1} * 0.5 + x{i - 2}" for i in range(2, 30)]
    body += ["    return (x29,)"]
    pieces, entry = split_body(body, ["x0"], 6)
    assert not any("unused" in line for line in entry)
    split = "\n".join("\n".join(p.lines) for p in pieces) + "\ndef entry(x0):\n" + "\n".join(entry)
    whole = "def entry(x0):\n" + "\n".join(body)
    assert _run(split, 0.7) == _run(whole, 0.7)
