//! Finite differences in MPFR: central stencils with power-of-two steps and
//! Richardson extrapolation, an error estimate, and a self-check.
//!
//! For a direction `d`, `g(t) = f(x + t·d)` is evaluated at `t = ±h/2ᵏ`
//! (`k = 0 … levels−1`). The central quotients `Dₖ = (g(tₖ) − g(−tₖ)) / 2tₖ`
//! have error `c₂tₖ² + c₄tₖ⁴ + …`, which Richardson's table removes term by
//! term. The steps are powers of two and `x`, `d` are `f64`, so every
//! stencil point is exact at the working precision. The self-check repeats
//! the estimate at twice the precision with half the step and demands that
//! the two agree within their error estimates.
//!
//! Every evaluation is done under a branch log: if any stencil point takes a
//! different path than the centre (a kink or branch inside the stencil), or
//! gives a non-finite value (a domain edge), the estimate says so instead of
//! pretending to a derivative.

use crate::logged::with_branch_log;
use crate::mp::{precision, with_precision, Mp};
use adcheck_engines::Scalar;
use rug::Float;

/// Settings of the finite-difference reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FdConfig {
    /// The first step is `2^step_exponent`, scaled by the size of `x` and `d`.
    pub step_exponent: i32,
    /// How many step sizes (each half the previous) feed the extrapolation.
    pub levels: usize,
    /// Repeat at doubled precision and halved step, and demand agreement.
    pub self_check: bool,
}

impl Default for FdConfig {
    fn default() -> Self {
        FdConfig {
            step_exponent: -40,
            levels: 3,
            self_check: true,
        }
    }
}

/// Whether a finite-difference estimate can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdStatus {
    /// Every stencil point took the centre's path and was finite.
    Smooth,
    /// A stencil point took another branch or piece than the centre, or the
    /// centre itself sits on a tie between two (a decision came out equal):
    /// there differences along one direction confirm only that direction's
    /// combination of subgradient entries, never each entry.
    BranchSwitch,
    /// A stencil point (or the centre) gave a non-finite value.
    NonFinite,
    /// The repeat at doubled precision and halved step disagreed.
    SelfCheckFailed,
}

/// A directional derivative estimated by finite differences.
#[derive(Clone, Debug)]
pub struct FdEstimate {
    /// The derivative of each output along the direction.
    pub value: Vec<Float>,
    /// A bound on each estimate's error (absolute).
    pub error: Vec<f64>,
    /// Whether the estimate can be trusted.
    pub status: FdStatus,
    /// Function evaluations spent.
    pub evaluations: usize,
}

/// The largest power of two not above `|v|` (1 for zero).
fn pow2_floor(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        1.0
    } else {
        2f64.powi(v.abs().log2().floor() as i32)
    }
}

/// Estimates the derivative of `f` at `x` along `d`. `f` evaluates the
/// function over MPFR values (at the thread's precision); its decisions must
/// go through [`Logged`](crate::Logged) values to be seen.
pub fn directional(
    f: &mut dyn FnMut(&[Mp]) -> Vec<Mp>,
    x: &[f64],
    d: &[f64],
    config: &FdConfig,
) -> FdEstimate {
    let x_scale = x.iter().fold(1.0f64, |m, v| m.max(pow2_floor(*v)));
    directional_at_scale(f, x, d, config, x_scale)
}

/// The point's own scales below 1: the largest and the smallest `|xᵢ|`
/// under 1, each rounded down to a power of two (empty when no coordinate
/// is). [`directional`] never steps below 1 times `2^step_exponent`, so
/// that a constant offset (`sin x + 1`) cannot swamp the differences; at
/// tiny coordinates (`hypot` at 1e−200, beside an input of 1e200) such
/// steps cross the features near the origin, and steps at these scales do
/// not. Scales below `2^-1026` are left out: the steps (down to `2^-46` of
/// the scale) would leave `f64`.
pub fn point_scales(x: &[f64]) -> Vec<f64> {
    let scales: Vec<f64> = x
        .iter()
        .filter(|v| v.is_finite() && **v != 0.0)
        .map(|v| pow2_floor(*v))
        .filter(|s| (2f64.powi(-1026)..1.0).contains(s))
        .collect();
    let largest = scales.iter().copied().fold(f64::NAN, f64::max);
    let smallest = scales.iter().copied().fold(f64::NAN, f64::min);
    let mut out = Vec::new();
    if largest.is_finite() {
        out.push(largest);
        if smallest < largest {
            out.push(smallest);
        }
    }
    out
}

