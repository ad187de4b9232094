//! [`FloatScalar`]: any type implementing `num_traits::Float` (as echidna's
//! `Dual`, `Reverse` and `BReverse` do) as an adcheck [`Scalar`].
//!
//! Every operation maps to the crate's own `Float` method. `relu`,
//! `softplus` and `logsumexp`, which `Float` lacks, are composed from the
//! crate's `max`, `abs`, `exp`, `ln_1p` and `ln` in their numerically stable
//! forms, so what they show is the crate's primitives, not a naive formula.

use adcheck_engines::Scalar;
use num_traits::Float;
use std::cmp::Ordering;
use std::fmt::Debug;

/// A `num_traits::Float` type as a [`Scalar`] (feature `num-traits`, which
/// compiles neither worked adapter).
///
/// ```
/// use adcheck_adapters::FloatScalar;
/// use adcheck_engines::{Differentiable, Program, Scalar};
///
/// // f64 is a `num_traits::Float`, as a crate's own active type would be.
/// let p = Program::parse("input x y\nz = hypot x y\nw = softplus z\noutput w")?;
/// let out = p.eval(&[FloatScalar(3.0f64), FloatScalar(4.0)]);
/// assert_eq!(out[0].to_f64(), p.eval(&[3.0, 4.0])[0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FloatScalar<T>(pub T);

delegate_operators!(FloatScalar, Float);

impl<T: Float + Debug> Scalar for FloatScalar<T> {
    fn from_f64(c: f64) -> Self {
        FloatScalar(T::from(c).expect("every f64 converts"))
    }
    fn to_f64(&self) -> f64 {
        self.0.to_f64().unwrap_or(f64::NAN)
    }
    fn primal_cmp(&self, other: &Self) -> Option<Ordering> {
        self.to_f64().partial_cmp(&other.to_f64())
    }
    fn recip(&self) -> Self {
        FloatScalar(self.0.recip())
    }
    fn powi(&self, n: i32) -> Self {
        FloatScalar(self.0.powi(n))
    }
    fn powf(&self, p: &Self) -> Self {
        FloatScalar(self.0.powf(p.0))
    }
    fn sqrt(&self) -> Self {
        FloatScalar(self.0.sqrt())
    }
    fn cbrt(&self) -> Self {
        FloatScalar(self.0.cbrt())
    }
    fn exp(&self) -> Self {
        FloatScalar(self.0.exp())
    }
    fn expm1(&self) -> Self {
        FloatScalar(self.0.exp_m1())
    }
    fn ln(&self) -> Self {
        FloatScalar(self.0.ln())
    }
    fn log1p(&self) -> Self {
        FloatScalar(self.0.ln_1p())
    }
    fn sin(&self) -> Self {
        FloatScalar(self.0.sin())
    }
    fn cos(&self) -> Self {
        FloatScalar(self.0.cos())
    }
    fn tan(&self) -> Self {
        FloatScalar(self.0.tan())
    }
    fn asin(&self) -> Self {
        FloatScalar(self.0.asin())
    }
    fn acos(&self) -> Self {
        FloatScalar(self.0.acos())
    }
    fn atan(&self) -> Self {
        FloatScalar(self.0.atan())
    }
    fn atan2(&self, x: &Self) -> Self {
        FloatScalar(self.0.atan2(x.0))
    }
    fn sinh(&self) -> Self {
        FloatScalar(self.0.sinh())
    }
    fn cosh(&self) -> Self {
        FloatScalar(self.0.cosh())
    }
    fn tanh(&self) -> Self {
        FloatScalar(self.0.tanh())
    }
    fn abs(&self) -> Self {
        FloatScalar(self.0.abs())
    }
    fn min(&self, other: &Self) -> Self {
        FloatScalar(self.0.min(other.0))
    }
    fn max(&self, other: &Self) -> Self {
        FloatScalar(self.0.max(other.0))
    }
    /// `max(x, 0)`, the crate's `max` against a constant zero.
    fn relu(&self) -> Self {
        FloatScalar(self.0.max(T::zero()))
    }
    fn hypot(&self, other: &Self) -> Self {
        FloatScalar(self.0.hypot(other.0))
    }
    /// `x + ln_1p(exp(−x))` for `x ≥ 0`, `ln_1p(exp(x))` below: stable,
    /// and each branch has the right derivative at 0 (the one-line form
    /// `max(x, 0) + ln_1p(exp(−|x|))` adds two kinks that only cancel under
    /// particular conventions).
    fn softplus(&self) -> Self {
        let x = self.0;
        if x >= T::zero() {
            FloatScalar(x + (-x).exp().ln_1p())
        } else {
            FloatScalar(x.exp().ln_1p())
        }
    }
    /// `m + ln Σ exp(xᵢ − m)` with `m` the crate's running `max`; when `m` is
    /// infinite, the mean of the entries equal to it (the declared
    /// convention), since `∞ − ∞` has no value.
    fn logsumexp(xs: &[Self]) -> Self {
        let m = xs[1..].iter().fold(xs[0].0, |m, x| m.max(x.0));
        if m.is_infinite() {
            let at_m: Vec<T> = xs.iter().map(|x| x.0).filter(|x| *x == m).collect();
            let k = T::from(at_m.len().max(1)).expect("small");
            return FloatScalar(at_m.into_iter().fold(T::zero(), |s, x| s + x) / k);
        }
        let sum = xs.iter().fold(T::zero(), |s, x| s + (x.0 - m).exp());
        FloatScalar(m + sum.ln())
    }
}
