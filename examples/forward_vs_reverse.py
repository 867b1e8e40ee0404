"""Which direction is cheaper to multiply? Jacobians by forward and by reverse mode, measured.

F(x) = W3 @ tanh(W2 @ tanh(W1 @ x)) maps R^n to R^m through two hidden
layers of k = 64. By the chain rule its m x n Jacobian is a product of
matrices,

    J = W3 D2 W2 D1 W1      (m x k)(k x k)(k x n), D1, D2 diagonal (1 - tanh^2),

and the two modes differ only in the order they multiply it. Forward mode
(`adjit.jacfwd`) pushes the n input directions through, multiplying from the
right: W2 D1 W1 costs k*k*n, then W3 times that k*m*n. Reverse mode
(`adjit.jacrev`) pulls the m output directions back, from the left: W3 D2 W2
costs m*k*k, then times D1 W1 m*k*n. So forward is cheaper when n < m, reverse
when m < n. (adjit folds away the identity matrices that seed both modes, so
for a single layer, J = W2 D1 W1, both orders would cost the same.)

Shows: both Jacobians checked against the closed form, their times as n grows
with m fixed and as m grows with n fixed, and a plot (forward_vs_reverse.png
in `--out DIR` or ADJIT_EXAMPLES_OUT, default the current directory).

Needs: matplotlib (`pip install -e ".[examples]"`).
Run: python examples/forward_vs_reverse.py [--fast] [--out DIR]
"""

import matplotlib

matplotlib.use("Agg")  # files only, no window

import matplotlib.pyplot as plt
import numpy as np
from _common import FAST, format_time, one_blas_thread, output_path, seconds_per_call

import adjit

one_blas_thread()

HIDDEN = 64


def F(x, W1, W2, W3):
    return W3 @ np.tanh(W2 @ np.tanh(W1 @ x))


def jacobian_by_hand(x, W1, W2, W3):
    h1 = np.tanh(W1 @ x)
    d1, d2 = 1 - h1**2, 1 - np.tanh(W2 @ h1) ** 2
    return W3 @ (d2[:, None] * (W2 @ (d1[:, None] * W1)))


jac_forward = adjit.jacfwd(F)
jac_reverse = adjit.jacrev(F)
rng = np.random.default_rng(0)
few, sizes = (4, [256]) if FAST else (4, [4, 32, 256, 1024])


def measure(n: int, m: int) -> tuple[float, float]:
    x = rng.normal(size=n)
    W1 = rng.normal(size=(HIDDEN, n)) / np.sqrt(n)
    W2 = rng.normal(size=(HIDDEN, HIDDEN)) / np.sqrt(HIDDEN)
    W3 = rng.normal(size=(m, HIDDEN)) / np.sqrt(HIDDEN)
    args = (x, W1, W2, W3)
    want = jacobian_by_hand(*args)
    for jac in (jac_forward, jac_reverse):
        got = jac(*args)
        error = np.max(np.abs(got - want)) / np.max(np.abs(want))
        if not (got.shape == (m, n) and error < 1e-12):
            raise SystemExit(f"Jacobian check FAILED for n={n}, m={m}: relative error {error:.1e}")
    min_time = 0.01 if FAST else 0.05
    forward = seconds_per_call(lambda: jac_forward(*args), repeat=3, min_time=min_time)
    reverse = seconds_per_call(lambda: jac_reverse(*args), repeat=3, min_time=min_time)
    return forward, reverse


print(f"F(x) = W3 @ tanh(W2 @ tanh(W1 @ x)): R^n -> R^m, hidden layers of {HIDDEN}")
print("Time per Jacobian (one compiled call each; shared machine, expect noise):")
print(f"{'n':>6s} {'m':>6s} {'jacfwd':>10s} {'jacrev':>10s}  cheaper")
results = {}
grid = [(n, few) for n in sizes] + [(few, m) for m in sizes if (few, m) != (few, few)]
for n, m in grid:
    forward, reverse = measure(n, m)
    results[n, m] = forward, reverse
    winner = "forward" if forward < reverse else "reverse"
    print(
        f"{n:6d} {m:6d} {format_time(forward):>10s} {format_time(reverse):>10s}  "
        f"{winner} ({max(forward, reverse) / min(forward, reverse):.1f}x)"
    )
print("Jacobian check against the closed form: passed")

path = output_path("forward_vs_reverse.png")
fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
for ax, (label, keys, axis) in zip(
    axes,
    [
        (f"m = {few} outputs", [(n, few) for n in sizes], 0),
        (f"n = {few} inputs", [(few, m) for m in sizes], 1),
    ],
):
    keys = [k for k in keys if k in results]
    xs = [k[axis] for k in keys]
    ax.plot(xs, [results[k][0] * 1e6 for k in keys], "o-", label="forward (jacfwd)")
    ax.plot(xs, [results[k][1] * 1e6 for k in keys], "s-", label="reverse (jacrev)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("inputs n" if axis == 0 else "outputs m")
    ax.set_title(label)
axes[0].set_ylabel("time per Jacobian (µs)")
axes[0].legend()
fig.tight_layout()
fig.savefig(path, dpi=100)
print(f"plot written to {path}")
