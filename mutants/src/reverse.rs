//! A Wengert-tape reverse mode with a planted bug.

use crate::{rules, Bug};
use adcheck_engines::ops::{BinaryOp, UnaryOp};
use adcheck_engines::{
    forward_scalar_ops, scalar_operators, CallStats, Capabilities, Derivative, Differentiable,
    Engine, EngineError, Program, Scalar,
};
use std::cell::{Cell, RefCell};
use std::cmp::Ordering;

/// The recording of one call: node `i` reads `edges[starts[i]..starts[i + 1]]`.
#[derive(Default)]
struct Recording {
    starts: Vec<usize>,
    edges: Vec<(u32, f64)>,
}

thread_local! {
    static BUG: Cell<Option<Bug>> = const { Cell::new(None) };
    static TAPE: RefCell<Recording> = RefCell::new(Recording { starts: vec![0], edges: Vec::new() });
}

fn bug() -> Bug {
    BUG.with(Cell::get)
        .expect("mutant variables are used inside a mutant engine")
}

const CONSTANT: u32 = u32::MAX;

fn push(edges: &[(u32, f64)]) -> u32 {
    TAPE.with(|t| {
        let mut t = t.borrow_mut();
        t.edges.extend(edges.iter().filter(|(p, _)| *p != CONSTANT));
        let end = t.edges.len();
        t.starts.push(end);
        (t.starts.len() - 2) as u32
    })
}

/// A taped variable whose rules carry the thread's planted bug.
#[derive(Clone, Copy, Debug)]
pub struct MVar {
    value: f64,
    index: u32,
}

impl MVar {
    fn derive(value: f64, edges: &[(u32, f64)]) -> Self {
        if edges.iter().all(|(p, _)| *p == CONSTANT) {
            return MVar {
                value,
                index: CONSTANT,
            };
        }
        MVar {
            value,
            index: push(edges),
        }
    }

    fn unary(&self, op: UnaryOp) -> Self {
        let (v, d) = rules::unary(bug(), op, self.value);
        MVar::derive(v, &[(self.index, d)])
    }

    fn binary(&self, op: BinaryOp, other: &Self) -> Self {
        let (v, da, db) = rules::binary(bug(), op, self.value, other.value);
        MVar::derive(v, &[(self.index, da), (other.index, db)])
    }
}

scalar_operators!(impl [] MVar);

impl Scalar for MVar {
    fn from_f64(c: f64) -> Self {
        MVar {
            value: c,
            index: CONSTANT,
        }
    }
    fn to_f64(&self) -> f64 {
        self.value
    }
    fn primal_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
    fn powi(&self, n: i32) -> Self {
        let (v, d) = rules::powi(bug(), self.value, n);
        MVar::derive(v, &[(self.index, d)])
    }
    fn logsumexp(xs: &[Self]) -> Self {
        let values: Vec<f64> = xs.iter().map(|x| x.value).collect();
        let (v, partials) = rules::logsumexp(bug(), &values);
        let edges: Vec<(u32, f64)> = xs.iter().zip(partials).map(|(x, p)| (x.index, p)).collect();
        MVar::derive(v, &edges)
    }
    forward_scalar_ops!(unary, binary);
}

/// Reverse mode with one planted bug.
#[derive(Clone, Copy, Debug)]
pub struct MutantReverse {
    bug: Bug,
}

impl MutantReverse {
    /// The mutant with `bug`.
    pub fn new(bug: Bug) -> Self {
        MutantReverse { bug }
    }

    /// Records `p` at `x` and sweeps once per cotangent.
    fn sweeps(&self, p: &Program, x: &[f64], cotangents: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
        let previous = BUG.with(|b| b.replace(Some(self.bug)));
        if self.bug != Bug::TapeNotCleared {
            TAPE.with(|t| {
                let mut t = t.borrow_mut();
                t.starts.clear();
                t.starts.push(0);
                t.edges.clear();
            });
        }
        let inputs: Vec<MVar> = x
            .iter()
            .map(|&value| MVar {
                value,
                index: push(&[]),
            })
            .collect();
        let outputs = p.eval(&inputs);
        let results = TAPE.with(|t| {
            let t = t.borrow();
            let len = t.starts.len() - 1;
            cotangents
                .iter()
                .map(|u| {
                    let mut adjoint = vec![0.0; len];
                    for (y, &w) in outputs.iter().zip(u) {
                        if y.index != CONSTANT {
                            adjoint[y.index as usize] += w;
                        }
                    }
                    let order: Vec<usize> = match self.bug {
                        Bug::SweepWrongOrder => (0..len).collect(),
                        Bug::SweepOffByOne => (0..len.saturating_sub(1)).rev().collect(),
                        _ => (0..len).rev().collect(),
                    };
                    for i in order {
                        let a = adjoint[i];
                        if a == 0.0 && self.bug != Bug::UnusedNodePoisons {
                            continue;
                        }
                        for &(parent, partial) in &t.edges[t.starts[i]..t.starts[i + 1]] {
                            let contribution = partial * a;
                            if self.bug == Bug::FanOutOverwritten {
                                adjoint[parent as usize] = contribution;
                            } else {
                                adjoint[parent as usize] += contribution;
                            }
                        }
                    }
                    // With a tape not cleared, the inputs are read where a
                    // fresh tape would have put them.
                    adjoint[..x.len()].to_vec()
                })
                .collect()
        });
        BUG.with(|b| b.set(previous));
        (outputs.iter().map(|y| y.value).collect(), results)
    }
}

impl Engine for MutantReverse {
    fn name(&self) -> &str {
        self.bug.name()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forward: false,
            reverse: true,
            hvp: false,
            reverse_bitwise: false,
        }
    }

    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("direction v", v, p.n_inputs())?;
        let m = p.n_outputs();
        let seeds: Vec<Vec<f64>> = (0..m)
            .map(|i| (0..m).map(|k| f64::from(u8::from(k == i))).collect())
            .collect();
        let (primal, rows) = self.sweeps(p, x, &seeds);
        let derivative = rows
            .iter()
            .map(|row| {
                row.iter()
                    .zip(v)
                    .map(|(j, w)| rules::chain(self.bug, *j, *w))
                    .sum()
            })
            .collect();
        Ok(Derivative {
            primal,
            derivative,
            stats: CallStats {
                forward_passes: 1,
                reverse_sweeps: m as u64,
                ..CallStats::default()
            },
        })
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("cotangent u", u, p.n_outputs())?;
        let (primal, mut rows) = self.sweeps(p, x, &[u.to_vec()]);
        Ok(Derivative {
            primal,
            derivative: rows.pop().unwrap_or_default(),
            stats: CallStats {
                forward_passes: 1,
                reverse_sweeps: 1,
                ..CallStats::default()
            },
        })
    }
}
