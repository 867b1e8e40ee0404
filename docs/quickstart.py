"""The README's quick-start function, for `adjit graph` (docs/graph.svg)."""

import numpy as np


def f(x1, x2):
    return x1 * x2 + np.sin(x2)
