//! The adcheck process protocol: JSON lines over standard input and output,
//! shaped like [GradBench](https://github.com/gradbench/gradbench)'s, so an
//! engine in any language can be checked, and any adcheck engine can be run
//! as a GradBench tool.
//!
//! # The protocol
//!
//! adcheck writes one JSON object per line to the engine's standard input;
//! the engine answers each with exactly one line on its standard output,
//! carrying the same integer `id`. The session ends when the engine's input
//! closes. Standard error is free for the engine's own logging (a crash
//! report quotes its last lines).
//!
//! | message | reply |
//! |---|---|
//! | `{"id", "kind": "start"}` | `{"id", "tool": NAME, "config"?: {"functions": [...]}}` |
//! | `{"id", "kind": "define", "module": "adcheck"}` | `{"id", "success": true}` or `{"id", "success": false, "error"}` |
//! | `{"id", "kind": "evaluate", "module": "adcheck", "function", "input"}` | `{"id", "success", "output"?, "error"?, "timings"?: [{"name": "evaluate", "nanoseconds"}]}` |
//! | any other `kind` | `{"id"}` |
//!
//! `config.functions` lists the functions the engine answers (default: all
//! six). The functions and their `input` and `output`:
//!
//! | function | input | output |
//! |---|---|---|
//! | `primal` | `program`, `x` | `{"primal"}` |
//! | `jvp` | `program`, `x`, `v` | `{"primal", "derivative": J·v}` |
//! | `vjp` | `program`, `x`, `u` | `{"primal", "derivative": uᵀJ}` |
//! | `gradient` | `program`, `x` | `{"primal", "derivative": ∇f}` |
//! | `jacobian` | `program`, `x` | `{"primal", "derivative": J row-major}` |
//! | `hvp` | `program`, `x`, `v` | `{"primal", "derivative": H·v}` |
//!
//! `program` is a program's JSON form (`{"inputs": n, "body": [{"op",
//! "args", "value"?, "exponent"?}], "outputs"}`, see
//! [`Program`](adcheck_engines::Program)). Numbers are JSON numbers, or the
//! strings `"inf"`, `"-inf"`, `"nan"` ([`wire`]). An engine that does not
//! implement a function replies `success: false` with an `error` starting
//! with `unsupported`.
//!
//! # What adcheck does when the engine misbehaves
//!
//! [`ProcessEngine`] waits at most a per-message timeout. A crash, a hang,
//! a line that is not a reply, or a reply with the wrong `id` becomes that
//! answer's verdict (`engine_crashed`, `engine_timeout`, `engine_garbage`,
//! `engine_wrong_id`), the process is replaced, and the run carries on.
//! Answers of the wrong length are judged `malformed answer` by the oracle.
//! Fields a reply has that this page does not name are ignored, at every
//! level (an engine may add its own); `success: false` is an error of that
//! answer. A program's JSON form is strict: an unknown field there is an
//! error, since it is most likely a misspelt one.
//!
//! The runner's conformance suites add a per-case bound on top
//! (`adcheck_suites::fault_guard`): after a timeout or a second fault in one
//! case, the rest of the case is not run.

pub mod client;
pub mod gradbench;
pub mod server;
pub mod wire;

pub use client::{split_command, ProcessEngine};
pub use server::{serve, Server};
