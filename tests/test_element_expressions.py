"""The element expressions of fused code (codegen/elements.py), one form each.

One hand-written IR function holds every form an element expression takes:
literals of each dtype (NaN and the infinities, float32, bool, int32), the
infix operators with unequal operands (order matters), select, not, neg,
convert, iota, unit-dim reshape and broadcast, transpose, and gathers with
basic, advanced (adjacent or not, constant, identity and run-time) and
negative-step indices. Its generated code must give the reference
interpreter's values bit for bit; it compiles once.
"""

from __future__ import annotations

import numpy as np

import adjit
from adjit.codegen.cache import load_module
from adjit.codegen.numba_cpu import generate_source

IR = """func @f(%x: f64[3,2,4], %y: f64[3], %i: i64[2], %b: bool[4], %n: i32[4]) -> (f32[3], f64[3], f64[3], i32[4], bool[4], f64[2,4], f64[2,4], f64[2,4], f64[2,4], f64[2,4], bool[2,4], bool[2,4], bool[2,4], bool[2,4], bool[2,4], bool[2,4], f64[2,2], f64[2], f64[2,2], f64[3,1,4], f64[2,1], f64[2,4], f64[3,2], f64[4], f64[2,3], bool[4], f64[3,1,4], i64[2,4], f64[4,2], f64[2,4], bool[2,4], f64[2,4], f64[2,4], f64[4], f64[2,3], f64[2,3]) {
  %0 = convert %y {dtype = "f32"} : f32[3]
  %1 = constant {value = inf} : f32[]
  %2 = mul %1, %0 : f32[3]
  %3 = constant {value = -inf} : f64[]
  %4 = sub %y, %3 : f64[3]
  %5 = constant {value = nan} : f64[]
  %6 = add %y, %5 : f64[3]
  %7 = constant {value = 3} : i32[]
  %8 = mul %n, %7 : i32[4]
  %9 = constant {value = true} : bool[]
  %10 = constant {value = false} : bool[]
  %11 = and %b, %9 : bool[4]
  %12 = or %11, %10 : bool[4]
  %13 = gather %x {index = (0, 0:2:1, 0:4:1)} : f64[2,4]
  %14 = gather %x {index = (2, 0:2:1, 0:4:1)} : f64[2,4]
  %15 = sub %13, %14 : f64[2,4]
  %16 = div %13, %14 : f64[2,4]
  %17 = pow %13, %14 : f64[2,4]
  %18 = floordiv %14, %13 : f64[2,4]
  %19 = mod %14, %13 : f64[2,4]
  %20 = lt %13, %14 : bool[2,4]
  %21 = le %13, %14 : bool[2,4]
  %22 = gt %13, %14 : bool[2,4]
  %23 = ge %13, %14 : bool[2,4]
  %24 = eq %13, %14 : bool[2,4]
  %25 = ne %13, %14 : bool[2,4]
  %26 = gather %x {index = ([0, 2], 0:2:1, 1)} : f64[2,2]
  %27 = gather %x {index = ([1, 0], 1, [2, 3])} : f64[2]
  %28 = gather %x {index = ([2, 1], 0:2:1, [3, 0])} : f64[2,2]
  %29 = gather %x {index = (0:3:1, none, 0, 3::-1)} : f64[3,1,4]
  %30 = gather %x {index = (1:3:1, 0:2:2, 0)} : f64[2,1]
  %31 = gather %x, %i {index = ($0, 0, 0:4:1)} : f64[2,4]
  %32 = gather %x {index = ([0, 1, 2], 0:2:1, 3)} : f64[3,2]
  %33 = gather %x {index = (1, 1)} : f64[4]
  %34 = transpose %x {perm = (2, 1, 0)} : f64[4,2,3]
  %35 = gather %34 {index = (1, 0:2:1, 0:3:1)} : f64[2,3]
  %36 = gather %x {index = (0, 0:2:1, 0:4:1)} : f64[2,4]
  %37 = neg %36 : f64[2,4]
  %38 = gather %x {index = (1, 0:2:1, 0:4:1)} : f64[2,4]
  %39 = gather %38 {index = (0, 0:4:1)} : f64[4]
  %40 = gather %13 {index = (1, 0:4:1)} : f64[4]
  %41 = select %b, %39, %40 : f64[4]
  %42 = not %b : bool[4]
  %43 = reshape %y {shape = (3, 1, 1)} : f64[3,1,1]
  %44 = broadcast %43 {shape = (3, 1, 4)} : f64[3,1,4]
  %45 = gather %x {index = (0:3:1, 1, 0:4:1)} : f64[3,4]
  %46 = reshape %45 {shape = (3, 1, 4)} : f64[3,1,4]
  %47 = mul %44, %46 : f64[3,1,4]
  %48 = iota {axis = 1, dtype = "i64", shape = (2, 4)} : i64[2,4]
  %49 = iota {axis = 0, dtype = "i64", shape = (2, 4)} : i64[2,4]
  %50 = sub %48, %49 : i64[2,4]
  %51 = transpose %38 {perm = (1, 0)} : f64[4,2]
  %52 = constant {value = 2.5} : f64[]
  %53 = sub %51, %52 : f64[4,2]
  %54 = convert %50 {dtype = "f64"} : f64[2,4]
  %55 = sub %54, %13 : f64[2,4]
  %56 = convert %15 {dtype = "bool"} : bool[2,4]
  %57 = gather %x {index = (0:3:2, 1, 0:4:1)} : f64[2,4]
  %58 = gather %x {index = (1:3:1, 1, 0:4:1)} : f64[2,4]
  %59 = sub %57, %58 : f64[2,4]
  %60 = constant {value = 7} : i64[]
  %61 = broadcast %60 {shape = (2, 4)} : i64[2,4]
  %62 = convert %61 {dtype = "f64"} : f64[2,4]
  %63 = div %62, %14 : f64[2,4]
  %64 = gather %x {index = (0, [[0], [1]], [[1, 3, 2]])} : f64[2,3]
  %65 = gather %x {index = ([[2], [0]], 1, [[3, 0, 1]])} : f64[2,3]
  return %2, %4, %6, %8, %12, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %35, %42, %47, %50, %53, %55, %56, %59, %63, %41, %64, %65
}"""


