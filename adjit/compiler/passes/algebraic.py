"""Algebraic simplification of element-wise regions with SymPy.

A region is a maximal connected group of smooth floating-point element-wise ops
of one block (def-use edges; broadcasting allowed, since element-wise meaning
does not depend on shape). Values the region reads are its inputs: SymPy symbols,
or numbers for uniform finite constants. Values it defines that are used outside
it (or returned) are its outputs. Each output becomes one SymPy expression over
the inputs, built from the primitives' scalar expressions; candidates (the
expression as SymPy builds it, which already cancels s*(1/s), and `cancel` of it,
whole and term by term) are lowered back to IR with derivatives.py's lowering,
and the cheapest is kept when it is cheaper than the region (cost: op weight x
elements; exp/log/logistic 8, div/sqrt 4, add/mul/neg 1).

Why the adjoint of log(logistic(x)) needs this: the reverse pass emits
g * (1/s) * (s/(1 + e)) * e with s = logistic(x), e = exp(-x); as one expression
that is exp(-x)/(1 + exp(-x)) = 1/(1 + exp(x)), which lowers to logistic(-x)
(= 1 - logistic(x)) with no division, finite where the quotient overflows.

Safety: SymPy evaluates x/x to 1, x*0 to 0 and exp(log(x)) to x, which are wrong
at x = 0, inf or x < 0. Zero constants therefore stay symbols, and a candidate
is kept only if
  - it depends on every input its output depended on (a NaN or inf in any input
    still reaches the output: no x - x -> 0, y*x/x -> y);
  - it agrees with the region, both run op by op in NumPy, on a grid of values:
    at small inputs (0, +-1, +-2, 0.5, 3) exactly the same value, NaN or inf
    (the domain is kept: 0/0 stays NaN, exp(log(-1)) stays NaN); NaN out
    wherever the region gives NaN from a NaN input; at extreme inputs (+-1000,
    1e200, 1e-200, 1e-10, +-inf) the same value wherever the region gives a
    number (no new overflow, no lost digits). Where the region overflowed to
    NaN/inf at an extreme input (inf/inf, 0*inf), the candidate may give the
    finite limit: that is the point of the log(logistic) rewrite;
  - every divisor of the region that SymPy cannot prove non-zero still divides
    (a power of) its denominator: the grid is a sample and would miss the pole
    of (x - 7)*x/(x - 7) -> x at x = 7.
Symbols are real (never positive: that would license log(x*y) -> log(x) + log(y)).
Dtypes are kept: constants are emitted in the region's dtype, f32 stays f32.

SymPy is imported on first use only, and not at all for a region whose decision
algebraic_memo.py knows (a structural screen, decisions kept on disk).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import replace

import numpy as np

from ...errors import AdjitError
from ...ir.core import Block, Function, Op, Value
from ...ir.primitives import PRIMITIVES, evaluate
from ..builder import Builder, building
from ..derivatives import SYMPY_LOCK
from . import algebraic_memo

# Smooth float element-wise ops whose scalar expressions SymPy can rewrite and the
# lowering can emit again. Piecewise ops (abs, sign, floor, mod, max, min) are
# region boundaries: SymPy's rewrites of them need sign assumptions we do not have.
REGION_OPS = frozenset(
    "neg exp log log1p expm1 sqrt sin cos tan sinh cosh tanh asin acos atan logistic "
    "add sub mul div pow atan2".split()
)

# Relative cost per element: transcendental functions and division cost more than
# add/mul (roughly their latency in a vectorised loop).
_COST = {"neg": 1, "add": 1, "sub": 1, "mul": 1, "div": 4, "sqrt": 4, "constant": 0, "broadcast": 0}
_DEFAULT_COST = 8  # exp, log, logistic, trig, pow, ...

MAX_REGION = 40  # larger regions are left alone: expression trees can grow exponentially
# sympy.simplify only for regions up to this many ops. Off: over the 264 `simplify`
# calls of tests/test_corpus.py + tests/test_grad.py the pass took 7 s with it up to
# 25 ops, 2.2 s up to 12 ops without trig, 0.9 s with `cancel` alone (before the
# pole check), and rewrote 46, 45 and 45 functions.
MAX_SIMPLIFY = 0

# algebraic_memo's screen and disk memo of decisions (False: SymPy decides every region)
SHORTCUTS = True

MAX_COMBINATIONS = 16  # per-output choices of candidate expressions tried

# The check grid (see module doc). Small values: the domain must be kept exactly.
# Extreme values: where the region is finite the candidate must agree: no new
# overflow (exp, squares, reciprocals) and no lost digits (log1p(a) -> log(1 + a),
# expm1(a) -> exp(a) - 1 at a = 1e-10).
_SMALL = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 3.0)
_EXTREME = {
    np.dtype(np.float64): (1000.0, -1000.0, 1e200, 1e-200, 1e-10),
    np.dtype(np.float32): (100.0, -100.0, 1e30, 1e-30, 1e-5),
}
_NONFINITE = (np.nan, np.inf, -np.inf)
_GRID_ROWS = 1500


def op_cost(op: Op) -> int:
    return _COST.get(op.name, _DEFAULT_COST) * max(op.result.type.size, 1)


def _sympy():
    import sympy

    return sympy


# ------------------------------------------------------------------ regions


def _is_region_op(op: Op) -> bool:
    return (
        op.name in REGION_OPS
        and not op.regions
        and len(op.results) == 1
        and op.result.type.dtype in ("f32", "f64")
    )


def _regions(block: Block) -> list[list[int]]:
    """Indices of the ops of each region, in program order (regions by first op)."""
    members = [i for i, op in enumerate(block.ops) if _is_region_op(op)]
    parent = {i: i for i in members}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    defined_by = {block.ops[i].result: i for i in members}
    for i in members:
        for v in block.ops[i].operands:
            j = defined_by.get(v)
            if j is not None:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in members:
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def _constant_value(op: Op | None, producers: dict[Value, Op]) -> float | None:
    """The value of a finite non-zero uniform `constant` (or a `broadcast` of one), else None.

    Zero stays a symbol: SymPy folds x*0 to 0, which IEEE (and NumPy) make NaN at
    x = inf; `np.exp(x) * 0` must stay NaN where exp overflows.
    """
    if op is not None and op.name == "broadcast":
        op = producers.get(op.operands[0])
    if op is None or op.name != "constant":
        return None
    value = np.asarray(op.attrs["value"])
    if value.size == 0 or not np.all(value == value.flat[0]):
        return None
    v = float(value.flat[0])
    return v if np.isfinite(v) and v != 0 else None


def _number(sp, v: float):
    """An exact SymPy number for small integers and halves; a 53-bit Float otherwise."""
    if abs(v) < 2**52 and v == int(v):
        return sp.Integer(int(v))
    if abs(v) < 2**52 and 2 * v == int(2 * v):
        return sp.Rational(int(2 * v), 2)
    return sp.Float(v, 17)


class _Region:
    """One region of a block: its ops, inputs and outputs, and their SymPy expressions."""

    def __init__(self, block: Block, indices: list[int], used_outside: set[Value]) -> None:
        self.ops = [block.ops[i] for i in indices]
        defined = {op.result for op in self.ops}
        self.outputs = [op.result for op in self.ops if op.result in used_outside]
        self.inputs: list[Value] = []
        for op in self.ops:
            for v in op.operands:
                if v not in defined and v not in self.inputs:
                    self.inputs.append(v)
        self.dtype = self.ops[0].result.type.np_dtype

    def expressions(self, sp, producers: dict[Value, Op]):
        """SymPy expression of every output; inputs -> symbols or numbers.

        Also, per output, what its candidates must keep (module doc): the symbols
        it depends on (`depends`: as the ops say, not as SymPy's evaluated
        expression says, which has already turned x/x into 1) and its divisors.
        """
        self.symbols: dict[Value, object] = {}
        self.constants: dict[Value, float] = {}
        env: dict[Value, object] = {}
        depends: dict[Value, frozenset] = {}
        divisors: dict[Value, frozenset] = {}
        for k, v in enumerate(self.inputs):
            number = _constant_value(producers.get(v), producers)
            if number is not None:
                self.constants[v] = number
                env[v] = _number(sp, number)
                depends[v] = frozenset()
            else:
                env[v] = self.symbols[v] = sp.Symbol(f"v{k}", real=True)
                depends[v] = frozenset([env[v]])
            divisors[v] = frozenset()
        for op in self.ops:
            r = op.result
            env[r] = _scalar(sp, op.name).xreplace(
                {s: env[v] for s, v in zip(_xyz(sp), op.operands)}
            )
            depends[r] = frozenset().union(*(depends[v] for v in op.operands))
            divisors[r] = frozenset().union(*(divisors[v] for v in op.operands))
            if op.name == "div":
                divisors[r] |= {env[op.operands[1]]}
        self.depends = [depends[v] for v in self.outputs]
        self.divisors = [divisors[v] for v in self.outputs]
        return [env[v] for v in self.outputs]


def _keeps_poles(sp, expr, divisors: frozenset) -> bool:
    """Whether `expr` is still singular wherever a divisor of the region vanishes.

    A divisor SymPy proves non-zero (1 + exp(-x), logistic(x)) may cancel. Any
    other divisor's zeros must be zeros of the new denominator: some power of it
    is a multiple of the divisor ((x - 7)*x/(x - 7) -> x is refused).
    """
    den = None
    for d in divisors:
        if not d.free_symbols or d.is_nonzero:
            continue
        if den is None:
            den = sp.denom(sp.together(expr))
        if not any(not sp.denom(sp.cancel(den**k / d)).free_symbols for k in (1, 2, 3)):
            return False
    return True


_SCALARS: dict[str, object] = {}


def _xyz(sp):
    return tuple(sp.Symbol(s, real=True) for s in ("x", "y", "z"))


def _scalar(sp, name: str):
    expr = _SCALARS.get(name)
    if expr is None:
        x, y, z = _xyz(sp)
        expr = _SCALARS[name] = sp.sympify(PRIMITIVES[name].scalar, locals={"x": x, "y": y, "z": z})
    return expr


# ------------------------------------------------------------------ lowering


def _memo_lowering():
    from ..derivatives import _Lowering

    class MemoLowering(_Lowering):
        """derivatives.py's lowering, each distinct subexpression lowered once."""

        def __init__(self, env: dict[str, Value], dtype: np.dtype) -> None:
            super().__init__(env, dtype)
            self.memo: dict[object, Value] = {}

        def __call__(self, e) -> Value:
            value = self.memo.get(e)
            if value is None:
                value = self.memo[e] = super().__call__(e)
            return value

    return MemoLowering


