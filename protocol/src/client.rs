//! [`ProcessEngine`]: an engine in another process, spoken to over the
//! protocol, behind the ordinary [`Engine`] trait.
//!
//! Every message waits at most the per-message timeout. A process that
//! crashes, hangs, prints something that is not a reply or answers with
//! another message's id is killed and the call returns
//! [`EngineError::Process`] naming the fault; the next call starts a fresh
//! process, so one fault costs one answer and nothing else. Calls from
//! several threads each take a process of their own from a pool.

use crate::server::MAX_BATCH_CALLS;
use crate::wire::{decode, encode, normalize_literals, EvaluateInput, EvaluateOutput, MODULE};
use adcheck_engines::{
    Call, Capabilities, Derivative, Engine, EngineError, ProcessFault, Program, Request,
};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many lines of the process's standard error a crash report quotes.
const STDERR_TAIL: usize = 8;

/// Splits a command line into words: whitespace separates, single and
/// double quotes group, a backslash escapes the next character.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                let next = chars.next().ok_or("a trailing backslash")?;
                word.get_or_insert_with(String::new).push(next);
            }
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(q) = quote {
        return Err(format!("an unclosed {q} quote"));
    }
    words.extend(word);
    if words.is_empty() {
        return Err("an empty command".into());
    }
    Ok(words)
}

/// One running engine process.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// Set when the process's stderr has been read to its end.
    stderr_closed: Arc<std::sync::atomic::AtomicBool>,
}

/// The longest reply line kept whole; a longer one is cut to this.
const MAX_REPLY_BYTES: usize = 64 << 20;

/// The longest stderr line kept for a crash report; a longer one is cut.
pub const MAX_STDERR_LINE_BYTES: usize = 240;

/// The next line of `reader` without its newline, keeping at most `cap`
/// bytes of it (the rest is read and dropped, marked by `…`); `None` at the
/// end of input or on a read error. Invalid UTF-8 is replaced.
fn read_capped_line(reader: &mut impl BufRead, cap: usize) -> Option<String> {
    let mut kept: Vec<u8> = Vec::new();
    let mut cut = false;
    let mut seen = false;
    loop {
        let buffer = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        if buffer.is_empty() {
            return seen.then(|| finish_line(kept, cut));
        }
        seen = true;
        let (chunk, done) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (&buffer[..at], Some(at + 1)),
            None => (buffer, None),
        };
        let room = cap.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        cut |= chunk.len() > room;
        let used = done.unwrap_or(buffer.len());
        reader.consume(used);
        if done.is_some() {
            return Some(finish_line(kept, cut));
        }
    }
}

fn finish_line(mut kept: Vec<u8>, cut: bool) -> String {
    if kept.last() == Some(&b'\r') {
        kept.pop();
    }
    let mut line = String::from_utf8_lossy(&kept).into_owned();
    if cut {
        line.push('…');
    }
    line
}