def _inputs() -> tuple[np.ndarray, ...]:
    x = np.arange(1.0, 25.0).reshape(3, 2, 4) / 7.0
    x[2, 1, 2] = x[0, 1, 2]  # one tie for the comparisons
    y = np.array([2.0, -3.0, 0.0])
    i = np.array([2, 0])
    b = np.array([True, False, True, False])
    n = np.array([1, -2, 3, 40000], dtype=np.int32)
    return x, y, i, b, n


def test_every_element_expression_form_equals_the_interpreter():
    fn = adjit.ir.parse(IR)
    args = _inputs()
    want = adjit.ir.interpret(fn, *args)
    got = load_module(generate_source(fn), "element_forms").entry(*args)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, k
        np.testing.assert_array_equal(g, w, err_msg=f"result {k}")


def test_an_arange_index_is_the_loop_index_not_a_table():
    # x[np.arange(n), ...] reads x at the loop index itself: no constant table, no
    # extra load per element (values alone cannot tell the two apart)
    fn = adjit.ir.parse(
        """func @f(%x: f64[3,4]) -> (f64[3], f64[3]) {
  %0 = gather %x {index = ([0, 1, 2], 1)} : f64[3]
  %1 = gather %x {index = ([0, 2, 1], 1)} : f64[3]
  return %0, %1
}"""
    )
    source = generate_source(fn)
    assert "np.array([0, 1, 2]" not in source
    assert "np.array([0, 2, 1]" in source
