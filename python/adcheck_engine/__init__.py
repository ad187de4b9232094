"""Write an AD engine that adcheck can check, in a few lines of Python.

    from adcheck_engine import Engine, serve

    class MyEngine(Engine):
        tool = "my-engine"

        def jvp(self, program, x, v):
            ...  # evaluate `program` with your AD tool
            return outputs, j_dot_v

    serve(MyEngine())

Then `cargo xtask conformance --engine-cmd "python3 my_engine.py"`.
A `Program` evaluates itself over any number type through a table of
operations (`MATH_OPS` by default; `with_overrides` replaces entries), so
an engine usually maps adcheck's operations to its framework's functions
and lets the framework differentiate. Standard library only.
"""

from .ieee import MATH_OPS
from .program import BINARY, OPERATIONS, SELECTS, UNARY, Instr, Program, ProgramError, with_overrides
from .protocol import FUNCTIONS, DispatchEngine, Engine, Session, Unsupported, decode, encode, floats, serve

__all__ = [
    "BINARY",
    "DispatchEngine",
    "Engine",
    "FUNCTIONS",
    "Instr",
    "MATH_OPS",
    "OPERATIONS",
    "Program",
    "ProgramError",
    "SELECTS",
    "Session",
    "UNARY",
    "Unsupported",
    "decode",
    "encode",
    "floats",
    "serve",
    "with_overrides",
]
__version__ = "0.1.0"
