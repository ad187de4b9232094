//! [`Mp`]: an MPFR float implementing [`Scalar`], with the precision and the
//! branch log kept per thread.
//!
//! Every operation rounds to nearest at the thread's working precision
//! ([`with_precision`], default [`DEFAULT_PRECISION`] bits).

use adcheck_engines::Scalar;
use rug::float::Special;
use rug::ops::Pow;
use rug::Float;
use std::cell::Cell;
use std::cmp::Ordering;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// The working precision when none is set: 256 bits.
pub const DEFAULT_PRECISION: u32 = 256;

thread_local! {
    static PRECISION: Cell<u32> = const { Cell::new(DEFAULT_PRECISION) };
}

/// The current thread's working precision, in bits.
pub fn precision() -> u32 {
    PRECISION.with(Cell::get)
}

/// Runs `body` with the working precision set to `bits` (restored after).
pub fn with_precision<R>(bits: u32, body: impl FnOnce() -> R) -> R {
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            PRECISION.with(|p| p.set(self.0));
        }
    }
    let _restore = Restore(PRECISION.with(|p| p.replace(bits.max(rug::float::prec_min()))));
    body()
}

/// An MPFR float at the thread's working precision.
#[derive(Clone, Debug, PartialEq)]
pub struct Mp(pub Float);

impl Mp {
    /// A value rounded to the working precision.
    pub fn new<T>(value: T) -> Self
    where
        Float: rug::Assign<T>,
    {
        Mp(Float::with_val(precision(), value))
    }

    /// NaN at the working precision.
    pub fn nan() -> Self {
        Mp::new(Special::Nan)
    }

    /// The MPFR value.
    pub fn float(&self) -> &Float {
        &self.0
    }

    fn zero() -> Self {
        Mp::new(0)
    }

    fn decide(&self, other: &Self) -> Option<Ordering> {
        self.0.partial_cmp(&other.0)
    }
}

macro_rules! mp_operator {
    ($trait:ident, $method:ident, $op:tt) => {
        impl $trait for Mp {
            type Output = Mp;
            fn $method(self, rhs: Mp) -> Mp {
                Mp::new(&self.0 $op &rhs.0)
            }
        }
    };
}
mp_operator!(Add, add, +);
mp_operator!(Sub, sub, -);
mp_operator!(Mul, mul, *);
mp_operator!(Div, div, /);

impl Neg for Mp {
    type Output = Mp;
    fn neg(self) -> Mp {
        Mp::new(-&self.0)
    }
}

