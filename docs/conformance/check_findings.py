#!/usr/bin/env python3
"""Checks the findings of the JAX and PyTorch conformance reports by hand,
against an independent computation: each exact value is worked out here
from its closed form with Python's `decimal` module at 60 digits (no MPFR,
no adcheck code), and each framework's value is asked of the framework
directly, outside adcheck, the way its users would write it.

    python3 docs/conformance/check_findings.py jax       # needs jax
    python3 docs/conformance/check_findings.py pytorch   # needs torch
"""

import math
import sys
from decimal import Decimal as D, getcontext

getcontext().prec = 60
getcontext().Emin = -99999
getcontext().Emax = 99999


def sech2(x):
    e = D(x).exp()
    return 4 / (e + 1 / e) ** 2


def atan2_partials(y, x):
    y, x = D(y), D(x)
    r2 = x * x + y * y
    return x / r2, -y / r2


def rows(grad, jvp, log1p, value):
    """(what, framework value, exact value) for every finding."""
    out = []
    # JAX's CPU log1p is itself some 60 ulps off here, and an expm1/log1p
    # chain's derivative through it inaccurate (gen-209).
    out.append(("log1p(-0.403), the value itself", log1p(-0.403), (1 + D(-0.403)).ln()))
    # tanh saturates: tanh'(20) = sech²(20).
    out.append(("tanh'(20) by gradient", grad(lambda x: tanh(x[0]), [20.0])[0], sech2(20)))
    # Inaccurate, not wrong: 1 − tanh² cancels at moderate x.
    out.append(("tanh'(-3) by jvp (inaccurate)", jvp(lambda x: tanh(x[0]), [-3.0], [1.0]), sech2(-3)))
    out.append(("tanh'(-3) by gradient (inaccurate)", grad(lambda x: tanh(x[0]), [-3.0])[0], sech2(-3)))
    # tanh(sinh(x²)) at x = 2 by jvp along 1: sech²(sinh 4)·cosh 4·4.
    s4 = (D(4).exp() - (-D(4)).exp()) / 2
    c4 = (D(4).exp() + (-D(4)).exp()) / 2
    exact = sech2(s4) * c4 * 4
    out.append(("d/dx tanh(sinh(x²)) at 2 by jvp", jvp(lambda x: tanh(sinh(x[0] * x[0])), [2.0], [1.0]), exact))
    for p in (1e-300, 1e200):
        dy, _ = atan2_partials(p, p)
        out.append((f"∂y atan2(y, x) at ({p:g}, {p:g})", grad(lambda x: atan2(x[0], x[1]), [p, p])[0], dy))
    out.append(("∂x hypot(x, y) at (0, 0) (generalized gradient: the unit disk)", grad(lambda x: hypot(x[0], x[1]), [0.0, 0.0])[0], D(0)))
    out.append(("∂a a^b at (0, 0) (a^0 = 1 for every a)", grad(lambda x: x[0] ** x[1], [0.0, 0.0])[0], D(0)))
    out.append(("d/dx where(0 < x, √x, 0) at x = -1 (the branch taken is 0)", grad(lambda x: where(0.0 < x[0], sqrt(x[0]), 0.0 * x[0]), [-1.0])[0], D(0)))
    # Found by the hard-places programs. ∂x atan2(y, x) = -y/(x² + y²) at
    # (1e-300, 0): -1/y, an ordinary f64, while y² underflows.
    out.append(("∂x atan2(y, x) at (1e-300, 0)", grad(lambda x: atan2(x[0], x[1]), [1e-300, 0.0])[1], -1 / D(1e-300)))
    # d/dx x^x = x^x (ln x + 1) at the smallest subnormal (D(5e-324) is the
    # float's exact value): b·a^(b−1) overflows through 1/a.
    a = D(5e-324)
    out.append(("d/dx x^x at 5e-324 by jvp", jvp(lambda x: x[0] ** x[0], [5e-324], [1.0]), (a.ln() * a).exp() * (a.ln() + 1)))
    # hypot(x − x, x − x) is 0 for every x: its derivative is 0, not 0/0.
    out.append(("d/dx hypot(x - x, x - x) at 1 by jvp", jvp(lambda x: hypot(x[0] - x[0], x[0] - x[0]), [1.0], [1.0]), D(0)))
    # x/x is 1 for every x ≠ 0: its derivative is 0, even where b² in the
    # quotient rule underflows (1e-300).
    out.append(("d/dx x/x at 1e-300 by jvp", jvp(lambda x: x[0] / x[0], [1e-300], [1.0]), D(0)))
    # hypot(x, x) = √2·|x|: the derivative at 1e-300 is √2.
    out.append(("d/dx hypot(x, x) at 1e-300 by jvp", jvp(lambda x: hypot(x[0], x[0]), [1e-300], [1.0]), D(2).sqrt()))
    # Values constant near the point: the derivative is 0, and the chain
    # rule operation by operation meets ∞·0 inside them.
    out.append(("d/dx √(relu x) at -1 by jvp (relu(x) = 0 near -1)", jvp(lambda x: sqrt(relu(x[0])), [-1.0], [1.0]), D(0)))
    out.append(("d/dx √(x - x) at 1 by jvp (x - x = 0 for every x)", jvp(lambda x: sqrt(x[0] - x[0]), [1.0], [1.0]), D(0)))
    out.append(("d/dx acos(x^0) at 3 by jvp (x^0 = 1 for every x)", jvp(lambda x: acos(power(x[0], 0)), [3.0], [1.0]), D(0)))
    # Subnormal arguments (D(5e-324) is the float's exact value).
    out.append(("√(5e-324), the value", value(lambda x: sqrt(x[0]), [5e-324]), D(5e-324).sqrt()))
    out.append(("ln(5e-324), the value", value(lambda x: log(x[0]), [5e-324]), D(5e-324).ln()))
    return out


