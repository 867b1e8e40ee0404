"""Python control flow on traced values, captured as IR ops (compiler/autograph.py).

Each program is written once against a NumPy module (`np` is the builder's
argument): adjit traces it with NumPy, autograd runs its Python control flow
eagerly on its own boxes, plain Python gives the values. One trace serves every
input: the IR is interpreted at points that take different branches and trip
counts, so the branches really are in the IR.
"""

from __future__ import annotations

import functools
import re

import autograd
import autograd.numpy as anp
import numpy
import pytest

import adjit
from adjit.errors import ControlFlowError
from adjit.ir import interpret


def newton(np):
    def f(a):
        x = a
        while np.abs(x * x - a) > 1e-12 * a:
            x = 0.5 * (x + a / x)
        return x

    return f


def bisection(np):
    def f(a):
        lo, hi = 0.0, a + 1.0
        while hi - lo > 1e-10:
            mid = 0.5 * (lo + hi)
            if mid * mid > a:
                hi = mid
            else:
                lo = mid
        return 0.5 * (lo + hi)

    return f


def with_break(np):
    def f(x):
        s = 0.0
        for i in range(12):
            s = s + np.sin(x * i) + x
            if s > 3.0:
                break
        return s * x

    return f


def nested(np):
    def f(x):
        s = x
        for i in range(3):
            for j in range(4):
                s = s + np.sin(x * i + j * s) * 0.1
                if s > 1.0:
                    s = s - 0.5 * x
        return s

    return f


def nested_jumps(np):
    def f(x):
        s = 0.0
        for i in range(4):
            for j in range(5):
                if j > i:
                    break
                if np.sin(x * (i + j)) < 0.0:
                    continue
                s = s + np.sin(x * (i + j))
            if s > 2.0:
                break
        return s * x

    return f


def if_in_while_in_for(np):
    def f(x):
        y = x
        for k in range(3):
            while y < 4.0 + k:
                if y > 2.0:
                    y = y * 1.1 + x
                else:
                    y = y + 0.5 * x * x + 0.1
        return y

    return f


def returns(np):
    def f(x):
        if x > 1.0:
            return x * x
        y = np.sin(x)
        if y < -0.5:
            return y * 3.0
        return y + x

    return f


def elif_chain(np):
    def f(x):
        if x > 2.0:
            y = x**3
        elif x > 0.0:
            y = np.exp(x)
        elif x > -1.0:
            y = -x
        else:
            y = np.cos(x)
        return y * x

    return f


def expressions(np):
    def f(x):
        a = x * x if x > 0.5 else np.sin(x)
        b = 2.0 * x if (x > -1.0 and not x > 1.5) or x < -2.0 else x + 4.0
        return a + b

    return f


def flag(np):
    def f(x):
        go = True
        n = 0
        while go:
            x = x * 0.5 + 0.1 * np.sin(x)
            n += 1
            if x < 0.1:
                go = False
        return x * n

    return f


def continues(np):
    def f(x):
        s = 0.0
        for i in range(6):
            if np.sin(x * i) < 0.0:
                continue
            s = s + np.sin(x * i) * x
        return s

    return f


class Scaler:
    def __init__(self, np):
        self.np = np

    def apply(self, x):
        if x > 0:
            return self.np.tanh(x)
        return 0.1 * x


def methods_and_closures(np):
    scaler = Scaler(np)

    def clip(x, lo):
        if x < lo:
            x = lo + 0.01 * (x - lo)
        return x

    low = functools.partial(clip, lo=-1.0)

    def step(y):
        if y > 1.0:
            return 0.5 * y
        return y * y + 0.1

    steps = [step]  # reached through a list: viewed when called as an argument

    def twice(fn, x):
        return fn(fn(x))

    def f(x):
        return scaler.apply(x) + low(x) * 2.0 + twice(steps[0], x)

    return f


def while_break(np):
    def f(x):
        y = x
        while y < 100.0:
            y = y * 1.7 + np.sin(x)
            if y > 10.0 * x:
                break
            last = y  # first assigned in the loop, read after it
        return y + 0.5 * last

    return f


