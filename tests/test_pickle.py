"""Compiled functions pickle as their transform and options, not their native code:
unpickled (in this process or another) they compute what the original computes.
"""

import os
import pathlib
import pickle
import subprocess
import sys

import cloudpickle
import numpy as np
import pytest
from picklable import loss, residual

import adjit

TESTS = pathlib.Path(__file__).resolve().parent
REPO = TESTS.parent

W = np.linspace(-0.5, 0.5, 6)
X = np.linspace(-1.0, 1.0, 24).reshape(4, 6)
V = np.linspace(0.1, 0.6, 6)

TRANSFORMS = {
    "jit": (adjit.jit(loss), (W, X)),
    "jit_parallel": (adjit.jit(loss, parallel=True), (W, X)),
    "grad": (adjit.grad(loss), (W, X)),
    "grad_argnums": (adjit.grad(loss, argnums=(0, 1)), (W, X)),
    "value_and_grad": (adjit.value_and_grad(loss, argnums=1), (W, X)),
    "jacfwd": (adjit.jacfwd(residual), (V,)),
    "jacrev": (adjit.jacrev(residual), (V,)),
    "hessian": (adjit.hessian(loss), (W, X)),
    "vmap": (adjit.vmap(residual), (X,)),
    "jit_of_grad": (adjit.jit(adjit.grad(loss)), (W, X)),
}


def assert_same(got, want):
    if isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("called", [False, True])
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_round_trip_in_process(name, called):
    f, args = TRANSFORMS[name]
    want = f(*args) if called else None
    g = pickle.loads(pickle.dumps(f))
    assert type(g) is type(f) and g is not f
    assert_same(g(*args), f(*args) if want is None else want)


def test_options_survive_pickling():
    g = pickle.loads(pickle.dumps(adjit.grad(loss, argnums=1, has_aux=False)))
    assert_same(g(W, X), adjit.grad(loss, argnums=1)(W, X))
    assert g(W, X).shape == X.shape


def test_internal_objects_refuse_with_a_clear_error():
    inner = adjit.vmap(residual).jitted((X,))  # jit of a lambda made by vmap
    with pytest.raises(TypeError, match="pickle the transform made by the public API"):
        pickle.dumps(inner)


CHILD = """
import pickle, sys
import numpy as np
f, cf, args = pickle.load(sys.stdin.buffer)
pickle.dump((f(*args), cf(*args)), sys.stdout.buffer)
"""


def test_grad_and_cloudpickled_closure_in_a_subprocess():
    """A grad object (by reference to its module-level function) and, through
    cloudpickle, the value_and_grad of a closure, called in a fresh interpreter."""
    f = adjit.grad(loss)
    f(W, X)  # called before pickling: compiled code is not part of the pickle
    scale = 3.0

    def closure(w, x):
        return scale * loss(w, x)

    cf = adjit.value_and_grad(closure, argnums=(0, 1))
    data = cloudpickle.dumps((f, cf, (W, X)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(TESTS)]))
    done = subprocess.run(
        [sys.executable, "-c", CHILD], input=data, env=env, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()
    got, got_closure = pickle.loads(done.stdout)
    assert_same(got, f(W, X))
    assert_same(got_closure, cf(W, X))
