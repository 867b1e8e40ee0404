"""adjit quick start: trace plain NumPy code into IR, inspect it, run it."""

import numpy as np

import adjit


def mlp_loss(params, x, y):
    """A two-layer tanh network with a softmax cross-entropy loss."""
    h = np.tanh(x @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(len(y)), y])


rng = np.random.default_rng(0)
params = {
    "W1": rng.normal(size=(4, 8)) * 0.5,
    "b1": np.zeros(8),
    "W2": rng.normal(size=(8, 3)) * 0.5,
    "b2": np.zeros(3),
}
x = rng.normal(size=(5, 4))
y = np.array([0, 2, 1, 1, 0])

fn = adjit.trace(mlp_loss)(params, x, y)
print("Traced IR:")
print(fn)

flat_args = adjit.tree.flatten(((params, x, y), {}))[0]
(loss,) = adjit.ir.interpret(fn, *flat_args)
print(f"\nloss (reference interpreter) = {float(loss):.12f}")
print(f"loss (NumPy)                 = {mlp_loss(params, x, y):.12f}")

# Compile it: one fused native function per input signature (Numba, cached on disk).
compiled = adjit.jit(mlp_loss)
print(f"loss (adjit.jit, native)     = {compiled(params, x, y):.12f}")
print("\nGenerated source (first lines of the entry function):")
source = compiled.source(params, x, y)
print("\n".join(source[source.index("def entry") :].splitlines()[:12]))

# Differentiate it: the value and the gradient (same structure as params) in one native call.
value, grads = adjit.value_and_grad(mlp_loss)(params, x, y)
print(f"\nvalue_and_grad: loss = {value:.12f}")
for name, g in grads.items():
    print(f"  d loss / d {name}: shape {g.shape}, norm {np.linalg.norm(g):.6f}")