def report(rows):
    for what, got, exact in rows:
        got = float(got)
        if math.isfinite(got) and exact != 0 and got != 0:
            # Correct bits, as adcheck counts them: −log2 of the relative error.
            rel = abs((D(got) - exact) / exact)
            what += f" [{min(53.0, -math.log2(float(rel))) if rel else 53.0:.1f} bits]"
        print(f"{what}: framework {got!r}, exact {float(exact)!r} (to 20 digits: {format(exact, '.20g')})")


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "jax"
    if which == "jax":
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        tanh, sinh, atan2, hypot, sqrt, where, log = jnp.tanh, jnp.sinh, jnp.arctan2, jnp.hypot, jnp.sqrt, jnp.where, jnp.log
        relu, acos, power = jax.nn.relu, jnp.arccos, jnp.power

        def value(f, x):
            return f(jnp.array(x, dtype=jnp.float64))

        def log1p(x):
            return jnp.log1p(jnp.float64(x))

        def grad(f, x):
            return jax.grad(f)(jnp.array(x, dtype=jnp.float64))

        def jvp(f, x, v):
            return jax.jvp(f, (jnp.array(x, dtype=jnp.float64),), (jnp.array(v, dtype=jnp.float64),))[1]

        print(f"JAX {jax.__version__}")
    else:
        import torch

        tanh, sinh, atan2, hypot, sqrt, where, log = torch.tanh, torch.sinh, torch.atan2, torch.hypot, torch.sqrt, torch.where, torch.log
        relu, acos, power = torch.relu, torch.acos, torch.pow

        def value(f, x):
            return f(torch.tensor(x, dtype=torch.float64))

        def log1p(x):
            return torch.log1p(torch.tensor(x, dtype=torch.float64))

        def grad(f, x):
            t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            f(t).backward()
            return t.grad

        def jvp(f, x, v):
            t = torch.tensor(x, dtype=torch.float64)
            return torch.func.jvp(f, (t,), (torch.tensor(v, dtype=torch.float64),))[1]

        print(f"PyTorch {torch.__version__}")
    report(rows(grad, jvp, log1p, value))
