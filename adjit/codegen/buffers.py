"""Bookkeeping of the generator's array variables, indexed both ways.

The generator asks, for every value it materializes, which dead buffer it may
overwrite: which fresh value a variable name holds, and which values share the
buffer a value owns. Scanning every named value for that made code generation
quadratic in program size; these tables keep the reverse index as they are filled.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..ir.core import Value


class NameTable(dict[Value, str]):
    """value -> variable name, which also knows the values bound to each name."""

    def __init__(self) -> None:
        super().__init__()
        self._values: dict[str, dict[Value, None]] = {}

    def __setitem__(self, v: Value, name: str) -> None:
        old = self.get(v)
        if old is not None:
            del self._values[old][v]
        super().__setitem__(v, name)
        self._values.setdefault(name, {})[v] = None

    def bound_to(self, name: str) -> Iterator[Value]:
        """The values named `name`, most recently bound first."""
        return reversed(self._values.get(name, {}))


class BufferRoots:
    """value -> the value owning its buffer (a value absent owns its own), and back."""

    def __init__(self) -> None:
        self._root: dict[Value, Value] = {}
        self._members: dict[Value, dict[Value, None]] = {}

    def get(self, v: Value, default: Value | None = None) -> Value | None:
        return self._root.get(v, default)

    def __contains__(self, v: Value) -> bool:
        return v in self._root

    def __setitem__(self, v: Value, root: Value) -> None:
        old = self._root.get(v)
        if old is not None:
            del self._members[old][v]
        self._root[v] = root
        self._members.setdefault(root, {})[v] = None

    def sharing(self, root: Value) -> list[Value]:
        """The values whose buffer is `root`'s: those `root` owns, and itself."""
        values = list(self._members.get(root, ()))
        if root not in self._root:
            values.append(root)
        return values