/// [`directional`] with steps relative to `x_scale` instead of the point's
/// size floored at 1.
pub fn directional_at_scale(
    f: &mut dyn FnMut(&[Mp]) -> Vec<Mp>,
    x: &[f64],
    d: &[f64],
    config: &FdConfig,
    x_scale: f64,
) -> FdEstimate {
    let d_scale = d.iter().fold(0.0f64, |m, v| m.max(pow2_floor(*v)));
    let d_scale = if d_scale == 0.0 { 1.0 } else { d_scale };
    let h = 2f64.powi(config.step_exponent) * x_scale / d_scale;
    let first = estimate(f, x, d, h, config.levels);
    if first.status != FdStatus::Smooth || !config.self_check {
        return first;
    }
    let bits = precision() * 2;
    let second = with_precision(bits, || estimate(f, x, d, h / 2.0, config.levels));
    let evaluations = first.evaluations + second.evaluations;
    if second.status != FdStatus::Smooth {
        return FdEstimate {
            status: second.status,
            evaluations,
            ..first
        };
    }
    let agree = first
        .value
        .iter()
        .zip(&second.value)
        .zip(first.error.iter().zip(&second.error))
        .all(|((a, b), (ea, eb))| Float::with_val(64, a - b).abs().to_f64() <= 2.0 * (ea + eb));
    FdEstimate {
        status: if agree {
            FdStatus::Smooth
        } else {
            FdStatus::SelfCheckFailed
        },
        evaluations,
        // The more precise estimate, with the larger of the two error bounds.
        error: first
            .error
            .iter()
            .zip(&second.error)
            .map(|(a, b)| f64::max(*a, *b))
            .collect(),
        value: second.value,
    }
}

fn estimate(
    f: &mut dyn FnMut(&[Mp]) -> Vec<Mp>,
    x: &[f64],
    d: &[f64],
    h: f64,
    levels: usize,
) -> FdEstimate {
    let prec = precision();
    let point = |t: f64| -> Vec<Mp> {
        x.iter()
            .zip(d)
            .map(|(&xi, &di)| {
                let step = Float::with_val(prec, di) * t;
                Mp(Float::with_val(prec, &step + xi))
            })
            .collect()
    };
    let mut evaluations = 1;
    let (centre, centre_log) = with_branch_log(|| f(&point(0.0)));
    let mut status = if !centre.iter().all(|v| v.0.is_finite()) {
        FdStatus::NonFinite
    } else if centre_log.contains(&0) {
        FdStatus::BranchSwitch
    } else {
        FdStatus::Smooth
    };
    let m = centre.len();
    let mut quotients: Vec<Vec<Float>> = Vec::with_capacity(levels);
    let mut magnitude = vec![0.0f64; m];
    let mut t = h;
    for _ in 0..levels.max(1) {
        let (plus, log_plus) = with_branch_log(|| f(&point(t)));
        let (minus, log_minus) = with_branch_log(|| f(&point(-t)));
        evaluations += 2;
        if status == FdStatus::Smooth && (log_plus != centre_log || log_minus != centre_log) {
            status = FdStatus::BranchSwitch;
        }
        if plus.iter().chain(&minus).any(|v| !v.0.is_finite()) {
            status = FdStatus::NonFinite;
        }
        let row = plus
            .iter()
            .zip(&minus)
            .enumerate()
            .map(|(i, (p, q))| {
                magnitude[i] = magnitude[i].max(p.to_f64().abs()).max(q.to_f64().abs());
                Float::with_val(prec, &p.0 - &q.0) / (2.0 * t)
            })
            .collect();
        quotients.push(row);
        t /= 2.0;
    }
    let mut value = Vec::with_capacity(m);
    let mut error = Vec::with_capacity(m);
    let rounding_floor = 2f64.powi(8 - prec as i32) / (t * 2.0);
    for i in 0..m {
        let column: Vec<Float> = quotients.iter().map(|row| row[i].clone()).collect();
        let (best, previous) = richardson(column, prec);
        let diff = Float::with_val(prec, &best - &previous).abs().to_f64();
        error.push(diff + rounding_floor * magnitude[i].max(f64::MIN_POSITIVE));
        value.push(best);
    }
    FdEstimate {
        value,
        error,
        status,
        evaluations,
    }
}

