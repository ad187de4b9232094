#!/usr/bin/env python3
"""JAX as an adcheck engine, written the way a JAX user would write it.

Every adcheck operation is JAX's own function (table `OPS` below), in
float64; the derivatives are JAX's own transformations: `jax.jvp`,
`jax.vjp`, `jax.grad`, `jax.jacfwd`/`jax.jacrev` (whichever the shape
favours, as JAX's documentation advises), and H·v as forward over reverse
(`jax.jvp` of `jax.grad`). A batch of points of one program is one call of
`jax.vmap`; batch sizes are padded to powers of two, so few shapes are
ever compiled.

When to `jax.jit`: compiling one (program, function) takes 0.1–0.5 s here,
running it eagerly 4–30 ms, so a program asked a few times (as in a
conformance run) is run eagerly, and one asked for `--jit-after N` points
or more (default 64) is compiled once and cached by the program's text.
`--jit-after 0` compiles everything, as most JAX code does.

Eager JAX still compiles each primitive once per shape (about 60 ms
each on this machine, hundreds of them in a run's first minute), so the
engine turns on JAX's persistent compilation cache, as JAX's documentation
advises for repeated runs: `--compile-cache DIR` (default: a folder
`adcheck-jax-<version>` in the system's temporary directory; `none` turns
it off). Programs differ from run to run, primitives do not, so a second
run (of any seed) starts warm.

    pip install "jax[cpu]"   # or: cargo xtask conformance installs it
    cargo xtask conformance --engine-cmd "python3 examples/jax_engine/jax_engine.py"

Nothing is composed: `recip` is written `1.0 / x` as JAX users write it,
`relu`, `softplus` and `logsumexp` are `jax.nn`'s, and `iflt`/`ifle` are
`jnp.where` on the comparison, as a JAX user writes a branch under jit.
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")

try:
    import adcheck_engine
except ImportError:  # run from the repository without installing the helper
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import adcheck_engine

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

from adcheck_engine import DispatchEngine, serve  # noqa: E402

OPS = {
    "const": lambda value: jnp.asarray(value, dtype=jnp.float64),
    "neg": jnp.negative,
    "recip": lambda x: 1.0 / x,
    "sqrt": jnp.sqrt,
    "cbrt": jnp.cbrt,
    "exp": jnp.exp,
    "expm1": jnp.expm1,
    "ln": jnp.log,
    "log1p": jnp.log1p,
    "sin": jnp.sin,
    "cos": jnp.cos,
    "tan": jnp.tan,
    "asin": jnp.arcsin,
    "acos": jnp.arccos,
    "atan": jnp.arctan,
    "sinh": jnp.sinh,
    "cosh": jnp.cosh,
    "tanh": jnp.tanh,
    "abs": jnp.abs,
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
    "add": jnp.add,
    "sub": jnp.subtract,
    "mul": jnp.multiply,
    "div": jnp.divide,
    "powf": jnp.power,
    "atan2": jnp.arctan2,
    "min": jnp.minimum,
    "max": jnp.maximum,
    "hypot": jnp.hypot,
    "powi": lambda x, n: x**n,  # lax.integer_pow for a Python int
    "logsumexp": lambda xs: jax.nn.logsumexp(jnp.stack(xs)),
    "iflt": lambda a, b, then, otherwise: jnp.where(a < b, then, otherwise),
    "ifle": lambda a, b, then, otherwise: jnp.where(a <= b, then, otherwise),
}


def as_function(program):
    """The program as a JAX function of one vector."""

    def f(x):
        return jnp.stack(program.evaluate([x[i] for i in range(program.inputs)], OPS))

    return f


def transforms(program):
    """Each adcheck function of `program`, for one point (and seed)."""
    f = as_function(program)
    f0 = lambda x: f(x)[0]  # noqa: E731 - scalar programs

    def jvp(x, v):
        return jax.jvp(f, (x,), (v,))

    def vjp(x, u):
        y, pull = jax.vjp(f, x)
        return y, pull(u)[0]

    def gradient(x):
        y, g = jax.value_and_grad(f0)(x)
        return jnp.reshape(y, (1,)), g

    def jacobian(x):
        wide = program.n_outputs < program.inputs
        jac = (jax.jacrev if wide else jax.jacfwd)(f)(x)
        return f(x), jac

    def hvp(x, v):
        y, hv = jax.jvp(jax.grad(f0), (x,), (v,))
        return jnp.reshape(f0(x), (1,)), hv

    return {"primal": f, "jvp": jvp, "vjp": vjp, "gradient": gradient, "jacobian": jacobian, "hvp": hvp}


def padded(n):
    size = 1
    while size < n:
        size *= 2
    return size


class JaxEngine(DispatchEngine):
    # The version in the name, so every report says which JAX it judged.
    tool = f"jax-{jax.__version__}"

    def __init__(self, jit_after=64):
        self.jit_after = jit_after
        self._functions = {}
        self._asked = {}

    def function(self, program, function, batched, points):
        """`function` of `program` (over vmap when `batched`): jitted once
        the program was asked for `jit_after` points, else eager; cached by
        the program's text."""
        asked = self._asked.get((program.key, function), 0) + points
        self._asked[(program.key, function)] = asked
        jit = asked >= self.jit_after
        key = (program.key, function, batched, jit)
        fn = self._functions.get(key)
        if fn is None:
            fn = transforms(program)[function]
            if batched:
                fn = jax.vmap(fn)
            if jit:
                fn = jax.jit(fn)
            if len(self._functions) > 4096:
                self._functions.clear()
                self._asked.clear()
            self._functions[key] = fn
        return fn

    def one(self, function, program, x, seed=None):
        args = (jnp.asarray(x, jnp.float64),) + (() if seed is None else (jnp.asarray(seed, jnp.float64),))
        return self.function(program, function, False, 1)(*args)

    def many(self, function, program, xs, seeds):
        k = len(xs)
        size = padded(k)
        pad = lambda rows: jnp.asarray(rows + [rows[-1]] * (size - k), jnp.float64)  # noqa: E731
        args = (pad(xs),) + (() if seeds is None else (pad(seeds),))
        out = self.function(program, function, True, k)(*args)
        if function == "primal":
            return [out[j] for j in range(k)]
        y, d = out
        return [(y[j], d[j]) for j in range(k)]


def main():
    parser = argparse.ArgumentParser(description="JAX as an adcheck engine (speaks the protocol on stdin/stdout)")
    parser.add_argument(
        "--jit-after",
        type=int,
        default=64,
        metavar="N",
        help="compile a (program, function) with jax.jit once it was asked for N points (0: always)",
    )
    parser.add_argument(
        "--compile-cache",
        default=os.path.join(tempfile.gettempdir(), f"adcheck-jax-{jax.__version__}"),
        metavar="DIR",
        help="JAX's persistent compilation cache, of every compilation however short ('none': off)",
    )
    args = parser.parse_args()
    if args.compile_cache != "none":
        jax.config.update("jax_compilation_cache_dir", args.compile_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    serve(JaxEngine(jit_after=args.jit_after))


if __name__ == "__main__":
    main()
