"""Tests of the adcheck_engine helper: programs, the operation table, the
protocol session (single calls, batches, errors). Standard library only:

    python3 -m unittest discover -s python/tests
"""

import io
import json
import math
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from adcheck_engine import (  # noqa: E402
    MATH_OPS,
    DispatchEngine,
    OPERATIONS,
    Engine,
    Program,
    ProgramError,
    Session,
    Unsupported,
    decode,
    encode,
    floats,
    serve,
    with_overrides,
)

# The seed example: f(x1, x2) = x1·x2 + sin x1.
SEED = {
    "inputs": 2,
    "body": [{"op": "mul", "args": [0, 1]}, {"op": "sin", "args": [0]}, {"op": "add", "args": [2, 3]}],
    "outputs": [4],
}


class Forward(Engine):
    """jvp by central differences of nothing: the seed example's closed form,
    enough to test the plumbing."""

    tool = "test-forward"

    def jvp(self, program, x, v):
        y = program.evaluate(x)
        if program.to_json() != SEED:
            raise Unsupported("only the seed example")
        return y, [(x[1] + math.cos(x[0])) * v[0] + x[0] * v[1]]


class Batched(Forward):
    batched_calls = 0

    def jvp_batch(self, program, xs, vs):
        Batched.batched_calls += 1
        return [self.jvp(program, x, v) for x, v in zip(xs, vs)]


class Broken(Forward):
    def jvp(self, program, x, v):
        if x[0] < 0:
            raise ZeroDivisionError("a planted error")
        return super().jvp(program, x, v)

    def jvp_batch(self, program, xs, vs):
        raise RuntimeError("the batched variant fails")


def message(id, kind, **fields):
    return dict(id=id, kind=kind, **fields)


class ProgramTests(unittest.TestCase):
    def test_the_seed_example_evaluates_over_floats(self):
        p = Program.from_json(SEED)
        self.assertEqual(p.evaluate([1.5, -2.0]), [1.5 * -2.0 + math.sin(1.5)])
        self.assertEqual(p.n_outputs, 1)
        self.assertEqual(Program.from_json(json.dumps(SEED)).key, p.key)

    def test_every_operation_has_a_default(self):
        self.assertEqual(set(MATH_OPS), set(OPERATIONS))

    def test_ieee_results_instead_of_exceptions(self):
        body = [{"op": op, "args": [0]} for op in ("ln", "recip", "exp", "sqrt")]
        p = Program.from_json({"inputs": 1, "body": body, "outputs": [1, 2, 3, 4]})
        self.assertEqual(p.evaluate([0.0]), [-math.inf, math.inf, 1.0, 0.0])
        got = p.evaluate([-1.0])
        self.assertTrue(math.isnan(got[0]) and math.isnan(got[3]))
        self.assertEqual(Program.from_json({"inputs": 1, "body": [{"op": "exp", "args": [0]}], "outputs": [1]}).evaluate([1000.0]), [math.inf])

    def test_overrides_replace_one_operation(self):
        table = with_overrides({"sin": lambda x: 0.0})
        self.assertEqual(Program.from_json(SEED).evaluate([1.5, -2.0], table), [-3.0])
        with self.assertRaises(KeyError):
            with_overrides({"sine": math.sin})

    def test_selects_powi_logsumexp_and_constants(self):
        p = Program.from_json(
            {
                "inputs": 2,
                "body": [
                    {"op": "iflt", "args": [0, 1, 0, 1]},
                    {"op": "powi", "args": [0], "exponent": -2},
                    {"op": "logsumexp", "args": [0, 1]},
                    {"op": "const", "value": 2.5},
                ],
                "outputs": [2, 3, 4, 5],
            }
        )
        got = p.evaluate([1.0, 2.0])
        self.assertEqual(got[:2], [1.0, 1.0])
        self.assertAlmostEqual(got[2], math.log(math.e + math.e**2), places=15)
        self.assertEqual(got[3], 2.5)

    def test_invalid_programs_name_their_problem(self):
        cases = [
            ({"inputs": 0, "body": [], "outputs": [0]}, "inputs"),
            ({"inputs": 1, "body": [{"op": "sine", "args": [0]}], "outputs": [1]}, "unknown operation"),
            ({"inputs": 1, "body": [{"op": "sin", "args": [1]}], "outputs": [1]}, "earlier values"),
            ({"inputs": 1, "body": [{"op": "add", "args": [0]}], "outputs": [1]}, "two arguments"),
            ({"inputs": 1, "body": [{"op": "sin", "args": [0], "valu": 1}], "outputs": [1]}, "unknown field"),
            ({"inputs": 1, "body": [], "outputs": [3]}, "outputs"),
            ({"inputs": 1, "body": [{"op": "powi", "args": [0]}], "outputs": [1]}, "exponent"),
            ({"inputs": 1, "body": [], "outputs": [0], "extra": 1}, "unknown program field"),
        ]
        for data, words in cases:
            with self.assertRaises(ProgramError) as e:
                Program.from_json(data)
            self.assertIn(words, str(e.exception), data)


