//! Forward over reverse: the reverse tape run over dual numbers.
//!
//! Recording the program on a [`Tape<Dual>`](crate::reverse::Tape) with
//! inputs `x + v·ε` and sweeping adjoints back in dual arithmetic gives, in
//! the real parts, the gradient, and in the `ε` parts, `H·v`: the directional
//! derivative of the gradient along `v`, without ever forming the Hessian.
//! One forward and one backward sweep, each in dual arithmetic.

use crate::engine::{CallStats, Capabilities, Derivative, Engine, EngineError};
use crate::forward::{Dual, ForwardEngine, Strict};
use crate::reverse::{record, Tape};
use crate::{Differentiable, Program};

/// What one forward-over-reverse pass gives.
#[derive(Clone, Debug, PartialEq)]
pub struct SecondOrder {
    /// `f(x)`.
    pub primal: Vec<f64>,
    /// `uᵀJ` (the gradient for a scalar `f`).
    pub gradient: Vec<f64>,
    /// `H·v` (of `uᵀf`).
    pub hvp: Vec<f64>,
    /// What the pass cost.
    pub stats: CallStats,
}

/// The primal, the gradient and `H·v` of a scalar `f` at `x`, with the call's
/// statistics, in one forward and one backward sweep.
pub fn gradient_and_hvp<F: Differentiable + ?Sized>(
    f: &F,
    x: &[f64],
    v: &[f64],
) -> Result<SecondOrder, EngineError> {
    EngineError::check_point(f, x)?;
    EngineError::check_scalar(f, "hvp")?;
    EngineError::check_seed("direction v", v, f.n_inputs())?;
    weighted(f, x, v, &[1.0])
}

/// Like [`gradient_and_hvp`] for `uᵀf` of a function with several outputs.
fn weighted<F: Differentiable + ?Sized>(
    f: &F,
    x: &[f64],
    v: &[f64],
    u: &[f64],
) -> Result<SecondOrder, EngineError> {
    // Strict tangents: the sweep multiplies adjoints by partials, and an
    // adjoint whose tangent is exactly zero must stay zero through an
    // infinite partial (no cheap rerun here as in forward mode).
    let tape: Tape<Dual<Strict<f64>>> = Tape::new();
    let inputs: Vec<Dual<Strict<f64>>> = x
        .iter()
        .zip(v)
        .map(|(&re, &eps)| Dual::new(re, Strict(eps)))
        .collect();
    let outputs = record(&tape, f, &inputs);
    let primal = outputs.iter().map(|y| y.value().re).collect();
    let seeds: Vec<(u32, Dual<Strict<f64>>)> = outputs
        .iter()
        .zip(u)
        .filter_map(|(y, &w)| y.node().map(|n| (n, Dual::new(w, Strict(0.0)))))
        .collect();
    let mut adjoints = Vec::new();
    tape.backward(&seeds, &mut adjoints);
    let n = x.len();
    let gradient = adjoints[..n].iter().map(|a| a.re).collect();
    let hvp = adjoints[..n].iter().map(|a| a.eps.0).collect();
    let stats = CallStats {
        forward_passes: 1,
        reverse_sweeps: 1,
        operations_recorded: (tape.len() - n) as u64,
        peak_tape_bytes: tape.bytes() as u64,
        recomputations: 0,
    };
    Ok(SecondOrder {
        primal,
        gradient,
        hvp,
        stats,
    })
}

/// The dense Hessian of a scalar `f` (row-major `n × n`) by `n` products.
pub fn hessian<F: Differentiable + ?Sized>(f: &F, x: &[f64]) -> Result<Vec<f64>, EngineError> {
    let n = x.len();
    let mut h = vec![0.0; n * n];
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        let column = gradient_and_hvp(f, x, &e)?.hvp;
        for i in 0..n {
            h[i * n + j] = column[i];
        }
    }
    Ok(h)
}

/// The forward-over-reverse engine: `hvp` natively; `jvp` by dual numbers;
/// `vjp` by the dual tape with zero tangents.
#[derive(Clone, Copy, Debug, Default)]
pub struct FwdOverRevEngine;

impl Engine for FwdOverRevEngine {
    fn name(&self) -> &str {
        "fwd_over_rev"
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
        ForwardEngine.jvp(p, x, v)
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("cotangent u", u, p.n_outputs())?;
        let zeros = vec![0.0; x.len()];
        let pass = weighted(p, x, &zeros, u)?;
        Ok(Derivative {
            primal: pass.primal,
            derivative: pass.gradient,
            stats: pass.stats,
        })
    }

    fn hvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        let pass = gradient_and_hvp(p, x, v)?;
        Ok(Derivative {
            primal: pass.primal,
            derivative: pass.hvp,
            stats: pass.stats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_example_hessian() {
        // f = x1·x2 + sin x1: H = [[−sin x1, 1], [1, 0]].
        let p =
            Program::parse("input v1 v2\nv3 = mul v1 v2\nv4 = sin v1\nv5 = add v3 v4\noutput v5")
                .unwrap();
        let h = hessian(&p, &[0.5, 2.0]).unwrap();
        assert_eq!(h, vec![-(0.5f64.sin()), 1.0, 1.0, 0.0]);
        let pass = gradient_and_hvp(&p, &[0.5, 2.0], &[1.0, -1.0]).unwrap();
        assert_eq!(pass.gradient, vec![2.0 + 0.5f64.cos(), 0.5]);
        assert_eq!(pass.hvp, vec![-(0.5f64.sin()) - 1.0, 1.0]);
        assert_eq!(
            (pass.stats.forward_passes, pass.stats.reverse_sweeps),
            (1, 1)
        );
    }
}
