//! [`trace`]: define-by-run capture of any [`Differentiable`] as a [`Program`].

use crate::ops::{BinaryOp, UnaryOp};
use crate::program::{Instr, ValueId};
use crate::{forward_scalar_ops, scalar_operators, Differentiable, Program, Scalar};
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;

/// The recording scalar of [`trace`]: an `f64` value and the id of the
/// program value it stands for (`None` for a constant not yet written).
#[derive(Clone, Copy, Debug)]
pub struct Traced {
    value: f64,
    id: Option<ValueId>,
}

#[derive(Default)]
struct Recording {
    n_inputs: usize,
    body: Vec<Instr>,
    /// Constants already written, by bit pattern, so each is written once.
    constants: HashMap<u64, ValueId>,
}

thread_local! {
    static RECORDING: RefCell<Option<Recording>> = const { RefCell::new(None) };
}

fn with_recording<R>(body: impl FnOnce(&mut Recording) -> R) -> R {
    RECORDING.with(|cell| {
        let mut guard = cell.borrow_mut();
        let recording = guard
            .as_mut()
            .expect("a Traced value was used outside of `trace`");
        body(recording)
    })
}

impl Traced {
    /// The value recorded.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The program value this stands for, writing a constant if needed.
    fn id(&self) -> ValueId {
        if let Some(id) = self.id {
            return id;
        }
        with_recording(|r| {
            let next = (r.n_inputs + r.body.len()) as ValueId;
            *r.constants.entry(self.value.to_bits()).or_insert_with(|| {
                r.body.push(Instr::Const(self.value));
                next
            })
        })
    }

    fn emit(value: f64, instr: Instr) -> Self {
        let id = with_recording(|r| {
            r.body.push(instr);
            (r.n_inputs + r.body.len() - 1) as ValueId
        });
        Traced {
            value,
            id: Some(id),
        }
    }

    fn unary(&self, op: UnaryOp) -> Self {
        Traced::emit(op.apply(&self.value), Instr::Unary(op, self.id()))
    }

    fn binary(&self, op: BinaryOp, other: &Self) -> Self {
        Traced::emit(
            op.apply(&self.value, &other.value),
            Instr::Binary(op, [self.id(), other.id()]),
        )
    }
}

scalar_operators!(impl [] Traced);

impl Scalar for Traced {
    fn from_f64(c: f64) -> Self {
        Traced { value: c, id: None }
    }
    fn to_f64(&self) -> f64 {
        self.value
    }
    fn primal_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
    fn powi(&self, n: i32) -> Self {
        Traced::emit(self.value.powi(n), Instr::PowI(self.id(), n))
    }
    fn logsumexp(xs: &[Self]) -> Self {
        let values: Vec<f64> = xs.iter().map(|x| x.value).collect();
        let ids = xs.iter().map(Traced::id).collect();
        Traced::emit(f64::logsumexp(&values), Instr::LogSumExp(ids))
    }
    forward_scalar_ops!(unary, binary);
}

/// Restores the previous recording when a trace ends, even by panic, so that
/// traces nest.
struct RestoreOnDrop(Option<Recording>);

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        RECORDING.with(|cell| *cell.borrow_mut() = self.0.take());
    }
}

/// Runs `f` once at `x` with a recording scalar and returns the operations it
/// performed as a [`Program`].
///
/// Branches in `f` read primal values, so the program records the side taken
/// at `x` only: it equals `f` near `x`, not everywhere. Constants become
/// `const` entries (each distinct value once); an output that is a constant is
/// written as one.
///
/// ```
/// use adcheck_engines::{trace, Differentiable, Scalar};
///
/// struct Seed;
/// impl Differentiable for Seed {
///     fn n_inputs(&self) -> usize { 2 }
///     fn n_outputs(&self) -> usize { 1 }
///     fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
///         vec![x[0].clone() * x[1].clone() + x[0].sin()]
///     }
/// }
/// let p = trace(&Seed, &[1.0, 2.0]);
/// assert_eq!(p.to_string(), "input v1 v2\nv3 = mul v1 v2\nv4 = sin v1\nv5 = add v3 v4\noutput v5\n");
/// ```
///
/// # Panics
/// If `x.len()` differs from `f.n_inputs()`.
pub fn trace<F: Differentiable + ?Sized>(f: &F, x: &[f64]) -> Program {
    assert_eq!(x.len(), f.n_inputs(), "wrong number of inputs");
    let outer = RECORDING.with(|cell| {
        cell.borrow_mut().replace(Recording {
            n_inputs: x.len(),
            ..Recording::default()
        })
    });
    let restore = RestoreOnDrop(outer);
    let inputs: Vec<Traced> = x
        .iter()
        .enumerate()
        .map(|(i, &value)| Traced {
            value,
            id: Some(i as ValueId),
        })
        .collect();
    let outputs: Vec<ValueId> = f.eval(&inputs).iter().map(Traced::id).collect();
    let recording = RECORDING
        .with(|cell| cell.borrow_mut().take())
        .expect("the recording is in place until the trace ends");
    drop(restore);
    Program::new(recording.n_inputs, recording.body, outputs)
        .expect("a trace always yields a well-formed program")
}
