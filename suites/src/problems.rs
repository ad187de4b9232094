//! Benchmark problems, written once over `Scalar`: the scalar functions of
//! the standard AD benchmarks (GradBench, ADBench), a family `F(n, m)` with a
//! controlled cost per output, and two stepped problems (an RK4 integrator
//! and a GRU-style recurrent cell) for checkpointing.

use adcheck_engines::stepped::Stepped;
use adcheck_engines::{Differentiable, Scalar};

fn c<S: Scalar>(v: f64) -> S {
    S::from_f64(v)
}

/// A deterministic point in `[-1, 1]ⁿ` (no randomness to seed).
pub fn point(n: usize, salt: u64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let z = crate::generate::mix(salt, i as u64);
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// Rosenbrock: `Σ 100(xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)²`.
#[derive(Clone, Copy, Debug)]
pub struct Rosenbrock {
    /// Inputs.
    pub n: usize,
}

impl Differentiable for Rosenbrock {
    fn n_inputs(&self) -> usize {
        self.n
    }
    fn n_outputs(&self) -> usize {
        1
    }
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        let mut total = c::<S>(0.0);
        for i in 0..self.n - 1 {
            let a = x[i + 1].clone() - x[i].clone() * x[i].clone();
            let b = c::<S>(1.0) - x[i].clone();
            total = total + c::<S>(100.0) * a.clone() * a + b.clone() * b;
        }
        vec![total]
    }
}

/// Log-sum-exp (GradBench `lse`): `m + ln Σ e^(xᵢ − m)` with `m = max xᵢ`,
/// written out operation by operation.
#[derive(Clone, Copy, Debug)]
pub struct LogSumExp {
    /// Inputs.
    pub n: usize,
}

impl Differentiable for LogSumExp {
    fn n_inputs(&self) -> usize {
        self.n
    }
    fn n_outputs(&self) -> usize {
        1
    }
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        let mut m = x[0].clone();
        for v in &x[1..] {
            if v.gt(&m) {
                m = v.clone();
            }
        }
        let mut total = c::<S>(0.0);
        for v in x {
            total = total + (v.clone() - m.clone()).exp();
        }
        vec![m + total.ln()]
    }
}

/// Linear least squares (GradBench `llsq`): `½ Σᵢ (sᵢ − Σⱼ xⱼ tᵢʲ)²` with
/// `tᵢ = −1 + 2i/(m − 1)` and `sᵢ = sign(tᵢ)`.
#[derive(Clone, Copy, Debug)]
pub struct LinearLeastSquares {
    /// Coefficients (inputs).
    pub n: usize,
    /// Sample points.
    pub m: usize,
}

impl Differentiable for LinearLeastSquares {
    fn n_inputs(&self) -> usize {
        self.n
    }
    fn n_outputs(&self) -> usize {
        1
    }
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        let mut total = c::<S>(0.0);
        for i in 0..self.m {
            let t = -1.0 + 2.0 * i as f64 / (self.m.max(2) - 1) as f64;
            let s = if t > 0.0 {
                1.0
            } else if t < 0.0 {
                -1.0
            } else {
                0.0
            };
            // Horner: Σⱼ xⱼ tʲ.
            let mut poly = c::<S>(0.0);
            for xj in x.iter().rev() {
                poly = poly * c::<S>(t) + xj.clone();
            }
            let r = c::<S>(s) - poly;
            total = total + r.clone() * r;
        }
        vec![total * c::<S>(0.5)]
    }
}

/// A Gaussian mixture objective with diagonal covariances: the negative
/// log-likelihood of `points` fixed data points in `d` dimensions under `k`
/// components, parameters `α` (k), means (k·d) and log standard deviations
/// (k·d).
#[derive(Clone, Debug)]
pub struct Gmm {
    /// Dimensions.
    pub d: usize,
    /// Components.
    pub k: usize,
    /// The data, `points × d`.
    pub data: Vec<f64>,
}

impl Gmm {
    /// A problem with `n_points` deterministic points.
    pub fn new(d: usize, k: usize, n_points: usize) -> Self {
        Gmm {
            d,
            k,
            data: point(n_points * d, 0x6a11),
        }
    }
}

