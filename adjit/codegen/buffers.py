"""Bookkeeping of the generator's array variables, indexed both ways.

The generator asks, for every value it materializes, which dead buffer it may
overwrite: which fresh value a variable name holds, and which values share the
buffer a value owns. Scanning every named value for that made code generation
quadratic in program size; these tables keep the reverse index as they are filled.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

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
        self._members: dict[Value, list[Value]] = {}
        # per last-use table (kept alive, so its id stays its own): per root, how
        # many members were seen and their latest use
        self._latest: dict[int, tuple[Mapping[Value, int], dict[Value, tuple[int, int]]]] = {}

    def get(self, v: Value, default: Value | None = None) -> Value | None:
        return self._root.get(v, default)

    def __contains__(self, v: Value) -> bool:
        return v in self._root

    def __setitem__(self, v: Value, root: Value) -> None:
        old = self._root.get(v)
        if old is not None:  # (the generator sets a value's root once)
            self._members[old].remove(v)
            self._latest.clear()
        self._root[v] = root
        self._members.setdefault(root, []).append(v)

    def latest_use(self, root: Value, last_use: Mapping[Value, int]) -> int:
        """The latest use (-1: none) in `last_use` of the values sharing `root`'s
        buffer; members added since the last question are the only ones read."""
        _, table = self._latest.setdefault(id(last_use), (last_use, {}))
        members = self._members.get(root, [])
        seen, latest = table.get(root, (0, -1))
        for u in members[seen:]:
            latest = max(latest, last_use.get(u, -1))
        table[root] = (len(members), latest)
        if root not in self._root:
            latest = max(latest, last_use.get(root, -1))
        return latest
