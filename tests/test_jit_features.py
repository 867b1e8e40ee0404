"""adjit.jit beyond the corpus: control flow, run-time indices, buffer reuse, signatures."""

from __future__ import annotations

import numpy as np
import pytest

import adjit


def test_source_and_ir_are_inspectable():
    def f(x):
        return np.sum(np.exp(x) * 2.0)

    jitted = adjit.jit(f)
    x = np.linspace(0.0, 1.0, 5)
    source = jitted.source(x)
    assert "def entry(a_x):" in source
    assert "# %" in source  # IR value names in comments
    assert "reduce_sum" in str(jitted.ir(x))
    assert jitted(x) == pytest.approx(np.sum(np.exp(x) * 2.0), rel=1e-14)


def test_elementwise_chain_is_one_loop_without_temporaries():
    def f(x):
        return np.tanh(np.exp(-x * x) * 2.0 + np.sin(x) * np.cos(x)) - np.log1p(np.abs(x))

    source = adjit.jit(f).source(np.ones(100))
    body = source.split("def entry")[1]
    assert body.count("np.empty(") == 1
    assert body.count("for ") == 1


def test_sum_of_product_is_fused_into_one_loop():
    def f(x, y):
        return np.sum(x * y + 1.0)

    source = adjit.jit(f).source(np.ones(100), np.ones(100))
    body = source.split("def entry")[1]
    assert "np.empty((100" not in body  # no temporary for x * y + 1
    # the products are computed by one loop into a block buffer, then summed; no array of 100
    assert body.count("* a_y[") == 1


@pytest.mark.parametrize(
    "n", [3, 7, 64, 100, 128, 130, 1000, 2048]
)  # sequential below 8, pairwise from 64
def test_sums_over_the_last_axis_equal_numpy_bit_for_bit(n):
    def f(x):
        return np.exp(x).sum(axis=-1), x.mean(axis=1)

    x = np.random.default_rng(n).normal(size=(4, n))
    got, want = adjit.jit(f)(x), f(x)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def _tree(values: list[float]) -> float:
    """Neighbours added level by level, an odd one out moving up (pairwise.tree_sum)."""
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        values = pairs + values[len(pairs) * 2 :]
    return values[0]


@pytest.mark.parametrize("n", [2049, 5000, 8192, 100_003])
def test_long_sums_are_summed_chunk_by_chunk(n):
    # beyond 16 blocks: chunks of 16 whole blocks of 128 (NumPy's order), the
    # last partial block, added as a tree; NumPy's result when n is 2048 * 2**k
    x = np.random.default_rng(n).normal(size=n)
    got = adjit.jit(lambda v: np.sum(v * v))(x)
    whole = n - n % 128
    chunks = [x[i : min(i + 2048, whole)] ** 2 for i in range(0, whole, 2048)]
    parts = [_tree([np.sum(c[i : i + 128]) for i in range(0, c.size, 128)]) for c in chunks]
    want = _tree(parts + ([np.sum(x[whole:] ** 2)] if whole < n else []))
    assert got == want
    if n == 8192:
        assert got == np.sum(x * x)


@pytest.mark.parametrize("n", [2049, 5000])
def test_long_sums_of_an_array_sum_its_blocks_where_they_lie(n):
    # a contiguous row is summed in place, its last partial block too (no buffer)
    x = np.random.default_rng(n).normal(size=n)
    got = adjit.jit(lambda v: np.sum(v))(x)
    whole = n - n % 128
    chunks = [x[i : min(i + 2048, whole)] for i in range(0, whole, 2048)]
    parts = [_tree([np.sum(c[i : i + 128]) for i in range(0, c.size, 128)]) for c in chunks]
    assert got == _tree(parts + [np.sum(x[whole:])])


def test_matmul_calls_blas():
    def f(a, b):
        return a @ b

    # products above contraction.LOOP_MAX_WORK multiply-adds (smaller ones run as loops)
    a, b = np.random.default_rng(0).normal(size=(2, 7, 16, 16)), np.ones((16, 8))
    jitted = adjit.jit(f)
    assert "np.dot(" in jitted.source(a, b)
    np.testing.assert_allclose(jitted(a, b), a @ b, rtol=1e-13)


