//! The `num-dual` adapter (feature `num-dual`, num-dual 0.15.1): forward
//! mode with `Dual64` (gradients and Jacobians by `n` passes) and `H·v` with
//! hyper-dual numbers (`HyperDual64`, `n` passes: `eps1 = eᵢ`, `eps2 = v`
//! gives `eᵢᵀ H v` in `eps1eps2`).
//!
//! Every operation num-dual has maps to it: arithmetic, `recip`, `powi`,
//! `powf` (a constant exponent) and `powd` (a variable one), `sqrt`, `cbrt`,
//! `exp`, `exp_m1`, `ln`, `ln_1p`, the trigonometric and hyperbolic
//! functions, `atan2` and `abs`. It has no `min`, `max`, `relu`, `hypot`,
//! `softplus` or `logsumexp`; the adapter composes those from num-dual's
//! operations in stable forms, choosing adcheck's declared values at ties,
//! so a failure in them would be the adapter's, and the report says which
//! operations a failing case uses.

use crate::glue::{ForwardActive, ForwardGlue};
use adcheck_engines::{
    CallStats, Capabilities, Derivative, Differentiable, Engine, EngineError, Program, Scalar,
};
use num_dual::{Dual64, DualNum, DualStruct, HyperDual64};
use std::cmp::Ordering;
use std::fmt::Debug;

/// The num-dual types the adapter uses.
pub trait NumDualActive: DualNum<Primitive = f64> + DualStruct<Real = f64> + Copy + Debug {
    /// Whether every derivative part is zero (a constant).
    fn is_constant(&self) -> bool;
}

impl NumDualActive for Dual64 {
    fn is_constant(&self) -> bool {
        self.eps == 0.0
    }
}

impl NumDualActive for HyperDual64 {
    fn is_constant(&self) -> bool {
        self.eps1 == 0.0 && self.eps2 == 0.0 && self.eps1eps2 == 0.0
    }
}

/// A num-dual number as a [`Scalar`].
#[derive(Clone, Copy, Debug)]
pub struct DualScalar<D>(pub D);

delegate_operators!(DualScalar, NumDualActive);

impl<D: NumDualActive> DualScalar<D> {
    fn constant(c: f64) -> Self {
        DualScalar(D::from(c))
    }

    /// `min` or `max` by the real parts; a tie gives `a + (b − a)/2`.
    fn extreme(&self, other: &Self, want: Ordering) -> Self {
        match self.primal_cmp(other) {
            Some(Ordering::Equal) => *self + (*other - *self) * Self::constant(0.5),
            Some(o) if o == want => *self,
            Some(_) => *other,
            None => Self::constant(f64::NAN),
        }
    }
}

impl<D: NumDualActive> Scalar for DualScalar<D> {
    fn from_f64(c: f64) -> Self {
        Self::constant(c)
    }
    fn to_f64(&self) -> f64 {
        self.0.re()
    }
    fn primal_cmp(&self, other: &Self) -> Option<Ordering> {
        self.0.re().partial_cmp(&other.0.re())
    }
    fn recip(&self) -> Self {
        DualScalar(self.0.recip())
    }
    fn powi(&self, n: i32) -> Self {
        DualScalar(self.0.powi(n))
    }
    /// num-dual's `powf` for a constant exponent, `powd` for a variable one.
    fn powf(&self, p: &Self) -> Self {
        if p.0.is_constant() {
            DualScalar(self.0.powf(p.0.re()))
        } else {
            DualScalar(self.0.powd(p.0))
        }
    }
    fn sqrt(&self) -> Self {
        DualScalar(self.0.sqrt())
    }
    fn cbrt(&self) -> Self {
        DualScalar(self.0.cbrt())
    }
    fn exp(&self) -> Self {
        DualScalar(self.0.exp())
    }
    fn expm1(&self) -> Self {
        DualScalar(self.0.exp_m1())
    }
    fn ln(&self) -> Self {
        DualScalar(self.0.ln())
    }
    fn log1p(&self) -> Self {
        DualScalar(self.0.ln_1p())
    }
    fn sin(&self) -> Self {
        DualScalar(self.0.sin())
    }
    fn cos(&self) -> Self {
        DualScalar(self.0.cos())
    }
    fn tan(&self) -> Self {
        DualScalar(self.0.tan())
    }
    fn asin(&self) -> Self {
        DualScalar(self.0.asin())
    }
    fn acos(&self) -> Self {
        DualScalar(self.0.acos())
    }
    fn atan(&self) -> Self {
        DualScalar(self.0.atan())
    }
    fn atan2(&self, x: &Self) -> Self {
        DualScalar(self.0.atan2(x.0))
    }
    fn sinh(&self) -> Self {
        DualScalar(self.0.sinh())
    }
    fn cosh(&self) -> Self {
        DualScalar(self.0.cosh())
    }
    fn tanh(&self) -> Self {
        DualScalar(self.0.tanh())
    }
    fn abs(&self) -> Self {
        DualScalar(num_traits::Signed::abs(&self.0))
    }
    fn min(&self, other: &Self) -> Self {
        self.extreme(other, Ordering::Less)
    }
    fn max(&self, other: &Self) -> Self {
        self.extreme(other, Ordering::Greater)
    }
    fn relu(&self) -> Self {
        match self.primal_cmp(&Self::constant(0.0)) {
            Some(Ordering::Greater) => *self,
            Some(_) => Self::constant(0.0),
            None => Self::constant(f64::NAN),
        }
    }
    /// `s·√((a/s)² + (b/s)²)` with `s = max(|a|, |b|)`; `0` at the origin.
    fn hypot(&self, other: &Self) -> Self {
        let (a, b) = (self.abs(), other.abs());
        let s = if a.0.re() >= b.0.re() { a } else { b };
        if s.0.re() == 0.0 {
            return Self::constant(0.0);
        }
        if s.0.re().is_infinite() {
            return s;
        }
        let (p, q) = (*self / s, *other / s);
        s * (p * p + q * q).sqrt()
    }
    /// `x + ln_1p(exp(−x))` for `x ≥ 0`, `ln_1p(exp(x))` below (stable,
    /// and smooth through the branch).
    fn softplus(&self) -> Self {
        if self.0.re() >= 0.0 {
            *self + (-*self).exp().log1p()
        } else {
            self.exp().log1p()
        }
    }
    /// `m + ln Σ exp(xᵢ − m)`, `m` the largest entry; when `m` is infinite,
    /// the mean of the entries equal to it.
    fn logsumexp(xs: &[Self]) -> Self {
        let m = xs[1..]
            .iter()
            .fold(xs[0], |m, x| if x.0.re() > m.0.re() { *x } else { m });
        if m.0.re().is_infinite() {
            let at_m: Vec<Self> = xs
                .iter()
                .copied()
                .filter(|x| x.0.re() == m.0.re())
                .collect();
            // Scaled by a primitive 1/k: num-dual's product with a constant
            // dual would multiply its zero tangent by the infinite value.
            let k = at_m.len() as f64;
            let sum = at_m[1..].iter().fold(at_m[0], |s, x| s + *x);
            return DualScalar(sum.0 * (1.0 / k));
        }
        let sum = xs
            .iter()
            .fold(Self::constant(0.0), |s, x| s + (*x - m).exp());
        m + sum.ln()
    }
}

