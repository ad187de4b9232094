//! The [`Scalar`] trait: the number type every program is written over.

use std::cmp::Ordering;
use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// A number type a [`Differentiable`](crate::Differentiable) function is
/// written over.
///
/// `f64` implements it (the primal), every engine's active type implements it
/// (dual numbers, tape variables, trace recorders), and so does the oracle's
/// MPFR float. A function written once against `Scalar` therefore runs plainly,
/// differentiated by any engine, and in arbitrary precision.
///
/// Methods take `&self` so that heap-backed types such as MPFR floats need not
/// be cloned to be read. The derivative each engine gives at kinks and domain
/// edges is fixed in [`conventions`](crate::conventions).
///
/// Comparisons read the primal value only ([`Scalar::primal_cmp`]): a branch
/// in a program takes one side and is never differentiated through.
pub trait Scalar:
    Clone
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// A constant (derivative zero) with the value `c`.
    fn from_f64(c: f64) -> Self;
    /// The primal value rounded to the nearest `f64`.
    fn to_f64(&self) -> f64;
    /// Compares primal values (at the type's own precision); `None` when
    /// either is NaN.
    fn primal_cmp(&self, other: &Self) -> Option<Ordering>;

    /// `1 / self`.
    fn recip(&self) -> Self;
    /// `self` raised to an integer power.
    fn powi(&self, n: i32) -> Self;
    /// `self` raised to a real power.
    fn powf(&self, p: &Self) -> Self;
    /// Square root.
    fn sqrt(&self) -> Self;
    /// Cube root (real, defined for negative arguments).
    fn cbrt(&self) -> Self;
    /// `e^self`.
    fn exp(&self) -> Self;
    /// `e^self - 1`, accurate near zero.
    fn expm1(&self) -> Self;
    /// Natural logarithm.
    fn ln(&self) -> Self;
    /// `ln(1 + self)`, accurate near zero.
    fn log1p(&self) -> Self;
    /// Sine.
    fn sin(&self) -> Self;
    /// Cosine.
    fn cos(&self) -> Self;
    /// Tangent.
    fn tan(&self) -> Self;
    /// Arcsine.
    fn asin(&self) -> Self;
    /// Arccosine.
    fn acos(&self) -> Self;
    /// Arctangent.
    fn atan(&self) -> Self;
    /// Four-quadrant arctangent of `self / x` (`self` is y).
    fn atan2(&self, x: &Self) -> Self;
    /// Hyperbolic sine.
    fn sinh(&self) -> Self;
    /// Hyperbolic cosine.
    fn cosh(&self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(&self) -> Self;
    /// Absolute value.
    fn abs(&self) -> Self;
    /// The smaller of two values; NaN if either is NaN.
    fn min(&self, other: &Self) -> Self;
    /// The larger of two values; NaN if either is NaN.
    fn max(&self, other: &Self) -> Self;
    /// `max(self, 0)`, with its own derivative convention at 0.
    fn relu(&self) -> Self;
    /// `sqrt(self² + other²)` without undue overflow.
    fn hypot(&self, other: &Self) -> Self;
    /// `ln(1 + e^self)`, computed stably.
    fn softplus(&self) -> Self;
    /// `ln(Σ e^xᵢ)`, computed stably (shifted by the maximum).
    ///
    /// # Panics
    /// Implementations may panic on an empty slice; programs never pass one.
    fn logsumexp(xs: &[Self]) -> Self;

    /// The value a branch (`select`) takes. Plain values return a copy;
    /// tape variables record a unit-partial copy, so that a branch result is
    /// a node of its own and its adjoint is accumulated once, in one place
    /// (which keeps checkpointed and plain reverse mode bitwise equal).
    fn selected(&self) -> Self {
        self.clone()
    }

    /// `self < other` on primal values.
    fn lt(&self, other: &Self) -> bool {
        self.primal_cmp(other) == Some(Ordering::Less)
    }
    /// `self <= other` on primal values.
    fn le(&self, other: &Self) -> bool {
        matches!(
            self.primal_cmp(other),
            Some(Ordering::Less | Ordering::Equal)
        )
    }
    /// `self > other` on primal values.
    fn gt(&self, other: &Self) -> bool {
        other.lt(self)
    }
    /// `self >= other` on primal values.
    fn ge(&self, other: &Self) -> bool {
        other.le(self)
    }
    /// `self == other` on primal values.
    fn eq_primal(&self, other: &Self) -> bool {
        self.primal_cmp(other) == Some(Ordering::Equal)
    }
    /// Whether the primal value is exactly zero (either sign).
    fn is_zero(&self) -> bool {
        self.to_f64() == 0.0
    }
}

