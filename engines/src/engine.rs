//! The [`Engine`] trait every AD engine implements, built-in or third-party.

use crate::{Differentiable, Program};

/// What an engine computes natively, in one pass each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `jvp` costs one forward pass.
    pub forward: bool,
    /// `vjp` costs one forward recording and one reverse sweep.
    pub reverse: bool,
    /// `hvp` is implemented.
    pub hvp: bool,
    /// Gradients are bitwise those of plain tape reverse mode (checked by
    /// the `matches_reverse_bitwise` property).
    pub reverse_bitwise: bool,
}

/// Work and memory an engine spent on one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Evaluations of the program (primal or tangent), including recordings.
    pub forward_passes: u64,
    /// Backward sweeps over a tape.
    pub reverse_sweeps: u64,
    /// Operations written to a tape, summed over recordings.
    pub operations_recorded: u64,
    /// The largest tape held at once, in bytes.
    pub peak_tape_bytes: u64,
    /// Operations evaluated again to recover values not kept (checkpointing).
    pub recomputations: u64,
}

impl CallStats {
    /// Adds the work of `other` to `self`; peaks take the maximum.
    pub fn absorb(&mut self, other: &CallStats) {
        self.forward_passes += other.forward_passes;
        self.reverse_sweeps += other.reverse_sweeps;
        self.operations_recorded += other.operations_recorded;
        self.peak_tape_bytes = self.peak_tape_bytes.max(other.peak_tape_bytes);
        self.recomputations += other.recomputations;
    }
}

/// The result of one engine call.
#[derive(Clone, Debug, PartialEq)]
pub struct Derivative {
    /// The primal outputs `f(x)` (length `m`).
    pub primal: Vec<f64>,
    /// The derivative asked for: `J·v` (length `m`), `uᵀJ` or a gradient or
    /// `H·v` (length `n`), or the Jacobian, row-major `m × n`.
    pub derivative: Vec<f64>,
    /// What the call cost.
    pub stats: CallStats,
}

impl Derivative {
    /// Turns a Jacobian (row-major, `n` columns) into `J·v`, with a zero
    /// direction entry contributing nothing (see `conventions::chain`).
    pub fn jacobian_times(mut self, n: usize, v: &[f64]) -> Derivative {
        self.derivative = self
            .derivative
            .chunks(n.max(1))
            .map(|row| {
                row.iter()
                    .zip(v)
                    .fold(0.0, |acc, (&j, &vj)| acc + crate::conventions::chain(j, vj))
            })
            .collect();
        self
    }
}

/// Why an engine could not answer. Engines return these instead of panicking.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The point has the wrong number of coordinates.
    #[error("the program takes {expected} inputs, the point has {got}")]
    InputLength {
        /// `n`.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A direction (`v`) or cotangent (`u`) has the wrong length.
    #[error("the {what} must have length {expected}, it has {got}")]
    SeedLength {
        /// `"direction v"` or `"cotangent u"`.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A direction or cotangent holds an infinity or NaN.
    #[error("the {what} holds a non-finite entry at index {index}")]
    NonFiniteSeed {
        /// `"direction v"` or `"cotangent u"`.
        what: &'static str,
        /// The first bad index.
        index: usize,
    },
    /// A gradient or Hessian was asked of a function with `m ≠ 1` outputs.
    #[error("{what} needs a scalar function, this one has {outputs} outputs")]
    NotScalar {
        /// `"gradient"` or `"hvp"`.
        what: &'static str,
        /// `m`.
        outputs: usize,
    },
    /// The engine does not implement this computation or operation.
    #[error("engine `{engine}` does not support {what}")]
    Unsupported {
        /// The engine's name.
        engine: String,
        /// What was asked.
        what: String,
    },
    /// The engine failed for a reason of its own (third-party engines).
    #[error("engine failure: {0}")]
    Failed(String),
    /// An engine in another process broke the protocol: it crashed, hung,
    /// printed something that is not a reply, or answered another message.
    #[error("{}: {detail}", fault.name())]
    Process {
        /// What went wrong.
        fault: ProcessFault,
        /// What was seen (exit status, the offending line, ids).
        detail: String,
    },
}

/// How an engine in another process broke the protocol; each is a named
/// verdict reason in reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessFault {
    /// The process could not be started, or refused `start` or `define`.
    Unavailable,
    /// The process exited (or closed its output) before replying.
    Crashed,
    /// No reply within the per-message timeout; the process was killed.
    Timeout,
    /// The reply was not a JSON object of the expected shape.
    Garbage,
    /// The reply carried another message's `id`.
    WrongId,
}

