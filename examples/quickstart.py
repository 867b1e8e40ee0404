"""adjit quick start: from the chain rule to compiled gradient code.

Shows, for f(x1, x2) = x1*x2 + sin(x2):
  - the IR adjit traces from plain NumPy code, and the adjoint (gradient) IR;
  - the Numba source generated for the gradient;
  - the gradient checked against the hand-derived (x2, x1 + cos x2);
then how reverse mode routes a gradient through add (distributes it), mul
(swaps the operands) and max (sends it to the larger operand), and a ReLU's
vjp sending the cotangent [4, -1, 5, 9] to [4, 0, 5, 0].

Needs: adjit only (NumPy, SciPy, SymPy, Numba). Runs in a few seconds:
    python examples/quickstart.py
"""

import numpy as np

import adjit


def f(x1, x2):
    return x1 * x2 + np.sin(x2)


x1, x2 = 1.5, 0.5

print("f(x1, x2) = x1*x2 + sin(x2), traced to adjit's IR:")
print(adjit.trace(f)(x1, x2))

grad_f = adjit.grad(f, argnums=(0, 1))
print("\nIts gradient, an IR -> IR transform (after simplification):")
print(grad_f.ir(x1, x2))

source = grad_f.source(x1, x2)
print("\nThe generated Numba code of the gradient (entry function):")
print(source[source.rfind("@numba.njit", 0, source.index("def entry")) :].strip())

g1, g2 = grad_f(x1, x2)
hand = (x2, x1 + np.cos(x2))
print(f"\ngrad f(1.5, 0.5)   = ({g1:.15f}, {g2:.15f})  (adjit, native)")
print(f"(x2, x1 + cos x2)  = ({hand[0]:.15f}, {hand[1]:.15f})  (by hand)")
ok = np.allclose((g1, g2), hand, rtol=1e-14, atol=0)
print(f"gradient check: {'passed' if ok else 'FAILED'}")

print("\nHow reverse mode routes a gradient (vjp with cotangent 1 at a=2, b=3):")
for name, op in [
    ("add distributes", lambda a, b: a + b),
    ("mul swaps      ", lambda a, b: a * b),
    ("max routes     ", lambda a, b: np.maximum(a, b)),
]:
    _, pullback = adjit.vjp(op, 2.0, 3.0)
    da, db = pullback(1.0)
    print(f"  {name}: (da, db) = ({float(da):g}, {float(db):g})")

x = np.array([0.5, -2.0, 3.0, -1.0])
relu_out, pullback = adjit.vjp(lambda x: np.maximum(x, 0.0), x)
cotangent = np.array([4.0, -1.0, 5.0, 9.0])
(dx,) = pullback(cotangent)
dx = dx + 0.0  # print -0 as 0
print(f"\nReLU at x = {x}: output {relu_out}")
print(f"ReLU vjp: {cotangent} -> {dx}  (passed where x > 0, stopped where x < 0)")