# program, points (covering its branches); forward and reverse mode checked where
# their rules exist (reverse through `while` comes with the tape)
CASES = {
    "newton": (newton, [2.0, 9.0, 0.3], False),
    "bisection": (bisection, [2.0, 0.5], False),
    "with_break": (with_break, [0.3, 0.05, 1.2], True),
    "nested": (nested, [0.4, -0.7, 1.2], True),
    "nested_jumps": (nested_jumps, [0.5, 1.9, 3.0], True),
    "if_in_while_in_for": (if_in_while_in_for, [0.5, 1.5, 2.5], False),
    "returns": (returns, [2.0, 0.3, -0.8], True),
    "elif_chain": (elif_chain, [3.0, 1.0, -0.5, -2.0], True),
    "expressions": (expressions, [1.0, 0.2, -1.5, -3.0, 2.0], True),
    "flag": (flag, [3.0, 0.7], False),
    "while_break": (while_break, [0.6, 2.0], False),
    "continues": (continues, [0.9, 2.0], True),
    "methods_and_closures": (methods_and_closures, [0.5, -0.5, -3.0, 1.5], True),
}


def fd(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("name", list(CASES))
def test_values_match_python(name):
    build, points, _ = CASES[name]
    f = build(numpy)
    fn = adjit.trace(f)(points[0])
    for x in points:
        (got,) = interpret(fn, x)
        assert got == pytest.approx(f(x), rel=1e-12), f"{name} at {x}"


@pytest.mark.parametrize("name", list(CASES))
def test_forward_mode(name):
    build, points, _ = CASES[name]
    fn = adjit.jacfwd(build(numpy)).ir(points[0])
    for x in points:
        (got,) = interpret(fn, x)
        want = autograd.grad(build(anp))(x)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), f"{name} at {x}"


# Programs whose result is piecewise smooth on pieces narrower than a finite
# difference's step: their algorithmic derivative (autograd's, adjit's) is the
# derivative of the piece, which central differences do not see.
FD_BLIND = {"bisection"}


def _reverse(name):
    build, points, _ = CASES[name]
    fn = adjit.grad(build(numpy)).ir(points[0])
    for x in points:
        (got,) = interpret(fn, x)
        want = autograd.grad(build(anp))(x)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), f"{name} at {x}"
        if name not in FD_BLIND:
            assert got == pytest.approx(fd(build(numpy), x), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c[2]])
def test_reverse_mode(name):
    _reverse(name)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if not c[2]])
def test_reverse_mode_through_while(name):
    _reverse(name)


def test_newton_derivative_is_that_of_sqrt():
    f = newton(numpy)
    fn = adjit.jacfwd(f).ir(2.0)
    for a in (0.3, 2.0, 9.0):
        (got,) = interpret(fn, a)
        assert got == pytest.approx(1 / (2 * numpy.sqrt(a)), rel=1e-10)


def test_compiled():
    """jit and jvp run the captured ops natively (one compile for all cases)."""
    progs = [newton, with_break, if_in_while_in_for, expressions]
    f1, f2, f3, f4 = (p(numpy) for p in progs)

    def all_of(x):
        return [f1(x), f2(x), f3(x), f4(x)]

    jitted = adjit.jit(all_of)
    for x in (0.5, 2.5):
        got = jitted(x)
        for p, g in zip(progs, got):
            assert float(g) == pytest.approx(p(numpy)(x), rel=1e-12), p.__name__
    out, tangent = adjit.jvp(newton(numpy), (2.0,), (1.0,))
    assert float(out) == pytest.approx(numpy.sqrt(2.0), rel=1e-12)
    assert float(tangent) == pytest.approx(1 / (2 * numpy.sqrt(2.0)), rel=1e-10)


def _op_names(fn):
    return [op.name for op in fn.walk()]


def test_loop_carried_python_int_is_promoted():
    def f(x):
        n = 0
        while x > 1.0:
            x = x / 2.0
            n += 1
        return x * n

    fn = adjit.trace(f)(5.0)
    assert "while" in _op_names(fn)
    for x in (5.0, 0.5, 100.0):
        assert interpret(fn, x)[0] == pytest.approx(f(x))


def test_for_loop_with_traced_bounds():
    def f(x, n):
        s = x
        for i in range(n):
            s = s * 0.9 + x * i
        return s

    fn = adjit.trace(f)(0.5, numpy.int64(3))
    assert "for" in _op_names(fn)
    for n in (0, 1, 4):
        assert interpret(fn, 0.5, numpy.int64(n))[0] == pytest.approx(f(0.5, n))
    tangent = adjit.jacfwd(f).ir(0.5, numpy.int64(4))
    want = autograd.grad(f)(0.5, 4)
    assert interpret(tangent, 0.5, numpy.int64(4))[0] == pytest.approx(want, rel=1e-12)


