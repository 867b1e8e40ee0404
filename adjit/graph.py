"""Computation-graph pictures: an IR function as Graphviz DOT text (and SVG through `dot`).

Ops are boxes, parameters ellipses, edges carry the type of the value they
pass. The ops of a derivative program are coloured by where they come from:
an op that computes something its primal function computes (the re-emitted
forward pass, and its recomputation inside adjoint loops) is *primal*; every
other op (cotangents, tangents, derivative factors such as `cos` for `sin`) is
*derivative*. The two are told apart by value numbering: each value gets a
structural key (its op, attributes and operands' keys, parameters by position),
so the match holds whatever order the passes left the ops in. `cond`, `while`
and `for` are drawn as clusters with one sub-cluster per region.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .errors import AdjitError
from .ir.core import Block, Function, Op, Value, attr_key
from .ir.primitives import REGION_NAMES
from .ir.printer import format_attr, value_names

PRIMAL_COLOR = "#cfe2ff"  # blue
DERIVATIVE_COLOR = "#ffd8a8"  # orange
MIXED_COLOR = f"{PRIMAL_COLOR}:{DERIVATIVE_COLOR}"  # drawn striped
CONSTANT_COLOR = "#eeeeee"
_REVERSE = ("grad", "value_and_grad", "jacrev")
_FORWARD = ("jacfwd",)
_MAX_ATTRS = 48  # characters of attribute text shown in a node


# ------------------------------------------------------------ primal matching


class _Numbering:
    """Structural keys of values, interned to ints, shared by the functions compared."""

    def __init__(self) -> None:
        self._ids: dict[object, int] = {}

    def intern(self, key: object) -> int:
        return self._ids.setdefault(key, len(self._ids))

    def fresh(self) -> int:
        return self.intern(("fresh", len(self._ids)))

    def number(self, fn: Function, n_shared: int, keys: dict[Op, int], known: set[int]) -> set[Op]:
        """Key every op of fn into `keys`; its first n_shared parameters are the
        primal's, matched by position, the others match nothing. Returns the
        control-flow ops that match an op of `known` keys only in their leading
        operands and results (a primal loop that also records a tape or carries
        tangents)."""
        env = {
            p: self.intern(("param", i, str(p.type))) if i < n_shared else self.fresh()
            for i, p in enumerate(fn.params)
        }
        mixed: set[Op] = set()
        self._block(fn.body, env, 0, keys, known, mixed)
        return mixed

    def _block(
        self,
        block: Block,
        env: dict[Value, int],
        depth: int,
        keys: dict[Op, int],
        known: set[int],
        mixed: set[Op],
    ) -> None:
        for op in block.ops:
            for region in op.regions:
                for i, a in enumerate(region.args):
                    env[a] = self.intern(("arg", depth, i, str(a.type)))
                self._block(region, env, depth + 1, keys, known, mixed)
            key = self._op_key(op, env, len(op.operands), len(op.results))
            keys[op] = key
            result_keys = [
                self.intern(("result", key, i, str(r.type))) for i, r in enumerate(op.results)
            ]
            if op.regions and key not in known:
                partial = self._partial_match(op, env, known)
                if partial is not None:
                    mixed.add(op)
                    key, q = partial
                    for i, r in enumerate(op.results[:q]):
                        result_keys[i] = self.intern(("result", key, i, str(r.type)))
            env.update(zip(op.results, result_keys))

    def _op_key(self, op: Op, env: dict[Value, int], p: int, q: int) -> int:
        """The key of op's first p operands and first q results (regions yielding
        one value per result truncated to q)."""
        operands = tuple(env[v] if v in env else self.fresh() for v in op.operands[:p])
        regions = []
        for region in op.regions:
            yields = (
                region.results[:q] if len(region.results) == len(op.results) else region.results
            )
            regions.append(tuple(env.get(v, -1) for v in yields))
        attrs = tuple((k, _hashable(op.attrs[k])) for k in sorted(op.attrs))
        return self.intern((op.name, attrs, operands, tuple(regions)))

    def _partial_match(
        self, op: Op, env: dict[Value, int], known: set[int]
    ) -> tuple[int, int] | None:
        for p in range(len(op.operands) - 1, 0, -1):
            for q in range(len(op.results), 0, -1):
                key = self._op_key(op, env, p, q)
                if key in known:
                    return key, q
        return None


def _hashable(value: object) -> object:
    key = attr_key(value)
    try:
        hash(key)
    except TypeError:
        return format_attr(value)
    return key


def classify(fn: Function, primals: Iterable[Function]) -> tuple[set[Op], set[Op]]:
    """(primal, mixed): the ops of fn (nested ones included) that compute what an
    op of one of `primals` computes, and the control-flow ops that do so besides
    derivative work (a loop carrying tangents or recording a tape). fn's first
    parameters are the primals' parameters."""
    numbering = _Numbering()
    known: set[int] = set()
    n_shared = 0
    for primal in primals:
        keys: dict[Op, int] = {}
        numbering.number(primal, len(primal.params), keys, set())
        known.update(keys.values())
        n_shared = max(n_shared, len(primal.params))
    keys = {}
    mixed = numbering.number(fn, n_shared, keys, known)
    return {op for op, key in keys.items() if key in known}, mixed


