"""Every primitive's derivative through compiled code, against finite differences.

test_grad.py and test_forward.py check each primitive's rules through the
reference interpreter; here the same rules go through the passes and code
generation (fusion, loop merging, the vectorised math), through the public API:
`jit(grad(f))` and `jvp` of a function applying every primitive of a group
(GROUPS: three, one test each, which pytest-xdist spreads) to its own inputs, so
that all of them cost six compilations. Rows of 37 elements leave a tail after
every vector width. The compiled functions return, per primitive and
input, the gradient (or tangent) projected on a random direction; the oracle is
a central difference along that direction of the single primitive run by the
reference interpreter.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from linalg_samples import LINALG_STRUCTURAL
from samples import ELEMENTWISE, MATMUL_SHAPES, normal, uniform
from test_forward import STRUCTURAL

import adjit
from adjit.compiler import ops
from adjit.compiler.numpy_api import unwrap, wrap
from adjit.ir import PRIMITIVES, interpret

SHAPE = (3, 37)
H = 1e-6


def _away_from(x: np.ndarray, points, gap: float = 1e-3) -> np.ndarray:
    """x moved off `points(x)` (jumps, kinks) by at least `gap`, so FD is meaningful."""
    x = x.copy()
    near = np.abs(x - points(x)) < gap
    x[near] += 10 * gap
    return x


POS = uniform(*SHAPE, seed=21)
OTHER = uniform(*SHAPE, lo=1.1, hi=1.9, seed=22)
X = normal(*SHAPE, seed=23)
Y = normal(*SHAPE, seed=24)
UNARY = {
    "log": POS,
    "sqrt": POS,
    "asin": POS,
    "acos": POS,
    "acosh": OTHER,  # x > 1
    "atanh": POS,  # |x| < 1
    "log1p": POS,
    "gammaln": OTHER,  # away from the poles at 0, -1, ...
    "digamma": OTHER,
    "abs": _away_from(X, lambda x: 0.0),
    "sign": _away_from(X, lambda x: 0.0),
    "floor": _away_from(X, np.round),
    "ceil": _away_from(X, np.round),
}
BINARY = {
    "pow": (POS, OTHER),
    "div": (X, OTHER),
    "maximum": (_away_from(X, lambda x: Y), Y),
    "minimum": (_away_from(X, lambda x: Y), Y),
    "mod": (_away_from(3 * X, lambda x: np.round(x / OTHER) * OTHER), OTHER),
    "floordiv": (_away_from(3 * X, lambda x: np.round(x / OTHER) * OTHER), OTHER),
    "atan2": (X, Y),
}


# broadcasting is one rule for all (test_grad checks every op through the interpreter)
BROADCAST = ("div", "pow", "maximum", "atan2")


def _elementwise_cases() -> dict[str, tuple]:
    """label -> (body on IR values, inputs, elementwise?)"""
    cases = {}
    for name in ELEMENTWISE:
        if PRIMITIVES[name].arity == 1:
            cases[name] = (lambda x, n=name: ops.elementwise(n, x), [UNARY.get(name, X)])
            continue
        a, b = BINARY.get(name, (X, OTHER))

        def body(x, y, n=name):
            return ops.elementwise(n, x, y)

        cases[name] = (body, [a, b])
        if name in BROADCAST:  # the operand's cotangent is summed over broadcast dims
            cases[f"{name}[b broadcast]"] = (body, [a, b[:1]])
            cases[f"{name}[a broadcast]"] = (body, [a[0], b])
    return cases


def _structural_cases() -> dict[str, tuple]:
    cases = {name: (body, list(inputs)) for name, (body, *inputs) in STRUCTURAL.items()}
    for sa, sb in MATMUL_SHAPES:
        cases[f"matmul{sa}{sb}"] = (
            lambda a, b: ops.matmul(a, b),
            [normal(*sa, seed=1), normal(*sb, seed=2)],
        )
    # a long row: the eight-lane extrema with a tail, the chunked sums
    long = normal(2, 101, seed=25)
    for red in ("reduce_sum", "reduce_prod", "reduce_max", "reduce_min"):
        cases[f"{red}[long row]"] = (
            lambda x, r=red: ops.reduce(r, x, (1,)),
            [long * 0.1 + 1.0 if red == "reduce_prod" else long],
        )
    return cases


ELEMENTWISE_CASES = _elementwise_cases()
STRUCTURAL_CASES = _structural_cases()
CASES = {**ELEMENTWISE_CASES, **STRUCTURAL_CASES}


def _flat_inputs() -> tuple[list[np.ndarray], dict[str, list[int]]]:
    flat, where = [], {}
    for label, (_, inputs) in CASES.items():
        where[label] = list(range(len(flat), len(flat) + len(inputs)))
        flat += [np.asarray(a) for a in inputs]
    return flat, where


FLAT, WHERE = _flat_inputs()
FLOATS = [i for i, a in enumerate(FLAT) if a.dtype.kind == "f"]


def _apply(label: str, args):
    """The case's primitive applied to traced arguments (a NumPy-level function)."""
    body, _ = CASES[label]
    return wrap(body(*(unwrap(a) for a in args)))