class WireTests(unittest.TestCase):
    def test_numbers_round_trip_with_their_non_finite_names(self):
        xs = [1.5, math.inf, -math.inf, 0.0]
        self.assertEqual(encode(xs), [1.5, "inf", "-inf", 0.0])
        self.assertEqual(decode(encode(xs)), xs)
        self.assertEqual(encode([math.nan]), ["nan"])
        with self.assertRaises(ValueError):
            decode(["one"])
        with self.assertRaises(ValueError):
            decode([True])

    def test_floats_flattens_nested_results(self):
        self.assertEqual(floats([[1, 2], [3.5]]), [1.0, 2.0, 3.5])
        self.assertEqual(floats(2), [2.0])


class SessionTests(unittest.TestCase):
    def evaluate(self, engine, function, data, id=7):
        return Session(engine).respond(message(id, "evaluate", module="adcheck", function=function, input=data))

    def test_start_lists_the_functions_the_engine_defines(self):
        reply = Session(Forward()).respond(message(0, "start"))
        self.assertEqual(reply["tool"], "test-forward")
        self.assertEqual(reply["config"]["functions"], ["primal", "jvp"])
        self.assertEqual(reply["config"]["batch"], {"max_calls": 1024})

    def test_define_accepts_only_adcheck(self):
        s = Session(Forward())
        self.assertEqual(s.respond(message(1, "define", module="adcheck")), {"id": 1, "success": True})
        self.assertFalse(s.respond(message(2, "define", module="lse"))["success"])

    def test_a_jvp_answer(self):
        reply = self.evaluate(Forward(), "jvp", {"program": SEED, "x": [1.5, -2.0], "v": [1.0, 0.0]})
        self.assertTrue(reply["success"], reply)
        self.assertEqual(reply["id"], 7)
        self.assertEqual(reply["output"]["derivative"], [-2.0 + math.cos(1.5)])
        self.assertEqual(reply["timings"][0]["name"], "evaluate")

    def test_what_is_not_defined_is_unsupported(self):
        reply = self.evaluate(Forward(), "hvp", {"program": SEED, "x": [1.5, -2.0], "v": [1.0, 0.0]})
        self.assertFalse(reply["success"])
        self.assertTrue(reply["error"].startswith("unsupported"), reply)
        other = {"inputs": 1, "body": [], "outputs": [0]}
        reply = self.evaluate(Forward(), "jvp", {"program": other, "x": [1.0], "v": [1.0]})
        self.assertTrue(reply["error"].startswith("unsupported: only the seed example"), reply)

    def test_an_exception_is_an_answer_naming_it(self):
        reply = self.evaluate(Broken(), "jvp", {"program": SEED, "x": [-1.0, 0.0], "v": [1.0, 0.0]})
        self.assertFalse(reply["success"])
        self.assertIn("ZeroDivisionError: a planted error", reply["error"])
        reply = self.evaluate(Forward(), "jvp", {"program": SEED, "x": [1.0], "v": [1.0]})
        self.assertIn("takes 2 inputs", reply["error"])

    def test_a_batch_answers_each_call_in_order(self):
        Batched.batched_calls = 0
        calls = [
            {"function": "jvp", "program": 0, "x": [1.5, -2.0], "v": [1.0, 0.0]},
            {"function": "primal", "program": 0, "x": [1.5, -2.0]},
            {"function": "jvp", "program": 0, "x": [0.5, 1.0], "v": [0.0, 1.0]},
            {"function": "hvp", "program": 0, "x": [0.5, 1.0], "v": [0.0, 1.0]},
            {"function": "jvp", "program": 4, "x": [0.5, 1.0], "v": [0.0, 1.0]},
            {"function": "jvp", "program": 0, "x": [0.5, 1.0]},
        ]
        reply = self.evaluate(Batched(), "batch", {"programs": [SEED], "calls": calls})
        self.assertTrue(reply["success"], reply)
        results = reply["output"]["results"]
        self.assertEqual(len(results), len(calls))
        self.assertEqual(results[0]["derivative"], [-2.0 + math.cos(1.5)])
        self.assertEqual(results[1], {"success": True, "primal": [1.5 * -2.0 + math.sin(1.5)]})
        self.assertEqual(results[2]["derivative"], [0.5])
        self.assertTrue(results[3]["error"].startswith("unsupported"), results[3])
        self.assertIn("no program 4", results[4]["error"])
        self.assertIn("needs `v`", results[5]["error"])
        self.assertEqual(Batched.batched_calls, 1, "the two jvp points went in one batched call")

    def test_a_failing_batched_variant_is_answered_point_by_point(self):
        calls = [
            {"function": "jvp", "program": 0, "x": [1.5, -2.0], "v": [1.0, 0.0]},
            {"function": "jvp", "program": 0, "x": [-1.0, 0.0], "v": [1.0, 0.0]},
        ]
        results = self.evaluate(Broken(), "batch", {"programs": [SEED], "calls": calls})["output"]["results"]
        self.assertTrue(results[0]["success"])
        self.assertIn("a planted error", results[1]["error"])

    def test_serve_answers_bad_lines_and_goes_on(self):
        lines = [
            json.dumps(message(0, "start")),
            "not json",
            "[1]",
            json.dumps(message(1, "define", module="adcheck")),
            json.dumps(message(2, "evaluate", module="adcheck", function="jvp", input={"program": SEED, "x": [1.0, 1.0], "v": [1.0, 0.0]})),
        ]
        out = io.StringIO()
        serve(Forward(), io.StringIO("\n".join(lines) + "\n"), out)
        replies = [json.loads(line) for line in out.getvalue().splitlines()]
        self.assertEqual([r["id"] for r in replies], [0, None, None, 1, 2])
        self.assertFalse(replies[1]["success"])
        self.assertTrue(replies[4]["success"])

    def test_what_an_engine_prints_does_not_reach_the_protocol(self):
        script = (
            "import sys; sys.path.insert(0, %r)\n"
            "from adcheck_engine import Engine, serve\n"
            "class Loud(Engine):\n"
            "    def primal(self, program, x):\n"
            "        print('noise on stdout')\n"
            "        return program.evaluate(x)\n"
            "serve(Loud())\n"
        ) % os.path.join(HERE, "..")
        line = json.dumps(message(3, "evaluate", module="adcheck", function="primal", input={"program": SEED, "x": [1.0, 2.0]}))
        done = subprocess.run([sys.executable, "-c", script], input=line + "\n", capture_output=True, text=True, timeout=60)
        replies = done.stdout.splitlines()
        self.assertEqual(len(replies), 1, done.stdout)
        self.assertTrue(json.loads(replies[0])["success"])
        self.assertIn("noise on stdout", done.stderr)


