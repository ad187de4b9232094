"""IEEE-754 results for Python floats, and the default operation table.

Python's `math` raises on `1/0`, `log(0)`, `exp(1000)` and friends where
IEEE arithmetic (and so every AD framework) gives an infinity or NaN; the
functions here give the IEEE result instead, so a program evaluated over
floats agrees with one evaluated by adcheck's own engines.

`MATH_OPS` maps every adcheck operation to such a function; it is the
table `Program.evaluate` uses unless given another.
"""

import math

INF = math.inf
NAN = math.nan


def div(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)


def exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def expm1(x):
    try:
        return math.expm1(x)
    except OverflowError:
        return INF


def ln(x):
    if x != x or x < 0.0:
        return NAN
    if x == 0.0:
        return -INF
    return math.log(x)


def log1p(x):
    if x != x or x < -1.0:
        return NAN
    if x == -1.0:
        return -INF
    return math.log1p(x)


def sqrt(x):
    return NAN if x < 0.0 else math.sqrt(x)


def cbrt(x):
    if hasattr(math, "cbrt"):  # Python 3.11 and later
        return math.cbrt(x)
    if x == 0.0 or x != x or math.isinf(x):
        return x
    y = math.copysign(abs(x) ** (1.0 / 3.0), x)
    return y - (y * y * y - x) / (3.0 * y * y)


def _periodic(f):
    def g(x):
        return NAN if math.isinf(x) or x != x else f(x)

    g.__name__ = f.__name__
    return g


sin, cos, tan = _periodic(math.sin), _periodic(math.cos), _periodic(math.tan)


def asin(x):
    return NAN if x != x or abs(x) > 1.0 else math.asin(x)


def acos(x):
    return NAN if x != x or abs(x) > 1.0 else math.acos(x)


def sinh(x):
    try:
        return math.sinh(x)
    except OverflowError:
        return math.copysign(INF, x)


def cosh(x):
    try:
        return math.cosh(x)
    except OverflowError:
        return INF


def odd_integer(b):
    return math.isfinite(b) and float(b).is_integer() and int(b) % 2 == 1


def pow(a, b):  # noqa: A001 - the operation's own name
    try:
        return math.pow(a, b)
    except OverflowError:
        return -INF if a < 0.0 and odd_integer(b) else INF
    except ValueError:
        if a == 0.0 and b < 0.0:
            return math.copysign(INF, a) if odd_integer(b) else INF
        return NAN


def maximum(a, b):
    if a != a or b != b:
        return NAN
    return a if a >= b else b


def minimum(a, b):
    if a != a or b != b:
        return NAN
    return a if a <= b else b


def relu(x):
    return NAN if x != x else (x if x > 0.0 else 0.0)


def softplus(x):
    return maximum(x, 0.0) + log1p(exp(-abs(x)))


def logsumexp(xs):
    if any(x != x for x in xs):
        return NAN
    m = max(xs)
    if math.isinf(m):
        return m
    total = 0.0
    for x in xs:  # in order, as adcheck's engines sum
        total += exp(x - m)
    return m + ln(total)


def powi(x, n):
    return pow(x, float(n))


MATH_OPS = {
    # The arguments each entry takes: const(value), unary(x), binary(a, b),
    # powi(x, n), logsumexp(list), iflt/ifle(a, b, then, otherwise).
    "const": float,
    "neg": lambda x: -x,
    "recip": lambda x: div(1.0, x),
    "sqrt": sqrt,
    "cbrt": cbrt,
    "exp": exp,
    "expm1": expm1,
    "ln": ln,
    "log1p": log1p,
    "sin": sin,
    "cos": cos,
    "tan": tan,
    "asin": asin,
    "acos": acos,
    "atan": math.atan,
    "sinh": sinh,
    "cosh": cosh,
    "tanh": math.tanh,
    "abs": abs,
    "relu": relu,
    "softplus": softplus,
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": div,
    "powf": pow,
    "atan2": math.atan2,
    "min": minimum,
    "max": maximum,
    "hypot": math.hypot,
    "powi": powi,
    "logsumexp": logsumexp,
    "iflt": lambda a, b, then, otherwise: then if a < b else otherwise,
    "ifle": lambda a, b, then, otherwise: then if a <= b else otherwise,
}
