"""Newton's method three ways with adjit's derivatives: a Jacobian, a Hessian, and
a per-element iteration mapped with vmap. Run: python examples/newton.py"""

import numpy as np

import adjit

# 1. A nonlinear boundary value problem, -u'' + u**3 = 1 on (0, 1), u(0) = u(1) = 0,
#    on a grid: the residual's Jacobian is tridiagonal. jacfwd computes it in one
#    native call, its tangents held as three bands, not n x n arrays.
n = 200
h = 1.0 / (n + 1)


def residual(u):
    padded = np.concatenate([np.zeros(1), u, np.zeros(1)])
    laplacian = (padded[2:] - 2.0 * padded[1:-1] + padded[:-2]) / h**2
    return -laplacian + u**3 - 1.0


jacobian = adjit.jacfwd(residual)
u, steps = np.zeros(n), 0
while np.linalg.norm(residual(u)) > 1e-10 and steps < 20:
    u -= np.linalg.solve(jacobian(u), residual(u))
    steps += 1
print(f"boundary value problem: {steps} Newton steps, |F(u)| = {np.linalg.norm(residual(u)):.1e}")


# 2. Minimizing Rosenbrock's function with its exact gradient and Hessian.
def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


gradient, hessian = adjit.grad(rosenbrock), adjit.hessian(rosenbrock)
x, steps = np.array([-1.2, 1.0]), 0
while np.linalg.norm(gradient(x)) > 1e-10 and steps < 100:
    x -= np.linalg.solve(hessian(x), gradient(x))
    steps += 1
print(f"Rosenbrock: {steps} Newton steps to x = {np.round(x, 12)}")


# 3. A square root per element, each iterating until its own tolerance: a
#    while_loop under vmap stops every element at its own step.
def newton_sqrt(a):
    def running(state):
        y, k = state
        return (np.abs(y * y - a) > 1e-12 * a) & (k < 60)

    def step(state):
        y, k = state
        return 0.5 * (y + a / y), k + 1

    return adjit.while_loop(running, step, (a + 1.0, 0))


a = np.array([1e-4, 0.5, 2.0, 1e6])
roots, steps = adjit.vmap(newton_sqrt)(a)
slopes = adjit.vmap(adjit.jacfwd(lambda a: newton_sqrt(a)[0]))(a)  # d sqrt(a) / da
print(f"sqrt: {roots} in {steps} steps; slopes {slopes} (1/(2 sqrt a) = {0.5 / np.sqrt(a)})")