impl Differentiable for Gmm {
    fn n_inputs(&self) -> usize {
        self.k + 2 * self.k * self.d
    }
    fn n_outputs(&self) -> usize {
        1
    }
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        let (d, k) = (self.d, self.k);
        let alpha = &x[..k];
        let mean = &x[k..k + k * d];
        let log_sd = &x[k + k * d..];
        let mut total = c::<S>(0.0);
        for p in self.data.chunks(d) {
            let mut terms = Vec::with_capacity(k);
            for j in 0..k {
                let mut t = alpha[j].clone();
                for (i, &pi) in p.iter().enumerate() {
                    let z = (c::<S>(pi) - mean[j * d + i].clone()) / log_sd[j * d + i].exp();
                    t = t - log_sd[j * d + i].clone() - c::<S>(0.5) * z.clone() * z;
                }
                terms.push(t);
            }
            total = total - S::logsumexp(&terms);
        }
        let n = (self.data.len() / d) as f64;
        vec![total + c::<S>(n) * S::logsumexp(alpha)]
    }
}

/// `F(n, m)`: `yᵢ = tanh(Σⱼ aᵢⱼ xⱼ)`, cost `n·m`, so each output costs `n`.
#[derive(Clone, Debug)]
pub struct FamilyNm {
    /// Inputs.
    pub n: usize,
    /// Outputs.
    pub m: usize,
}

impl Differentiable for FamilyNm {
    fn n_inputs(&self) -> usize {
        self.n
    }
    fn n_outputs(&self) -> usize {
        self.m
    }
    fn eval<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        (0..self.m)
            .map(|i| {
                let mut s = c::<S>(0.0);
                for (j, xj) in x.iter().enumerate() {
                    let a = ((i * 31 + j * 17) % 13) as f64 / 13.0 - 0.5;
                    s = s + c::<S>(a) * xj.clone();
                }
                s.tanh()
            })
            .collect()
    }
}

/// An explicit RK4 integrator of the Lotka–Volterra system
/// `u′ = αu − βuv`, `v′ = δuv − γv` over `steps` steps of size `h`. Inputs:
/// `u₀, v₀, α, β, γ, δ`; output `u(T) + v(T)`.
#[derive(Clone, Copy, Debug)]
pub struct Rk4 {
    /// Steps `L`.
    pub steps: usize,
    /// Step size.
    pub h: f64,
}

impl Rk4 {
    fn field<S: Scalar>(x: &[S], s: &[S]) -> [S; 2] {
        let (u, v) = (s[0].clone(), s[1].clone());
        let uv = u.clone() * v.clone();
        [
            x[2].clone() * u - x[3].clone() * uv.clone(),
            x[5].clone() * uv - x[4].clone() * v,
        ]
    }

    /// A point in the system's stable regime.
    pub fn point() -> Vec<f64> {
        vec![1.0, 0.5, 1.1, 0.4, 0.4, 0.1]
    }
}

impl Stepped for Rk4 {
    fn n_inputs(&self) -> usize {
        6
    }
    fn n_outputs(&self) -> usize {
        1
    }
    fn n_steps(&self) -> usize {
        self.steps
    }
    fn init<S: Scalar>(&self, x: &[S]) -> Vec<S> {
        // Computed copies, so the state never aliases an input.
        vec![x[0].clone() * c::<S>(1.0), x[1].clone() * c::<S>(1.0)]
    }
    fn step<S: Scalar>(&self, _k: usize, x: &[S], s: &[S]) -> Vec<S> {
        let h = c::<S>(self.h);
        let half = c::<S>(self.h / 2.0);
        let add = |s: &[S], k: &[S; 2], f: &S| -> Vec<S> {
            vec![
                s[0].clone() + f.clone() * k[0].clone(),
                s[1].clone() + f.clone() * k[1].clone(),
            ]
        };
        let k1 = Rk4::field(x, s);
        let k2 = Rk4::field(x, &add(s, &k1, &half));
        let k3 = Rk4::field(x, &add(s, &k2, &half));
        let k4 = Rk4::field(x, &add(s, &k3, &h));
        let sixth = c::<S>(self.h / 6.0);
        (0..2)
            .map(|i| {
                s[i].clone()
                    + sixth.clone()
                        * (k1[i].clone()
                            + c::<S>(2.0) * k2[i].clone()
                            + c::<S>(2.0) * k3[i].clone()
                            + k4[i].clone())
            })
            .collect()
    }
    fn read_out<S: Scalar>(&self, _x: &[S], s: &[S]) -> Vec<S> {
        vec![s[0].clone() + s[1].clone()]
    }
}

