"""Programs: adcheck's Wengert lists, parsed from their JSON form.

A program has `inputs` values numbered from 0, then one value per body
entry, and names some of them as `outputs`. `Program.evaluate` runs it over
any number type through a table of operations, so the same program can be
evaluated over floats, dual numbers, JAX tracers or PyTorch tensors.
"""

import json

from .ieee import MATH_OPS

#: Operations of one argument.
UNARY = frozenset(
    "neg recip sqrt cbrt exp expm1 ln log1p sin cos tan asin acos atan "
    "sinh cosh tanh abs relu softplus".split()
)
#: Operations of two arguments.
BINARY = frozenset("add sub mul div powf atan2 min max hypot".split())
#: Branches `iflt a b c d` (`c` when `a < b`, else `d`) and `ifle`.
SELECTS = frozenset(("iflt", "ifle"))
#: Every operation a program's body may use.
OPERATIONS = UNARY | BINARY | SELECTS | {"const", "powi", "logsumexp"}


class ProgramError(ValueError):
    """A program's JSON form that is not a valid program."""


class Instr:
    """One body entry: `op` applied to the values `args`; a constant has a
    `value`, an integer power an `exponent`."""

    __slots__ = ("op", "args", "value", "exponent")

    def __init__(self, op, args=(), value=None, exponent=None):
        self.op = op
        self.args = tuple(args)
        self.value = value
        self.exponent = exponent

    def __repr__(self):
        extra = f" {self.value!r}" if self.op == "const" else ""
        extra += f" {self.exponent}" if self.op == "powi" else ""
        return f"<{self.op}{extra} {list(self.args)}>"


_FIELDS = {"op", "args", "value", "exponent"}


def _arity_error(op, args):
    if op in UNARY or op == "powi":
        return None if len(args) == 1 else "one argument"
    if op in BINARY:
        return None if len(args) == 2 else "two arguments"
    if op in SELECTS:
        return None if len(args) == 4 else "four arguments"
    if op == "logsumexp":
        return None if len(args) >= 1 else "at least one argument"
    return None if not args else "no arguments"


class Program:
    """A parsed, validated program.

    `inputs` (an int), `body` (a list of `Instr`), `outputs` (value
    indices); `key` is a canonical string of the program, for caches.
    """

    __slots__ = ("inputs", "body", "outputs", "key")

    def __init__(self, inputs, body, outputs, key=None):
        self.inputs = inputs
        self.body = body
        self.outputs = list(outputs)
        self.key = key if key is not None else json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, data):
        """Parses and validates a program's JSON form (a dict, or a string
        of JSON). Raises `ProgramError` naming the first problem."""
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, dict):
            raise ProgramError("a program is a JSON object")
        unknown = set(data) - {"inputs", "body", "outputs"}
        if unknown:
            raise ProgramError(f"unknown program field `{sorted(unknown)[0]}`")
        inputs = data.get("inputs")
        if not isinstance(inputs, int) or isinstance(inputs, bool) or inputs < 1:
            raise ProgramError("`inputs` must be a positive integer")
        body = []
        for k, entry in enumerate(data.get("body", [])):
            if not isinstance(entry, dict):
                raise ProgramError(f"body entry {k} is not an object")
            unknown = set(entry) - _FIELDS
            if unknown:
                raise ProgramError(f"body entry {k}: unknown field `{sorted(unknown)[0]}`")
            op = entry.get("op")
            if op not in OPERATIONS:
                raise ProgramError(f"body entry {k}: unknown operation `{op}`")
            args = entry.get("args", [])
            defined = inputs + k
            if not isinstance(args, list) or not all(
                isinstance(a, int) and not isinstance(a, bool) and 0 <= a < defined for a in args
            ):
                raise ProgramError(
                    f"body entry {k}: `args` must be indices of earlier values (0..{defined - 1})"
                )
            wrong = _arity_error(op, args)
            if wrong:
                raise ProgramError(f"body entry {k}: `{op}` takes {wrong}")
            value = exponent = None
            if op == "const":
                value = entry.get("value")
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise ProgramError(f"body entry {k}: `const` needs a numeric `value`")
                value = float(value)
            if op == "powi":
                exponent = entry.get("exponent")
                if not isinstance(exponent, int) or isinstance(exponent, bool):
                    raise ProgramError(f"body entry {k}: `powi` needs an integer `exponent`")
            body.append(Instr(op, args, value, exponent))
        outputs = data.get("outputs")
        count = inputs + len(body)
        if (
            not isinstance(outputs, list)
            or not outputs
            or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count for i in outputs)
        ):
            raise ProgramError(f"`outputs` must be one or more value indices (0..{count - 1})")
        return cls(inputs, body, outputs)

    def to_json(self):
        """The program's JSON form, as a dict."""
        body = []
        for instr in self.body:
            entry = {"op": instr.op}
            if instr.args:
                entry["args"] = list(instr.args)
            if instr.op == "const":
                entry["value"] = instr.value
            if instr.op == "powi":
                entry["exponent"] = instr.exponent
            body.append(entry)
        return {"inputs": self.inputs, "body": body, "outputs": self.outputs}

    @property
    def n_outputs(self):
        return len(self.outputs)

    def evaluate(self, inputs, ops=None):
        """The program's outputs at `inputs`, a sequence of `inputs` numbers
        of any type; every operation is looked up in `ops` (default
        `MATH_OPS`), called as `const(value)`, `unary(x)`, `binary(a, b)`,
        `powi(x, n)`, `logsumexp([...])` and `iflt(a, b, then, otherwise)`.
        """
        ops = MATH_OPS if ops is None else ops
        values = list(inputs)
        if len(values) != self.inputs:
            raise ValueError(f"the program takes {self.inputs} inputs, got {len(values)}")
        for instr in self.body:
            op = instr.op
            if op == "const":
                values.append(ops["const"](instr.value))
            elif op == "powi":
                values.append(ops["powi"](values[instr.args[0]], instr.exponent))
            elif op == "logsumexp":
                values.append(ops["logsumexp"]([values[i] for i in instr.args]))
            else:
                values.append(ops[op](*(values[i] for i in instr.args)))
        return [values[i] for i in self.outputs]

    def ops_used(self):
        """The set of operations the body uses."""
        return {instr.op for instr in self.body}


def with_overrides(overrides, base=None):
    """A table of operations: `base` (default `MATH_OPS`) with some entries
    replaced. Raises `KeyError` for a name that is not an operation."""
    unknown = set(overrides) - set(OPERATIONS)
    if unknown:
        raise KeyError(f"not an adcheck operation: {sorted(unknown)}")
    table = dict(MATH_OPS if base is None else base)
    table.update(overrides)
    return table