def _lower(region: _Region, exprs: list) -> tuple[list[list[Op]], list[Value]] | None:
    """IR for `exprs`: per output, the new ops to place after it, and its new value.

    One lowering for all outputs, so later outputs reuse earlier outputs' ops (their
    segments come first in the block). New ops keep the user's line of their output.
    """
    from .. import ops

    builder = Builder()
    builder.owned.update(region.inputs)  # inputs are in scope: no captures
    env = {s.name: v for v, s in region.symbols.items()}
    locs = {op.result: op.loc for op in region.ops}
    segments: list[list[Op]] = []
    values: list[Value] = []
    try:
        with building(builder):
            lower = _memo_lowering()(env, region.dtype)
            for out, expr in zip(region.outputs, exprs):
                start = len(builder.ops)
                value = ops.broadcast_to(lower(expr), out.type.shape)
                if value.type != out.type:
                    return None
                segments.append([replace(op, loc=locs[out]) for op in builder.ops[start:]])
                values.append(value)
    except (AdjitError, TypeError, KeyError):
        return None  # an expression the lowering cannot emit: keep the region
    return segments, values


# ------------------------------------------------------------------ checking


def _grid(n_inputs: int, dtype: np.dtype) -> list[np.ndarray]:
    """Columns of special-value combinations (all of them, or a fixed sample)."""
    special = np.array((*_SMALL, *_EXTREME[np.dtype(dtype)], *_NONFINITE))
    if len(special) ** n_inputs <= _GRID_ROWS:
        rows = np.array(list(itertools.product(special, repeat=n_inputs)))
    else:
        rng = np.random.default_rng(0)
        rows = special[rng.integers(0, len(special), size=(_GRID_ROWS, n_inputs))]
        rows = np.concatenate([rows, rng.normal(size=(200, n_inputs)) * 3])
    rows = rows.reshape(-1, n_inputs).astype(dtype)
    return [rows[:, k] for k in range(n_inputs)]


