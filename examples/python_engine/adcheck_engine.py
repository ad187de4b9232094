#!/usr/bin/env python3
"""A reference AD engine in Python, standard library only, speaking adcheck's
JSON-lines protocol (the protocol is documented in protocol/src/lib.rs).

- forward mode: dual numbers (`Dual`), nestable, so `hvp` is forward over
  forward (n passes of duals of duals);
- reverse mode: a small tape of local partials, swept backwards.

The derivative at kinks and domain edges follows adcheck's declared
conventions (engines/src/conventions.rs, PyTorch's and JAX's choices), and
so does the rule that an exactly zero tangent or adjoint contributes zero
even through an infinite partial.

Check it with

    cargo xtask conformance --engine-cmd "python3 examples/python_engine/adcheck_engine.py"

Python raises on 1/0, log(0), exp(1000) and friends where IEEE arithmetic
gives infinities or NaN; the `f_*` functions below restore IEEE results.
"""

import json
import math
import sys
import time
import traceback

INF = math.inf
NAN = math.nan

# ---------------------------------------------------------------------------
# IEEE arithmetic on floats.


def f_div(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)


def f_exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def f_expm1(x):
    try:
        return math.expm1(x)
    except OverflowError:
        return INF


def f_ln(x):
    if x != x or x < 0.0:
        return NAN
    if x == 0.0:
        return -INF
    return math.log(x)


def f_log1p(x):
    if x != x or x < -1.0:
        return NAN
    if x == -1.0:
        return -INF
    return math.log1p(x)


def f_sqrt(x):
    return NAN if x < 0.0 else math.sqrt(x)


def f_cbrt(x):
    if hasattr(math, "cbrt"):
        return math.cbrt(x)
    if x == 0.0 or x != x or math.isinf(x):
        return x
    y = math.copysign(abs(x) ** (1.0 / 3.0), x)
    return y - (y * y * y - x) / (3.0 * y * y)


def periodic(f):
    def g(x):
        return NAN if math.isinf(x) or x != x else f(x)

    return g


f_sin, f_cos, f_tan = periodic(math.sin), periodic(math.cos), periodic(math.tan)


def f_asin(x):
    return NAN if x != x or abs(x) > 1.0 else math.asin(x)


def f_acos(x):
    return NAN if x != x or abs(x) > 1.0 else math.acos(x)


def f_sinh(x):
    try:
        return math.sinh(x)
    except OverflowError:
        return math.copysign(INF, x)


def f_cosh(x):
    try:
        return math.cosh(x)
    except OverflowError:
        return INF


def odd_integer(b):
    return math.isfinite(b) and float(b).is_integer() and int(b) % 2 == 1


def f_pow(a, b):
    try:
        return math.pow(a, b)
    except OverflowError:
        return -INF if a < 0.0 and odd_integer(b) else INF
    except ValueError:
        if a == 0.0 and b < 0.0:
            return math.copysign(INF, a) if odd_integer(b) else INF
        return NAN


def f_softplus(x):
    return max_f(x, 0.0) + f_log1p(f_exp(-abs(x)))


def max_f(a, b):
    if a != a or b != b:
        return NAN
    if a == b:
        return a + (b - a) * 0.5
    return a if a > b else b


def f_logsumexp(xs):
    if any(x != x for x in xs):
        return NAN
    m = max(xs)
    if math.isinf(m):
        return m
    return m + f_ln(sum_in_order(f_exp(x - m) for x in xs))


def sum_in_order(values):
    total = 0.0
    for v in values:
        total += v
    return total


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

FLOAT_UNARY = {
    "neg": lambda x: -x,
    "recip": lambda x: f_div(1.0, x),
    "sqrt": f_sqrt,
    "cbrt": f_cbrt,
    "exp": f_exp,
    "expm1": f_expm1,
    "ln": f_ln,
    "log1p": f_log1p,
    "sin": f_sin,
    "cos": f_cos,
    "tan": f_tan,
    "asin": f_asin,
    "acos": f_acos,
    "atan": math.atan,
    "sinh": f_sinh,
    "cosh": f_cosh,
    "tanh": math.tanh,
    "abs": abs,
    "relu": lambda x: NAN if x != x else (x if x > 0.0 else 0.0),
    "softplus": f_softplus,
}


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

UNARY_OPS = set(FLOAT_UNARY)
BINARY_OPS = {"add", "sub", "mul", "div", "powf", "atan2", "min", "max", "hypot"}
SELECT_OPS = {"iflt": (-1,), "ifle": (-1, 0)}


def evaluate(program, inputs):
    """Evaluates a program (JSON form) over floats or Duals."""
    values = list(inputs)
    for k, instr in enumerate(program["body"]):
        op, args = instr["op"], instr.get("args", [])
        a = [values[i] for i in args]
        if op == "const":
            values.append(float(instr["value"]))
        elif op in UNARY_OPS:
            values.append(unary(op, a[0]))
        elif op == "powi":
            values.append(powi(a[0], int(instr["exponent"])))
        elif op in BINARY_OPS:
            values.append(binary(op, a[0], a[1]))
        elif op == "logsumexp":
            values.append(logsumexp(a))
        elif op in SELECT_OPS:
            values.append(a[2] if compare(a[0], a[1]) in SELECT_OPS[op] else a[3])
        else:
            raise ValueError(f"body entry {k}: unknown operation `{op}`")
    return [values[i] for i in program["outputs"]]


