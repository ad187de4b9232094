//! A dual-number forward mode with a planted bug.

use crate::{rules, Bug};
use adcheck_engines::ops::{BinaryOp, UnaryOp};
use adcheck_engines::{
    forward_scalar_ops, scalar_operators, CallStats, Capabilities, Derivative, Differentiable,
    Engine, EngineError, Program, Scalar,
};
use std::cell::Cell;
use std::cmp::Ordering;

thread_local! {
    static BUG: Cell<Option<Bug>> = const { Cell::new(None) };
}

fn bug() -> Bug {
    BUG.with(Cell::get)
        .expect("mutant duals are used inside a mutant engine")
}

/// A dual number whose rules carry the thread's planted bug.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MDual {
    re: f64,
    eps: f64,
}

impl MDual {
    fn unary(&self, op: UnaryOp) -> Self {
        let b = bug();
        let (re, d) = rules::unary(b, op, self.re);
        MDual {
            re,
            eps: rules::chain(b, d, self.eps),
        }
    }

    fn binary(&self, op: BinaryOp, other: &Self) -> Self {
        let b = bug();
        let (re, da, db) = rules::binary(b, op, self.re, other.re);
        MDual {
            re,
            eps: rules::chain(b, da, self.eps) + rules::chain(b, db, other.eps),
        }
    }
}

scalar_operators!(impl [] MDual);

impl Scalar for MDual {
    fn from_f64(c: f64) -> Self {
        MDual { re: c, eps: 0.0 }
    }
    fn to_f64(&self) -> f64 {
        self.re
    }
    fn primal_cmp(&self, other: &Self) -> Option<Ordering> {
        self.re.partial_cmp(&other.re)
    }
    fn powi(&self, n: i32) -> Self {
        let b = bug();
        let (re, d) = rules::powi(b, self.re, n);
        MDual {
            re,
            eps: rules::chain(b, d, self.eps),
        }
    }
    fn logsumexp(xs: &[Self]) -> Self {
        let b = bug();
        let values: Vec<f64> = xs.iter().map(|x| x.re).collect();
        let (re, partials) = rules::logsumexp(b, &values);
        let eps = partials
            .iter()
            .zip(xs)
            .map(|(&p, x)| rules::chain(b, p, x.eps))
            .sum();
        MDual { re, eps }
    }
    forward_scalar_ops!(unary, binary);
}

/// Forward mode with one planted bug.
#[derive(Clone, Copy, Debug)]
pub struct MutantForward {
    bug: Bug,
}

impl MutantForward {
    /// The mutant with `bug`.
    pub fn new(bug: Bug) -> Self {
        MutantForward { bug }
    }

    fn pass(&self, p: &Program, x: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let previous = BUG.with(|b| b.replace(Some(self.bug)));
        let duals: Vec<MDual> = x
            .iter()
            .zip(v)
            .map(|(&re, &eps)| MDual { re, eps })
            .collect();
        let out = p.eval(&duals);
        BUG.with(|b| b.set(previous));
        (
            out.iter().map(|d| d.re).collect(),
            out.iter().map(|d| d.eps).collect(),
        )
    }
}

impl Engine for MutantForward {
    fn name(&self) -> &str {
        self.bug.name()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forward: true,
            reverse: false,
            hvp: false,
            reverse_bitwise: false,
        }
    }

    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("direction v", v, p.n_inputs())?;
        let (primal, derivative) = self.pass(p, x, v);
        Ok(Derivative {
            primal,
            derivative,
            stats: CallStats {
                forward_passes: 1,
                ..CallStats::default()
            },
        })
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("cotangent u", u, p.n_outputs())?;
        let n = p.n_inputs();
        let mut out = vec![0.0; n];
        let mut primal = Vec::new();
        for (j, o) in out.iter_mut().enumerate() {
            let mut e = vec![0.0; n];
            e[j] = 1.0;
            let (y, column) = self.pass(p, x, &e);
            *o = column
                .iter()
                .zip(u)
                .map(|(c, w)| rules::chain(self.bug, *c, *w))
                .sum();
            primal = y;
        }
        Ok(Derivative {
            primal,
            derivative: out,
            stats: CallStats {
                forward_passes: n as u64,
                ..CallStats::default()
            },
        })
    }
}
