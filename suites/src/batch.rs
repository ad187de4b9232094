//! Batches: the calls a case is going to make, asked of an engine at once.
//!
//! An engine in another process pays a message per call, and a framework
//! pays a trace or a compilation per program and function; one that says it
//! takes batches ([`Engine::batch_limit`]) is sent every call of a group of
//! cases in one go ([`plan`]), and the cases are then judged as always, on
//! a [`Prefetched`] engine that answers from those results. A call the
//! plan did not foresee (a property that stops early asks fewer; none asks
//! more) goes to the engine as an ordinary call, so judging is the same
//! code with or without batches.

use crate::conformance::Prepared;
use crate::properties::{self, Property};
use adcheck_engines::{
    Call, Capabilities, Derivative, Differentiable, Engine, EngineError, Program, Request,
};
use adcheck_oracle::Quantity;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The request that answers a quantity.
fn request(quantity: &Quantity) -> Request {
    match quantity {
        Quantity::Jvp(v) => Request::Jvp(v.clone()),
        Quantity::Vjp(u) => Request::Vjp(u.clone()),
        Quantity::Gradient => Request::Gradient,
        Quantity::Jacobian => Request::Jacobian,
        Quantity::Hvp(v) => Request::Hvp(v.clone()),
    }
}

/// The calls judging `prepared` on an engine with `capabilities` makes: one
/// per reference, the catalogue's gradient, and the properties' calls
/// (found by running each property on an engine that records its calls and
/// answers zeros). A replayed single check plans nothing.
pub fn plan(prepared: &Prepared, capabilities: Capabilities, properties_too: bool) -> Vec<Call> {
    if prepared.only_check.is_some() {
        return Vec::new();
    }
    let program = Arc::new(prepared.case.program.clone());
    let x = &prepared.case.point;
    let mut calls: Vec<Call> = Vec::new();
    let mut push = |request: Request| {
        calls.push(Call {
            program: Arc::clone(&program),
            x: x.clone(),
            request,
        })
    };
    for reference in &prepared.references {
        if matches!(reference.quantity, Quantity::Hvp(_)) && !capabilities.hvp {
            continue;
        }
        push(request(&reference.quantity));
    }
    if prepared.pitfall.is_some() {
        push(Request::Gradient);
    }
    if properties_too && prepared.suite == crate::conformance::Suite::Generated {
        let recorder = Recorder {
            capabilities,
            program: Arc::clone(&program),
            calls: Mutex::new(Vec::new()),
        };
        let case = &prepared.case;
        for property in Property::ALL {
            let _ = properties::check(
                &recorder,
                property,
                &case.program,
                x,
                &case.direction,
                &case.cotangent,
            );
        }
        calls.extend(
            recorder
                .calls
                .into_inner()
                .unwrap_or_else(|e| e.into_inner()),
        );
    }
    calls
}

/// An engine that writes down what it is asked and answers zeros.
struct Recorder {
    capabilities: Capabilities,
    program: Arc<Program>,
    calls: Mutex<Vec<Call>>,
}

impl Recorder {
    fn record(&self, p: &Program, x: &[f64], request: Request, len: usize) -> Derivative {
        let program = if *p == *self.program {
            Arc::clone(&self.program)
        } else {
            Arc::new(p.clone())
        };
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Call {
                program,
                x: x.to_vec(),
                request,
            });
        Derivative {
            primal: vec![0.0; p.n_outputs()],
            derivative: vec![0.0; len],
            stats: Default::default(),
        }
    }
}

impl Engine for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }
    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        Ok(self.record(p, x, Request::Jvp(v.to_vec()), p.n_outputs()))
    }
    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        Ok(self.record(p, x, Request::Vjp(u.to_vec()), x.len()))
    }
    fn gradient(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        Ok(self.record(p, x, Request::Gradient, x.len()))
    }
    fn jacobian(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        Ok(self.record(p, x, Request::Jacobian, x.len() * p.n_outputs()))
    }
    fn hvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        Ok(self.record(p, x, Request::Hvp(v.to_vec()), x.len()))
    }
}

/// What identifies a call: the program's text, the point's and the seed's
/// bits, the function.
type Key = (String, Vec<u64>, &'static str, Vec<u64>);

fn key(p: &Program, x: &[f64], request: &Request) -> Key {
    let bits = |s: &[f64]| s.iter().map(|v| v.to_bits()).collect::<Vec<u64>>();
    (
        p.to_string(),
        bits(x),
        request.function(),
        request.seed().map(bits).unwrap_or_default(),
    )
}

/// An engine that answers from a batch's results, each once (a call asked
/// twice was planned twice, and the engine really answered it twice), and
/// passes anything else to the engine behind it.
pub struct Prefetched<'a> {
    engine: &'a dyn Engine,
    answers: Mutex<HashMap<Key, VecDeque<Result<Derivative, EngineError>>>>,
}

impl<'a> Prefetched<'a> {
    /// `answers[k]` answers `calls[k]`.
    pub fn new(
        engine: &'a dyn Engine,
        calls: &[Call],
        answers: Vec<Result<Derivative, EngineError>>,
    ) -> Prefetched<'a> {
        let mut map: HashMap<Key, VecDeque<_>> = HashMap::new();
        for (call, answer) in calls.iter().zip(answers) {
            map.entry(key(&call.program, &call.x, &call.request))
                .or_default()
                .push_back(answer);
        }
        Prefetched {
            engine,
            answers: Mutex::new(map),
        }
    }

    /// An engine with nothing prefetched: every call goes through.
    pub fn nothing(engine: &'a dyn Engine) -> Prefetched<'a> {
        Prefetched {
            engine,
            answers: Mutex::new(HashMap::new()),
        }
    }

    fn answer(&self, p: &Program, x: &[f64], request: Request) -> Result<Derivative, EngineError> {
        let found = {
            let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            answers
                .get_mut(&key(p, x, &request))
                .and_then(VecDeque::pop_front)
        };
        found.unwrap_or_else(|| request.ask(self.engine, p, x))
    }
}

impl Engine for Prefetched<'_> {
    fn name(&self) -> &str {
        self.engine.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.engine.capabilities()
    }
    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        self.answer(p, x, Request::Jvp(v.to_vec()))
    }
    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        self.answer(p, x, Request::Vjp(u.to_vec()))
    }
    fn gradient(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        self.answer(p, x, Request::Gradient)
    }
    fn jacobian(&self, p: &Program, x: &[f64]) -> Result<Derivative, EngineError> {
        self.answer(p, x, Request::Jacobian)
    }
    fn hvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        self.answer(p, x, Request::Hvp(v.to_vec()))
    }
}

/// Asks `engine` for every call of `plans` (one plan per case) in batches
/// and returns one [`Prefetched`] per case; when a batch fails as a whole,
/// the cases are judged call by call.
pub fn prefetch<'a>(engine: &'a dyn Engine, plans: &[Vec<Call>]) -> Vec<Prefetched<'a>> {
    let all: Vec<Call> = plans.iter().flatten().cloned().collect();
    match engine.answer_batch(&all) {
        Ok(answers) if answers.len() == all.len() => {
            let mut answers = answers.into_iter();
            plans
                .iter()
                .map(|calls| {
                    let these: Vec<_> = answers.by_ref().take(calls.len()).collect();
                    Prefetched::new(engine, calls, these)
                })
                .collect()
        }
        _ => plans.iter().map(|_| Prefetched::nothing(engine)).collect(),
    }
}
