"""The IR text form: print/parse round trips, the interpreter on hand-written IR
(control flow included), verifier failures and parse errors."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest
from oracle import check_traced

import adjit
from adjit.ir import Block, Function, Op, Slice, TensorType, Value, interpret, parse, verify


def ir(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def roundtrip(text: str) -> Function:
    """`text` is in canonical form: parsing and printing gives it back exactly."""
    fn = parse(text)
    assert str(fn) == text
    assert str(parse(str(fn))) == text
    return fn


F64 = TensorType("f64", ())


def vec(n: int, dtype: str = "f64") -> TensorType:
    return TensorType(dtype, (n,))


# ------------------------------------------------------------------ round trips

SIMPLE = ir(
    """
    func @f(%x1: f64[], %x2: f64[]) -> f64[] {
      %0 = mul %x1, %x2 : f64[]
      %1 = sin %x2 : f64[]
      %2 = add %0, %1 : f64[]
      return %2
    }
    """
)

CONTROL = ir(
    """
    func @control(%x: f64[3], %n: i64[]) -> (f64[3], f64[3], f64[]) {
      %0 = constant {value = 0} : i64[]
      %1 = reduce_sum %x {axes = (0,)} : f64[]
      %2 = constant {value = 0.0} : f64[]
      %3 = gt %1, %2 : bool[]
      %4 = cond %3, %x : f64[3]
        then(%5: f64[3]) {
          %6 = exp %5 : f64[3]
          yield %6
        }
        else(%7: f64[3]) {
          %8 = neg %7 : f64[3]
          yield %8
        }
      %9 = for %0, %n, %x : f64[3]
        body(%10: i64[], %11: f64[3]) {
          %12 = convert %10 {dtype = "f64"} : f64[]
          %13 = add %11, %12 : f64[3]
          yield %13
        }
      %14 = constant {value = 1.0} : f64[]
      %15 = while %14 : f64[]
        cond(%16: f64[]) {
          %17 = constant {value = 100.0} : f64[]
          %18 = lt %16, %17 : bool[]
          yield %18
        }
        body(%19: f64[]) {
          %20 = constant {value = 3.0} : f64[]
          %21 = mul %19, %20 : f64[]
          yield %21
        }
      return %4, %9, %15
    }
    """
)

NESTED = ir(
    """
    func @nested(%x: f64[], %n: i64[]) -> (f64[], f64[]) {
      %0 = constant {value = 0} : i64[]
      %1, %2 = for %0, %n, %x, %x : f64[], f64[]
        body(%3: i64[], %4: f64[], %5: f64[]) {
          %6 = constant {value = 2} : i64[]
          %7 = lt %3, %6 : bool[]
          %8 = cond %7, %4, %5 : f64[]
            then(%9: f64[], %10: f64[]) {
              %11 = add %9, %10 : f64[]
              yield %11
            }
            else(%12: f64[], %13: f64[]) {
              %14 = mul %12, %13 : f64[]
              yield %14
            }
          yield %8, %4
        }
      return %1, %2
    }
    """
)

ATTRS = ir(
    """
    func @attrs(%x: f64[6], %m: bool[2,3]) -> (f64[6], f32[3], bool[2,3], f64[2], f64[2], f64[6], f64[0,3]) {
      %0 = constant {value = [nan, inf, -inf, -0.0, 1e-300, -2.5]} : f64[6]
      %1 = add %x, %0 : f64[6]
      %2 = constant {value = [0.10000000149011612, -3.0000000054977558e+38, nan]} : f32[3]
      %3 = constant {value = [[true, false, true], [false, false, true]]} : bool[2,3]
      %4 = and %m, %3 : bool[2,3]
      %5 = gather %x {index = (5:1:-2,)} : f64[2]
      %6 = gather %x {index = ([4, 0],)} : f64[2]
      %7 = gather %x {index = (5::-1,)} : f64[6]
      %8 = constant {value = []} : f64[0,3]
      return %1, %2, %4, %5, %6, %7, %8
    }
    """
)


@pytest.mark.parametrize(
    "text", [SIMPLE, CONTROL, NESTED, ATTRS], ids=["simple", "control", "nested", "attrs"]
)
def test_canonical_text_round_trips(text):
    roundtrip(text)


def test_design_example_runs():
    fn = roundtrip(SIMPLE)
    (out,) = interpret(fn, 2.0, 3.0)
    assert out == 2.0 * 3.0 + math.sin(3.0)
    assert fn(2.0, 3.0)[0] == out  # Function.__call__ is the interpreter


def test_control_flow_interprets():
    fn = roundtrip(CONTROL)
    x = np.array([1.0, 2.0, 3.0])
    a, b, c = interpret(fn, x, np.int64(4))
    np.testing.assert_array_equal(a, np.exp(x))
    np.testing.assert_array_equal(b, x + 0 + 1 + 2 + 3)
    assert c == 243.0
    a, b, _ = interpret(fn, -x, np.int64(0))
    np.testing.assert_array_equal(a, x)  # else branch: neg
    np.testing.assert_array_equal(b, -x)  # zero trips


def test_nested_regions_interpret():
    fn = roundtrip(NESTED)
    # i=0: (x + x, x); i=1: (2x + x, 2x); i=2: (3x * 2x, 3x)
    a, b = interpret(fn, 1.5, np.int64(3))
    assert (a, b) == (4.5 * 3.0, 4.5)


def test_attribute_values_round_trip():
    fn = roundtrip(ATTRS)
    x = np.arange(6.0)
    m = np.array([[True, True, False], [True, False, True]])
    out = interpret(fn, x, m)
    np.testing.assert_array_equal(
        out[0], x + np.array([np.nan, np.inf, -np.inf, -0.0, 1e-300, -2.5])
    )
    assert out[1].dtype == np.float32
    np.testing.assert_array_equal(out[1], np.array([0.1, -3e38, np.nan], dtype=np.float32))
    np.testing.assert_array_equal(out[2], m & np.array([[1, 0, 1], [0, 0, 1]], bool))
    np.testing.assert_array_equal(out[3], x[5:1:-2])
    np.testing.assert_array_equal(out[4], x[[4, 0]])
    np.testing.assert_array_equal(out[5], x[::-1])
    assert out[6].shape == (0, 3)
    assert math.copysign(1.0, float(fn.body.ops[0].attrs["value"][3])) == -1.0  # -0.0 kept


def test_comments_and_whitespace_are_ignored():
    text = "// a comment\nfunc @f(%a: f64[2],%b:f64[2])->f64[2]{ %0 = add %a,%b : f64[2]   // sum\n return %0 }"
    fn = parse(text)
    assert str(fn) == ir(
        """
        func @f(%a: f64[2], %b: f64[2]) -> f64[2] {
          %0 = add %a, %b : f64[2]
          return %0
        }
        """
    )


def test_non_canonical_names_are_renumbered():
    text = ir(
        """
        func @f(%x: f64[]) -> f64[] {
          %t = exp %x : f64[]
          %7 = sin %t : f64[]
          return %7
        }
        """
    )
    printed = str(parse(text))
    assert "%t = exp %x" in printed and "%0 = sin %t" in printed
    assert str(parse(printed)) == printed


def test_sibling_regions_may_reuse_names():
    text = ir(
        """
        func @f(%p: bool[], %x: f64[]) -> f64[] {
          %0 = cond %p, %x : f64[]
            then(%a: f64[]) {
              yield %a
            }
            else(%a: f64[]) {
              %1 = neg %a : f64[]
              yield %1
            }
          return %0
        }
        """
    )
    fn = parse(text)
    assert str(parse(str(fn))) == str(fn)
    assert interpret(fn, True, 2.0) == (2.0,) and interpret(fn, False, 2.0) == (-2.0,)


def test_zero_results_and_many_results():
    fn = roundtrip("func @nothing(%x: f64[]) -> () {\n  return\n}")
    assert interpret(fn, 1.0) == ()
    fn = roundtrip("func @two(%x: f64[]) -> (f64[], f64[]) {\n  return %x, %x\n}")
    assert interpret(fn, 1.0) == (1.0, 1.0)


def test_dtype_names_round_trip():
    for name in ("f64", "f32", "i64", "i32", "bool"):
        t = adjit.ir.parse_type(f"{name}[2,3]")
        assert t == TensorType(name, (2, 3)) and str(t) == f"{name}[2,3]"
    assert str(adjit.ir.parse_type("f32[]")) == "f32[]"
    with pytest.raises(ValueError):
        adjit.ir.parse_type("f16[2]")


def test_traced_constants_round_trip():
    """Constants the tracer makes: nan/inf, negative and tiny floats, f32, bool and int arrays."""

    def f(x, y):
        specials = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, -1.7976931348623157e308])
        mask = np.array([True, False, True, False, True, True])
        return (
            x + specials,
            np.where(mask, x, -2.5),
            y * np.float32(0.1) - np.array([1e-8, 3e38, -7.25], np.float32),
            x + np.array([3, -1, 0, 7, 2, 9], dtype=np.int32),
            x[::-1] + x[5:1:-2].sum() + x[-1::-3].sum(),
            np.zeros((0, 3)).sum(axis=0) + x[:3],
            x[[]],
        )

    with np.errstate(all="ignore"):
        fn = check_traced(f, np.arange(6.0), np.ones(3, np.float32))
    text = str(fn)
    for piece in (
        "nan",
        "-inf",
        "5e-324",
        "-2.5",
        "true, false",
        "f32[3]",
        "5:1:-2",
        "5::-1",
        "5::-3",
    ):
        assert piece in text, piece


@pytest.mark.parametrize(
    "index",
    [
        np.s_[::-1],
        np.s_[5:1:-2],
        np.s_[::-2],
        np.s_[-2::-1],
        np.s_[1:1],
        np.s_[3:0:-1],
        np.s_[:-7:-1],
        np.s_[10:-10:-3],
    ],
    ids=str,
)
def test_negative_step_slices(index):
    check_traced(lambda x: x[index], np.arange(6.0))
    check_traced(lambda x: x[index, ::-1], np.arange(24.0).reshape(6, 4))


def test_slice_attribute_printing():
    assert str(Slice(5, None, -1)) == "5::-1" and str(Slice(0, 3, 1)) == "0:3:1"


# ---------------------------------------------------------------- verifier


def bad(text: str, match: str, exc: type = adjit.VerificationError) -> None:
    with pytest.raises(exc, match=match):
        parse(ir(text))


def func(params, ops, results, name="f") -> Function:
    return Function(name, Block(tuple(params), tuple(ops), tuple(results)))


def test_verifier_value_defined_twice():
    x = Value(F64, "x")
    y = Value(F64)
    op1 = Op("exp", (x,), (y,))
    op2 = Op("sin", (x,), (y,))  # the same result Value again
    with pytest.raises(adjit.VerificationError, match="defined more than once"):
        verify(func([x], [op1, op2], [y]))
    with pytest.raises(adjit.VerificationError, match="defined more than once"):
        verify(func([x], [Op("exp", (x,), (x,))], [x]))  # redefines a parameter
    # the same in text is a parse error at the second definition
    bad(
        """
        func @f(%x: f64[]) -> f64[] {
          %0 = exp %x : f64[]
          %0 = sin %x : f64[]
          return %0
        }
        """,
        r"line 3: value %0 defined twice",
        adjit.ParseError,
    )


def test_verifier_use_before_definition():
    x, y, z = Value(F64, "x"), Value(F64), Value(F64)
    ops = [Op("add", (x, z), (y,)), Op("exp", (x,), (z,))]
    with pytest.raises(adjit.VerificationError, match="used before its definition"):
        verify(func([x], ops, [y]))
    with pytest.raises(adjit.VerificationError, match="not defined in scope"):
        verify(func([x], [], [Value(F64)]))
    bad(
        """
        func @f(%x: f64[]) -> f64[] {
          %0 = add %x, %1 : f64[]
          %1 = exp %x : f64[]
          return %0
        }
        """,
        r"line 2: use of undefined value %1",
        adjit.ParseError,
    )


def test_verifier_region_using_outer_value():
    text = """
        func @f(%p: bool[], %x: f64[]) -> f64[] {
          %0 = cond %p, %x : f64[]
            then(%1: f64[]) {
              %2 = add %1, %x : f64[]
              yield %2
            }
            else(%3: f64[]) {
              yield %3
            }
          return %0
        }
        """
    bad(
        text, r"add: operand <Value x: f64\[\]> is used before its definition or outside its region"
    )
    fn = parse(ir(text), verify=False)
    with pytest.raises(adjit.VerificationError, match="outside its region"):
        verify(fn)
    # a region's values are not visible after it either
    bad(
        """
        func @f(%p: bool[], %x: f64[]) -> f64[] {
          %0 = cond %p, %x : f64[]
            then(%1: f64[]) {
              yield %1
            }
            else(%2: f64[]) {
              yield %2
            }
          %3 = add %0, %1 : f64[]
          return %3
        }
        """,
        r"line 9: use of undefined value %1",
        adjit.ParseError,
    )


def test_verifier_wrong_result_type():
    bad(
        """
        func @f(%x: f64[3], %y: f64[3]) -> f32[3] {
          %0 = add %x, %y : f32[3]
          return %0
        }
        """,
        r"add: result type is f32\[3\], expected f64\[3\]",
    )
    bad(
        """
        func @f(%x: f64[3]) -> f64[3] {
          %0 = reduce_sum %x {axes = (0,)} : f64[3]
          return %0
        }
        """,
        r"reduce_sum: result type is f64\[3\], expected f64\[\]",
    )
    bad(
        """
        func @f(%x: f64[3], %y: f64[4]) -> f64[4] {
          %0 = add %x, %y : f64[4]
          return %0
        }
        """,
        r"add: shapes \(3,\) and \(4,\) do not broadcast",
    )
    bad(
        """
        func @f(%x: f64[3], %y: f32[3]) -> f64[3] {
          %0 = mul %x, %y : f64[3]
          return %0
        }
        """,
        r"mul: operands must share one dtype",
    )


def test_declared_and_returned_types_must_agree():
    bad(
        """
        func @f(%x: f64[3]) -> f64[] {
          return %x
        }
        """,
        r"@f declares results \(f64\[\]\) but returns \(f64\[3\]\)",
        adjit.ParseError,
    )


def test_verifier_wrong_operand_count():
    bad(
        """
        func @f(%x: f64[], %y: f64[]) -> f64[] {
          %0 = exp %x, %y : f64[]
          return %0
        }
        """,
        r"exp takes 1 operands, got 2",
    )
    bad(
        """
        func @f(%x: f64[]) -> f64[] {
          %0 = add %x : f64[]
          return %0
        }
        """,
        r"add takes 2 operands, got 1",
    )
    x = Value(F64, "x")
    two = (Value(F64), Value(F64))
    with pytest.raises(adjit.VerificationError, match="has 2 results, expected 1"):
        verify(func([x], [Op("exp", (x,), two)], [two[0]]))


def test_verifier_bad_region_types():
    bad(
        """
        func @f(%p: bool[], %x: f64[]) -> f64[] {
          %0 = cond %p, %x : f64[]
            then(%1: f64[]) {
              %2 = convert %1 {dtype = "f32"} : f32[]
              yield %2
            }
            else(%3: f64[]) {
              yield %3
            }
          return %0
        }
        """,
        r"cond: then region yields \(f32\[\]\), expected \(f64\[\]\)",
    )
    bad(
        """
        func @f(%x: f64[]) -> f64[] {
          %0 = while %x : f64[]
            cond(%1: f64[]) {
              yield %1
            }
            body(%2: f64[]) {
              yield %2
            }
          return %0
        }
        """,
        r"while: cond region yields \(f64\[\]\), expected \(bool\[\]\)",
    )
    bad(
        """
        func @f(%x: f64[], %n: i64[]) -> f64[] {
          %0 = for %n, %n, %x : f64[]
            body(%1: f64[]) {
              yield %1
            }
          return %0
        }
        """,
        r"for: body region takes \(f64\[\]\), expected \(i64\[\], f64\[\]\)",
    )
    bad(
        """
        func @f(%x: f64[], %n: i64[]) -> f64[] {
          %0 = for %n, %n, %x : f64[]
            body(%1: i64[], %2: f64[]) {
              yield %2, %2
            }
          return %0
        }
        """,
        r"for: body region yields \(f64\[\], f64\[\]\), expected \(f64\[\]\)",
    )
    bad(
        """
        func @f(%p: f64[], %x: f64[]) -> f64[] {
          %0 = cond %p, %x : f64[]
            then(%1: f64[]) {
              yield %1
            }
            else(%2: f64[]) {
              yield %2
            }
          return %0
        }
        """,
        r"cond: first operand must be the predicate, a bool\[\]",
    )
    bad(
        """
        func @f(%x: f64[], %n: f64[]) -> f64[] {
          %0 = for %n, %n, %x : f64[]
            body(%1: i64[], %2: f64[]) {
              yield %2
            }
          return %0
        }
        """,
        r"for: first two operands must be i64\[\] loop bounds",
    )


def test_verifier_region_count_and_regions_on_plain_ops():
    p, x = Value(TensorType("bool", ())), Value(F64)
    r = Value(F64)
    a = Value(F64)
    then = Block((a,), (), (a,))
    with pytest.raises(adjit.VerificationError, match="cond: needs 2 regions, has 1"):
        verify(func([p, x], [Op("cond", (p, x), (r,), {}, (then,))], [r]))
    b = Value(F64)
    with pytest.raises(adjit.VerificationError, match="only control-flow ops have regions"):
        verify(func([x], [Op("exp", (x,), (r,), {}, (Block((b,), (), (b,)),))], [r]))


def test_verifier_unknown_op():
    bad(
        """
        func @f(%x: f64[]) -> f64[] {
          %0 = frobnicate %x : f64[]
          return %0
        }
        """,
        r"unknown op 'frobnicate'",
    )


def test_verifier_bad_attributes():
    bad(
        """
        func @f(%x: f64[2,3]) -> f64[3] {
          %0 = reduce_sum %x {axes = (2,)} : f64[3]
          return %0
        }
        """,
        r"reduce_sum: bad axes \(2,\)",
    )
    bad(
        """
        func @f(%x: f64[2,3]) -> f64[3] {
          %0 = reduce_sum %x : f64[3]
          return %0
        }
        """,
        r"reduce_sum: bad attributes",
    )
    bad(
        """
        func @f(%x: f64[2,3]) -> f64[5] {
          %0 = reshape %x {shape = (5,)} : f64[5]
          return %0
        }
        """,
        r"cannot reshape array of shape \(2, 3\) into shape \(5,\)",
    )


def test_verifier_names_the_users_line():
    x, y = Value(F64, "x"), Value(TensorType("f32", ()))
    op = Op("exp", (x,), (y,), loc="model.py:12")
    with pytest.raises(adjit.VerificationError, match=r"exp: result type .*\(model\.py:12\)"):
        verify(func([x], [op], [y]))


def test_verifier_accepts_valid_hand_built_function():
    x = Value(vec(3), "x")
    s = Value(F64)
    fn = func([x], [Op("reduce_sum", (x,), (s,), {"axes": (0,)})], [s])
    assert verify(fn) is fn
    assert str(fn) == ir(
        """
        func @f(%x: f64[3]) -> f64[] {
          %0 = reduce_sum %x {axes = (0,)} : f64[]
          return %0
        }
        """
    )


# ------------------------------------------------------------------ parse errors


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "func @f(%x: f64[]) -> f64[] {\n  %0 = exp %x : f64[]\n  return %0\n",
            r"line 4: expected '\}' \(at 'end of input'",
        ),
        ("func @f(%x: f64[]) -> f64[] {\n  %0 = exp %x\n  return %0\n}", r"line 3: expected ':'"),
        (
            "func @f(%x: f64[]) -> f64[] {\n  %0 = exp %x : f16[]\n  return %0\n}",
            r"line 2: unknown IR dtype 'f16'",
        ),
        (
            "func @f(%x: f64[]) -> f64[] {\n\n  %0 = exp %x : f64[] ?\n  return %0\n}",
            r"line 3: unexpected character '\?'",
        ),
        (
            "func @f(%x: f64[]) -> f64[] {\n  %0 = exp %y : f64[]\n  return %0\n}",
            r"line 2: use of undefined value %y",
        ),
        (
            "func @f(%x: f64[]) -> f64[] {\n  %0, %1 = exp %x : f64[]\n  return %0\n}",
            r"line 2: 2 results but 1 types",
        ),
        (
            "func @f(%x: f64[], %x: f64[]) -> f64[] {\n  return %x\n}",
            r"line 1: value %x defined twice",
        ),
        ("func @f(%x: f64[]) -> f64[] {\n  return %y\n}", r"line 2: use of undefined value %y"),
        (
            "func @f(%x: f64[]) -> f64[] {\n  %0 = constant {value = [1.0, none]} : f64[2]\n  return %0\n}",
            r"line 2: expected an array element",
        ),
        (
            "func @f(%x: f64[]) -> f64[] {\n  return %x\n}\nfunc @g() -> () {\n  return\n}",
            r"line 4: text after the end",
        ),
        ("fn @f(%x: f64[]) -> f64[] {\n  return %x\n}", r"line 1: expected 'func'"),
        (
            "func @f(%x: f64[]) -> f64[] {\n  %0 = cond %x : f64[]\n  return %0\n}",
            r"line 3: cond needs a 'then' region",
        ),
        (
            "func @f(%x: f64[]) -> f64[] {\n  %0 = reduce_sum %x {axes = (0,), bad = ?} : f64[]\n  return %0\n}",
            r"line 2: unexpected character '\?'",
        ),
        (
            "func @f(%x: f64[]) -> f64[] {\n  %0 = reduce_sum %x {axes = func} : f64[]\n  return %0\n}",
            r"line 2: expected an attribute value",
        ),
        (
            "func @f(%x: f64[]) -> f64[] {\n  %0 = exp %x : f64[]\n  yield %0\n}",
            r"line 3: expected an op or 'return'",
        ),
    ],
    ids=[
        "unclosed",
        "missing-type",
        "bad-dtype",
        "bad-char",
        "undefined",
        "result-count",
        "duplicate-param",
        "undefined-at-line-end",
        "bad-array-element",
        "trailing",
        "no-func",
        "missing-region",
        "bad-attr-char",
        "bad-attr",
        "wrong-terminator",
    ],
)
def test_parse_errors_name_the_line(text, match):
    with pytest.raises(adjit.ParseError, match=match):
        parse(text)


def test_parse_and_verify_errors_are_adjit_errors():
    assert issubclass(adjit.ParseError, adjit.IRError) and issubclass(
        adjit.IRError, adjit.AdjitError
    )
    assert issubclass(adjit.VerificationError, adjit.IRError)


# ------------------------------------------------------------------ interpreter


def test_interpreter_checks_arguments():
    fn = parse(SIMPLE)
    with pytest.raises(adjit.AdjitError, match="@f takes 2 arguments, got 1"):
        interpret(fn, 1.0)
    with pytest.raises(TypeError, match=r"argument 1 must be f64\[\], got f32\[\]"):
        interpret(fn, 1.0, np.float32(2.0))
    with pytest.raises(TypeError, match=r"argument 0 must be f64\[\], got f64\[2\]"):
        interpret(fn, np.ones(2), 1.0)


def test_interpreter_runs_every_elementwise_primitive():
    """Each element-wise primitive, written by hand, gives NumPy's value."""
    x = np.array([0.3, -0.7, 0.5])
    y = np.array([1.2, 0.4, -2.0])
    numpy_of = {name: fn for name, fn in adjit.ir.primitives.NUMPY_UFUNC.items()}
    for name, prim in adjit.ir.PRIMITIVES.items():
        if prim.kind != "elementwise" or name in ("and", "or", "not", "select"):
            continue
        operands = ", ".join(["%x", "%y"][: prim.arity])
        params = ", ".join(f"%{v}: f64[3]" for v in "xy"[: prim.arity])
        rtype = "bool[3]" if name in ("lt", "le", "gt", "ge", "eq", "ne") else "f64[3]"
        text = f"func @{name}({params}) -> {rtype} {{\n  %0 = {name} {operands} : {rtype}\n  return %0\n}}"
        fn = roundtrip(text)
        args = (x, y)[: prim.arity]
        with np.errstate(all="ignore"):
            (got,) = interpret(fn, *args)
            want = numpy_of[name](*args)
        np.testing.assert_array_equal(got, want, err_msg=name)