impl Scalar for Mp {
    fn from_f64(c: f64) -> Self {
        // Exact: the working precision is at least 53 bits in practice.
        Mp::new(c)
    }
    fn to_f64(&self) -> f64 {
        self.0.to_f64()
    }
    fn primal_cmp(&self, other: &Self) -> Option<Ordering> {
        self.decide(other)
    }
    fn recip(&self) -> Self {
        Mp::new(self.0.recip_ref())
    }
    fn powi(&self, n: i32) -> Self {
        Mp::new((&self.0).pow(n))
    }
    fn powf(&self, p: &Self) -> Self {
        Mp::new((&self.0).pow(&p.0))
    }
    fn sqrt(&self) -> Self {
        Mp::new(self.0.sqrt_ref())
    }
    fn cbrt(&self) -> Self {
        Mp::new(self.0.cbrt_ref())
    }
    fn exp(&self) -> Self {
        Mp::new(self.0.exp_ref())
    }
    fn expm1(&self) -> Self {
        Mp::new(self.0.exp_m1_ref())
    }
    fn ln(&self) -> Self {
        Mp::new(self.0.ln_ref())
    }
    fn log1p(&self) -> Self {
        Mp::new(self.0.ln_1p_ref())
    }
    fn sin(&self) -> Self {
        Mp::new(self.0.sin_ref())
    }
    fn cos(&self) -> Self {
        Mp::new(self.0.cos_ref())
    }
    fn tan(&self) -> Self {
        Mp::new(self.0.tan_ref())
    }
    fn asin(&self) -> Self {
        Mp::new(self.0.asin_ref())
    }
    fn acos(&self) -> Self {
        Mp::new(self.0.acos_ref())
    }
    fn atan(&self) -> Self {
        Mp::new(self.0.atan_ref())
    }
    fn atan2(&self, x: &Self) -> Self {
        Mp::new(self.0.atan2_ref(&x.0))
    }
    fn sinh(&self) -> Self {
        Mp::new(self.0.sinh_ref())
    }
    fn cosh(&self) -> Self {
        Mp::new(self.0.cosh_ref())
    }
    fn tanh(&self) -> Self {
        Mp::new(self.0.tanh_ref())
    }
    fn abs(&self) -> Self {
        Mp::new(self.0.abs_ref())
    }
    fn min(&self, other: &Self) -> Self {
        match self.decide(other) {
            Some(Ordering::Greater) => other.clone(),
            Some(_) => self.clone(),
            None => Mp::nan(),
        }
    }
    fn max(&self, other: &Self) -> Self {
        match self.decide(other) {
            Some(Ordering::Less) => other.clone(),
            Some(_) => self.clone(),
            None => Mp::nan(),
        }
    }
    fn relu(&self) -> Self {
        match self.decide(&Mp::zero()) {
            Some(Ordering::Greater) => self.clone(),
            Some(_) => Mp::zero(),
            None => Mp::nan(),
        }
    }
    fn hypot(&self, other: &Self) -> Self {
        Mp::new(self.0.hypot_ref(&other.0))
    }
    fn softplus(&self) -> Self {
        // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|).
        let positive = Mp::new(self.0.abs_ref());
        let tail = Mp::new((-positive.0).exp());
        let tail = Mp::new(tail.0.ln_1p_ref());
        if self.0.is_sign_positive() {
            Mp::new(&self.0 + &tail.0)
        } else {
            tail
        }
    }
    fn logsumexp(xs: &[Self]) -> Self {
        if xs.iter().any(|x| x.0.is_nan()) {
            return Mp::nan();
        }
        let max = xs
            .iter()
            .map(|x| &x.0)
            .fold(None::<&Float>, |m, x| match m {
                Some(m) if m >= x => Some(m),
                _ => Some(x),
            })
            .expect("logsumexp of no arguments");
        if max.is_infinite() {
            return Mp(max.clone());
        }
        let mut total = Float::with_val(precision(), 0);
        for x in xs {
            total += Float::with_val(precision(), &x.0 - max).exp();
        }
        Mp::new(total.ln() + max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_is_scoped_and_values_exact() {
        assert_eq!(precision(), DEFAULT_PRECISION);
        let third = with_precision(512, || Mp::from_f64(1.0) / Mp::from_f64(3.0));
        assert_eq!(third.0.prec(), 512);
        assert_eq!(precision(), DEFAULT_PRECISION);
        assert_eq!(Mp::from_f64(0.1).0.to_f64(), 0.1);
    }

    #[test]
    fn special_functions_agree_with_f64() {
        let x = Mp::from_f64(0.75);
        assert_eq!(x.softplus().to_f64(), 0.75f64.exp().ln_1p());
        let lse = Mp::logsumexp(&[Mp::from_f64(1000.0), Mp::from_f64(1000.0)]);
        assert_eq!(lse.to_f64(), 1000.0 + std::f64::consts::LN_2);
        let neg = Mp::from_f64(f64::NEG_INFINITY);
        assert_eq!(
            Mp::logsumexp(&[neg.clone(), neg]).to_f64(),
            f64::NEG_INFINITY
        );
        assert_eq!(Mp::from_f64(-8.0).cbrt().to_f64(), -2.0);
        assert_eq!(Mp::from_f64(-2.0).powi(3).to_f64(), -8.0);
    }
}