impl ProcessFault {
    /// Every fault, in a fixed order.
    pub const ALL: [ProcessFault; 5] = [
        ProcessFault::Unavailable,
        ProcessFault::Crashed,
        ProcessFault::Timeout,
        ProcessFault::Garbage,
        ProcessFault::WrongId,
    ];

    /// The reason name reports use (`engine_crashed`, …).
    pub fn name(self) -> &'static str {
        match self {
            ProcessFault::Unavailable => "engine_unavailable",
            ProcessFault::Crashed => "engine_crashed",
            ProcessFault::Timeout => "engine_timeout",
            ProcessFault::Garbage => "engine_garbage",
            ProcessFault::WrongId => "engine_wrong_id",
        }
    }
}

impl EngineError {
    /// Checks that `x` fits `f`.
    pub fn check_point<F: Differentiable + ?Sized>(f: &F, x: &[f64]) -> Result<(), EngineError> {
        if x.len() == f.n_inputs() {
            Ok(())
        } else {
            Err(EngineError::InputLength {
                expected: f.n_inputs(),
                got: x.len(),
            })
        }
    }

    /// Checks that a seed vector has length `expected` and finite entries.
    pub fn check_seed(
        what: &'static str,
        seed: &[f64],
        expected: usize,
    ) -> Result<(), EngineError> {
        if seed.len() != expected {
            return Err(EngineError::SeedLength {
                what,
                expected,
                got: seed.len(),
            });
        }
        // One test per entry without an early exit, which the compiler
        // vectorises (a sum of `s · 0` would be a chain of dependent
        // additions, as long as the seed); the search only on failure.
        let all_finite = seed.iter().fold(true, |ok, s| ok & s.is_finite());
        if all_finite {
            return Ok(());
        }
        match seed.iter().position(|s| !s.is_finite()) {
            Some(index) => Err(EngineError::NonFiniteSeed { what, index }),
            None => Ok(()),
        }
    }

    /// Checks that `f` has exactly one output.
    pub fn check_scalar<F: Differentiable + ?Sized>(
        f: &F,
        what: &'static str,
    ) -> Result<(), EngineError> {
        match f.n_outputs() {
            1 => Ok(()),
            outputs => Err(EngineError::NotScalar { what, outputs }),
        }
    }
}

/// What one call asks of an engine, besides the program and the point.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// `J·v` in direction `v`.
    Jvp(Vec<f64>),
    /// `uᵀ·J` for cotangent `u`.
    Vjp(Vec<f64>),
    /// The gradient of a scalar function.
    Gradient,
    /// The full Jacobian.
    Jacobian,
    /// `H·v` in direction `v`.
    Hvp(Vec<f64>),
}

impl Request {
    /// The protocol's name of the function (`jvp`, `vjp`, …).
    pub fn function(&self) -> &'static str {
        match self {
            Request::Jvp(_) => "jvp",
            Request::Vjp(_) => "vjp",
            Request::Gradient => "gradient",
            Request::Jacobian => "jacobian",
            Request::Hvp(_) => "hvp",
        }
    }

    /// The seed (`v` or `u`), when the function takes one.
    pub fn seed(&self) -> Option<&[f64]> {
        match self {
            Request::Jvp(s) | Request::Vjp(s) | Request::Hvp(s) => Some(s),
            Request::Gradient | Request::Jacobian => None,
        }
    }

    /// Answers this request with `engine`'s one-call methods.
    pub fn ask(
        &self,
        engine: &(impl Engine + ?Sized),
        p: &Program,
        x: &[f64],
    ) -> Result<Derivative, EngineError> {
        match self {
            Request::Jvp(v) => engine.jvp(p, x, v),
            Request::Vjp(u) => engine.vjp(p, x, u),
            Request::Gradient => engine.gradient(p, x),
            Request::Jacobian => engine.jacobian(p, x),
            Request::Hvp(v) => engine.hvp(p, x, v),
        }
    }
}

