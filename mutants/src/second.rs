//! Forward over reverse with a planted bug: the tape over dual numbers,
//! whose backward sweep drops the cross term `∂(partial)·adjoint` — the term
//! that differentiates the local partials themselves, without which `H·v`
//! keeps only the Gauss–Newton-like part.

use adcheck_engines::conventions;
use adcheck_engines::forward::Dual;
use adcheck_engines::ops::{BinaryOp, UnaryOp};
use adcheck_engines::{
    forward_scalar_ops, scalar_operators, CallStats, Capabilities, Derivative, Differentiable,
    Engine, EngineError, Program, Scalar,
};
use std::cell::RefCell;
use std::cmp::Ordering;

const CONSTANT: u32 = u32::MAX;

#[derive(Default)]
struct Recording {
    starts: Vec<usize>,
    edges: Vec<(u32, Dual)>,
}

thread_local! {
    static TAPE: RefCell<Recording> = RefCell::new(Recording { starts: vec![0], edges: Vec::new() });
}

fn push(edges: &[(u32, Dual)]) -> u32 {
    TAPE.with(|t| {
        let mut t = t.borrow_mut();
        t.edges.extend(edges.iter().filter(|(p, _)| *p != CONSTANT));
        let end = t.edges.len();
        t.starts.push(end);
        (t.starts.len() - 2) as u32
    })
}

/// A dual-valued tape variable.
#[derive(Clone, Copy, Debug)]
pub struct DVar {
    value: Dual,
    index: u32,
}

impl DVar {
    fn derive(value: Dual, edges: &[(u32, Dual)]) -> Self {
        if edges.iter().all(|(p, _)| *p == CONSTANT) {
            return DVar {
                value,
                index: CONSTANT,
            };
        }
        DVar {
            value,
            index: push(edges),
        }
    }

    fn unary(&self, op: UnaryOp) -> Self {
        let (v, d) = conventions::unary(op, &self.value);
        DVar::derive(v, &[(self.index, d)])
    }

    fn binary(&self, op: BinaryOp, other: &Self) -> Self {
        let (v, da, db) = conventions::binary(op, &self.value, &other.value);
        DVar::derive(v, &[(self.index, da), (other.index, db)])
    }
}

scalar_operators!(impl [] DVar);

impl Scalar for DVar {
    fn from_f64(c: f64) -> Self {
        DVar {
            value: Dual::new(c, 0.0),
            index: CONSTANT,
        }
    }
    fn to_f64(&self) -> f64 {
        self.value.re
    }
    fn primal_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.re.partial_cmp(&other.value.re)
    }
    fn powi(&self, n: i32) -> Self {
        let (v, d) = conventions::powi(&self.value, n);
        DVar::derive(v, &[(self.index, d)])
    }
    fn logsumexp(xs: &[Self]) -> Self {
        let values: Vec<Dual> = xs.iter().map(|x| x.value).collect();
        let mut edges = Vec::with_capacity(xs.len());
        let v = conventions::logsumexp(&values, |i, d| edges.push((xs[i].index, d)));
        DVar::derive(v, &edges)
    }
    fn selected(&self) -> Self {
        DVar::derive(self.value, &[(self.index, Dual::new(1.0, 0.0))])
    }
    forward_scalar_ops!(unary, binary);
}

/// Forward over reverse whose backward sweep drops the cross term.
#[derive(Clone, Copy, Debug, Default)]
pub struct MissingCrossTerm;

impl MissingCrossTerm {
    fn pass(p: &Program, x: &[f64], v: &[f64], u: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        TAPE.with(|t| {
            let mut t = t.borrow_mut();
            t.starts.clear();
            t.starts.push(0);
            t.edges.clear();
        });
        let inputs: Vec<DVar> = x
            .iter()
            .zip(v)
            .map(|(&re, &eps)| DVar {
                value: Dual::new(re, eps),
                index: push(&[]),
            })
            .collect();
        let outputs = p.eval(&inputs);
        TAPE.with(|t| {
            let t = t.borrow();
            let len = t.starts.len() - 1;
            let mut adjoint = vec![Dual::new(0.0, 0.0); len];
            for (y, &w) in outputs.iter().zip(u) {
                if y.index != CONSTANT {
                    adjoint[y.index as usize].re += w;
                }
            }
            for i in (0..len).rev() {
                let a = adjoint[i];
                if a.re == 0.0 && a.eps == 0.0 {
                    continue;
                }
                for &(parent, partial) in &t.edges[t.starts[i]..t.starts[i + 1]] {
                    let slot = &mut adjoint[parent as usize];
                    slot.re += partial.re * a.re;
                    // The planted bug: `+ partial.eps * a.re` is missing.
                    slot.eps += partial.re * a.eps;
                }
            }
            (
                outputs.iter().map(|y| y.value.re).collect(),
                adjoint[..x.len()].iter().map(|a| a.re).collect(),
                adjoint[..x.len()].iter().map(|a| a.eps).collect(),
            )
        })
    }
}

impl Engine for MissingCrossTerm {
    fn name(&self) -> &str {
        "hvp-missing-cross-term"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forward: true,
            reverse: true,
            hvp: true,
            reverse_bitwise: false,
        }
    }

    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        adcheck_engines::forward::ForwardEngine.jvp(p, x, v)
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("cotangent u", u, p.n_outputs())?;
        let (primal, derivative, _) = MissingCrossTerm::pass(p, x, &vec![0.0; x.len()], u);
        Ok(Derivative {
            primal,
            derivative,
            stats: CallStats::default(),
        })
    }

    fn hvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_scalar(p, "hvp")?;
        EngineError::check_seed("direction v", v, p.n_inputs())?;
        let (primal, _, derivative) = MissingCrossTerm::pass(p, x, v, &[1.0]);
        Ok(Derivative {
            primal,
            derivative,
            stats: CallStats::default(),
        })
    }
}
