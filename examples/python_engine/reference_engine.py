#!/usr/bin/env python3
"""A reference AD engine in Python, standard library only, on the
`adcheck_engine` helper (python/; `pip install ./python`, or run from this
repository as it is).

- forward mode: dual numbers (`Dual`), nestable, so `hvp` is forward over
  forward (n passes of duals of duals);
- reverse mode: a small tape of local partials, swept backwards.

The derivative at kinks and domain edges follows adcheck's declared
conventions (engines/src/conventions.rs, PyTorch's and JAX's choices), and
so does the rule that an exactly zero tangent, adjoint or partial contributes zero
even through an infinite partial.

Check it with

    cargo xtask conformance --engine-cmd "python3 examples/python_engine/reference_engine.py"
"""

import math
import os
import sys

try:
    import adcheck_engine
except ImportError:  # run from the repository without installing the helper
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import adcheck_engine

from adcheck_engine import Engine, ieee, serve

INF = math.inf
NAN = math.nan

# IEEE results for floats (Python's math raises where IEEE gives inf/NaN).
f_div, f_exp, f_ln, f_pow, f_logsumexp = ieee.div, ieee.exp, ieee.ln, ieee.pow, ieee.logsumexp
FLOAT_OPS = ieee.MATH_OPS


# ---------------------------------------------------------------------------
# Dual numbers, nestable: `v` and `d` are floats or Duals of one depth.


class Dual:
    __slots__ = ("v", "d")

    def __init__(self, v, d):
        self.v = v
        self.d = d

    def __add__(self, o):
        o = lift(o)
        return Dual(self.v + o.v, self.d + o.d)

    __radd__ = __add__

    def __sub__(self, o):
        o = lift(o)
        return Dual(self.v - o.v, self.d - o.d)

    def __rsub__(self, o):
        return lift(o) - self

    def __neg__(self):
        return Dual(-self.v, -self.d)

    def __mul__(self, o):
        o = lift(o)
        return Dual(self.v * o.v, chain(o.v, self.d) + chain(self.v, o.d))

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = lift(o)
        v = div(self.v, o.v)
        return Dual(v, chain(div(1.0, o.v), self.d) + chain(-div(v, o.v), o.d))

    def __rtruediv__(self, o):
        return lift(o) / self


def lift(x):
    return x if isinstance(x, Dual) else Dual(x, 0.0)


def div(a, b):
    if isinstance(a, Dual) or isinstance(b, Dual):
        return lift(a) / b
    return f_div(a, b)


def primal(x):
    while isinstance(x, Dual):
        x = x.v
    return x


def is_zero(t):
    if isinstance(t, Dual):
        return is_zero(t.v) and is_zero(t.d)
    return t == 0.0


def chain(partial, tangent):
    """partial · tangent, zero when the tangent is exactly zero."""
    return 0.0 if is_zero(tangent) else partial * tangent


def compare(a, b):
    """-1, 0, 1 by primal values, None when either is NaN."""
    a, b = primal(a), primal(b)
    if a != a or b != b:
        return None
    return (a > b) - (a < b)


# ---------------------------------------------------------------------------
# Operations over floats and Duals: value and local partials.

FLOAT_UNARY = {op: FLOAT_OPS[op] for op in adcheck_engine.UNARY}


def unary(op, x):
    """The value of op(x), for a float or a Dual."""
    if not isinstance(x, Dual):
        return FLOAT_UNARY[op](x)
    value, partial = unary_with_partial(op, x.v)
    return Dual(value, chain(partial, x.d))


def sigmoid(x):
    if compare(x, 0.0) in (0, 1):
        return div(1.0, 1.0 + unary("exp", -x))
    e = unary("exp", x)
    return div(e, 1.0 + e)


def sign_partial(x, zero):
    c = compare(x, 0.0)
    return NAN if c is None else (zero if c == 0 else float(c))


def unary_with_partial(op, x):
    """op(x) and its derivative, for x a float or a Dual (one level in)."""
    u = lambda name, y: unary(name, y)  # noqa: E731
    if op == "neg":
        return -x, -1.0
    if op == "recip":
        v = div(1.0, x)
        return v, -(v * v)
    if op == "sqrt":
        v = u("sqrt", x)
        return v, div(0.5, v)
    if op == "cbrt":
        v = u("cbrt", x)
        return v, div(1.0, 3.0 * v * v)
    if op == "exp":
        v = u("exp", x)
        return v, v
    if op == "expm1":
        return u("expm1", x), u("exp", x)
    if op == "ln":
        return u("ln", x), div(1.0, x)
    if op == "log1p":
        return u("log1p", x), div(1.0, 1.0 + x)
    if op == "sin":
        return u("sin", x), u("cos", x)
    if op == "cos":
        return u("cos", x), -u("sin", x)
    if op == "tan":
        v = u("tan", x)
        return v, 1.0 + v * v
    if op in ("asin", "acos"):
        d = div(1.0, u("sqrt", (1.0 - x) * (1.0 + x)))
        return u(op, x), (d if op == "asin" else -d)
    if op == "atan":
        return u("atan", x), div(1.0, 1.0 + x * x)
    if op == "sinh":
        return u("sinh", x), u("cosh", x)
    if op == "cosh":
        return u("cosh", x), u("sinh", x)
    if op == "tanh":
        decay = u("exp", -u("abs", x))
        sech = div(2.0 * decay, 1.0 + decay * decay)
        return u("tanh", x), sech * sech
    if op == "abs":
        return u("abs", x), sign_partial(x, 0.0)
    if op == "relu":
        c = compare(x, 0.0)
        return u("relu", x), (NAN if c is None else (1.0 if c == 1 else 0.0))
    if op == "softplus":
        return u("softplus", x), sigmoid(x)
    raise ValueError(f"unknown operation `{op}`")