class Through(DispatchEngine):
    """Every function through `one`, which knows only the primal and jvp."""

    tool = "test-dispatch"
    asked = []

    def one(self, function, program, x, seed=None):
        Through.asked.append(function)
        if function == "primal":
            return program.evaluate(x)
        if function == "jvp":
            return Forward().jvp(program, x, seed)
        raise Unsupported(f"unsupported function `{function}`")


class DispatchEngineTests(unittest.TestCase):
    def test_every_function_and_batch_goes_through_one_method(self):
        Through.asked = []
        s = Session(Through())
        self.assertEqual(s.respond(message(0, "start"))["config"]["functions"], list(s.engine.functions()))
        calls = [
            {"function": "jvp", "program": 0, "x": [1.5, -2.0], "v": [1.0, 0.0]},
            {"function": "jvp", "program": 0, "x": [0.5, 1.0], "v": [0.0, 1.0]},
            {"function": "hvp", "program": 0, "x": [0.5, 1.0], "v": [0.0, 1.0]},
        ]
        reply = s.respond(message(1, "evaluate", module="adcheck", function="batch", input={"programs": [SEED], "calls": calls}))
        results = reply["output"]["results"]
        self.assertEqual(results[0]["derivative"], [-2.0 + math.cos(1.5)])
        self.assertEqual(results[1]["derivative"], [0.5])
        self.assertTrue(results[2]["error"].startswith("unsupported"), results[2])
        self.assertEqual(Through.asked.count("jvp"), 2)


class ReferenceEngineTests(unittest.TestCase):
    """The stdlib reference engine in examples/, on the helper."""

    def test_the_seed_example_by_every_function(self):
        sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "python_engine"))
        import reference_engine

        s = Session(reference_engine.ReferenceEngine())
        x = [1.5, -2.0]
        want = [-2.0 + math.cos(1.5), 1.5]
        for function, seed in (("gradient", {}), ("vjp", {"u": [1.0]}), ("jacobian", {})):
            reply = s.respond(message(1, "evaluate", module="adcheck", function=function, input=dict(program=SEED, x=x, **seed)))
            self.assertEqual(reply["output"]["derivative"], want, function)
        hvp = s.respond(message(2, "evaluate", module="adcheck", function="hvp", input={"program": SEED, "x": x, "v": [1.0, 0.0]}))
        self.assertEqual(hvp["output"]["derivative"], [-math.sin(1.5), 1.0])


if __name__ == "__main__":
    unittest.main()