def _weights(label: str, shape) -> np.ndarray:
    return normal(*shape, seed=zlib.crc32(label.encode())) if shape else np.float64(0.7)


# The cases in three groups, one compiled function each and one test each, which
# pytest-xdist runs side by side (Numba's time grows faster than the function: the
# three together compile faster than one function of all of them). The linear
# algebra and matmul cases cost about as much as all the others.
_LINALG = [label for label in STRUCTURAL_CASES if label in LINALG_STRUCTURAL or "matmul" in label]
GROUPS = {
    "elementwise": list(ELEMENTWISE_CASES),
    "structural": [label for label in STRUCTURAL_CASES if label not in _LINALG],
    "linalg": _LINALG,
}
assert sorted(sum(GROUPS.values(), [])) == sorted(CASES)


def _group_inputs(group: str) -> list[int]:
    """Indices into FLAT of the group's inputs, in the order its functions take them."""
    return [i for label in GROUPS[group] for i in WHERE[label]]


def _outputs(group: str, *args):
    position = {i: k for k, i in enumerate(_group_inputs(group))}
    return tuple(
        _apply(label, [args[position[i]] for i in WHERE[label]]) for label in GROUPS[group]
    )


OUT_SHAPES = {}


def _case_function(label: str):
    """f_k alone, as IR the reference interpreter runs."""
    fn = adjit.trace(lambda *args: _apply(label, args))(*(FLAT[i] for i in WHERE[label]))
    OUT_SHAPES[label] = fn.result_types[0].shape
    return fn


CASE_FUNCTIONS = {label: _case_function(label) for label in CASES}
WEIGHTS = {label: _weights(label, OUT_SHAPES[label]) for label in CASES}


def _loss(group: str, *args):
    total = 0.0
    for label, out in zip(GROUPS[group], _outputs(group, *args)):
        total = total + np.sum(out * WEIGHTS[label])
    return total


def _case_loss(label: str, args) -> float:
    return float(np.sum(interpret(CASE_FUNCTIONS[label], *args)[0] * WEIGHTS[label]))


def _directional_fd(label: str, directions: dict[int, np.ndarray]) -> tuple[float, float]:
    """d/ds sum(W * f(args + s * directions)) at 0 (central difference), and an
    absolute tolerance for its rounding error."""
    args = [FLAT[i] for i in WHERE[label]]

    def at(s):
        return _case_loss(
            label, [a + s * directions[k] if k in directions else a for k, a in enumerate(args)]
        )

    scale = np.sum(np.abs(interpret(CASE_FUNCTIONS[label], *args)[0] * WEIGHTS[label]))
    return (at(H) - at(-H)) / (2 * H), 1e-8 * max(1.0, float(scale))