/// A GRU-style recurrent cell with hidden size `hidden` over a sequence of
/// `steps` scalar inputs `sin(0.1k)`. Inputs: the weights `W_z, W_r, W_h`
/// (hidden each), `U_z, U_r, U_h` (hidden² each) and biases (3·hidden);
/// output `Σ hᵢ²` of the last state.
#[derive(Clone, Copy, Debug)]
pub struct Gru {
    /// Steps `L`.
    pub steps: usize,
    /// Hidden size.
    pub hidden: usize,
}

impl Gru {
    fn sigmoid<S: Scalar>(x: S) -> S {
        (c::<S>(1.0) + (-x).exp()).recip()
    }

    /// A deterministic point of small weights.
    pub fn point(&self) -> Vec<f64> {
        point(self.n_inputs(), 0x96a)
            .iter()
            .map(|v| 0.4 * v)
            .collect()
    }
}

impl Stepped for Gru {
    fn n_inputs(&self) -> usize {
        let h = self.hidden;
        3 * h + 3 * h * h + 3 * h
    }
    fn n_outputs(&self) -> usize {
        1
    }
    fn n_steps(&self) -> usize {
        self.steps
    }
    fn init<S: Scalar>(&self, _x: &[S]) -> Vec<S> {
        vec![c::<S>(0.0); self.hidden]
    }
    fn step<S: Scalar>(&self, k: usize, x: &[S], s: &[S]) -> Vec<S> {
        let h = self.hidden;
        let u = c::<S>((0.1 * k as f64).sin());
        let w = |g: usize, i: usize| x[g * h + i].clone();
        let uu = |g: usize, i: usize, j: usize| x[3 * h + g * h * h + i * h + j].clone();
        let b = |g: usize, i: usize| x[3 * h + 3 * h * h + g * h + i].clone();
        let gate = |g: usize, i: usize, state: &[S]| {
            let mut a = w(g, i) * u.clone() + b(g, i);
            for (j, sj) in state.iter().enumerate() {
                a = a + uu(g, i, j) * sj.clone();
            }
            a
        };
        let z: Vec<S> = (0..h).map(|i| Gru::sigmoid(gate(0, i, s))).collect();
        let r: Vec<S> = (0..h).map(|i| Gru::sigmoid(gate(1, i, s))).collect();
        let rs: Vec<S> = s
            .iter()
            .zip(&r)
            .map(|(a, b)| a.clone() * b.clone())
            .collect();
        (0..h)
            .map(|i| {
                let candidate = gate(2, i, &rs).tanh();
                let zi = z[i].clone();
                (c::<S>(1.0) - zi.clone()) * s[i].clone() + zi * candidate
            })
            .collect()
    }
    fn read_out<S: Scalar>(&self, _x: &[S], s: &[S]) -> Vec<S> {
        let mut total = c::<S>(0.0);
        for v in s {
            total = total + v.clone() * v.clone();
        }
        vec![total]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_engines::checkpointed::{vjp_stepped, Schedule};
    use adcheck_engines::reverse::vjps;
    use adcheck_engines::stepped::Unrolled;

    #[test]
    fn rosenbrock_and_lse_values() {
        assert_eq!(Rosenbrock { n: 3 }.eval(&[1.0, 1.0, 1.0]), vec![0.0]);
        let lse = LogSumExp { n: 2 }.eval(&[1000.0, 1000.0])[0];
        assert_eq!(lse, 1000.0 + std::f64::consts::LN_2);
    }

    fn check_bitwise<F: Stepped + Copy>(f: F, x: &[f64]) {
        let plain = vjps(&Unrolled(f), x, &[vec![1.0]]).unwrap().products[0].clone();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for schedule in [
            Schedule::StoreAll,
            Schedule::Uniform,
            Schedule::Binomial { snapshots: 1 },
            Schedule::Binomial { snapshots: 4 },
        ] {
            let (_, g, _) = vjp_stepped(&f, x, &[1.0], schedule).unwrap();
            assert_eq!(bits(&g), bits(&plain), "{schedule:?}");
        }
    }

    #[test]
    fn stepped_problems_checkpoint_bitwise() {
        check_bitwise(Rk4 { steps: 50, h: 0.05 }, &Rk4::point());
        let gru = Gru {
            steps: 20,
            hidden: 3,
        };
        check_bitwise(gru, &gru.point());
    }
}