def binary_with_partials(op, a, b):
    """op(a, b) and its two partials, for floats or Duals (one level in)."""
    u = lambda name, y: unary(name, y)  # noqa: E731
    if op == "add":
        return a + b, 1.0, 1.0
    if op == "sub":
        return a - b, 1.0, -1.0
    if op == "mul":
        return a * b, b, a
    if op == "div":
        v = div(a, b)
        return v, div(1.0, b), -div(v, b)
    if op == "powf":
        v = power(a, b)
        if is_zero(primal(b)) and is_zero(primal(a)):
            da = 0.0
        elif primal(a) == 0.0 or not normal(v):
            da = b * power(a, b - 1.0)
        else:
            # (b/a)·aᵇ keeps the bits that b·a^(b−1) loses to the rounding
            # of b − 1 (|ln a|·ε), and stays finite where a^(b−1) = aᵇ/a
            # overflows (a = 5e−324); b·(aᵇ/a) where b/a is not normal.
            ratio = div(b, a)
            if normal(ratio) or primal(ratio) == 0.0:
                da = ratio * v
            elif normal(div(v, a)):
                da = b * div(v, a)
            else:
                da = b * power(a, b - 1.0)
        if primal(a) == 0.0 and compare(b, 0.0) in (0, 1):
            db = 0.0
        else:
            db = v * u("ln", a)
        return v, da, db
    if op == "atan2":
        r = hypot(a, b)
        return atan2(a, b), div(div(b, r), r), div(-div(a, r), r)
    if op in ("min", "max"):
        want = -1 if op == "min" else 1
        c = compare(a, b)
        if c is None:
            return NAN, NAN, NAN
        if c == 0:
            return a + (b - a) * 0.5, 0.5, 0.5
        return (a, 1.0, 0.0) if c == want else (b, 0.0, 1.0)
    if op == "hypot":
        h = hypot(a, b)
        if primal(h) == 0.0:
            return h, 0.0, 0.0
        return h, div(a, h), div(b, h)
    raise ValueError(f"unknown operation `{op}`")


def binary(op, a, b):
    if not isinstance(a, Dual) and not isinstance(b, Dual):
        if op == "div":
            return f_div(a, b)
        return binary_with_partials(op, a, b)[0]
    a, b = lift(a), lift(b)
    v, da, db = binary_with_partials(op, a.v, b.v)
    return Dual(v, chain(da, a.d) + chain(db, b.d))


def normal(x):
    """Whether the value of x is a finite, normal float (not 0, not
    subnormal)."""
    v = abs(primal(x))
    return math.isfinite(v) and v >= sys.float_info.min


def power(a, b):
    if isinstance(a, Dual) or isinstance(b, Dual):
        return binary("powf", a, b)
    return f_pow(a, b)


def atan2(a, b):
    if isinstance(a, Dual) or isinstance(b, Dual):
        return binary("atan2", a, b)
    return math.atan2(a, b)


def hypot(a, b):
    if isinstance(a, Dual) or isinstance(b, Dual):
        return binary("hypot", a, b)
    return math.hypot(a, b)


def powi_with_partial(x, n):
    v = powi(x, n)
    d = 0.0 if n == 0 else float(n) * powi(x, n - 1)
    return v, d


def powi(x, n):
    if isinstance(x, Dual):
        v, d = powi_with_partial(x.v, n)
        return Dual(v, chain(d, x.d))
    return f_pow(x, float(n))


def logsumexp_with_partials(xs):
    """The value and the partials of logsumexp, per the conventions."""
    v = logsumexp(xs)
    pv = primal(v)
    if math.isinf(pv):
        ties = [primal(x) == pv for x in xs]
        share = 1.0 / max(1, sum(ties))
        return v, [share if t else 0.0 for t in ties]
    m = xs[0]
    for x in xs[1:]:
        if compare(x, m) == 1:
            m = x
    shifted = [unary("exp", x - m) for x in xs]
    total = shifted[0]
    for e in shifted[1:]:
        total = total + e
    return v, [div(e, total) for e in shifted]