def _run(ops: list[Op], env: dict[Value, np.ndarray]) -> None:
    for op in ops:
        args = [env[v] for v in op.operands]
        if op.name == "broadcast":  # element-wise check: grid columns keep their shape
            env[op.result] = args[0]
        else:
            env[op.result] = evaluate(op.name, args, op.attrs, op.result.type)


def _agrees(region: _Region, segments: list[list[Op]], values: list[Value]) -> bool:
    """The candidate gives the region's results on the special-value grid (module doc)."""
    symbolic = [v for v in region.inputs if v in region.symbols]
    columns = _grid(max(len(symbolic), 1), region.dtype)
    n = len(columns[0])
    env: dict[Value, np.ndarray] = {}
    for v in region.inputs:
        if v in region.symbols:
            env[v] = columns[symbolic.index(v)]
    for v in region.inputs:
        if v not in env:  # a uniform constant
            env[v] = np.asarray(region.constants[v], region.dtype)
    _run(region.ops, env)
    old = [np.broadcast_to(env[v], (n,)) for v in region.outputs]
    _run([op for s in segments for op in s], env)
    new = [np.broadcast_to(env[v], (n,)) for v in values]
    small_in = np.all([np.isin(c, _SMALL) for c in columns], axis=0)
    nan_in = np.any([np.isnan(c) for c in columns], axis=0)
    rtol = 1e-4 if region.dtype == np.float32 else 1e-9
    for a, b in zip(old, new):
        close = np.isclose(a, b, rtol=rtol, atol=rtol, equal_nan=True)
        if not np.all(close[small_in]):  # same domain: 0/0 stays NaN, 1/0 stays inf
            return False
        if np.any(np.isnan(a) & nan_in & ~np.isnan(b)):  # NaN inputs propagate
            return False
        # elsewhere (large or infinite inputs) where the region gives a number, the
        # candidate gives the same: no new overflow. Where the region overflowed to
        # NaN/inf, the candidate may give the finite limit.
        if not np.all(close[~small_in & ~nan_in & np.isfinite(a)]):
            return False
    return True