/// Richardson's table over central quotients at steps halving each time;
/// returns the last diagonal entry and the one before it.
fn richardson(mut row: Vec<Float>, prec: u32) -> (Float, Float) {
    let mut previous_diagonal = row[0].clone();
    let mut factor = 4.0;
    let mut best = row[0].clone();
    for _ in 1..row.len() {
        previous_diagonal = best.clone();
        // Replace row[k] by the extrapolation of row[k−1] and row[k].
        let mut next = Vec::with_capacity(row.len() - 1);
        for k in 1..row.len() {
            let improved = Float::with_val(prec, &row[k] - &row[k - 1]) / (factor - 1.0);
            next.push(Float::with_val(prec, &row[k] + &improved));
        }
        best = next.last().cloned().unwrap_or(best);
        row = next;
        factor *= 4.0;
    }
    (best, previous_diagonal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Logged;

    fn exp_sin(x: &[Mp]) -> Vec<Mp> {
        vec![x[0].sin().exp(), x[0].clone() * x[1].clone()]
    }

    #[test]
    fn smooth_functions_get_over_200_bits() {
        let x = [0.7, -1.25];
        let est = directional(&mut exp_sin, &x, &[1.0, 0.5], &FdConfig::default());
        assert_eq!(est.status, FdStatus::Smooth);
        let exact = {
            let x0 = Mp::from_f64(0.7);
            x0.cos() * x0.sin().exp()
        };
        let err = Float::with_val(256, &est.value[0] - &exact.0).abs();
        let rel = err.to_f64() / exact.to_f64().abs();
        assert!(rel < 2f64.powi(-200), "relative error {rel:e}");
        assert!(
            est.error[0] >= err.to_f64(),
            "the estimate bounds the error"
        );
        // d(x0·x1) along (1, 0.5) = x1 + 0.5·x0 = -0.9.
        let lin = Float::with_val(256, &est.value[1] + 0.9).abs().to_f64();
        assert!(lin < 1e-60, "{lin:e}");
    }

    #[test]
    fn kinks_and_domain_edges_are_detected() {
        let mut abs = |x: &[Mp]| {
            let l: Vec<Logged<Mp>> = x.iter().cloned().map(Logged).collect();
            vec![l[0].abs().0]
        };
        let est = directional(&mut abs, &[0.0], &[1.0], &FdConfig::default());
        assert_eq!(est.status, FdStatus::BranchSwitch);
        let est = directional(&mut abs, &[1.0], &[1.0], &FdConfig::default());
        assert_eq!(est.status, FdStatus::Smooth);
        // min(a, b) at a tie along (1, 1) stays on the tie at every stencil
        // point, yet the point is a kink: the differences confirm only the
        // sum of the two partials.
        let mut min = |x: &[Mp]| {
            let l: Vec<Logged<Mp>> = x.iter().cloned().map(Logged).collect();
            vec![l[0].min(&l[1]).0]
        };
        let est = directional(&mut min, &[-2.0, -2.0], &[1.0, 1.0], &FdConfig::default());
        assert_eq!(est.status, FdStatus::BranchSwitch);
        let mut sqrt = |x: &[Mp]| vec![x[0].sqrt()];
        let est = directional(&mut sqrt, &[0.0], &[1.0], &FdConfig::default());
        assert_eq!(est.status, FdStatus::NonFinite);
    }
}
