#!/usr/bin/env python3
"""PyTorch as an adcheck engine, written the way a PyTorch user would.

Every adcheck operation is PyTorch's own function (table `OPS` below), on
float64 tensors; the derivatives are `torch.func`'s transformations:
`jvp`, `vjp`, `grad`, `jacfwd`/`jacrev` (whichever the shape favours) and
H·v as forward over reverse (`jvp` of `grad`, as torch.func's tutorial
writes it). A batch of points of one program is one call under
`torch.func.vmap`.

    python3 -m venv target/adcheck/python/torch   # once; the wheel is ~3 GB
    target/adcheck/python/torch/bin/pip install torch==2.15.0
    cargo xtask conformance --engine-cmd "python3 examples/pytorch_engine/pytorch_engine.py"

Composed, because PyTorch has no function of that name: `cbrt`, as
sign(x)·|x|^(1/3) (so its derivative at 0 is 0·∞ = NaN, this composition's
doing, not PyTorch's). `recip` is `torch.reciprocal`; `iflt`/`ifle` are
`torch.where` on the comparison.
"""

import os
import sys

try:
    import adcheck_engine
except ImportError:  # run from the repository without installing the helper
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import adcheck_engine

import torch
import torch.func as tf

from adcheck_engine import DispatchEngine, serve  # noqa: E402

torch.set_default_dtype(torch.float64)
F64 = torch.float64

OPS = {
    "const": lambda value: torch.tensor(value, dtype=F64),
    "neg": torch.neg,
    "recip": torch.reciprocal,
    "sqrt": torch.sqrt,
    "cbrt": lambda x: torch.sign(x) * torch.abs(x).pow(1.0 / 3.0),
    "exp": torch.exp,
    "expm1": torch.expm1,
    "ln": torch.log,
    "log1p": torch.log1p,
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "asin": torch.asin,
    "acos": torch.acos,
    "atan": torch.atan,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "tanh": torch.tanh,
    "abs": torch.abs,
    "relu": torch.relu,
    "softplus": torch.nn.functional.softplus,
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "powf": torch.pow,
    "atan2": torch.atan2,
    "min": torch.minimum,
    "max": torch.maximum,
    "hypot": torch.hypot,
    "powi": lambda x, n: torch.pow(x, n),
    "logsumexp": lambda xs: torch.logsumexp(torch.stack(xs), dim=0),
    "iflt": lambda a, b, then, otherwise: torch.where(a < b, then, otherwise),
    "ifle": lambda a, b, then, otherwise: torch.where(a <= b, then, otherwise),
}


def transforms(program):
    """Each adcheck function of `program`, for one point (and seed)."""

    def f(x):
        return torch.stack(program.evaluate([x[i] for i in range(program.inputs)], OPS))

    def f0(x):
        return f(x)[0]

    def jvp(x, v):
        return tf.jvp(f, (x,), (v,))

    def vjp(x, u):
        y, pull = tf.vjp(f, x)
        return y, pull(u)[0]

    def gradient(x):
        g, y = tf.grad_and_value(f0)(x)
        return y.reshape(1), g

    def jacobian(x):
        wide = program.n_outputs < program.inputs
        return f(x), (tf.jacrev if wide else tf.jacfwd)(f)(x)

    def hvp(x, v):
        _, hv = tf.jvp(tf.grad(f0), (x,), (v,))
        return f0(x).reshape(1), hv

    return {"primal": f, "jvp": jvp, "vjp": vjp, "gradient": gradient, "jacobian": jacobian, "hvp": hvp}


class PyTorchEngine(DispatchEngine):
    # The version in the name (without the build tag), so every report
    # says which PyTorch it judged.
    tool = f"pytorch-{torch.__version__.split('+')[0]}"

    def __init__(self):
        self._transforms = {}

    def functions_of(self, program):
        found = self._transforms.get(program.key)
        if found is None:
            if len(self._transforms) > 4096:
                self._transforms.clear()
            found = self._transforms[program.key] = transforms(program)
        return found

    def one(self, function, program, x, seed=None):
        args = (torch.tensor(x, dtype=F64),) + (() if seed is None else (torch.tensor(seed, dtype=F64),))
        with torch.no_grad():
            return self.functions_of(program)[function](*args)

    def many(self, function, program, xs, seeds):
        args = (torch.tensor(xs, dtype=F64),) + (() if seeds is None else (torch.tensor(seeds, dtype=F64),))
        with torch.no_grad():
            out = tf.vmap(self.functions_of(program)[function])(*args)
        if function == "primal":
            return [out[j] for j in range(len(xs))]
        y, d = out
        return [(y[j], d[j]) for j in range(len(xs))]


if __name__ == "__main__":
    serve(PyTorchEngine())