def test_rolled_for_loop_does_not_grow():
    def run(n):
        def f(x):
            for i in range(n):
                x = x * 0.999 + 0.001 * numpy.sin(x + i)
            return x

        return f

    small, large = (adjit.trace(run(n))(0.5) for n in (10, 10_000))
    assert len(list(large.walk())) == len(list(small.walk()))
    assert "for" in _op_names(large)
    assert interpret(large, 0.5)[0] == pytest.approx(run(10_000)(0.5), rel=1e-12)


def test_concrete_control_flow_stays_python():
    def f(x):
        if x.shape[0] > 2:
            x = x * 2.0
        if x[0] > 0.5:  # the only captured statement
            x = x * 3.0
        parts = []
        for i in range(3):  # appends to a list: unrolled
            parts.append(x[i])
        n = 0
        while n < 2:
            n += 1
        return parts[0] + parts[2] * n

    fn = adjit.trace(f)(numpy.arange(4.0))
    assert [n for n in _op_names(fn) if n in ("cond", "while", "for")] == ["cond"]
    for x in (numpy.arange(4.0), numpy.arange(1.0, 5.0)):
        assert interpret(fn, x)[0] == pytest.approx(f(x))


def _flatten(tree):
    """Module-level and recursive, with a statement that is rewritten."""
    if isinstance(tree, (list, tuple)):
        return [leaf for sub in tree for leaf in _flatten(sub)]
    return [tree]


def test_recursive_module_function_is_rewritten_and_still_recursive():
    def f(x):
        leaves = _flatten([x, (x * 2.0, [x + 1.0])])
        total = leaves[0]
        for leaf in leaves[1:]:
            total = total + leaf
        if total > 3.0:
            total = total * 2.0
        return total

    fn = adjit.trace(f)(0.5)
    for x in (0.5, 2.0):
        assert interpret(fn, x)[0] == pytest.approx(f(x))
    assert adjit.jit(f)(2.0) == pytest.approx(f(2.0))


def test_recursive_closure_is_rewritten_and_still_recursive():
    def f(x):
        def power(y, n):
            if n == 0:
                return 1.0
            return y * power(y, n - 1)

        return power(x, 3) if x > 0.0 else -x

    fn = adjit.trace(f)(1.5)
    for x in (1.5, -2.0):
        assert interpret(fn, x)[0] == pytest.approx(f(x))


def test_loop_that_changes_shape_is_unrolled():
    def f(x):
        for _ in range(3):
            x = numpy.concatenate([x, x[:1] * 2.0])
            if x[0] > 1.0:  # captured in each unrolled iteration
                x = x - 1.0
        return x

    fn = adjit.trace(f)(numpy.arange(2.0))
    assert "for" not in _op_names(fn) and _op_names(fn).count("cond") == 3
    for x in (numpy.arange(2.0), numpy.arange(2.0) + 1.5):
        numpy.testing.assert_allclose(interpret(fn, x)[0], f(x))


def test_python_numbers_carried_in_float32_stay_weak():
    def f(x):
        s, n = 0.0, 0
        for i in range(4):
            s = s + x[i]
            n += 1
            if s > 2.0:
                s = s * 0.5
        return s * n

    x = numpy.arange(1.0, 5.0, dtype=numpy.float32)
    fn = adjit.trace(f)(x)
    assert "for" in _op_names(fn)
    (got,) = interpret(fn, x)
    assert got.dtype == numpy.float32 and got == f(x)


def test_loop_needing_a_python_index_is_unrolled():
    weights = [0.5, 2.0, 3.0]

    def f(x):
        for i in range(3):
            x = x * weights[i]  # a list indexed by i: cannot roll
            if x > 1.0:
                x = x - 1.0
        return x

    fn = adjit.trace(f)(0.3)
    assert "for" not in _op_names(fn) and _op_names(fn).count("cond") == 3
    for x in (0.3, 2.0):
        assert interpret(fn, x)[0] == pytest.approx(f(x))


def test_array_state_rolled_with_index():
    def f(x):
        y = numpy.zeros(4)
        for i in range(4):
            y[i] = x[i] * i + y[i - 1]
        return y

    x = numpy.arange(1.0, 5.0)
    fn = adjit.trace(f)(x)
    assert "for" in _op_names(fn)
    numpy.testing.assert_allclose(interpret(fn, x)[0], f(x))


# ---------------------------------------------------------------- errors


def _line(f, marker="# <-"):
    import inspect

    lines, first = inspect.getsourcelines(f)
    return first + next(i for i, s in enumerate(lines) if marker in s)