def test_control_flow_compiles():
    def f(x, n):
        total = adjit.fori_loop(0, n, lambda i, acc: acc + x[i] * i, 0.0)
        y = adjit.cond(total > 1.0, lambda v: v * 2.0, lambda v: v - 1.0, x)
        steps, z = adjit.while_loop(
            lambda s: s[1].sum() > 0.5, lambda s: (s[0] + 1, s[1] * 0.5), (0, y)
        )
        return total, y, steps, z

    x = np.array([0.5, 1.5, -0.25, 2.0])
    got = adjit.jit(f)(x, 3)
    want = adjit.ir.interpret(adjit.trace(f)(x, 3), x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-14)


def test_runtime_integer_indices_gather_and_scatter():
    def f(x, idx, labels):
        picked = x[np.arange(x.shape[0]), labels]
        out = np.zeros(x.shape[1])
        out[idx] = 1.0
        return picked.sum(), x[idx], out

    x = np.arange(12.0).reshape(4, 3)
    idx = np.array([2, -1, 0])
    labels = np.array([0, 2, 1, 1])
    got = adjit.jit(f)(x, idx, labels)
    want = f(x, idx, labels)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_runtime_index_out_of_bounds_raises():
    def f(x, i):
        return x[i]

    with pytest.raises(IndexError):
        adjit.jit(f)(np.ones(3), np.array([0, 3]))
    with pytest.raises(IndexError):
        adjit.jit(f)(np.ones(3), np.array([-4]))


def test_scatter_reuses_a_dead_buffer_but_never_a_live_one():
    def f(x):
        a = np.zeros(3)
        a[0] = x[0]
        b = a * 1.0  # a is still read after the next assignment
        a[1] = x[1]
        return a, b

    x = np.array([1.0, 2.0, 3.0])
    got_a, got_b = adjit.jit(f)(x)
    np.testing.assert_array_equal(got_a, [1.0, 2.0, 0.0])
    np.testing.assert_array_equal(got_b, [1.0, 0.0, 0.0])


def test_inputs_are_never_modified():
    def f(x):
        y = x.copy()
        y[0] = 10.0
        return y

    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(adjit.jit(f)(x), [10.0, 2.0])
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_float32_stays_float32():
    def f(x):
        return np.exp(x) * 2.0 + x.sum()

    x = np.linspace(0, 1, 7, dtype=np.float32)
    got = adjit.jit(f)(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, f(x), rtol=1e-6)


def test_new_signature_respecializes():
    def f(x):
        return x * 2.0

    jitted = adjit.jit(f)
    assert jitted(np.ones(3)).shape == (3,)
    assert jitted(np.ones((2, 2))).shape == (2, 2)
    assert jitted(np.ones(3, dtype=np.float32)).dtype == np.float32
    assert jitted(3.0) == 6.0
    assert jitted(np.float64(3.0)) == 6.0


def test_non_contiguous_inputs():
    def f(x):
        return x.reshape(-1) * 2.0

    x = np.arange(12.0).reshape(3, 4).T
    np.testing.assert_array_equal(adjit.jit(f)(x), x.reshape(-1) * 2.0)


def test_parallel():
    def f(x):
        return np.exp(x).sum(axis=1) + np.sin(x).max()

    x = np.random.default_rng(1).normal(size=(64, 33))
    np.testing.assert_allclose(adjit.jit(f, parallel=True)(x), f(x), rtol=1e-13)


def test_pytree_arguments_and_results():
    def f(params, x, scale=1.0):
        return {"y": (x @ params["w"] + params["b"]) * scale, "n": 3}

    params = {"w": np.ones((3, 2)), "b": np.array([1.0, -1.0])}
    x = np.arange(6.0).reshape(2, 3)
    got = adjit.jit(f)(params, x, scale=0.5)
    assert got["n"] == 3
    np.testing.assert_allclose(got["y"], f(params, x, 0.5)["y"])