# ----------------------------------------------------------------------- DOT


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs_text(op: Op) -> str:
    if op.name == "constant":
        value = op.attrs.get("value")
        shape = getattr(value, "shape", ())
        return format_attr(value) if not shape or len(shape) == 1 and shape[0] <= 4 else ""
    text = ", ".join(f"{k}={format_attr(op.attrs[k])}" for k in sorted(op.attrs))
    return text if len(text) <= _MAX_ATTRS else text[: _MAX_ATTRS - 3] + "..."


def _fill(color: str) -> str:
    """Node attributes filling with `color`; two colours `a:b` are drawn as stripes."""
    if ":" in color:
        return f'fillcolor="{color}", style="striped"'
    return f'fillcolor="{color}"'


class _Dot:
    """Writes the DOT statements of one function.

    Node statements go where their node belongs (a cluster claims every node
    named inside it); all edges are written at the top level, after them.
    """

    def __init__(
        self, fn: Function, primal: set[Op] | None, mixed: set[Op], n_primal_params: int
    ) -> None:
        self.fn = fn
        self.primal = primal
        self.mixed = mixed
        self.n_primal_params = n_primal_params
        self.names = value_names(fn)
        self.lines: list[str] = []
        self.edges: list[str] = []
        self.source: dict[Value, str] = {}  # value -> node its edges start from
        self.multi: set[Value] = set()  # results of multi-result ops: edges name them
        self.count = 0

    def node_id(self) -> str:
        self.count += 1
        return f"n{self.count}"

    def color(self, op: Op) -> str:
        if op.name == "constant":
            return CONSTANT_COLOR
        if self.primal is None or op in self.primal:
            return PRIMAL_COLOR
        if op in self.mixed:
            return MIXED_COLOR
        return DERIVATIVE_COLOR

    def name(self, v: Value) -> str:
        return "%" + self.names.get(v, "?")

    def node(self, indent: str, label: str, attrs: str) -> str:
        nid = self.node_id()
        self.lines.append(f"{indent}{nid} [label={_quote(label)}, {attrs}];")
        return nid

    def edge(self, v: Value, target: str) -> None:
        label = f"{self.name(v)}: {v.type}" if v in self.multi else str(v.type)
        self.edges.append(f"  {self.source[v]} -> {target} [label={_quote(label)}];")

    def define(self, values: Sequence[Value], nid: str) -> None:
        for v in values:
            self.source[v] = nid
        if len(values) > 1:
            self.multi.update(values)

    def block(self, block: Block, indent: str) -> None:
        for op in block.ops:
            if op.regions:
                self.region_op(op, indent)
                continue
            label = f"{', '.join(self.name(r) for r in op.results)} = {op.name}"
            detail = _attrs_text(op)
            nid = self.node(
                indent, label + ("\n" + detail if detail else ""), _fill(self.color(op))
            )
            for v in op.operands:
                self.edge(v, nid)
            self.define(op.results, nid)

    def region_op(self, op: Op, indent: str) -> None:
        """A cluster: the op's head takes the operands, one sub-cluster per region
        holds its arguments and ops, and an end node gives the results."""
        color = self.color(op)
        inner = indent + "  "
        self.lines.append(f"{indent}subgraph cluster_n{self.count + 1} {{")
        self.lines.append(
            f'{inner}label={_quote(op.name)}; style="rounded,dashed"; penwidth=2; '
            f'color="{color.rpartition(":")[2]}"; fontcolor="#555555";'
        )
        results = ", ".join(self.name(r) for r in op.results)
        head = self.node(inner, f"{results} = {op.name}" if results else op.name, _fill(color))
        for v in op.operands:
            self.edge(v, head)
        labels = REGION_NAMES.get(op.name, ())
        ends = []
        for k, region in enumerate(op.regions):
            body = inner + "  "
            self.lines.append(f"{inner}subgraph cluster_{head}_{k} {{")
            label = labels[k] if k < len(labels) else f"region{k}"
            self.lines.append(f'{body}label={_quote(label)}; style="rounded"; color="#999999";')
            for a in region.args:
                self.define([a], self.node(body, self.name(a), 'shape=ellipse, fillcolor="white"'))
                self.edges.append(f"  {head} -> {self.source[a]} [style=dashed, arrowhead=none];")
            self.block(region, body)
            yield_id = self.node(body, "yield", 'fillcolor="white"')
            for v in region.results:
                self.edge(v, yield_id)
            ends.append(yield_id)
            self.lines.append(f"{inner}}}")
        end = self.node(inner, "end " + op.name, _fill(color))
        self.edges += [f"  {y} -> {end} [style=dashed];" for y in ends]
        self.lines.append(f"{indent}}}")
        self.define(op.results, end)

    def function(self, title: str, derivative_name: str) -> str:
        fn = self.fn
        for i, p in enumerate(fn.params):
            primal = self.primal is None or i < self.n_primal_params
            color = PRIMAL_COLOR if primal else DERIVATIVE_COLOR
            self.define([p], self.node("  ", self.name(p), f'shape=ellipse, fillcolor="{color}"'))
        self.block(fn.body, "  ")
        ret = self.node("  ", "return", 'fillcolor="white"')
        for v in fn.results:
            self.edge(v, ret)
        legend = []
        if self.primal is not None:
            legend = [
                "  subgraph cluster_legend {",
                '    label="legend"; style="rounded"; color="#999999"; fontsize=10;',
                f'    legend_primal [label="primal", {_fill(PRIMAL_COLOR)}];',
                f"    legend_derivative [label={_quote(derivative_name)}, "
                f"{_fill(DERIVATIVE_COLOR)}];",
            ]
            if self.mixed:
                both = _quote("primal and " + derivative_name)
                legend.append(f"    legend_mixed [label={both}, {_fill(MIXED_COLOR)}];")
            legend.append("  }")
        head = [
            f"digraph {_quote(fn.name)} {{",
            f"  graph [label={_quote(title)}, labelloc=t, fontname=Helvetica, rankdir=TB];",
            '  node [fontname=Helvetica, fontsize=11, shape=box, style="rounded,filled"];',
            '  edge [fontname=Helvetica, fontsize=9, color="#555555"];',
        ]
        return "\n".join([*head, *legend, *self.lines, *self.edges, "}"]) + "\n"


