//! [`FaultGuard`]: an engine wrapper that bounds what one case can cost
//! when an engine in another process misbehaves.
//!
//! A process fault costs a fresh process, and a timeout costs the whole
//! per-message timeout. Left alone, a case whose every call hangs would pay
//! the timeout once per call (a dozen calls with the properties). The guard
//! stops calling the engine for the rest of the case after a timeout, a
//! failed start, or a second fault of any kind; the calls it does not make
//! return [`EngineError::Process`] with [`NOT_RUN`] in the detail and are
//! counted ([`FaultGuard::refusals`]), and the judge records those checks
//! as inconclusive `not_run_after_fault`. So a
//! case costs at most one timeout beyond what a well-behaved engine costs,
//! plus the handshake of one fresh process.

use adcheck_engines::{Capabilities, Derivative, Engine, EngineError, ProcessFault, Program};
use std::sync::Mutex;

/// The detail of an error for a call the guard did not make.
pub const NOT_RUN: &str = "not run: the engine faulted earlier in this case";

/// The inconclusive reason of a check the guard did not run.
pub const NOT_RUN_REASON: &str = "not_run_after_fault";

/// Faults of any kind after which the rest of a case is not run.
const FAULTS_PER_CASE: usize = 2;

/// Wraps one engine for one case (see the module docs).
pub struct FaultGuard<'a> {
    engine: &'a dyn Engine,
    state: Mutex<GuardState>,
}

#[derive(Default)]
struct GuardState {
    faults: usize,
    /// The fault that stopped the case and its reason text, once it did.
    stopped: Option<(ProcessFault, String)>,
    /// Calls not made since then.
    refusals: usize,
}

impl<'a> FaultGuard<'a> {
    /// A guard with no faults seen.
    pub fn new(engine: &'a dyn Engine) -> FaultGuard<'a> {
        FaultGuard {
            engine,
            state: Mutex::new(GuardState::default()),
        }
    }

    /// The fault that stopped the case and its reason text (as a record of
    /// it would read), if one did.
    pub fn stopped(&self) -> Option<(ProcessFault, String)> {
        self.lock().stopped.clone()
    }

    /// How many calls the guard has refused so far: a call that raised
    /// the count was not made.
    pub fn refusals(&self) -> usize {
        self.lock().refusals
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn guarded(
        &self,
        call: impl FnOnce() -> Result<Derivative, EngineError>,
    ) -> Result<Derivative, EngineError> {
        if let Some((_, first)) = self.stopped() {
            self.lock().refusals += 1;
            return Err(EngineError::Process {
                fault: ProcessFault::Unavailable,
                detail: format!("{NOT_RUN} ({first})"),
            });
        }
        let answer = call();
        if let Err(EngineError::Process { fault, detail }) = &answer {
            let mut state = self.lock();
            state.faults += 1;
            let final_fault = matches!(fault, ProcessFault::Timeout | ProcessFault::Unavailable);
            if final_fault || state.faults >= FAULTS_PER_CASE {
                // The client bounds `detail` (a few short stderr lines).
                state.stopped = Some((*fault, format!("{}: {detail}", fault.name())));
            }
        }
        answer
    }
}

impl Engine for FaultGuard<'_> {
    fn name(&self) -> &str {
        self.engine.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.engine.capabilities()
    }

    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        self.guarded(|| self.engine.jvp(p, x, v))
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        self.guarded(|| self.engine.vjp(p, x, u))
    }

    fn gradient(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        self.guarded(|| self.engine.gradient(p, x))
    }

    fn jacobian(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        self.guarded(|| self.engine.jacobian(p, x))
    }

    fn hvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        self.guarded(|| self.engine.hvp(p, x, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_engines::reverse::ReverseEngine;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers like the reverse engine, but every call is a `fault`.
    struct Faulty {
        fault: ProcessFault,
        calls: AtomicUsize,
    }

    impl Engine for Faulty {
        fn name(&self) -> &str {
            "faulty"
        }
        fn capabilities(&self) -> Capabilities {
            ReverseEngine.capabilities()
        }
        fn jvp(&self, _: &Program, _: &[f64], _: &[f64]) -> Result<Derivative, EngineError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            Err(EngineError::Process {
                fault: self.fault,
                detail: "simulated".into(),
            })
        }
        fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
            self.jvp(p, x, u)
        }
    }

    fn program() -> Program {
        Program::parse("input x\ny = sin x\noutput y").unwrap()
    }

    #[test]
    fn a_timeout_stops_the_case_at_once() {
        let engine = Faulty {
            fault: ProcessFault::Timeout,
            calls: AtomicUsize::new(0),
        };
        let guard = FaultGuard::new(&engine);
        let p = program();
        assert!(guard.jvp(&p, &[1.0], &[1.0]).is_err());
        assert_eq!(guard.refusals(), 0);
        let skipped = guard.vjp(&p, &[1.0], &[1.0]).unwrap_err().to_string();
        assert_eq!(guard.refusals(), 1);
        assert!(skipped.contains(NOT_RUN), "{skipped}");
        assert!(skipped.contains("engine_timeout: simulated"), "{skipped}");
        assert_eq!(engine.calls.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_crash_costs_one_call_and_a_second_fault_stops_the_case() {
        let engine = Faulty {
            fault: ProcessFault::Crashed,
            calls: AtomicUsize::new(0),
        };
        let guard = FaultGuard::new(&engine);
        let p = program();
        assert!(guard.jvp(&p, &[1.0], &[1.0]).is_err());
        assert!(guard.stopped().is_none());
        assert!(guard.jvp(&p, &[1.0], &[1.0]).is_err());
        assert_eq!(guard.stopped().map(|(f, _)| f), Some(ProcessFault::Crashed));
        assert!(guard.jvp(&p, &[1.0], &[1.0]).is_err());
        assert_eq!(engine.calls.load(Ordering::Relaxed), 2);
        assert_eq!(guard.refusals(), 1);
    }

    #[test]
    fn answers_pass_through_unchanged() {
        let guard = FaultGuard::new(&ReverseEngine);
        let p = program();
        let direct = ReverseEngine.gradient(&p, &[0.5]).unwrap();
        let guarded = guard.gradient(&p, &[0.5]).unwrap();
        assert_eq!(direct.derivative, guarded.derivative);
        assert!(guard.stopped().is_none());
    }
}
