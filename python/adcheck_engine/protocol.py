"""The adcheck protocol: JSON lines on standard input and output.

An engine is a subclass of `Engine` that defines the functions it answers;
`serve(engine)` runs the session. Everything about the wire is here:
framing, ids, `start`/`define`, numbers (`"inf"`, `"-inf"`, `"nan"` for the
non-finite ones), batches, and errors, which become `success: false`
answers: an engine's exception never ends the session.
"""

import json
import math
import os
import sys
import time
import traceback

from .program import Program, ProgramError

#: The functions an engine may answer, in the protocol's order.
FUNCTIONS = ("primal", "jvp", "vjp", "gradient", "jacobian", "hvp")
#: The seed each function takes besides the point (`None`: no seed).
SEEDS = {"primal": None, "jvp": "v", "vjp": "u", "gradient": None, "jacobian": None, "hvp": "v"}
MODULE = "adcheck"

_SPECIAL = {"inf": math.inf, "+inf": math.inf, "Infinity": math.inf, "-inf": -math.inf,
            "-Infinity": -math.inf, "nan": math.nan, "NaN": math.nan}


class Unsupported(Exception):
    """Raised by an engine for what it does not answer (an operation, say);
    the reply's error starts with `unsupported`, which adcheck reads as
    "not offered", not as a failure."""


def decode(xs):
    """Wire numbers to floats."""
    out = []
    for x in xs:
        if isinstance(x, str):
            if x not in _SPECIAL:
                raise ValueError(f"`{x}` is not a number")
            out.append(_SPECIAL[x])
        elif isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ValueError(f"`{x!r}` is not a number")
        else:
            out.append(float(x))
    return out