def to_dot(
    fn: Function,
    primals: Sequence[Function] | None = None,
    derivative_name: str = "derivative",
) -> str:
    """DOT text of fn's computation graph.

    With `primals` (the IR of the function fn differentiates, traced and/or
    optimized), ops computing what a primal computes are coloured PRIMAL_COLOR
    and the others DERIVATIVE_COLOR, with a legend naming them `primal` and
    `derivative_name`; fn's first parameters are the primal's. Without, every op
    is primal.
    """
    primal, mixed = classify(fn, primals) if primals else (None, set())
    n_primal_params = max((len(p.params) for p in primals), default=0) if primals else 0
    title = f"@{fn.name}"
    return _Dot(fn, primal, mixed, n_primal_params).function(title, derivative_name)


# ------------------------------------------------------------------ rendering


def render(dot: str, fmt: str = "svg") -> bytes:
    """The picture Graphviz draws from DOT text, in format `fmt` (svg, png, pdf).

    Uses the `graphviz` package when installed (the `graph` extra), else the
    `dot` program; raises AdjitError when Graphviz's `dot` is not installed.
    """
    missing = AdjitError(
        "drawing a graph needs Graphviz's `dot` program (apt-get install graphviz, "
        "brew install graphviz, conda install graphviz); write DOT text (-o graph.dot) "
        "without it"
    )
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return graphviz.Source(dot).pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            raise missing from None
    exe = shutil.which("dot")
    if exe is None:
        raise missing
    done = subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), capture_output=True)
    if done.returncode != 0:
        raise AdjitError(f"Graphviz dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


class Graph:
    """A drawn computation graph: `str(g)` and `g.dot` are its DOT text;
    notebooks show it as SVG when Graphviz is installed."""

    def __init__(self, fn: Function, dot: str) -> None:
        self.fn = fn
        self.dot = dot

    def __str__(self) -> str:
        return self.dot

    def __repr__(self) -> str:
        return f"<adjit.graph.Graph of @{self.fn.name}: {len(self.dot.splitlines())} DOT lines>"

    def svg(self) -> str:
        """The SVG picture (needs Graphviz's `dot`)."""
        return render(self.dot, "svg").decode()

    def _repr_svg_(self) -> str | None:
        try:
            return self.svg()
        except AdjitError:
            return None  # the notebook falls back to repr

    def save(self, path: str) -> None:
        """Write the DOT text (`.dot`, `.gv`) or the picture (`.svg`, `.png`, `.pdf`)."""
        suffix = path.rpartition(".")[2].lower()
        if suffix in ("dot", "gv"):
            with open(path, "w") as f:
                f.write(self.dot)
            return
        if suffix not in ("svg", "png", "pdf"):
            raise AdjitError(f"cannot save a graph as {path!r}: use .dot, .gv, .svg, .png or .pdf")
        data = render(self.dot, suffix)
        with open(path, "wb") as f:
            f.write(data)


def _chain(f: Callable) -> tuple[Callable, list[str]]:
    """The user function under nested adjit transforms, and the transforms' kinds."""
    from .api import Jitted, Transformed

    kinds = []
    while isinstance(f, Jitted):
        if isinstance(f, Transformed):
            kinds.append(f.what)
        f = f.f
    return f, kinds


def derivative_name(kinds: Sequence[str]) -> str:
    """How the legend names derivative ops: adjoint (reverse mode), tangent
    (forward mode) or derivative (both)."""
    if kinds and all(k in _REVERSE for k in kinds):
        return "adjoint"
    if kinds and all(k in _FORWARD for k in kinds):
        return "tangent"
    return "derivative"


def graph(f: Callable) -> Callable[..., Graph]:
    """`adjit.graph(f)(*args)`: the computation graph of f at these arguments.

    A plain function is drawn as traced (`adjit.trace`); an adjit object
    (`jit`, `grad`, `value_and_grad`, `jacfwd`, `jacrev`, `hessian`, nested
    too) as the optimized IR it runs, the ops of the function it differentiates
    (primal) and the derivative ops in different colours.
    """
    from .api import Jitted, trace
    from .compiler.passes import simplify

    def draw(*args: Any, **kwargs: Any) -> Graph:
        if not isinstance(f, Jitted):
            fn = trace(f)(*args, **kwargs)
            return Graph(fn, to_dot(fn))
        fn = f.ir(*args, **kwargs)
        inner, kinds = _chain(f)
        if not kinds:  # jit(f): all of it is primal
            return Graph(fn, to_dot(fn))
        traced = trace(inner)(*args, **kwargs)
        return Graph(fn, to_dot(fn, [traced, simplify(traced)], derivative_name(kinds)))

    return draw