impl Session {
    fn spawn(command: &[String]) -> Result<Session, EngineError> {
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| EngineError::Process {
                fault: ProcessFault::Unavailable,
                detail: format!("cannot start `{}`: {e}", command.join(" ")),
            })?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (send, replies) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            // A reply longer than the cap arrives cut short, so it reads as
            // garbage instead of filling memory.
            while let Some(line) = read_capped_line(&mut reader, MAX_REPLY_BYTES) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let writer = Arc::clone(&tail);
        let stderr_closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let closed = Arc::clone(&stderr_closed);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            while let Some(line) = read_capped_line(&mut reader, MAX_STDERR_LINE_BYTES) {
                let mut tail = writer.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            closed.store(true, Ordering::Release);
        });
        Ok(Session {
            stdin: child.stdin.take(),
            child,
            replies,
            stderr: tail,
            stderr_closed,
        })
    }

    /// Why the process is gone: its exit status and the end of its stderr.
    fn obituary(&mut self) -> String {
        // The reader threads may still be draining; give them a moment.
        let status = (0..50)
            .find_map(|_| match self.child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                _ => {
                    std::thread::sleep(Duration::from_millis(10));
                    None
                }
            })
            .unwrap_or_else(|| "still running, output closed".into());
        // The last lines a crashing process wrote may still be in the pipe:
        // let the reader reach the end (briefly) before quoting them.
        for _ in 0..50 {
            if self.stderr_closed.load(Ordering::Acquire) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let tail = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if tail.is_empty() {
            status
        } else {
            format!(
                "{status}; stderr ends: {}",
                tail.iter().cloned().collect::<Vec<_>>().join(" | ")
            )
        }
    }

    /// Sends `message` (an object without `id`) as message `id` and waits
    /// for its reply.
    fn request(
        &mut self,
        id: u64,
        mut message: Value,
        timeout: Duration,
    ) -> Result<Value, EngineError> {
        message["id"] = json!(id);
        let kind = message["kind"].as_str().unwrap_or("?").to_string();
        let fault = |fault, detail: String| EngineError::Process { fault, detail };
        let written = self
            .stdin
            .as_mut()
            .map(|stdin| writeln!(stdin, "{message}").and_then(|()| stdin.flush()));
        if !matches!(written, Some(Ok(()))) {
            let why = self.obituary();
            return Err(fault(
                ProcessFault::Crashed,
                format!("could not send `{kind}` message {id}: {why}"),
            ));
        }
        let line = match self.replies.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                return Err(fault(
                    ProcessFault::Timeout,
                    format!(
                        "no reply to `{kind}` message {id} within {:.1} s; killed",
                        timeout.as_secs_f64()
                    ),
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let why = self.obituary();
                return Err(fault(
                    ProcessFault::Crashed,
                    format!("exited before replying to `{kind}` message {id}: {why}"),
                ));
            }
        };
        let excerpt = |line: &str| line.chars().take(120).collect::<String>();
        let reply: Value = match serde_json::from_str(&normalize_literals(&line)) {
            Ok(Value::Object(reply)) => Value::Object(reply),
            _ => {
                return Err(fault(
                    ProcessFault::Garbage,
                    format!(
                        "reply to `{kind}` message {id} is not a JSON object: `{}`",
                        excerpt(&line)
                    ),
                ))
            }
        };
        match reply.get("id").and_then(Value::as_u64) {
            Some(got) if got == id => Ok(reply),
            Some(got) => Err(fault(
                ProcessFault::WrongId,
                format!("reply to `{kind}` message {id} carries id {got}"),
            )),
            None => Err(fault(
                ProcessFault::Garbage,
                format!(
                    "reply to `{kind}` message {id} has no integer id: `{}`",
                    excerpt(&line)
                ),
            )),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // End of input ends the session; a process that lingers is killed.
        drop(self.stdin.take());
        for _ in 0..20 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How [`ProcessEngine::with_options`] runs an engine process.
#[derive(Clone, Debug)]
pub struct ProcessOptions {
    /// The longest wait for one reply.
    pub timeout: Duration,
    /// The longest wait for each handshake reply (`start`, `define`) of a
    /// new process: a framework's import and first compilation can take far
    /// longer than any answer, and must not be counted against a case.
    pub startup_timeout: Duration,
    /// The name reports use (default: the tool name the process gives).
    pub name: Option<String>,
    /// Send batches when the engine offers them (see
    /// [`Engine::answer_batch`]); off, every call is its own message.
    pub batches: bool,
}

impl ProcessOptions {
    /// The default handshake timeout: a minute, or the reply timeout when
    /// that is longer.
    pub fn new(timeout: Duration) -> ProcessOptions {
        ProcessOptions {
            timeout,
            startup_timeout: timeout.max(Duration::from_secs(60)),
            name: None,
            batches: true,
        }
    }
}

/// After this many batches that fault, an engine is asked one call at a
/// time for the rest of the run.
const BATCH_FAULTS_TOLERATED: u64 = 2;

/// An engine in another process, spoken to over the JSON-lines protocol.
pub struct ProcessEngine {
    name: String,
    tool: String,
    command: Vec<String>,
    timeout: Duration,
    startup_timeout: Duration,
    functions: Vec<String>,
    /// The most calls one batch may carry (0: no batches).
    batch_max_calls: usize,
    batch_faults: AtomicU64,
    idle: Mutex<Vec<Session>>,
    next_id: AtomicU64,
    started: AtomicU64,
    evaluations: AtomicU64,
}

impl ProcessEngine {
    /// Starts `command` (program and arguments), performs the `start` and
    /// `define` handshake once to learn the tool's name and functions, and
    /// keeps that process for the first call. `name` overrides the engine
    /// name reports use (default: the tool name the process gives).
    pub fn start(
        command: Vec<String>,
        timeout: Duration,
        name: Option<String>,
    ) -> Result<ProcessEngine, EngineError> {
        let options = ProcessOptions {
            name,
            ..ProcessOptions::new(timeout)
        };
        ProcessEngine::with_options(command, options)
    }

    /// [`start`](ProcessEngine::start) with every option spelt out.
    pub fn with_options(
        command: Vec<String>,
        options: ProcessOptions,
    ) -> Result<ProcessEngine, EngineError> {
        if command.is_empty() {
            return Err(EngineError::Failed("an empty engine command".into()));
        }
        let name = options.name;
        let mut engine = ProcessEngine {
            name: String::new(),
            tool: String::new(),
            command,
            timeout: options.timeout,
            startup_timeout: options.startup_timeout,
            functions: Vec::new(),
            batch_max_calls: 0,
            batch_faults: AtomicU64::new(0),
            idle: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            started: AtomicU64::new(0),
            evaluations: AtomicU64::new(0),
        };
        let (session, start) = engine.open()?;
        engine.tool = start
            .get("tool")
            .and_then(Value::as_str)
            .unwrap_or("process")
            .to_string();
        engine.functions = match start.pointer("/config/functions") {
            Some(Value::Array(fs)) => fs
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => crate::wire::FUNCTIONS
                .iter()
                .map(|f| f.to_string())
                .collect(),
        };
        if options.batches {
            engine.batch_max_calls = start
                .pointer("/config/batch/max_calls")
                .and_then(Value::as_u64)
                .map_or(0, |n| n.min(MAX_BATCH_CALLS as u64) as usize);
        }
        engine.name = name.unwrap_or_else(|| engine.tool.clone());
        engine.idle.lock().expect("fresh").push(session);
        Ok(engine)
    }

    /// The tool name the process gave in its `start` reply.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The functions the process says it answers.
    pub fn functions(&self) -> &[String] {
        &self.functions
    }

    /// The most calls the process takes in one batch (0: it takes none,
    /// or batches were turned off).
    pub fn batch_max_calls(&self) -> usize {
        self.batch_max_calls
    }

    /// How many `evaluate` messages were sent (a batch is one).
    pub fn evaluate_messages(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// How many processes were started (one, plus one per fault, plus one
    /// per extra concurrent caller).
    pub fn processes_started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A new process, after `start` and `define`; also the `start` reply.
    fn open(&self) -> Result<(Session, Value), EngineError> {
        self.started.fetch_add(1, Ordering::Relaxed);
        let mut session = Session::spawn(&self.command)?;
        let unavailable = |e: EngineError| match e {
            EngineError::Process { fault, detail } => EngineError::Process {
                fault: if fault == ProcessFault::Timeout {
                    fault
                } else {
                    ProcessFault::Unavailable
                },
                detail: format!("during the handshake: {fault:?}: {detail}"),
            },
            e => e,
        };
        let start = session
            .request(self.id(), json!({"kind": "start"}), self.startup_timeout)
            .map_err(unavailable)?;
        let define = session
            .request(
                self.id(),
                json!({"kind": "define", "module": MODULE}),
                self.startup_timeout,
            )
            .map_err(unavailable)?;
        if define.get("success") != Some(&json!(true)) {
            return Err(EngineError::Process {
                fault: ProcessFault::Unavailable,
                detail: format!(
                    "refused to define module `{MODULE}`: {}",
                    define
                        .get("error")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason given")
                ),
            });
        }
        Ok((session, start))
    }

    fn offers(&self, function: &str) -> bool {
        self.functions.iter().any(|f| f == function)
    }

    /// Sends one `evaluate` message on a pooled (or new) process and
    /// returns its reply; a fault drops the session, killing the process,
    /// before returning.
    fn send_evaluate(
        &self,
        function: &str,
        input: Value,
        timeout: Duration,
    ) -> Result<Value, EngineError> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut session = match pooled {
            Some(s) => s,
            None => self.open()?.0,
        };
        let message = json!({
            "kind": "evaluate",
            "module": MODULE,
            "function": function,
            "input": input,
        });
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        let reply = session.request(self.id(), message, timeout)?;
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(session);
        Ok(reply)
    }

    /// Asks the process for `function` at `input`.
    fn evaluate(&self, function: &str, input: EvaluateInput) -> Result<Derivative, EngineError> {
        if !self.offers(function) {
            return Err(EngineError::Unsupported {
                engine: self.name.clone(),
                what: function.to_string(),
            });
        }
        let reply = self.send_evaluate(function, json!(input), self.timeout)?;
        if reply.get("success") != Some(&json!(true)) {
            return Err(self.refusal(function, &reply));
        }
        let output = reply
            .get("output")
            .cloned()
            .ok_or_else(|| "no `output`".to_string());
        self.derivative(function, output)
    }

    /// The error of an answer with `success` other than `true`.
    fn refusal(&self, function: &str, reply: &Value) -> EngineError {
        let error = reply
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("failed without a reason")
            .to_string();
        if error.starts_with("unsupported") {
            EngineError::Unsupported {
                engine: self.name.clone(),
                what: function.to_string(),
            }
        } else {
            EngineError::Failed(error)
        }
    }

    /// One result of a batch: `{"success", "primal", "derivative"}` or
    /// `{"success": false, "error"}`.
    fn answer(&self, function: &str, result: &Value) -> Result<Derivative, EngineError> {
        if result.get("success") != Some(&json!(true)) {
            return Err(self.refusal(function, result));
        }
        self.derivative(function, Ok(result.clone()))
    }

    /// Reads an `output` object into a [`Derivative`].
    fn derivative(
        &self,
        function: &str,
        output: Result<Value, String>,
    ) -> Result<Derivative, EngineError> {
        let output: EvaluateOutput = output
            .and_then(|o| serde_json::from_value(o).map_err(|e| e.to_string()))
            .map_err(|e| EngineError::Process {
                fault: ProcessFault::Garbage,
                detail: format!("`{function}` reply: {e}"),
            })?;
        Ok(Derivative {
            primal: decode(&output.primal),
            derivative: output.derivative.as_deref().map(decode).unwrap_or_default(),
            stats: Default::default(),
        })
    }

    /// Sends `calls` as one `batch` message; `Err` when the message as a
    /// whole failed.
    fn evaluate_batch(
        &self,
        calls: &[Call],
    ) -> Result<Vec<Result<Derivative, EngineError>>, EngineError> {
        // Programs are sent once each; calls name them by index.
        let mut programs: Vec<&Program> = Vec::new();
        let mut wire_calls = Vec::with_capacity(calls.len());
        for call in calls {
            let index = match programs
                .iter()
                .position(|p| std::ptr::eq(*p, &*call.program))
            {
                Some(k) => k,
                None => {
                    programs.push(&call.program);
                    programs.len() - 1
                }
            };
            let mut wire = json!({
                "function": call.request.function(),
                "program": index,
                "x": encode(&call.x),
            });
            match &call.request {
                Request::Jvp(v) | Request::Hvp(v) => wire["v"] = json!(encode(v)),
                Request::Vjp(u) => wire["u"] = json!(encode(u)),
                Request::Gradient | Request::Jacobian => {}
            }
            wire_calls.push(wire);
        }
        // One reply timeout per program: the same bound as one call per case.
        let timeout = self.timeout * (programs.len().max(1) as u32);
        let input = json!({"programs": programs, "calls": wire_calls});
        let reply = self.send_evaluate("batch", input, timeout)?;
        let garbage = |detail: String| EngineError::Process {
            fault: ProcessFault::Garbage,
            detail,
        };
        if reply.get("success") != Some(&json!(true)) {
            let error = reply
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            return Err(EngineError::Failed(format!("the batch failed: {error}")));
        }
        let results = reply
            .pointer("/output/results")
            .and_then(Value::as_array)
            .ok_or_else(|| garbage("`batch` reply has no `output.results` list".into()))?;
        if results.len() != calls.len() {
            return Err(garbage(format!(
                "`batch` reply has {} results for {} calls",
                results.len(),
                calls.len()
            )));
        }
        Ok(results
            .iter()
            .zip(calls)
            .map(|(result, call)| self.answer(call.request.function(), result))
            .collect())
    }

    fn input(p: &Program, x: &[f64], v: Option<&[f64]>, u: Option<&[f64]>) -> EvaluateInput {
        EvaluateInput {
            program: p.clone(),
            x: encode(x),
            v: v.map(encode),
            u: u.map(encode),
        }
    }
}

impl Engine for ProcessEngine {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forward: self.offers("jvp"),
            reverse: self.offers("vjp"),
            hvp: self.offers("hvp"),
            reverse_bitwise: false,
        }
    }

    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("direction v", v, x.len())?;
        self.evaluate("jvp", Self::input(p, x, Some(v), None))
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        use adcheck_engines::Differentiable;
        EngineError::check_point(p, x)?;
        EngineError::check_seed("cotangent u", u, p.n_outputs())?;
        self.evaluate("vjp", Self::input(p, x, None, Some(u)))
    }

    fn gradient(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_scalar(p, "gradient")?;
        EngineError::check_point(p, x)?;
        if self.offers("gradient") {
            self.evaluate("gradient", Self::input(p, x, None, None))
        } else {
            self.vjp(p, x, &[1.0])
        }
    }

    fn jacobian(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        if self.offers("jacobian") {
            return self.evaluate("jacobian", Self::input(p, x, None, None));
        }
        // The trait's default, by columns or rows.
        struct ByPasses<'a>(&'a ProcessEngine);
        impl Engine for ByPasses<'_> {
            fn name(&self) -> &str {
                self.0.name()
            }
            fn capabilities(&self) -> Capabilities {
                self.0.capabilities()
            }
            fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
                self.0.jvp(p, x, v)
            }
            fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
                self.0.vjp(p, x, u)
            }
        }
        ByPasses(self).jacobian(p, x)
    }

    fn hvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_scalar(p, "hvp")?;
        EngineError::check_point(p, x)?;
        EngineError::check_seed("direction v", v, x.len())?;
        self.evaluate("hvp", Self::input(p, x, Some(v), None))
    }

    fn batch_limit(&self) -> usize {
        if self.batch_faults.load(Ordering::Relaxed) >= BATCH_FAULTS_TOLERATED {
            0
        } else {
            self.batch_max_calls
        }
    }

    /// One `batch` message per [`batch_limit`](Engine::batch_limit) calls.
    /// Calls the engine does not offer are answered `Unsupported` here; a
    /// call it offers through a fallback (a gradient by `vjp`, a Jacobian
    /// by passes) is asked alone. A batch that faults the process is an
    /// `Err` (the caller asks one by one); after two, batches stop.
    fn answer_batch(
        &self,
        calls: &[Call],
    ) -> Result<Vec<Result<Derivative, EngineError>>, EngineError> {
        let limit = self.batch_limit();
        if limit == 0 {
            return Err(EngineError::Failed("this engine takes no batches".into()));
        }
        let mut answers: Vec<Option<Result<Derivative, EngineError>>> = vec![None; calls.len()];
        let mut batched: Vec<usize> = Vec::new();
        for (k, call) in calls.iter().enumerate() {
            let checked = EngineError::check_point(&*call.program, &call.x).and_then(|()| {
                match &call.request {
                    Request::Jvp(v) | Request::Hvp(v) => {
                        EngineError::check_seed("direction v", v, call.x.len())
                    }
                    Request::Vjp(u) => {
                        use adcheck_engines::Differentiable;
                        EngineError::check_seed("cotangent u", u, call.program.n_outputs())
                    }
                    Request::Gradient | Request::Jacobian => Ok(()),
                }
            });
            let function = call.request.function();
            if let Err(e) = checked {
                answers[k] = Some(Err(e));
            } else if self.offers(function) {
                batched.push(k);
            } else if matches!(
                call.request,
                Request::Jvp(_) | Request::Vjp(_) | Request::Hvp(_)
            ) {
                answers[k] = Some(Err(EngineError::Unsupported {
                    engine: self.name.clone(),
                    what: function.to_string(),
                }));
            }
        }
        for chunk in batched.chunks(limit) {
            let these: Vec<Call> = chunk.iter().map(|&k| calls[k].clone()).collect();
            match self.evaluate_batch(&these) {
                Ok(results) => {
                    for (&k, result) in chunk.iter().zip(results) {
                        answers[k] = Some(result);
                    }
                }
                Err(e) => {
                    if matches!(e, EngineError::Process { .. }) {
                        self.batch_faults.fetch_add(1, Ordering::Relaxed);
                    }
                    return Err(e);
                }
            }
        }
        Ok(answers
            .into_iter()
            .zip(calls)
            .map(|(answer, call)| {
                answer.unwrap_or_else(|| call.request.ask(self, &call.program, &call.x))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_like_a_shell() {
        assert_eq!(
            split_command(r#"python3 "my engine.py" --flag 'a b' c\ d"#).unwrap(),
            ["python3", "my engine.py", "--flag", "a b", "c d"]
        );
        assert_eq!(split_command(r#"x """#).unwrap(), ["x", ""]);
        assert!(split_command("  ").is_err());
        assert!(split_command("'open").is_err());
    }

    #[test]
    fn long_lines_are_cut_and_the_rest_still_read() {
        let mut input = vec![b'x'; 1 << 20];
        input.extend_from_slice(b"\nshort\r\nlast");
        let mut reader = BufReader::with_capacity(4096, &input[..]);
        let first = read_capped_line(&mut reader, 10).unwrap();
        assert_eq!(first, format!("{}…", "x".repeat(10)));
        assert_eq!(read_capped_line(&mut reader, 10).unwrap(), "short");
        assert_eq!(read_capped_line(&mut reader, 10).unwrap(), "last");
        assert_eq!(read_capped_line(&mut reader, 10), None);
    }
}
