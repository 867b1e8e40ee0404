"""Logistic regression with L1, L2 and elastic-net penalties, trained by gradient descent.

Shows:
  - a numerically stable loss written the plain way, -log(logistic(s * z)), and
    the simplified gradient IR adjit derives for it: the derivative of
    log(logistic(z)) becomes logistic(-z), no quotient that overflows;
  - full-batch gradient descent on scikit-learn's breast cancer data set
    (569 tumours, 30 features; ships with scikit-learn), test accuracy for each
    penalty;
  - the gradient checked against one derived by hand in NumPy, and the time
    per step against that NumPy code, autograd and jax.jit when installed.

Needs: scikit-learn (`pip install -e ".[examples]"`); autograd and jax are optional.
Run: python examples/logistic_regression.py [--fast]
"""

import numpy as np
from _common import FAST, format_time, one_blas_thread, optional, seconds_per_call
from scipy.special import expit
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import adjit

one_blas_thread()


def loss(params, X, s, alpha, l1_ratio):
    """Mean negative log-likelihood (labels s in {-1, +1}) plus the elastic-net penalty
    alpha * (l1_ratio * |w|_1 + (1 - l1_ratio) / 2 * |w|_2^2)."""
    z = s * (X @ params["w"] + params["b"])
    nll = -np.sum(np.log(expit(z))) / X.shape[0]
    w = params["w"]
    penalty = alpha * (l1_ratio * np.sum(np.abs(w)) + (1 - l1_ratio) / 2 * np.sum(w * w))
    return nll + penalty


def loss_and_grad_by_hand(params, X, s, alpha, l1_ratio):
    """The same value and gradient derived by hand, in NumPy."""
    w, b = params["w"], params["b"]
    z = s * (X @ w + b)
    n = X.shape[0]
    value = np.sum(np.logaddexp(0.0, -z)) / n
    value += alpha * (l1_ratio * np.sum(np.abs(w)) + (1 - l1_ratio) / 2 * np.sum(w * w))
    dz = -expit(-z) * s / n
    gw = X.T @ dz + alpha * (l1_ratio * np.sign(w) + (1 - l1_ratio) * w)
    return value, {"b": np.sum(dz), "w": gw}


data = load_breast_cancer()
X_train, X_test, y_train, y_test = train_test_split(
    data.data, data.target, test_size=0.25, random_state=0, stratify=data.target
)
mean, std = X_train.mean(axis=0), X_train.std(axis=0)
X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
s_train = 2.0 * y_train - 1.0  # labels in {-1, +1}
print(
    f"breast cancer: {X_train.shape[0]} training and {X_test.shape[0]} test rows, "
    f"{X_train.shape[1]} features"
)

value_and_grad = adjit.value_and_grad(loss)
params0 = {"w": np.zeros(X_train.shape[1]), "b": 0.0}

print("\nThe gradient IR of the data term, -log(logistic(z)) summed (simplified):")


def data_term(z):
    return -np.sum(np.log(expit(z)))


print(adjit.grad(data_term).ir(np.zeros(3)))

steps, lr = (60, 0.5) if FAST else (500, 0.5)
penalties = {"none": (0.0, 0.0), "L2": (1e-2, 0.0), "L1": (1e-2, 1.0), "elastic-net": (1e-2, 0.5)}
print(f"\nGradient descent, {steps} steps, learning rate {lr}:")
for name, (alpha, l1_ratio) in penalties.items():
    params = dict(params0)
    for _ in range(steps):
        value, grads = value_and_grad(params, X_train, s_train, alpha, l1_ratio)
        params = {k: params[k] - lr * grads[k] for k in params}
    predicted = (X_test @ params["w"] + params["b"]) > 0
    accuracy = np.mean(predicted == y_test)
    zeros = int(np.sum(np.abs(params["w"]) < 1e-3))
    print(
        f"  {name:12s} loss {value:.4f}  test accuracy {accuracy:.4f}  "
        f"(|w_i| < 1e-3: {zeros} of {len(params['w'])})"
    )

alpha, l1_ratio = penalties["elastic-net"]
rng = np.random.default_rng(0)
trial = {"w": rng.normal(size=X_train.shape[1]), "b": 0.3}
got_value, got = value_and_grad(trial, X_train, s_train, alpha, l1_ratio)
want_value, want = loss_and_grad_by_hand(trial, X_train, s_train, alpha, l1_ratio)
error = max(
    abs(got_value - want_value) / abs(want_value),
    max(np.max(np.abs(got[k] - want[k])) / np.max(np.abs(want[k])) for k in want),
)
print(
    f"\ngradient check against NumPy by hand: max relative difference {error:.1e}: "
    f"{'passed' if error < 1e-10 else 'FAILED'}"
)

print("\nTime per gradient step (value and gradient; shared machine, expect noise):")
args = (trial, X_train, s_train, alpha, l1_ratio)
times = {
    "adjit.value_and_grad": seconds_per_call(lambda: value_and_grad(*args)),
    "NumPy by hand": seconds_per_call(lambda: loss_and_grad_by_hand(*args)),
}
autograd = None if FAST else optional("autograd")
if autograd is not None:
    anp = optional("autograd.numpy")

    def loss_ag(params, X, s, alpha, l1_ratio):
        z = s * (anp.dot(X, params["w"]) + params["b"])
        nll = anp.sum(anp.logaddexp(0.0, -z)) / X.shape[0]
        w = params["w"]
        return nll + alpha * (l1_ratio * anp.sum(anp.abs(w)) + (1 - l1_ratio) / 2 * anp.sum(w * w))

    ag = autograd.value_and_grad(loss_ag)
    times["autograd"] = seconds_per_call(lambda: ag(*args))
jax = None if FAST else optional("jax")
if jax is not None:
    jax.config.update("jax_enable_x64", True)
    jnp = optional("jax.numpy")

    def loss_jax(params, X, s, alpha, l1_ratio):
        z = s * (X @ params["w"] + params["b"])
        nll = jnp.sum(jnp.logaddexp(0.0, -z)) / X.shape[0]
        w = params["w"]
        return nll + alpha * (l1_ratio * jnp.sum(jnp.abs(w)) + (1 - l1_ratio) / 2 * jnp.sum(w * w))

    jvg = jax.jit(jax.value_and_grad(loss_jax))
    times["jax.jit(value_and_grad)"] = seconds_per_call(lambda: jax.block_until_ready(jvg(*args)))
if FAST:
    print("  (fast mode: autograd and jax skipped)")
base = times["adjit.value_and_grad"]
for name, t in times.items():
    print(f"  {name:26s} {format_time(t):>10s}  {t / base:5.2f}x adjit")