def logsumexp(xs):
    if not any(isinstance(x, Dual) for x in xs):
        return f_logsumexp(xs)
    xs = [lift(x) for x in xs]
    v, partials = logsumexp_with_partials([x.v for x in xs])
    tangent = 0.0
    for p, x in zip(partials, xs):
        tangent = tangent + chain(p, x.d)
    return Dual(v, tangent)


# ---------------------------------------------------------------------------
# Programs.

def select(taken_when):
    def pick(a, b, then, otherwise):
        return then if compare(a, b) in taken_when else otherwise

    return pick


# The operations over floats or Duals, for `Program.evaluate`.
DUAL_OPS = {op: (lambda op: lambda x: unary(op, x))(op) for op in adcheck_engine.UNARY}
DUAL_OPS.update({op: (lambda op: lambda a, b: binary(op, a, b))(op) for op in adcheck_engine.BINARY})
DUAL_OPS.update(const=float, powi=lambda x, n: powi(x, n), logsumexp=lambda xs: logsumexp(xs))
DUAL_OPS.update(iflt=select((-1,)), ifle=select((-1, 0)))


def tape_vjp(program, x, u):
    """Reverse mode: record each value's local partials, sweep backwards."""
    values = list(x)
    parents = [()] * len(x)
    for instr in program.body:
        op, args = instr.op, instr.args
        a = [values[i] for i in args]
        if op == "const":
            value, partials = instr.value, ()
        elif op in adcheck_engine.UNARY:
            value, d = unary_with_partial(op, a[0])
            partials = (d,)
        elif op == "powi":
            value, d = powi_with_partial(a[0], instr.exponent)
            partials = (d,)
        elif op in ("sub", "div") and args[0] == args[1]:
            # x − x and x / x of one value are constants (0, and 1 where
            # x ≠ 0): their partials would cancel only up to rounding.
            value, partials = binary_with_partials(op, a[0], a[1])[0], ()
        elif op in adcheck_engine.BINARY:
            value, da, db = binary_with_partials(op, a[0], a[1])
            partials = (da, db)
        elif op == "logsumexp":
            value, partials = logsumexp_with_partials(a)
        else:  # iflt, ifle
            taken = compare(a[0], a[1]) in ((-1,) if op == "iflt" else (-1, 0))
            value = a[2] if taken else a[3]
            partials = (0.0, 0.0, 1.0 if taken else 0.0, 0.0 if taken else 1.0)
        values.append(value)
        # An exactly zero partial carries nothing (relu′ of a negative
        # value, x⁰, the branch not taken): left out, it cannot turn an
        # infinite adjoint into NaN through 0·∞.
        parents.append(tuple((i, d) for i, d in zip(args, partials) if d != 0.0))
    adjoint = [0.0] * len(values)
    for i, w in zip(program.outputs, u):
        adjoint[i] += w
    for node in range(len(values) - 1, -1, -1):
        a = adjoint[node]
        if a == 0.0:
            continue
        for parent, partial in parents[node]:
            adjoint[parent] += chain(partial, a)
    return [values[i] for i in program.outputs], adjoint[: len(x)]


def jvp(program, x, v):
    out = program.evaluate([Dual(xi, vi) for xi, vi in zip(x, v)], DUAL_OPS)
    return [primal(y) for y in out], [lift(y).d for y in out]


def hvp(program, x, v):
    n = len(x)
    hv, f = [], None
    for i in range(n):
        inputs = [Dual(Dual(x[j], v[j]), Dual(1.0 if i == j else 0.0, 0.0)) for j in range(n)]
        y = lift(program.evaluate(inputs, DUAL_OPS)[0])
        f = primal(y)
        # y = (f + ∇f·v ε₂) + (∂ᵢf + eᵢᵀHv ε₂) ε₁
        hv.append(y.d.d if isinstance(y.d, Dual) else 0.0)
    return [f], hv


def jacobian(program, x):
    n, m = len(x), program.n_outputs
    jac = [0.0] * (n * m)
    primal_out = []
    if n <= m:
        for j in range(n):
            e = [1.0 if k == j else 0.0 for k in range(n)]
            primal_out, column = jvp(program, x, e)
            for i in range(m):
                jac[i * n + j] = column[i]
    else:
        for i in range(m):
            e = [1.0 if k == i else 0.0 for k in range(m)]
            primal_out, row = tape_vjp(program, x, e)
            jac[i * n : (i + 1) * n] = row
    return primal_out, jac


class ReferenceEngine(Engine):
    """Every function, by the dual numbers and the tape above."""

    tool = "python-reference"

    def primal(self, program, x):
        return [primal(y) for y in program.evaluate(x, DUAL_OPS)]

    def jvp(self, program, x, v):
        return jvp(program, x, v)

    def vjp(self, program, x, u):
        return tape_vjp(program, x, u)

    def gradient(self, program, x):
        return tape_vjp(program, x, [1.0])

    def jacobian(self, program, x):
        return jacobian(program, x)

    def hvp(self, program, x, v):
        return hvp(program, x, v)


if __name__ == "__main__":
    serve(ReferenceEngine())