# ------------------------------------------------------------------ the pass


@functools.lru_cache(maxsize=4096)
def _alternatives(e, small: bool) -> tuple:
    """Cheaper-looking forms of one expression (cached: retracing is common).

    `cancel` (one rational function over the exponentials and other atoms:
    exp(-a)/(1 + exp(-a)) -> 1/(exp(a) + 1)) costs about a millisecond; term by
    term it keeps x + e/(1 + e) from going over one denominator. `simplify`
    (tens of milliseconds, seconds with trig/hyperbolic functions) only for
    small regions without them.
    """
    sp = _sympy()
    from sympy.functions.elementary.hyperbolic import HyperbolicFunction
    from sympy.functions.elementary.trigonometric import TrigonometricFunction

    out = []
    if any(p.exp.is_negative for p in e.atoms(sp.Pow)):  # cancel only helps quotients
        out.append(sp.cancel(e))
        if e.is_Add or e.is_Mul:
            out.append(e.func(*(sp.cancel(a) for a in e.args)))
    if small and not e.has(TrigonometricFunction, HyperbolicFunction):
        out.append(sp.simplify(e))
    return tuple(a for a in dict.fromkeys(out) if a != e)


def _options(exprs: list, n_ops: int) -> list[list]:
    """Per output, the candidate expressions: as SymPy builds it, then alternatives."""
    small = n_ops <= MAX_SIMPLIFY
    return [[e, *_alternatives(e, small)] for e in exprs]