def floats(values):
    """A flat list of floats from a number, a sequence, a nested sequence
    or an array of any framework that has `tolist()`, row-major."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, (list, tuple)):
        out = []
        for v in values:
            out.extend(floats(v))
        return out
    return [float(values)]


def encode(xs):
    """Floats to wire numbers."""
    return [x if math.isfinite(x) else ("nan" if x != x else ("inf" if x > 0 else "-inf")) for x in xs]


class Engine:
    """An AD engine answering adcheck's functions.

    Define any of these; what is not defined is reported unsupported
    (`primal` has a default: the program over floats):

    - `primal(program, x)` → outputs
    - `jvp(program, x, v)` → (outputs, J·v)
    - `vjp(program, x, u)` → (outputs, uᵀJ)
    - `gradient(program, x)` → (output, ∇f)   (scalar programs)
    - `jacobian(program, x)` → (outputs, J)   (m × n, row-major or nested)
    - `hvp(program, x, v)` → (output, H·v)    (scalar programs)

    `program` is a `Program`, `x` and the seeds lists of floats; results
    may be floats, lists or framework arrays. A batched variant
    `<function>_batch(program, xs, seeds)` (`seeds` is `None` for functions
    without one) answers many points of one program at once and returns one
    result per point; when defined it is used for batches, and a batch it
    fails on is answered point by point, so each point gets its own error.
    """

    #: The tool name in the `start` reply.
    tool = "python-engine"
    #: The most calls one batched `evaluate` may carry; 0 turns batches off.
    batch_max_calls = 1024

    def primal(self, program, x):
        return program.evaluate(x)

    def functions(self):
        """The functions this engine answers: the ones its class defines."""
        return [f for f in FUNCTIONS if callable(getattr(self, f, None))]

    def config(self):
        """The `config` of the `start` reply."""
        config = {"functions": self.functions()}
        if self.batch_max_calls > 0:
            config["batch"] = {"max_calls": self.batch_max_calls}
        return config


class DispatchEngine(Engine):
    """An engine that answers every function through one method:
    `one(function, program, x, seed)` (`seed` is `None` for `primal`,
    `gradient` and `jacobian`), and batches through `many(function,
    program, xs, seeds)`, by default one point at a time. For frameworks
    where each function is a transform of the same program function."""

    def one(self, function, program, x, seed=None):
        raise NotImplementedError(f"unsupported function `{function}`")

    def many(self, function, program, xs, seeds):
        seeds = [None] * len(xs) if seeds is None else seeds
        return [self.one(function, program, x, s) for x, s in zip(xs, seeds)]

    def primal(self, program, x):
        return self.one("primal", program, x)

    def jvp(self, program, x, v):
        return self.one("jvp", program, x, v)

    def vjp(self, program, x, u):
        return self.one("vjp", program, x, u)

    def gradient(self, program, x):
        return self.one("gradient", program, x)

    def jacobian(self, program, x):
        return self.one("jacobian", program, x)

    def hvp(self, program, x, v):
        return self.one("hvp", program, x, v)

    def primal_batch(self, program, xs, seeds):
        return self.many("primal", program, xs, None)

    def jvp_batch(self, program, xs, seeds):
        return self.many("jvp", program, xs, seeds)

    def vjp_batch(self, program, xs, seeds):
        return self.many("vjp", program, xs, seeds)

    def gradient_batch(self, program, xs, seeds):
        return self.many("gradient", program, xs, None)

    def jacobian_batch(self, program, xs, seeds):
        return self.many("jacobian", program, xs, None)

    def hvp_batch(self, program, xs, seeds):
        return self.many("hvp", program, xs, seeds)


def _error_text(e):
    if isinstance(e, (Unsupported, NotImplementedError)):
        text = str(e) or type(e).__name__
        return text if text.startswith("unsupported") else f"unsupported: {text}"
    where = traceback.extract_tb(e.__traceback__)
    place = f" ({os.path.basename(where[-1].filename)}:{where[-1].lineno})" if where else ""
    return f"{type(e).__name__}: {e}{place}"


def _output(function, result):
    if function == "primal":
        return {"primal": encode(floats(result))}
    primal, derivative = result
    return {"primal": encode(floats(primal)), "derivative": encode(floats(derivative))}


class Session:
    """One protocol session of `engine`: turns messages into replies."""

    def __init__(self, engine):
        self.engine = engine
        self.offered = set(engine.functions())
        self._programs = {}

    def program(self, data):
        """The parsed program of a JSON form, cached by its text."""
        key = json.dumps(data, sort_keys=True)
        program = self._programs.get(key)
        if program is None:
            program = Program.from_json(data)
            program.key = key
            if len(self._programs) > 4096:
                self._programs.clear()
            self._programs[key] = program
        return program

    def _call(self, function, program, x, seed):
        if function not in self.offered:
            raise Unsupported(f"unsupported function `{function}`")
        if len(x) != program.inputs:
            raise ValueError(f"the program takes {program.inputs} inputs, the point has {len(x)}")
        method = getattr(self.engine, function)
        return method(program, x) if seed is None else method(program, x, seed)

    def single(self, function, data):
        """The `output` of one call (raises on errors)."""
        if function not in FUNCTIONS:
            raise Unsupported(f"unsupported function `{function}`")
        program = self.program(data["program"])
        x = decode(data["x"])
        seed_name = SEEDS[function]
        seed = decode(data[seed_name]) if seed_name else None
        return _output(function, self._call(function, program, x, seed))

    def batch(self, data):
        """The `output` of a batch: one result per call, in order."""
        programs = []
        for p in data["programs"]:
            try:
                programs.append(self.program(p))
            except (ProgramError, ValueError) as e:
                programs.append(e)
        calls = data["calls"]
        results = [None] * len(calls)
        groups = {}
        for k, call in enumerate(calls):
            try:
                function = call["function"]
                if function not in FUNCTIONS:
                    raise Unsupported(f"unsupported function `{function}`")
                index = call.get("program")
                if not isinstance(index, int) or not 0 <= index < len(programs):
                    raise ValueError(f"call {k}: no program {index!r} in this batch")
                program = programs[index]
                if isinstance(program, Exception):
                    raise program
                x = decode(call["x"])
                seed_name = SEEDS[function]
                if seed_name and seed_name not in call:
                    raise ValueError(f"call {k}: `{function}` needs `{seed_name}`")
                seed = decode(call[seed_name]) if seed_name else None
                groups.setdefault((call["program"], function), []).append((k, x, seed))
            except Exception as e:  # noqa: BLE001 - every error is an answer
                results[k] = {"success": False, "error": _error_text(e)}
        for (p, function), items in groups.items():
            program = programs[p]
            answers = None
            batched = getattr(self.engine, function + "_batch", None)
            if callable(batched) and function in self.offered and len(items) > 1:
                try:
                    xs = [x for _, x, _ in items]
                    seeds = None if SEEDS[function] is None else [s for _, _, s in items]
                    answers = [_output(function, r) for r in batched(program, xs, seeds)]
                    if len(answers) != len(items):
                        answers = None
                except Exception:  # noqa: BLE001 - answered point by point below
                    answers = None
            for j, (k, x, seed) in enumerate(items):
                if answers is not None:
                    results[k] = {"success": True, **answers[j]}
                    continue
                try:
                    results[k] = {"success": True, **_output(function, self._call(function, program, x, seed))}
                except Exception as e:  # noqa: BLE001 - every error is an answer
                    results[k] = {"success": False, "error": _error_text(e)}
        return {"results": results}

    def respond(self, message):
        """The reply to one message (a dict)."""
        reply = {"id": message.get("id")}
        kind = message.get("kind")
        if kind == "start":
            reply["tool"] = self.engine.tool
            reply["config"] = self.engine.config()
        elif kind == "define":
            ok = message.get("module") == MODULE
            reply["success"] = ok
            if not ok:
                reply["error"] = f"unknown module `{message.get('module')}`"
        elif kind == "evaluate":
            start = time.perf_counter_ns()
            try:
                function = message.get("function")
                if message.get("module") != MODULE:
                    raise ValueError(f"unknown module `{message.get('module')}`")
                if function == "batch":
                    output = self.batch(message["input"])
                else:
                    output = self.single(function, message["input"])
                elapsed = time.perf_counter_ns() - start
                reply["success"] = True
                reply["output"] = output
                reply["timings"] = [{"name": "evaluate", "nanoseconds": elapsed}]
            except Exception as e:  # noqa: BLE001 - an answer, never a crash
                reply["success"] = False
                reply["error"] = _error_text(e)
        return reply


def serve(engine, stdin=None, stdout=None):
    """Runs a session of `engine` until its input ends.

    By default the replies go to the process's real standard output, and
    file descriptor 1 is pointed at standard error for the rest of the
    process, so whatever the engine or a library it loads prints (Python or
    C) cannot break the protocol.
    """
    if stdin is None:
        stdin = sys.stdin
    if stdout is None:
        stdout = os.fdopen(os.dup(1), "w", encoding="utf-8")
        sys.stdout.flush()
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    session = Session(engine)
    for line in stdin:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError("a message is a JSON object")
        except ValueError as e:
            reply = {"id": None, "success": False, "error": f"not a message: {e}"}
        else:
            reply = session.respond(message)
        stdout.write(json.dumps(reply, allow_nan=False) + "\n")
        stdout.flush()