impl ForwardActive for DualScalar<Dual64> {
    fn seeded(value: f64, tangent: f64) -> Self {
        DualScalar(Dual64::new(value, tangent))
    }
    fn tangent(&self) -> f64 {
        self.0.eps
    }
}

/// The primal and `J·v` of any [`Differentiable`] in one pass of num-dual's
/// `Dual64`, as a user of num-dual computes a directional derivative; the
/// bench measures it beside the built-in engines.
pub fn jvp_of<F: Differentiable + ?Sized>(f: &F, x: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let inputs: Vec<DualScalar<Dual64>> = x
        .iter()
        .zip(v)
        .map(|(&re, &eps)| DualScalar(Dual64::new(re, eps)))
        .collect();
    let out = f.eval(&inputs);
    (
        out.iter().map(|y| y.0.re).collect(),
        out.iter().map(|y| y.0.eps).collect(),
    )
}

/// num-dual as an adcheck engine (`num-dual`).
pub struct NumDualEngine {
    forward: ForwardGlue<DualScalar<Dual64>>,
}

impl Default for NumDualEngine {
    fn default() -> Self {
        NumDualEngine {
            forward: ForwardGlue::new("num-dual"),
        }
    }
}

impl Engine for NumDualEngine {
    fn name(&self) -> &str {
        self.forward.name()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            hvp: true,
            ..self.forward.capabilities()
        }
    }

    fn jvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        self.forward.jvp(p, x, v)
    }

    fn vjp(&self, p: &Program, x: &[f64], u: &[f64]) -> Result<Derivative, EngineError> {
        self.forward.vjp(p, x, u)
    }

    /// `n` hyper-dual passes: `eps1 = eᵢ`, `eps2 = v`.
    fn hvp(&self, p: &Program, x: &[f64], v: &[f64]) -> Result<Derivative, EngineError> {
        EngineError::check_scalar(p, "hvp")?;
        EngineError::check_point(p, x)?;
        EngineError::check_seed("direction v", v, x.len())?;
        let mut primal = Vec::new();
        let mut hv = Vec::with_capacity(x.len());
        for i in 0..x.len() {
            let inputs: Vec<DualScalar<HyperDual64>> = x
                .iter()
                .zip(v)
                .enumerate()
                .map(|(j, (&xj, &vj))| {
                    let e = if i == j { 1.0 } else { 0.0 };
                    DualScalar(HyperDual64::new(xj, e, vj, 0.0))
                })
                .collect();
            let out = p.eval(&inputs);
            primal = vec![out[0].0.re];
            hv.push(out[0].0.eps1eps2);
        }
        Ok(Derivative {
            primal,
            derivative: hv,
            stats: CallStats {
                forward_passes: x.len() as u64,
                ..CallStats::default()
            },
        })
    }
}