def test_nan_and_inf_pass_through():
    def f(x):
        return np.log(x) + np.maximum(x, 0.0)

    x = np.array([np.nan, np.inf, -1.0, 0.0, 1.0])
    with np.errstate(all="ignore"):
        want = f(x)
    np.testing.assert_array_equal(adjit.jit(f)(x), want)


def test_unsupported_target_is_an_error():
    with pytest.raises(adjit.AdjitError, match="target 'tpu'"):
        adjit.jit(lambda x: x, target="tpu")


def test_unsupported_input_dtype_names_the_argument():
    with pytest.raises(adjit.UnsupportedError, match=r"argument x: dtype complex128"):
        adjit.jit(lambda x: x * 2.0)(np.ones(3, dtype=complex))


_SECOND_PROCESS = """
import numpy as np, adjit
def f(x):
    return np.sum(np.exp(x) * 2.0, axis=0)
jitted = adjit.jit(f)
print(jitted(np.arange(6.0).reshape(3, 2)).tolist())
(spec,) = jitted._specializations.values()
print(sum(spec.entry.stats.cache_hits.values()))
"""


def test_second_process_loads_compiled_code_from_the_disk_cache(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, ADJIT_CACHE_DIR=str(tmp_path))
    runs = [
        subprocess.run(
            [sys.executable, "-c", _SECOND_PROCESS],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
        for _ in range(2)
    ]
    x = np.arange(6.0).reshape(3, 2)
    assert runs[0][0] == runs[1][0] == str(np.sum(np.exp(x) * 2.0, axis=0).tolist())
    assert runs[0][1] == "0"  # first process: compiled
    assert runs[1][1] == "1"  # second process: a hit in Numba's cache
    assert len(list(tmp_path.glob("adjit_f_*.py"))) == 1


def test_dead_buffers_are_overwritten_in_place():
    def f(x):
        y = np.exp(x)
        z = np.sin(y) + y * 2.0  # y is dead after this line: z takes its buffer
        w = z * z - z
        return w.sum(), np.tanh(w)

    x = np.random.default_rng(3).normal(size=(6, 5))
    jitted = adjit.jit(f)
    assert jitted.source(x).split("def entry")[1].count("np.empty(") == 1
    got, want = jitted(x), f(x)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)


def test_buffers_read_at_other_elements_are_not_overwritten():
    def f(x):
        y = np.exp(x)
        z = y[::-1] + y * y  # reads y at a mirrored index: needs a new buffer
        return z, z[1:] - z[:-1]

    x = np.linspace(-1.0, 1.0, 9)
    got, want = adjit.jit(f)(x), f(x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13)


def test_modifying_an_outer_array_inside_a_loop_body_is_refused():
    def f(x):
        acc = np.zeros(3)

        def body(i, s):
            acc[0] = s  # writes into an array of the enclosing function
            return s + x[i]

        return adjit.fori_loop(0, 3, body, 0.0), acc

    with pytest.raises(adjit.MutationError, match="defined outside this adjit.cond"):
        adjit.trace(f)(np.ones(3))


def test_gather_spec_without_trailing_slices_compiles():
    from adjit.codegen.cache import load_module
    from adjit.codegen.numba_cpu import generate_source

    fn = adjit.ir.parse(
        """func @f(%x: f64[3,4]) -> f64[2,4] {
  %0 = gather %x {index = (0:2:1,)} : f64[2,4]
  %1 = gather %x {index = ([2, 0],)} : f64[2,4]
  %2 = add %0, %1 : f64[2,4]
  return %2
}"""
    )
    x = np.arange(12.0).reshape(3, 4)
    (got,) = load_module(generate_source(fn), "partial_spec").entry(x)
    np.testing.assert_array_equal(got, adjit.ir.interpret(fn, x)[0])


