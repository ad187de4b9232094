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
//! | `{"id", "kind": "start"}` | `{"id", "tool": NAME, "config"?: {"functions": [...], "batch"?: {"max_calls"}}}` |
//! | `{"id", "kind": "define", "module": "adcheck"}` | `{"id", "success": true}` or `{"id", "success": false, "error"}` |
//! | `{"id", "kind": "evaluate", "module": "adcheck", "function", "input"}` | `{"id", "success", "output"?, "error"?, "timings"?: [{"name": "evaluate", "nanoseconds"}]}` |
//! | any other `kind` | `{"id"}` |
//!
//! `config.functions` lists the functions the engine answers (default: all
//! six). `adcheck serve` lists them only for a session that is not
//! GradBench's (a `start` without an `eval`, or `"eval": "adcheck"`). The
//! functions and their `input` and `output`:
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
//! # Batches
//!
//! An engine that can answer many calls in one go (a framework that
//! vectorises over points, or compiles once per program) says so in its
//! `start` reply: `"config": {"functions": [...], "batch": {"max_calls":
//! N}}`. The runner then sends the calls of several cases (16 by default,
//! `--batch-cases`) as one message of function `batch`:
//!
//! ```json
//! {"id": 7, "kind": "evaluate", "module": "adcheck", "function": "batch",
//!  "input": {"programs": [PROGRAM, ...],
//!            "calls": [{"function": "jvp", "program": 0, "x": [...], "v": [...]}, ...]}}
//! ```
//!
//! and reads one result per call, in order:
//! `{"id": 7, "success": true, "output": {"results": [{"success": true,
//! "primal": [...], "derivative": [...]}, {"success": false, "error": "..."},
//! ...]}}`. A result is exactly what the single call's reply would carry in
//! `success`, `output` and `error`. An engine that does not say `batch` is
//! never sent one. A batch waits one reply timeout per program in it; a
//! batch that fails as a whole (a crash, a timeout, a reply that is not a
//! list of results) is not any case's verdict: its cases are asked again one
//! call a message, and after two such batches the engine gets no more.
//!
//! # Timeouts
//!
//! Each handshake message (`start`, `define`) of a new process waits at
//! most the startup timeout (`--startup-timeout`, 60 s by default), so a
//! framework's import and first compilation are never a case's failure;
//! a process that does not start is a run-level error naming the message.
//! Every other reply waits at most the per-message timeout (`--timeout`).
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
//! (the suites' fault guard): after a timeout or a second fault in one
//! case, the rest of the case is not run.

pub mod client;
pub mod gradbench;
pub mod server;
pub mod wire;

pub use client::{split_command, ProcessEngine, ProcessOptions};
pub use server::{serve, Server, MAX_BATCH_CALLS};