def _raises(f, match, *args, at=None):
    with pytest.raises(ControlFlowError, match=match) as info:
        adjit.trace(f)(*args)
    line = _line(at or f)
    assert re.search(rf"test_capture\.py:{line}: ", str(info.value)), str(info.value)
    return str(info.value)


def test_variable_assigned_in_one_branch():
    def f(x):
        if x > 0:
            y = x * 2
        return y * 3  # <-

    msg = _raises(f, r"variable 'y' is used but not assigned on every path", 1.0)
    assert "only one branch" in msg

    def g(x):
        if x > 0:
            y = x * 2
        return x, y  # <-

    _raises(g, r"variable 'y' is used but not assigned on every path", 1.0)


def test_variable_of_different_kinds_in_branches():
    def f(x):
        y = None
        if x > 0:  # <-
            y = x * 2  # noqa: F841
        return x

    _raises(f, r"variable 'y' is a traced f64\[\] in one branch and a NoneType", 1.0)


def test_loop_changing_shape_on_traced_condition():
    def f(x):
        while numpy.sum(x) < 10.0:  # <-
            x = numpy.concatenate([x, x])
        return x

    _raises(f, r"variable 'x' changes from f64\[2\] to f64\[4\]", numpy.ones(2))


def test_try_around_traced_condition():
    def f(x):
        try:
            if x > 0:  # <-
                x = x * 2
        except ValueError:
            pass
        return x

    _raises(f, r"an if statement inside a try block cannot be captured", 1.0)


def test_generator_with_traced_condition():
    def gen(x):
        while x < 3.0:  # <-
            x = x + 1.0
            yield x

    def f(x):
        return sum(gen(x))

    msg = _raises(f, r"a while loop inside a generator \(a function with yield\)", 1.0, at=gen)
    assert "cannot be captured" in msg


COUNT = 0


def test_global_mutation_in_traced_loop():
    def f(x):
        global COUNT
        while x < 3.0:  # <-
            x = x + 1.0
            COUNT = COUNT + 1
        return x

    _raises(f, r"a while loop that assigns to the global or nonlocal variable 'COUNT'", 1.0)


def test_raise_under_traced_condition():
    def f(x):
        if x.ndim != 0:  # concrete: stays Python
            raise ValueError("a scalar, please")
        if x < 0:  # <-
            raise ValueError("negative")
        return x

    _raises(f, r"an if statement that raises an exception cannot be captured", 1.0)


def test_return_inside_traced_loop():
    def f(x):
        while x < 3.0:  # <-
            x = x * 2.0
            if x > 2.5:
                return x
        return -x

    _raises(f, r"a while loop that contains a return statement cannot be captured", 1.0)


def test_unreadable_source_keeps_todays_error():
    def f(x):
        return x if x > 0 else -x

    assert interpret(adjit.trace(f)(1.0), -2.0)[0] == 2.0
    g = eval("lambda x: x if x > 0 else -x")  # no source to rewrite: as before
    with pytest.raises(ControlFlowError, match=r"cannot use a traced value as a Python bool"):
        adjit.trace(g)(1.0)


CELL = """
def cell_fn(x):
    if np.sum(x) > 0.0:
        return np.sin(x)
    return np.cos(x)
"""


def test_source_is_read_without_scanning_every_loaded_module(monkeypatch):
    """The source of a function (from its file, or from linecache as a notebook cell
    registers it) is found without inspect.getmodule, whose first call realpaths
    every loaded module's file: a tenth of a second of each process's first trace."""
    import inspect
    import linecache

    def getmodule(*args, **kwargs):
        raise AssertionError("inspect.getmodule called while tracing")

    monkeypatch.setattr(inspect, "getmodule", getmodule)
    filename = "<adjit-test-cell-1>"
    monkeypatch.setitem(
        linecache.cache, filename, (len(CELL), None, CELL.splitlines(True), filename)
    )
    scope = {"np": numpy}
    exec(compile(CELL, filename, "exec"), scope)

    def from_file(x):
        if numpy.sum(x) > 0.0:
            return numpy.exp(x)
        return -x

    for f, branches in (
        (scope["cell_fn"], (numpy.sin, numpy.cos)),
        (from_file, (numpy.exp, numpy.negative)),
    ):
        x = numpy.linspace(0.5, 1.0, 3)
        fn = adjit.trace(f)(x)  # one trace; both branches must be in the IR
        for point, expected in ((x, branches[0](x)), (-x, branches[1](-x))):
            (out,) = interpret(fn, point)
            numpy.testing.assert_allclose(out, expected, rtol=1e-15)