def test_jit_called_inside_a_trace_is_inlined():
    inner = adjit.jit(lambda v: np.sin(v) * 2.0)

    def f(x):
        return inner(x).sum() + inner(x * 3.0).max()

    x = np.linspace(0.0, 1.0, 4)
    np.testing.assert_allclose(adjit.jit(f)(x), f(x), rtol=1e-14)
    want = 2.0 * np.cos(x) + np.eye(4)[2] * 6.0 * np.cos(2.0)  # the max is at 3x = 2
    np.testing.assert_allclose(adjit.grad(f)(x), want, rtol=1e-13)


# products large enough for BLAS (contraction.py): 5 x 40 x 9 multiply-adds each
@pytest.mark.parametrize(
    "shapes", [((40, 5), (40, 9)), ((2, 40, 5), (2, 40, 9)), ((2, 40, 5), (40, 9))]
)
def test_transposed_matmul_operands_are_views_not_copies(shapes):
    def f(a, b):
        return np.swapaxes(a, -1, -2) @ b

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    jitted = adjit.jit(f)
    assert ".T" in jitted.source(a, b)
    np.testing.assert_allclose(jitted(a, b), f(a, b), rtol=1e-13)


def test_transpose_of_a_fused_slice_feeding_a_matmul():
    def f(a):
        return a[::-1].T @ a  # the slice is fused, so its transpose cannot be a view

    a = np.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(adjit.jit(f)(a), f(a), rtol=1e-14)
    loss = lambda v: np.sum(f(v))  # noqa: E731
    np.testing.assert_allclose(adjit.grad(loss)(a), _finite_difference_grad(loss, a), rtol=1e-6)