/// Numerically stable `ln(1 + e^x)` for `f64`: `max(x, 0) + ln(1 + e^-|x|)`.
fn softplus_f64(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Stable log-sum-exp for `f64`: shift by the maximum; all `-inf` gives `-inf`.
fn logsumexp_f64(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if xs.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    if m == f64::INFINITY {
        return m;
    }
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + xs.iter().map(|&x| (x - m).exp()).sum::<f64>().ln()
}

/// `min` and `max` for `f64`: the value selected by primal order, and NaN
/// when unordered. On ties `a + (b − a)/2`, which is `a` (`+0` for a tie of
/// `±0`), as every engine computes it (see `conventions`).
fn pick(a: f64, b: f64, order: Option<Ordering>, want: Ordering) -> Option<f64> {
    match order {
        Some(Ordering::Equal) => Some(a + (b - a) * 0.5),
        Some(o) if o == want => Some(a),
        Some(_) => Some(b),
        None => None,
    }
}

impl Scalar for f64 {
    #[inline]
    fn from_f64(c: f64) -> Self {
        c
    }
    #[inline]
    fn to_f64(&self) -> f64 {
        *self
    }
    #[inline]
    fn primal_cmp(&self, other: &Self) -> Option<Ordering> {
        self.partial_cmp(other)
    }
    #[inline]
    fn recip(&self) -> Self {
        1.0 / *self
    }
    #[inline]
    fn powi(&self, n: i32) -> Self {
        f64::powi(*self, n)
    }
    #[inline]
    fn powf(&self, p: &Self) -> Self {
        f64::powf(*self, *p)
    }
    #[inline]
    fn sqrt(&self) -> Self {
        f64::sqrt(*self)
    }
    #[inline]
    fn cbrt(&self) -> Self {
        f64::cbrt(*self)
    }
    #[inline]
    fn exp(&self) -> Self {
        f64::exp(*self)
    }
    #[inline]
    fn expm1(&self) -> Self {
        f64::exp_m1(*self)
    }
    #[inline]
    fn ln(&self) -> Self {
        f64::ln(*self)
    }
    #[inline]
    fn log1p(&self) -> Self {
        f64::ln_1p(*self)
    }
    #[inline]
    fn sin(&self) -> Self {
        f64::sin(*self)
    }
    #[inline]
    fn cos(&self) -> Self {
        f64::cos(*self)
    }
    #[inline]
    fn tan(&self) -> Self {
        f64::tan(*self)
    }
    #[inline]
    fn asin(&self) -> Self {
        f64::asin(*self)
    }
    #[inline]
    fn acos(&self) -> Self {
        f64::acos(*self)
    }
    #[inline]
    fn atan(&self) -> Self {
        f64::atan(*self)
    }
    #[inline]
    fn atan2(&self, x: &Self) -> Self {
        f64::atan2(*self, *x)
    }
    #[inline]
    fn sinh(&self) -> Self {
        f64::sinh(*self)
    }
    #[inline]
    fn cosh(&self) -> Self {
        f64::cosh(*self)
    }
    #[inline]
    fn tanh(&self) -> Self {
        f64::tanh(*self)
    }
    #[inline]
    fn abs(&self) -> Self {
        f64::abs(*self)
    }
    #[inline]
    fn min(&self, other: &Self) -> Self {
        pick(*self, *other, self.partial_cmp(other), Ordering::Less).unwrap_or(f64::NAN)
    }
    #[inline]
    fn max(&self, other: &Self) -> Self {
        pick(*self, *other, self.partial_cmp(other), Ordering::Greater).unwrap_or(f64::NAN)
    }
    #[inline]
    fn relu(&self) -> Self {
        if self.is_nan() {
            f64::NAN
        } else if *self > 0.0 {
            *self
        } else {
            0.0
        }
    }
    #[inline]
    fn hypot(&self, other: &Self) -> Self {
        f64::hypot(*self, *other)
    }
    #[inline]
    fn softplus(&self) -> Self {
        softplus_f64(*self)
    }
    #[inline]
    fn logsumexp(xs: &[Self]) -> Self {
        logsumexp_f64(xs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_propagate_nan_and_pick_by_order() {
        assert_eq!(Scalar::min(&1.0, &2.0), 1.0);
        assert_eq!(Scalar::max(&1.0, &2.0), 2.0);
        assert!(Scalar::min(&f64::NAN, &2.0).is_nan());
        assert!(Scalar::max(&2.0, &f64::NAN).is_nan());
        // Ties give a + (b − a)/2: the value, with +0 for a tie of ±0.
        assert_eq!(Scalar::max(&2.5, &2.5), 2.5);
        assert!(Scalar::max(&-0.0, &0.0).is_sign_positive());
    }

    #[test]
    fn stable_softplus_and_logsumexp() {
        assert_eq!(softplus_f64(1000.0), 1000.0);
        assert!((softplus_f64(0.0) - std::f64::consts::LN_2).abs() < 1e-16);
        assert_eq!(softplus_f64(-1000.0), 0.0);
        assert_eq!(
            logsumexp_f64(&[1000.0, 1000.0]),
            1000.0 + std::f64::consts::LN_2
        );
        assert_eq!(logsumexp_f64(&[f64::NEG_INFINITY; 3]), f64::NEG_INFINITY);
        assert_eq!(logsumexp_f64(&[f64::NEG_INFINITY, 0.0]), 0.0);
        assert!(logsumexp_f64(&[f64::NAN, 0.0]).is_nan());
    }

    #[test]
    fn comparisons_read_primal_values() {
        assert!(Scalar::lt(&1.0, &2.0));
        assert!(Scalar::le(&2.0, &2.0));
        assert!(!Scalar::lt(&f64::NAN, &2.0));
        assert!(Scalar::gt(&3.0, &2.0));
        assert!(Scalar::is_zero(&-0.0));
    }
}
