"""Aim a projectile with drag: gradient descent through a whole simulation.

A ball leaves the ground at speed 30 m/s; gravity and quadratic air drag act on
it, dv/dt = -g e_y - k |v| v. A plain Python `while` loop steps it forward
(the midpoint rule, fixed step) until it falls below the ground, and the landing
point is interpolated linearly between the last two positions. Nothing in the
simulation is written for adjit: it runs as it is in plain NumPy, and
`adjit.value_and_grad` captures its `while` (its trip count known only at run
time) and differentiates through every step of it, recording the states on a
tape for the reverse sweep.

Shows:
  - the launch angle found by gradient descent on the loss
    (landing point - target)^2,
    one line per iteration, and the final miss distance;
  - the gradient checked against central finite differences of the same
    simulation run in plain NumPy;
  - the trajectories over the optimisation (physics.png in `--out DIR` or
    ADJIT_EXAMPLES_OUT, default the current directory).

Needs: matplotlib (`pip install -e ".[examples]"`); reverse mode through a
captured `while` loop (README: "Python control flow", "Loops in reverse mode").
Run: python examples/physics.py [--fast] [--out DIR]
"""

import matplotlib

matplotlib.use("Agg")  # files only, no window

import matplotlib.pyplot as plt
import numpy as np
from _common import FAST, output_path

import adjit

GRAVITY = 9.81  # m/s^2
DRAG = 0.02  # 1/m: k in dv/dt = -g e_y - k |v| v (a ball of a few hundred grams)
SPEED = 30.0  # m/s
TARGET = 35.0  # m from the launch point
TOLERANCE = 1e-3  # m: hitting the target means landing this close to it
DT = 0.02 if FAST else 0.005  # s


def acceleration(vx, vy):
    drag = DRAG * np.sqrt(vx * vx + vy * vy)
    return -drag * vx, -GRAVITY - drag * vy


def step(x, y, vx, vy, dt):
    """One midpoint (RK2) step."""
    ax, ay = acceleration(vx, vy)
    mx, my = vx + 0.5 * dt * ax, vy + 0.5 * dt * ay
    ax, ay = acceleration(mx, my)
    return x + dt * mx, y + dt * my, vx + dt * ax, vy + dt * ay


def landing_point(angle, speed, dt):
    """Where the ball launched at `angle` (radians) and `speed` comes down."""
    x, y = 0.0, 0.0
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)
    x_before, y_before = x, y
    while y >= 0.0:
        x_before, y_before = x, y
        x, y, vx, vy = step(x, y, vx, vy, dt)
    return x_before + (x - x_before) * y_before / (y_before - y)  # where y = 0


def loss(angle, speed, dt):
    """The squared miss distance, and the landing point as an auxiliary output."""
    landed = landing_point(angle, speed, dt)
    return (landed - TARGET) ** 2, landed


def trajectory(angle, speed, dt):
    """The positions along the flight, in plain NumPy, for the picture."""
    x, y = 0.0, 0.0
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)
    xs, ys = [x], [y]
    while y >= 0.0:
        x, y, vx, vy = step(x, y, vx, vy, dt)
        xs.append(x)
        ys.append(y)
    xs[-1] = landing_point(angle, speed, dt)
    ys[-1] = 0.0
    return np.array(xs), np.array(ys)


loss_and_slope = adjit.value_and_grad(loss, has_aux=True)

# 1. Gradient descent on the launch angle, from a flat 10 degrees.
angle, rate = np.radians(10.0), 5e-5
angles = [angle]
print(
    f"target {TARGET:g} m, launch speed {SPEED:g} m/s, g = {GRAVITY:g} m/s^2, "
    f"drag k = {DRAG:g}/m, time step {DT:g} s"
)
print(" iter   angle (deg)   landing (m)   miss (m)")
for iteration in range(100):
    (_, landed), slope = loss_and_slope(angle, SPEED, DT)
    print(f"{iteration:5d}   {np.degrees(angle):11.6f}   {landed:11.6f}   {landed - TARGET:+9.2e}")
    if abs(landed - TARGET) < TOLERANCE:
        break
    angle -= rate * slope
    angles.append(angle)
final_miss = abs(landed - TARGET)
print(
    f"final miss distance: {final_miss:.2e} m after {iteration} iterations "
    f"(tolerance {TOLERANCE:g} m): {'hit' if final_miss < TOLERANCE else 'missed'}"
)

# 2. The gradient against central differences of the same simulation, in plain NumPy.
worst = 0.0
for check in np.radians([10.0, 25.0, 60.0]):
    _, slope = loss_and_slope(check, SPEED, DT)
    h = 1e-6
    by_differences = (loss(check + h, SPEED, DT)[0] - loss(check - h, SPEED, DT)[0]) / (2 * h)
    relative = abs(slope - by_differences) / abs(by_differences)
    worst = max(worst, relative)
    print(
        f"d loss / d angle at {np.degrees(check):4.1f} deg: adjit {slope:.10e}, "
        f"central differences {by_differences:.10e}"
    )
print(
    f"gradient check against central differences: max relative difference "
    f"{worst:.1e}: {'passed' if worst < 1e-6 else 'FAILED'}"
)

# 3. The trajectories over the optimisation.
figure, axes = plt.subplots(figsize=(7, 3.5))
colours = plt.cm.viridis(np.linspace(0, 1, len(angles)))
for k, (a, colour) in enumerate(zip(angles, colours)):
    xs, ys = trajectory(a, SPEED, DT)
    label = f"iteration {k}" if k in (0, len(angles) - 1) else None
    axes.plot(xs, ys, color=colour, lw=1.2, label=label)
axes.plot([TARGET], [0.0], "rx", ms=10, mew=2, label="target")
axes.set_xlabel("distance (m)")
axes.set_ylabel("height (m)")
axes.set_title("launch angle by gradient descent through the simulation")
axes.legend()
figure.tight_layout()
picture = output_path("physics.png")
figure.savefig(picture, dpi=120)
print(f"trajectories: {picture}")