def _finite_difference_grad(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[idx] = eps
        grad[idx] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


def test_large_closed_over_constants_are_arguments_not_literals():
    rng = np.random.default_rng(3)
    W, U = rng.normal(size=(300, 300)) / 20, rng.normal(size=(300, 300)) / 20

    def make(W):
        def f(x):
            def step(i, h):
                return adjit.cond(i % 2 == 0, lambda h: np.tanh(W @ h), lambda h: h * 0.5, h)

            return adjit.fori_loop(0, 3, step, np.sin(W @ x))

        return f

    def reference(W, x):
        h = np.sin(W @ x)
        for i in range(3):
            h = np.tanh(W @ h) if i % 2 == 0 else h * 0.5
        return h

    x = rng.normal(size=300)
    f, g = adjit.jit(make(W)), adjit.jit(make(U))
    np.testing.assert_allclose(f(x), reference(W, x), rtol=1e-12)
    np.testing.assert_allclose(g(x), reference(U, x), rtol=1e-12)
    source = f.source(x)
    assert "const0" in source and len(source) < 20_000  # not 90,000 numbers
    assert source == g.source(x)  # same shapes, same code: only the values differ
    grad = adjit.grad(lambda x: make(W)(x).sum())(x)
    eps = 1e-6
    e0 = np.eye(300)[0] * eps
    fd = (reference(W, x + e0).sum() - reference(W, x - e0).sum()) / (2 * eps)
    np.testing.assert_allclose(grad[0], fd, rtol=1e-6)


def test_large_closed_over_index_arrays_are_run_time_operands():
    rng = np.random.default_rng(4)
    idx = rng.integers(0, 50, size=(400, 2))

    def f(table, values):
        picked = table[idx[:, 0]] * table[idx[:, 1]]
        out = np.zeros(50)
        out[idx[:, 0]] += values * picked
        return out

    table, values = rng.normal(size=50), rng.normal(size=400)
    want = f(table, values)  # NumPy itself (repeated indices: the last write wins)
    compiled = adjit.jit(f)
    np.testing.assert_allclose(compiled(table, values), want, rtol=1e-12)
    source = compiled.source(table, values)
    assert len(source) < 5_000 and "const0" in source  # no 400-entry literals
    grad = adjit.grad(lambda t, v: f(t, v).sum())(table, values)
    eps = 1e-6
    e0 = np.eye(50)[idx[0, 0]] * eps
    fd = (f(table + e0, values).sum() - f(table - e0, values).sum()) / (2 * eps)
    np.testing.assert_allclose(grad[idx[0, 0]], fd, rtol=1e-6)


def test_loops_writing_their_state_in_place_leave_the_inputs_alone():
    def f(x):
        def body(i, a):
            a = a.copy()
            a[i] = a[i] * 2.0 + 1.0
            return a

        def running(s):
            return s[1] < 4

        def flip(s):
            a, k = s
            a = a.copy()
            a[k] = -a[k]
            return a, k + 1

        return adjit.fori_loop(0, 3, body, x), adjit.while_loop(running, flip, (x, 0))[0], x

    x = np.arange(5.0)
    got = adjit.jit(f)(x)
    np.testing.assert_array_equal(x, np.arange(5.0))
    for g, w in zip(got, f(np.arange(5.0))):
        np.testing.assert_array_equal(g, w)
    entry = adjit.jit(f).source(x).split("def entry")[1]
    in_loops = [line for line in entry.splitlines() if line.startswith(" " * 8)]
    assert in_loops and not any(".copy()" in line for line in in_loops)  # copied once, on entry


@pytest.mark.parametrize("n", [5, 63, 64, 70, 1000])
def test_long_max_and_min_reductions_match_numpy_with_nan_and_ints(n):
    # rows of 64 or more use eight running extrema; the result must not depend on it
    def f(v):
        return np.max(v, axis=1), np.min(v, axis=1), np.max(v)

    x = np.random.default_rng(n).standard_normal((3, n))
    x[1, n // 2] = np.nan
    for arg in (x, (np.nan_to_num(x) * 100).astype(np.int64)):
        for got, want in zip(adjit.jit(f)(arg), f(arg)):
            np.testing.assert_array_equal(got, want)


def test_a_loop_moves_up_past_statements_it_does_not_touch_to_merge():
    # the column sums of t need only t, so their loop joins the one computing t,
    # above the matrix product and the transpose loop that depend on t
    def f(a, b):
        t = np.tanh(a) * 2.0
        p = (t.T @ b).T * 3.0
        return p, np.sum(t * t, axis=0)

    a, b = np.random.default_rng(0).standard_normal((300, 7)), np.ones((300, 2))
    jitted = adjit.jit(f)
    assert jitted.source(a, b).split("def entry")[1].count("in range(300)") == 1
    for got, want in zip(jitted(a, b), f(a, b)):
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_a_loop_renamed_to_merge_keeps_its_indices_and_work():
    # the row sum's inner loop runs over j0, the element-wise ones over i1: merging
    # them renames i1 to j0, and the renamed writes keep their index (else the third
    # loop, reading y, could not join) and their work (counted for the prange)
    def f(x):
        s = x.sum(axis=1)
        y = x * 2.0
        return s, y, y + 1.0

    x = np.linspace(0.1, 1.0, 12).reshape(3, 4)
    jitted = adjit.jit(f)
    assert jitted.source(x).split("def entry")[1].count("in range(4)") == 1
    for got, want in zip(jitted(x), f(x)):
        np.testing.assert_allclose(got, want, rtol=1e-15)
    large = np.ones((200, 60))  # 12 000 elements each: every nest runs in parallel
    entry = adjit.jit(f, parallel=True).source(large).split("def entry")[1]
    assert entry.count("in prange(200)") == 1 and entry.count("in range(60)") == 1


def test_a_returned_concatenation_is_materialized_along_either_axis():
    def f(a, b):
        return np.concatenate([a, b]), np.concatenate([a, b, a], axis=1)

    a, b = np.arange(6.0).reshape(2, 3), -np.arange(6.0).reshape(2, 3)
    for got, want in zip(adjit.jit(f)(a, b), f(a, b)):
        np.testing.assert_array_equal(got, want)


def test_linear_algebra_on_rectangular_and_stacked_operands():
    def f(a, b, c):
        return np.linalg.solve(a, b), np.linalg.solve(c, b), np.linalg.qr(b)[1]

    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 3)) + 3 * np.eye(3)
    b = rng.normal(size=(3, 2))
    c = rng.normal(size=(4, 3, 3)) + 3 * np.eye(3)
    for got, want in zip(adjit.jit(f)(a, b, c), f(a, b, c)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
