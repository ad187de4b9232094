//! The `echidna` adapter (feature `echidna`, echidna 0.15.0 with its
//! `bytecode` feature): `jvp` with `echidna::jvp` over `Dual<f64>`, `vjp`
//! and gradients with `echidna::vjp` over its tape type `Reverse<f64>`, and
//! `H·v` with `echidna::composed_hvp` (forward over its bytecode reverse
//! mode, `Dual<BReverse<f64>>`).
//!
//! echidna's types implement `num_traits::Float`, so every operation is
//! echidna's own (through [`FloatScalar`]), `min`, `max`, `abs`, `hypot`
//! and `atan2` included; only `relu`, `softplus` and `logsumexp` are
//! composed from its operations.

use crate::num_traits_scalar::FloatScalar;
use adcheck_engines::{
    CallStats, Capabilities, Derivative, Differentiable, Engine, EngineError, Program,
};
use echidna::{BReverse, Dual, Reverse};

/// echidna as an adcheck engine (`echidna`).
#[derive(Clone, Copy, Debug, Default)]
pub struct EchidnaEngine;

fn stats(forward_passes: u64, reverse_sweeps: u64) -> CallStats {
    CallStats {
        forward_passes,
        reverse_sweeps,
        ..CallStats::default()
    }
}

impl Engine for EchidnaEngine {
    fn name(&self) -> &str {
        "echidna"
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
        EngineError::check_point(p, x)?;
        EngineError::check_seed("direction v", v, x.len())?;
        let (primal, derivative) = echidna::jvp(
            |xs: &[Dual<f64>]| {
                let inputs: Vec<FloatScalar<Dual<f64>>> =
                    xs.iter().map(|&x| FloatScalar(x)).collect();
                p.eval(&inputs).into_iter().map(|y| y.0).collect()
            },
            x,
            v,
        );
        Ok(Derivative {
            primal,
            derivative,
            stats: stats(1, 0),
        })
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_point(p, x)?;
        EngineError::check_seed("cotangent u", u, p.n_outputs())?;
        let (primal, derivative) = echidna::vjp(
            |xs: &[Reverse<f64>]| {
                let inputs: Vec<FloatScalar<Reverse<f64>>> =
                    xs.iter().map(|&x| FloatScalar(x)).collect();
                p.eval(&inputs).into_iter().map(|y| y.0).collect()
            },
            x,
            u,
        );
        Ok(Derivative {
            primal,
            derivative,
            stats: stats(1, 1),
        })
    }

    fn hvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_scalar(p, "hvp")?;
        EngineError::check_point(p, x)?;
        EngineError::check_seed("direction v", v, x.len())?;
        let (value, _gradient, hv) = echidna::composed_hvp(
            |xs: &[Dual<BReverse<f64>>]| {
                let inputs: Vec<FloatScalar<Dual<BReverse<f64>>>> =
                    xs.iter().map(|&x| FloatScalar(x)).collect();
                p.eval(&inputs)[0].0
            },
            x,
            v,
        );
        Ok(Derivative {
            primal: vec![value],
            derivative: hv,
            stats: stats(1, 1),
        })
    }
}

/// The primal and `uᵀJ` of any [`Differentiable`] by echidna's reverse mode
/// (`echidna::vjp` over `Reverse<f64>`), as a user of echidna computes a
/// gradient; the bench measures it beside the built-in engines.
pub fn vjp_of<F: Differentiable + ?Sized>(f: &F, x: &[f64], u: &[f64]) -> (Vec<f64>, Vec<f64>) {
    echidna::vjp(
        |xs: &[Reverse<f64>]| {
            let inputs: Vec<FloatScalar<Reverse<f64>>> =
                xs.iter().map(|&x| FloatScalar(x)).collect();
            f.eval(&inputs).into_iter().map(|y| y.0).collect()
        },
        x,
        u,
    )
}

/// The seed example through all three of echidna's modes.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_example() {
        let p =
            Program::parse("input v1 v2\nv3 = mul v1 v2\nv4 = sin v1\nv5 = add v3 v4\noutput v5")
                .unwrap();
        let x = [1.5f64, -2.0];
        let exact = vec![x[1] + x[0].cos(), x[0]];
        assert_eq!(EchidnaEngine.gradient(&p, &x).unwrap().derivative, exact);
        assert_eq!(
            EchidnaEngine.jvp(&p, &x, &[1.0, 0.0]).unwrap().derivative,
            vec![exact[0]]
        );
        // H = [[−sin x1, 1], [1, 0]].
        let hv = EchidnaEngine.hvp(&p, &x, &[1.0, 0.0]).unwrap().derivative;
        assert_eq!(hv, vec![-x[0].sin(), 1.0]);
    }
}