def _simplified(region: _Region, producers: dict[Value, Op]):
    """(segments, new values) for the cheapest safe candidate, or None."""
    sp = _sympy()
    exprs = region.expressions(sp, producers)
    options = []
    for opts, needed, divisors in zip(
        _options(exprs, len(region.ops)), region.depends, region.divisors
    ):
        # an input that no longer reaches the output would stop its NaN, a lost
        # divisor its pole (module doc)
        keep = [o for o in opts if o.free_symbols == needed and _keeps_poles(sp, o, divisors)]
        if not keep:
            return None
        options.append(keep)
    old_cost = sum(op_cost(op) for op in region.ops)
    tried = []
    for combo in itertools.islice(itertools.product(*options), MAX_COMBINATIONS):
        lowered = _lower(region, list(combo))
        if lowered is not None:
            cost = sum(op_cost(op) for s in lowered[0] for op in s)
            if cost < old_cost:
                tried.append((cost, len(tried), lowered))
    for _, _, lowered in sorted(tried, key=lambda t: t[:2]):
        if _agrees(region, *lowered):
            return lowered
    return None


def _decide(region: _Region, producers: dict[Value, Op]):
    """`_simplified(region)`, without SymPy where algebraic_memo knows the answer."""
    if not SHORTCUTS:
        return _simplified(region, producers)

    def constant(v: Value) -> float | None:
        return _constant_value(producers.get(v), producers)

    if algebraic_memo.cannot_simplify(region, constant):
        return None
    key = algebraic_memo.region_key(region, constant)
    lowered = algebraic_memo.load(key, region)
    if lowered is algebraic_memo.MISS:
        lowered = _simplified(region, producers)
        algebraic_memo.store(key, region, lowered)
    return lowered


def _simplify_block(block: Block) -> Block:
    ops = [
        replace(op, regions=tuple(_simplify_block(r) for r in op.regions)) if op.regions else op
        for op in block.ops
    ]
    block = Block(block.args, tuple(ops), block.results)
    producers = {op.result: op for op in block.ops if len(op.results) == 1}
    position = {op.result: i for i, op in enumerate(block.ops) if len(op.results) == 1}
    users: dict[Value, set[int]] = {}
    for i, op in enumerate(block.ops):
        for v in op.operands:
            users.setdefault(v, set()).add(i)
    returned = set(block.results)
    after: dict[int, list[Op]] = {}
    subst: dict[Value, Value] = {}
    for indices in _regions(block):
        if len(indices) < 2 or len(indices) > MAX_REGION:
            continue
        inside = set(indices)
        used_outside = {
            block.ops[i].result
            for i in indices
            if block.ops[i].result in returned or users.get(block.ops[i].result, set()) - inside
        }
        region = _Region(block, indices, used_outside)
        lowered = _decide(region, producers)
        if lowered is None:
            continue
        for out, segment, value in zip(region.outputs, *lowered):
            after.setdefault(position[out], []).extend(segment)
            subst[out] = value
    if not subst:
        return block
    new_ops: list[Op] = []
    for i, op in enumerate(block.ops):
        new_ops.append(replace(op, operands=tuple(subst.get(v, v) for v in op.operands)))
        new_ops.extend(after.get(i, ()))
    results = tuple(subst.get(v, v) for v in block.results)
    return Block(block.args, tuple(new_ops), results)


def algebraic_simplify(fn: Function) -> Function:
    """Each element-wise region rewritten by SymPy where that is cheaper and safe."""
    with SYMPY_LOCK:
        return Function(fn.name, _simplify_block(fn.body))
