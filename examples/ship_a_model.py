"""Train a model, then ship it: an exported package that runs where adjit is not installed.

Shows:
  - a small network (30-16-1, tanh) trained on scikit-learn's breast cancer
    data with `adjit.value_and_grad` and gradient descent;
  - `adjit.export` of the trained predictor together with its gradient with
    respect to the input (which measurements move the prediction): one
    function, weights and the standardisation closed over (saved as .npy);
  - the package imported and called by a fresh Python process that cannot
    import adjit (`python -I`, with `import adjit` blocked), its results
    compared with NumPy and with the gradient derived by hand;
  - the computation graph of the training loss and its gradient, drawn by
    `adjit.graph` (as `adjit graph` on the command line) with Graphviz's
    `dot` (ship_a_model_graph.svg; without Graphviz the DOT text is written
    instead, with a message).
Files go to `--out DIR` or ADJIT_EXAMPLES_OUT (default the current directory):
the package is ship_a_model_build/tumour_model.

Needs: scikit-learn (`pip install -e ".[examples]"`); Graphviz for the picture.
Run: python examples/ship_a_model.py [--fast] [--out DIR]
"""

import json
import os
import subprocess
import sys

import numpy as np
from _common import FAST, output_path
from scipy.special import expit
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import adjit


def logit(params, X):
    h = np.tanh(X @ params["W1"] + params["b1"])
    return h @ params["w2"] + params["b2"]


def loss(params, X, y):
    """Mean logistic loss (y in {0, 1}) with a small L2 penalty on the weights."""
    z = logit(params, X)
    nll = np.sum(np.logaddexp(0.0, z) - y * z) / X.shape[0]
    return nll + 1e-3 * (np.sum(params["W1"] ** 2) + np.sum(params["w2"] ** 2))


data = load_breast_cancer()
X_train, X_test, y_train, y_test = train_test_split(
    data.data, data.target, test_size=0.25, random_state=0, stratify=data.target
)
mean, std = X_train.mean(axis=0), X_train.std(axis=0)
rng = np.random.default_rng(0)
params = {
    "W1": rng.normal(size=(30, 16)) / np.sqrt(30),
    "b1": np.zeros(16),
    "w2": rng.normal(size=16) / 4,
    "b2": 0.0,
}
value_and_grad = adjit.value_and_grad(loss)
Z_train = (X_train - mean) / std
for _ in range(50 if FAST else 400):
    value, grads = value_and_grad(params, Z_train, y_train)
    params = {k: params[k] - 0.5 * grads[k] for k in params}
print(f"trained on {len(X_train)} tumours: loss {value:.4f}")


def probability(X):
    """P(benign) for raw measurements X (n x 30): the standardisation is part of the model."""
    return expit(logit(params, (X - mean) / std))


def predict_with_gradient(X):
    """The probabilities and, per row, their gradient with respect to that row."""
    return probability(X), adjit.grad(lambda X: np.sum(probability(X)))(X)


def gradient_by_hand(X):
    """d probability / d X, derived by hand: the independent check of the export."""
    h = np.tanh((X - mean) / std @ params["W1"] + params["b1"])
    p = expit(h @ params["w2"] + params["b2"])
    return (p * (1 - p))[:, None] * (((1 - h**2) * params["w2"]) @ params["W1"].T) / std


p, dp = probability(X_test), gradient_by_hand(X_test)  # plain NumPy: no compiling here
accuracy = np.mean((p > 0.5) == y_test)
print(f"test accuracy {accuracy:.4f}")

package = adjit.export(
    predict_with_gradient, X_test, path=output_path("ship_a_model_build") / "tumour_model"
)
print(f"exported to {package}: {sorted(f.name for f in package.iterdir() if f.is_file())}")

CHILD = """
import json, sys
sys.modules["adjit"] = None  # make sure the package does not need adjit
sys.path.insert(0, sys.argv[1])
import numpy as np
import tumour_model
X = np.load(sys.argv[2])
p, dp = tumour_model.predict_with_gradient(X)
try:
    import adjit
    has_adjit = True
except ImportError:
    has_adjit = False
print(json.dumps({"p": p.tolist(), "dp": dp.tolist(), "has_adjit": has_adjit}))
"""
inputs = package.parent / "X_test.npy"
np.save(inputs, X_test)
env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
done = subprocess.run(
    [sys.executable, "-I", "-c", CHILD, str(package.parent), str(inputs)],
    cwd=package.parent,
    env=env,
    capture_output=True,
    text=True,
)
if done.returncode != 0:
    raise SystemExit(f"the exported package failed in a fresh process:\n{done.stderr}")
child = json.loads(done.stdout.strip().splitlines()[-1])
difference = max(
    np.max(np.abs(np.array(child[k]) - want)) / np.max(np.abs(want))
    for k, want in (("p", p), ("dp", dp))
)
ran_without = not child["has_adjit"] and difference < 1e-12
print(
    f"exported module ran without adjit: {'yes' if ran_without else 'NO'} "
    f"(import adjit failed there: {not child['has_adjit']}; max relative difference "
    f"from NumPy and the gradient by hand {difference:.1e})"
)
top = np.argsort(-np.abs(dp[0]))[:3]
print(
    f"first test tumour: P(benign) = {p[0]:.3f}; most sensitive to "
    + ", ".join(f"{data.feature_names[i]} ({dp[0, i]:+.2g} per unit)" for i in top)
)

graph = adjit.graph(value_and_grad)(params, Z_train, y_train)
try:
    path = output_path("ship_a_model_graph.svg")
    graph.save(str(path))
    print(
        f"graph of the loss and its gradient written to {path} "
        "(blue: the loss, orange: the gradient)"
    )
except adjit.AdjitError as error:
    path = output_path("ship_a_model_graph.dot")
    graph.save(str(path))
    print(f"no picture ({error}); DOT text written to {path}")
