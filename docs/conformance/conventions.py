#!/usr/bin/env python3
"""Measures what JAX and PyTorch answer where the derivative is a choice:
every row of the conventions table in `engines/src/conventions.rs`, asked
of the framework directly (float64, its own functions and autodiff, no
adcheck code), so the table's "JAX" and "PyTorch" columns are measured,
with the version.

    python3 docs/conformance/conventions.py jax       # needs jax
    python3 docs/conformance/conventions.py pytorch   # needs torch

Prints one line per row: the case, then the derivative(s) the framework
gives.
"""

import math
import sys


def cases(f):
    """(row, point, function of a list of scalars) for every table row; `f`
    holds the framework's functions."""
    inf = math.inf
    return [
        ("abs′ at 0", [0.0], lambda x: f.abs(x[0])),
        ("abs′ at −0", [-0.0], lambda x: f.abs(x[0])),
        ("relu′ at 0", [0.0], lambda x: f.relu(x[0])),
        ("∇max(a, b) at a = b = 1", [1.0, 1.0], lambda x: f.maximum(x[0], x[1])),
        ("∇min(a, b) at a = b = 1", [1.0, 1.0], lambda x: f.minimum(x[0], x[1])),
        ("sqrt′ at 0", [0.0], lambda x: f.sqrt(x[0])),
        ("cbrt′ at 0", [0.0], lambda x: f.cbrt(x[0])),
        ("ln′ at 0", [0.0], lambda x: f.log(x[0])),
        ("recip′ at 0 (1/x)", [0.0], lambda x: 1.0 / x[0]),
        ("asin′ at 1", [1.0], lambda x: f.asin(x[0])),
        ("acos′ at −1", [-1.0], lambda x: f.acos(x[0])),
        ("∇aᵇ at (2, 0)", [2.0, 0.0], lambda x: x[0] ** x[1]),
        ("∇aᵇ at (0, 0)", [0.0, 0.0], lambda x: x[0] ** x[1]),
        ("∇aᵇ at (0, 0.5)", [0.0, 0.5], lambda x: x[0] ** x[1]),
        ("∇aᵇ at (0, 1)", [0.0, 1.0], lambda x: x[0] ** x[1]),
        ("∇aᵇ at (0, 2)", [0.0, 2.0], lambda x: x[0] ** x[1]),
        ("∇aᵇ at (−2, 2)", [-2.0, 2.0], lambda x: x[0] ** x[1]),
        ("(x⁰)′ at 0 (integer power)", [0.0], lambda x: x[0] ** 0),
        ("∇atan2(y, x) at (0, 0)", [0.0, 0.0], lambda x: f.atan2(x[0], x[1])),
        ("∇hypot(a, b) at (0, 0)", [0.0, 0.0], lambda x: f.hypot(x[0], x[1])),
        ("∇‖(a, b)‖ at (0, 0) (the library's norm)", [0.0, 0.0], lambda x: f.norm2(x[0], x[1])),
        ("∇logsumexp at (−∞, −∞)", [-inf, -inf], lambda x: f.logsumexp2(x[0], x[1])),
        ("∇logsumexp at (1000, 1000)", [1000.0, 1000.0], lambda x: f.logsumexp2(x[0], x[1])),
        ("where(0 < x, √x, 0)′ at −1 (branch not taken)", [-1.0], lambda x: f.where(0.0 < x[0], f.sqrt(x[0]), 0.0 * x[0])),
        ("∂x of (asin x, x)₂ by vjp at 1 (zero cotangent on asin)", [1.0], lambda x: 0.0 * f.asin(x[0]) + x[0]),
    ]


def show(rows, grad, version):
    print(f"# {version}")
    for row, point, fn in rows:
        try:
            g = [float(v) for v in grad(fn, point)]
            text = ", ".join(repr(v) for v in g)
        except Exception as e:  # a framework may lack an operation
            text = f"error: {type(e).__name__}: {str(e).splitlines()[0][:80]}"
        print(f"{row}: {text}")


class Jax:
    def __init__(self):
        import jax
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp

        jax.config.update("jax_enable_x64", True)
        self.jax, self.jnp = jax, jnp
        self.abs, self.sqrt, self.cbrt, self.log = jnp.abs, jnp.sqrt, jnp.cbrt, jnp.log
        self.asin, self.acos, self.atan2, self.hypot = jnp.arcsin, jnp.arccos, jnp.arctan2, jnp.hypot
        self.maximum, self.minimum, self.where = jnp.maximum, jnp.minimum, jnp.where
        self.relu = jax.nn.relu
        self.norm2 = lambda a, b: jnp.linalg.norm(jnp.stack([a, b]))
        self.logsumexp2 = lambda a, b: logsumexp(jnp.stack([a, b]))
        self.version = f"JAX {jax.__version__}"

    def grad(self, fn, point):
        x = self.jnp.array(point, dtype=self.jnp.float64)
        return self.jax.grad(lambda v: fn([v[i] for i in range(len(point))]))(x)


class Torch:
    def __init__(self):
        import torch

        self.torch = torch
        self.abs, self.sqrt, self.log = torch.abs, torch.sqrt, torch.log
        self.asin, self.acos, self.atan2, self.hypot = torch.asin, torch.acos, torch.atan2, torch.hypot
        self.maximum, self.minimum, self.relu = torch.maximum, torch.minimum, torch.relu
        self.where = lambda c, a, b: torch.where(torch.as_tensor(c), a, b)
        self.norm2 = lambda a, b: torch.linalg.vector_norm(torch.stack([a, b]))
        self.logsumexp2 = lambda a, b: torch.logsumexp(torch.stack([a, b]), 0)
        self.version = f"PyTorch {torch.__version__}"

    def cbrt(self, x):
        raise NotImplementedError("PyTorch has no cbrt")

    def grad(self, fn, point):
        xs = [self.torch.tensor(p, dtype=self.torch.float64, requires_grad=True) for p in point]
        out = fn(xs)
        grads = self.torch.autograd.grad(out, xs, allow_unused=True)
        return [g if g is not None else 0.0 for g in grads]


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "jax"
    f = Jax() if which == "jax" else Torch()
    show(cases(f), f.grad, f.version)
