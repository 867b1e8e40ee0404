"""A two-hidden-layer ReLU network trained on handwritten digits, with Adam written in NumPy.

Shows:
  - a softmax cross-entropy loss in plain NumPy and its gradient from
    `adjit.value_and_grad`, compiled once for the minibatch shape;
  - Adam written by the user in a few lines of NumPy (adjit gives gradients,
    the optimiser is yours), a tqdm progress bar over the epochs;
  - test accuracy on scikit-learn's 8x8 digits (1797 images, ships with
    scikit-learn, no download): above 95% after the full run;
  - the loss curve saved as a PNG (`--out DIR` or ADJIT_EXAMPLES_OUT, default
    the current directory: mlp_digits_loss.png);
  - time per training step against jax.jit when installed.

Needs: scikit-learn, matplotlib, tqdm (`pip install -e ".[examples]"`); jax optional.
Run: python examples/mlp_digits.py [--fast] [--out DIR]
"""

import matplotlib

matplotlib.use("Agg")  # files only, no window

import matplotlib.pyplot as plt
import numpy as np
from _common import FAST, format_time, one_blas_thread, optional, output_path, seconds_per_call
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import adjit

one_blas_thread()


def predict(params, x):
    h = np.maximum(x @ params["W1"] + params["b1"], 0.0)
    h = np.maximum(h @ params["W2"] + params["b2"], 0.0)
    return h @ params["W3"] + params["b3"]


def loss(params, x, onehot):
    """Mean softmax cross-entropy, with the log-sum-exp shifted by the row maximum."""
    logits = predict(params, x)
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.sum(log_probs * onehot) / x.shape[0]


def init(rng, sizes):
    params = {}
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{i}"] = rng.normal(size=(m, n)) * np.sqrt(2.0 / m)  # He initialisation
        params[f"b{i}"] = np.zeros(n)
    return params


def adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma and Ba) as a pair of functions: init(params) and update(grads, state)."""

    def init_state(params):
        zeros = {k: np.zeros_like(v) for k, v in params.items()}
        return {"t": 0, "m": zeros, "v": dict(zeros)}

    def update(params, grads, state):
        t = state["t"] + 1
        m = {k: b1 * state["m"][k] + (1 - b1) * g for k, g in grads.items()}
        v = {k: b2 * state["v"][k] + (1 - b2) * g * g for k, g in grads.items()}
        scale = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        new = {k: params[k] - scale * m[k] / (np.sqrt(v[k]) + eps) for k in params}
        return new, {"t": t, "m": m, "v": v}

    return init_state, update


digits = load_digits()
X = digits.data / 16.0
onehot = np.eye(10)[digits.target]
X_train, X_test, Y_train, Y_test = train_test_split(
    X, onehot, test_size=0.25, random_state=0, stratify=digits.target
)
epochs, batch, hidden = (4, 64, 64) if FAST else (40, 64, 128)
print(f"digits: {len(X_train)} training and {len(X_test)} test images of 8x8 pixels")
print(f"network 64-{hidden}-{hidden}-10 (ReLU), Adam, {epochs} epochs of batches of {batch}")

rng = np.random.default_rng(0)
params = init(rng, [64, hidden, hidden, 10])
value_and_grad = adjit.value_and_grad(loss)
init_state, update = adam(lr=2e-3)
state = init_state(params)
batches = len(X_train) // batch  # whole batches only: one compiled signature
curve = []
for _ in tqdm(range(epochs), desc="epochs", unit="epoch"):
    order = rng.permutation(len(X_train))
    total = 0.0
    for i in range(batches):
        rows = order[i * batch : (i + 1) * batch]
        value, grads = value_and_grad(params, X_train[rows], Y_train[rows])
        params, state = update(params, grads, state)
        total += value
    curve.append(total / batches)

logits = predict(params, X_test)  # plain NumPy code: it runs as NumPy when not traced
accuracy = np.mean(np.argmax(logits, axis=1) == np.argmax(Y_test, axis=1))
print(f"final training loss {curve[-1]:.4f}")
print(f"test accuracy {accuracy:.4f}")

path = output_path("mlp_digits_loss.png")
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(np.arange(1, epochs + 1), curve, marker="o", markersize=3)
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("mean training loss")
ax.set_title(f"64-{hidden}-{hidden}-10 ReLU on digits: test accuracy {accuracy:.3f}", fontsize=10)
fig.tight_layout()
fig.savefig(path, dpi=100)
print(f"loss curve written to {path}")

print("\nTime per training step (value and gradient of one batch; shared machine, expect noise):")
xb, yb = X_train[:batch], Y_train[:batch]
times = {"adjit.value_and_grad": seconds_per_call(lambda: value_and_grad(params, xb, yb))}
jax = None if FAST else optional("jax")
if jax is not None:
    jax.config.update("jax_enable_x64", True)
    jnp = optional("jax.numpy")

    def loss_jax(params, x, onehot):
        h = jnp.maximum(x @ params["W1"] + params["b1"], 0.0)
        h = jnp.maximum(h @ params["W2"] + params["b2"], 0.0)
        logits = h @ params["W3"] + params["b3"]
        return -jnp.sum(jax.nn.log_softmax(logits) * onehot) / x.shape[0]

    jvg = jax.jit(jax.value_and_grad(loss_jax))
    times["jax.jit(value_and_grad)"] = seconds_per_call(
        lambda: jax.block_until_ready(jvg(params, xb, yb))
    )
torch = None if FAST else optional("torch")
if torch is not None:
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    txb, tyb = torch.tensor(xb), torch.tensor(yb)

    def torch_step():
        for p in tparams.values():
            p.grad = None
        h = torch.relu(txb @ tparams["W1"] + tparams["b1"])
        h = torch.relu(h @ tparams["W2"] + tparams["b2"])
        logits = h @ tparams["W3"] + tparams["b3"]
        value = -(torch.log_softmax(logits, dim=1) * tyb).sum() / txb.shape[0]
        value.backward()
        return value

    times["PyTorch (eager)"] = seconds_per_call(torch_step)
if FAST:
    print("  (fast mode: jax and torch skipped)")
base = times["adjit.value_and_grad"]
for name, t in times.items():
    print(f"  {name:26s} {format_time(t):>10s}  {t / base:5.2f}x adjit")
