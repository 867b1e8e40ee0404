"""A split entry that is itself long is split again (pieces calling pieces).

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