/// One call of a batch (see [`Engine::answer_batch`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The program, shared by the calls of one case.
    pub program: std::sync::Arc<Program>,
    /// The point.
    pub x: Vec<f64>,
    /// What is asked at it.
    pub request: Request,
}

/// One interface for every AD engine.
///
/// Engines receive a [`Program`], so an engine in another process or language
/// sees exactly what an in-process one does; any [`Differentiable`] becomes a
/// program through [`trace`](crate::trace()). Every method validates its
/// arguments and returns [`EngineError`] rather than panicking.
///
/// Only [`name`](Engine::name), [`capabilities`](Engine::capabilities),
/// [`jvp`](Engine::jvp) and [`vjp`](Engine::vjp) are required.
pub trait Engine: Send + Sync {
    /// A short, unique, lowercase name (`forward`, `reverse`, …).
    fn name(&self) -> &str;

    /// What the engine computes natively.
    fn capabilities(&self) -> Capabilities;

    /// The primal and the Jacobian-vector product `J·v`.
    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError>;

    /// The primal and the vector-Jacobian product `uᵀ·J`.
    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError>;

    /// The gradient of a scalar function (`m = 1`).
    fn gradient(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_scalar(p, "gradient")?;
        self.vjp(p, x, &[1.0])
    }

    /// The full Jacobian, row-major `m × n`. The default takes the cheaper of
    /// `n` forward passes and `m` reverse passes (forward on ties).
    fn jacobian(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        let (n, m) = (p.n_inputs(), p.n_outputs());
        let mut stats = CallStats::default();
        let mut jac = vec![0.0; n * m];
        let mut primal = Vec::new();
        let seed = |len: usize, k: usize| {
            let mut e = vec![0.0; len];
            e[k] = 1.0;
            e
        };
        if n <= m {
            for j in 0..n {
                let d = self.jvp(p, x, &seed(n, j))?;
                stats.absorb(&d.stats);
                for i in 0..m {
                    jac[i * n + j] = d.derivative[i];
                }
                primal = d.primal;
            }
        } else {
            for i in 0..m {
                let d = self.vjp(p, x, &seed(m, i))?;
                stats.absorb(&d.stats);
                jac[i * n..(i + 1) * n].copy_from_slice(&d.derivative);
                primal = d.primal;
            }
        }
        Ok(Derivative {
            primal,
            derivative: jac,
            stats,
        })
    }

    /// The Hessian-vector product `H·v` of a scalar function. The default
    /// reports it unsupported.
    fn hvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        let _ = (p, x, v);
        Err(EngineError::Unsupported {
            engine: self.name().to_string(),
            what: "Hessian-vector products".to_string(),
        })
    }

    /// The most calls [`answer_batch`](Engine::answer_batch) takes at once;
    /// 0 (the default) means the engine answers one call at a time, which
    /// is right for an engine in this process. An engine in another process
    /// that can evaluate many points of one program at once (a framework
    /// that vectorises or compiles per program) says more.
    fn batch_limit(&self) -> usize {
        0
    }

    /// Answers many calls at once: one result per call, in order; `Err`
    /// when the batch as a whole failed (the caller then asks one by one).
    /// The default asks one by one.
    fn answer_batch(
        &self,
        calls: &[Call],
    ) -> Result<Vec<Result<Derivative, EngineError>>, EngineError> {
        Ok(calls
            .iter()
            .map(|c| c.request.ask(self, &c.program, &c.x))
            .collect())
    }
}