# One direction per float input: a wrong gradient or tangent element anywhere
# changes the projection, so a scalar per case and input checks the whole array
# and keeps the compiled functions small (their outputs are scalars).
DIRECTIONS = [normal(*a.shape, seed=300 + i) for i, a in enumerate(FLAT)]


def _projected_gradients(group: str):
    """The compiled function of the group's inputs: its gradient along DIRECTIONS,
    one scalar per float input."""
    inputs = _group_inputs(group)
    floats = [k for k, i in enumerate(inputs) if i in FLOATS]

    def projected(*args):
        grads = adjit.grad(lambda *a: _loss(group, *a), argnums=tuple(floats))(*args)
        return tuple(np.sum(g * DIRECTIONS[inputs[k]]) for k, g in zip(floats, grads))

    return adjit.jit(projected), [inputs[k] for k in floats]


def _projected_tangents(group: str):
    """The compiled function of the group's inputs: per case, its tangent along
    DIRECTIONS, weighted and summed."""
    inputs = _group_inputs(group)

    def projected(*args):
        tangents = tuple(
            DIRECTIONS[i] if FLAT[i].dtype.kind == "f" else np.zeros_like(FLAT[i]) for i in inputs
        )
        _, touts = adjit.jvp(lambda *a: _outputs(group, *a), args, tangents)
        return tuple(np.sum(t * WEIGHTS[label]) for label, t in zip(GROUPS[group], touts))

    return adjit.jit(projected)


# One test per compiled function, checking every case and reporting each one that
# fails: with pytest-xdist's load distribution, a module fixture shared by many
# tests was set up (compiled, ~40 s) by each worker that drew one of them.
def _mismatch(label: str, got: float, want: float, atol: float, what: str) -> str | None:
    try:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=atol)
    except AssertionError as e:
        return f"{label} {what}: {e}"
    return None


@pytest.mark.parametrize("group", GROUPS)
def test_compiled_gradient_matches_finite_differences(group: str) -> None:
    compiled, floats = _projected_gradients(group)
    compiled_gradient = dict(zip(floats, compiled(*(FLAT[i] for i in _group_inputs(group)))))
    assert len(compiled_gradient) == len(floats)
    errors = []
    for label in sorted(GROUPS[group]):
        for k, i in enumerate(WHERE[label]):
            if i in compiled_gradient:
                want, atol = _directional_fd(label, {k: DIRECTIONS[i]})
                errors.append(_mismatch(label, compiled_gradient[i], want, atol, f"argument {k}"))
    errors = [e for e in errors if e]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("group", GROUPS)
def test_compiled_jvp_matches_finite_differences(group: str) -> None:
    tangents = _projected_tangents(group)(*(FLAT[i] for i in _group_inputs(group)))
    compiled_jvp = dict(zip(GROUPS[group], tangents))
    assert len(compiled_jvp) == len(GROUPS[group])
    errors = []
    for label in sorted(GROUPS[group]):
        directions = {
            k: DIRECTIONS[i] for k, i in enumerate(WHERE[label]) if FLAT[i].dtype.kind == "f"
        }
        want, atol = _directional_fd(label, directions)
        errors.append(_mismatch(label, compiled_jvp[label], want, atol, "tangent"))
    errors = [e for e in errors if e]
    assert not errors, "\n".join(errors)


def test_every_differentiable_primitive_is_compiled_and_checked():
    covered = set()
    for fn in CASE_FUNCTIONS.values():
        covered |= {op.name for op in fn.walk()}
    missing = {
        n
        for n, p in PRIMITIVES.items()
        if p.differentiable and p.kind not in ("control", "source", "tape") and n not in covered
    }
    # convert: through f32 a finite difference is meaningless (test_forward, test_grad)
    assert missing <= {"convert"}  # the linear-algebra masks convert bool to float