def tape_vjp(program, x, u):
    """Reverse mode: record each value's local partials, sweep backwards."""
    values = list(x)
    parents = [()] * len(x)
    for instr in program["body"]:
        op, args = instr["op"], instr.get("args", [])
        a = [values[i] for i in args]
        if op == "const":
            value, partials = float(instr["value"]), ()
        elif op in UNARY_OPS:
            value, d = unary_with_partial(op, a[0])
            partials = (d,)
        elif op == "powi":
            value, d = powi_with_partial(a[0], int(instr["exponent"]))
            partials = (d,)
        elif op in BINARY_OPS:
            value, da, db = binary_with_partials(op, a[0], a[1])
            partials = (da, db)
        elif op == "logsumexp":
            value, partials = logsumexp_with_partials(a)
        elif op in SELECT_OPS:
            taken = compare(a[0], a[1]) in SELECT_OPS[op]
            value = a[2] if taken else a[3]
            partials = (0.0, 0.0, 1.0 if taken else 0.0, 0.0 if taken else 1.0)
        else:
            raise ValueError(f"unknown operation `{op}`")
        values.append(value)
        parents.append(tuple(zip(args, partials)))
    adjoint = [0.0] * len(values)
    for i, w in zip(program["outputs"], u):
        adjoint[i] += w
    for node in range(len(values) - 1, -1, -1):
        a = adjoint[node]
        if a == 0.0:
            continue
        for parent, partial in parents[node]:
            adjoint[parent] += chain(partial, a)
    return [values[i] for i in program["outputs"]], adjoint[: len(x)]


def jvp(program, x, v):
    out = evaluate(program, [Dual(xi, vi) for xi, vi in zip(x, v)])
    return [primal(y) for y in out], [lift(y).d for y in out]


def hvp(program, x, v):
    n = len(x)
    hv, f = [], None
    for i in range(n):
        inputs = [Dual(Dual(x[j], v[j]), Dual(1.0 if i == j else 0.0, 0.0)) for j in range(n)]
        y = lift(evaluate(program, inputs)[0])
        f = primal(y)
        # y = (f + ∇f·v ε₂) + (∂ᵢf + eᵢᵀHv ε₂) ε₁
        hv.append(y.d.d if isinstance(y.d, Dual) else 0.0)
    return [f], hv


def jacobian(program, x):
    n, m = len(x), len(program["outputs"])
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


# ---------------------------------------------------------------------------
# The protocol.

FUNCTIONS = ["primal", "jvp", "vjp", "gradient", "jacobian", "hvp"]


def decode(xs):
    special = {"inf": INF, "-inf": -INF, "nan": NAN}
    return [special[x] if isinstance(x, str) else float(x) for x in xs]


def encode(xs):
    return [("nan" if x != x else ("inf" if x > 0 else "-inf")) if math.isinf(x) or x != x else x for x in xs]


def call(function, data):
    program, x = data["program"], decode(data["x"])
    if len(x) != program["inputs"]:
        raise ValueError(f"the program takes {program['inputs']} inputs, the point has {len(x)}")
    if function == "primal":
        return {"primal": encode([primal(y) for y in evaluate(program, x)])}
    if function == "jvp":
        f, d = jvp(program, x, decode(data["v"]))
    elif function == "vjp":
        f, d = tape_vjp(program, x, decode(data["u"]))
    elif function == "gradient":
        f, d = tape_vjp(program, x, [1.0])
    elif function == "jacobian":
        f, d = jacobian(program, x)
    elif function == "hvp":
        f, d = hvp(program, x, decode(data["v"]))
    else:
        raise ValueError(f"unknown function `{function}`")
    return {"primal": encode(f), "derivative": encode([float(t) for t in d])}


def respond(message):
    reply = {"id": message.get("id")}
    kind = message.get("kind")
    if kind == "start":
        reply["tool"] = "python-reference"
        reply["config"] = {"functions": FUNCTIONS}
    elif kind == "define":
        ok = message.get("module") == "adcheck"
        reply["success"] = ok
        if not ok:
            reply["error"] = f"unknown module `{message.get('module')}`"
    elif kind == "evaluate":
        start = time.perf_counter_ns()
        try:
            reply["output"] = call(message["function"], message["input"])
            reply["success"] = True
            reply["timings"] = [{"name": "evaluate", "nanoseconds": time.perf_counter_ns() - start}]
        except Exception as e:  # an answer, never a crash
            reply["success"] = False
            reply["error"] = f"{type(e).__name__}: {e} ({traceback.extract_tb(e.__traceback__)[-1].lineno})"
    return reply


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = respond(json.loads(line))
        sys.stdout.write(json.dumps(reply, allow_nan=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