DYNAMIC = ir(
    """
    func @dynamic(%x: f64[5,3], %i: i64[2], %k: i64[]) -> (f64[2,3], f64[5,3], f64[2]) {
      %0 = gather %x, %i {index = ($0, 0:3:1)} : f64[2,3]
      %1 = constant {value = 1.0} : f64[]
      %2 = scatter_add %x, %1, %i {index = ($0, 0:3:1)} : f64[5,3]
      %3 = gather %x, %i, %k {index = ($0, $1)} : f64[2]
      return %0, %2, %3
    }
    """
)


def test_run_time_index_operands():
    fn = roundtrip(DYNAMIC)
    x = np.arange(15.0).reshape(5, 3)
    i = np.array([1, 1])
    rows, added, picked = interpret(fn, x, i, np.int64(2))
    np.testing.assert_array_equal(rows, x[i])
    want = x.copy()
    want[1] += 2.0  # repeated indices accumulate
    np.testing.assert_array_equal(added, want)
    np.testing.assert_array_equal(picked, x[i, 2])


@pytest.mark.parametrize(
    "operands, match",
    [
        ("%x", r"uses 1 index operands, got 0"),
        ("%x, %i, %i", r"uses 1 index operands, got 2"),
        ("%x, %x", r"index operands must be integers"),
    ],
)
def test_run_time_index_operand_errors(operands, match):
    text = DYNAMIC.replace("gather %x, %i {", f"gather {operands} {{")
    with pytest.raises(adjit.VerificationError, match=match):
        parse(text)
