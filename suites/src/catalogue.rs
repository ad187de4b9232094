//! The pitfall catalogue: named cases drawn from bugs AD tools have shipped,
//! each with the gradient a correct engine gives (the exact value, or the
//! declared convention of `adcheck_engines::conventions`).

use adcheck_engines::Program;

/// One catalogue case.
#[derive(Clone, Debug)]
pub struct Pitfall {
    /// A unique snake_case name.
    pub name: &'static str,
    /// The family of pitfalls it belongs to.
    pub family: &'static str,
    /// What goes wrong in tools that get it wrong.
    pub note: &'static str,
    /// The program, in the text form (one output).
    pub program: &'static str,
    /// The point.
    pub point: Vec<f64>,
    /// The expected gradient. NaN means "undefined here": any non-finite
    /// answer (NaN or ±∞) is accepted, a finite one is not. Infinities must
    /// match exactly; finite values within `ulps`.
    pub expected: Vec<f64>,
    /// How many units in the last place a finite expected entry allows.
    pub ulps: f64,
}

impl Pitfall {
    /// The parsed program.
    pub fn parse(&self) -> Program {
        Program::parse(self.program).unwrap_or_else(|e| panic!("catalogue case {}: {e}", self.name))
    }

    /// Whether `got` is the expected gradient; otherwise the index and a
    /// description of the first mismatch.
    pub fn check(&self, got: &[f64]) -> Result<(), String> {
        if got.len() != self.expected.len() {
            return Err(format!(
                "expected {} entries, got {}",
                self.expected.len(),
                got.len()
            ));
        }
        for (k, (&g, &e)) in got.iter().zip(&self.expected).enumerate() {
            let ok = if e.is_nan() {
                !g.is_finite()
            } else if e.is_infinite() || g.is_infinite() || g.is_nan() {
                g == e
            } else {
                (g - e).abs() <= self.ulps * adcheck_oracle::ulp_of(e)
            };
            if !ok {
                return Err(format!("∂{k}: expected {e:e}, got {g:e}"));
            }
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn case(
    name: &'static str,
    family: &'static str,
    note: &'static str,
    program: &'static str,
    point: &[f64],
    expected: &[f64],
) -> Pitfall {
    Pitfall {
        name,
        family,
        note,
        program,
        point: point.to_vec(),
        expected: expected.to_vec(),
        ulps: 4.0,
    }
}

fn with_ulps(mut p: Pitfall, ulps: f64) -> Pitfall {
    p.ulps = ulps;
    p
}

/// Every catalogue case.
pub fn catalogue() -> Vec<Pitfall> {
    let inf = f64::INFINITY;
    let nan = f64::NAN;
    let ninf = f64::NEG_INFINITY;
    let mut deep_sin = String::from("input x\n");
    let mut chain = 0.5f64;
    let mut derivative = 1.0f64;
    let mut previous = "x".to_string();
    for k in 0..40 {
        deep_sin.push_str(&format!("s{k} = sin {previous}\n"));
        derivative *= chain.cos();
        chain = chain.sin();
        previous = format!("s{k}");
    }
    deep_sin.push_str(&format!("output {previous}\n"));
    let deep_sin: &'static str = Box::leak(deep_sin.into_boxed_str());
    let lse_far = (-1000f64).exp();
    vec![
        // Roots and logarithms at zero, argument variable or constant.
        case("sqrt_at_zero", "domain_edge", "sqrt′(0) is +∞ by convention", "input x\ny = sqrt x\noutput y", &[0.0], &[inf]),
        case("sqrt_of_constant_zero", "domain_edge", "a constant √0 has an infinite local partial but zero tangent: naive forward mode gives 0·∞ = NaN", "input x\nz = const 0\ns = sqrt z\ny = add x s\noutput y", &[1.0], &[1.0]),
        case("cbrt_at_zero", "domain_edge", "cbrt′(0) is +∞", "input x\ny = cbrt x\noutput y", &[0.0], &[inf]),
        case("cbrt_of_constant_zero", "domain_edge", "0·∞ from a constant's partial", "input x\nz = const 0\nc = cbrt z\ny = mul x c\nw = add y x\noutput w", &[2.0], &[1.0]),
        case("ln_at_zero", "domain_edge", "ln′(0) is +∞", "input x\ny = ln x\noutput y", &[0.0], &[inf]),
        case("ln_of_constant_zero", "domain_edge", "ln 0 = −∞ from a constant, selected away by max", "input x\nz = const 0\nl = ln z\ny = max l x\noutput y", &[1.0], &[1.0]),
        // Powers at a zero base.
        case("powf_zero_half", "pow_zero_base", "∂/∂a aᵇ at a = 0, b = ½ is +∞; ∂/∂b is 0", "input a b\ny = powf a b\noutput y", &[0.0, 0.5], &[inf, 0.0]),
        case("powf_zero_two", "pow_zero_base", "b·a^(b−1) = 0 and aᵇ·ln a masked to 0 (naive: 0·−∞ = NaN)", "input a b\ny = powf a b\noutput y", &[0.0, 2.0], &[0.0, 0.0]),
        case("powf_zero_two_and_half", "pow_zero_base", "as above for a non-integer exponent", "input a b\ny = powf a b\noutput y", &[0.0, 2.5], &[0.0, 0.0]),
        case("powf_zero_zero", "pow_zero_base", "0⁰ = 1; both partials 0 (naive: 0·0^−1 = NaN)", "input a b\ny = powf a b\noutput y", &[0.0, 0.0], &[0.0, 0.0]),
        case("powf_constant_exponent_at_zero", "pow_zero_base", "x² written as powf with a constant exponent", "input x\np = const 2\ny = powf x p\noutput y", &[0.0], &[0.0]),
        case("powi_zero_exponent_at_zero", "pow_zero_base", "x⁰ has derivative 0 even at 0 (naive: 0·0^−1 = NaN)", "input x\ny = powi x 0\noutput y", &[0.0], &[0.0]),
        // Exponentials with a constant base, and negative bases.
        case("constant_base_power", "constant_base", "d/dx cˣ = cˣ·ln c (a classic bug: x·c^(x−1))", "input x\nc = const 3\ny = powf c x\noutput y", &[2.0], &[9.0 * 3f64.ln()]),
        case("constant_base_power_fractional", "constant_base", "as above, c = ½", "input x\nc = const 0.5\ny = powf c x\noutput y", &[3.0], &[0.125 * 0.5f64.ln()]),
        case("zero_constant_base_power", "constant_base", "0ˣ for x > 0: derivative 0 by convention", "input x\nc = const 0\ny = powf c x\noutput y", &[2.0], &[0.0]),
        case("negative_base_integer_exponent", "negative_base", "(−2)³ via powf: ∂/∂a = 12", "input x\np = const 3\ny = powf x p\noutput y", &[-2.0], &[12.0]),
        case("negative_base_variable_exponent", "negative_base", "∂/∂b of aᵇ at a < 0 is NaN (ln of a negative)", "input a b\ny = powf a b\noutput y", &[-2.0, 3.0], &[12.0, nan]),
        case("powi_negative_base", "negative_base", "(−2)³ via powi", "input x\ny = powi x 3\noutput y", &[-2.0], &[12.0]),
        // At 0, n·0^(n−1) = −2³¹·(+∞); the wrapped rule gives −2³¹·0^(2³¹−1) = −0.
        case("powi_min_exponent", "integer_exponent", "n − 1 for n = −2³¹ wraps to 2³¹ − 1 in i32", "input x\ny = powi x -2147483648\noutput y", &[0.0], &[f64::NEG_INFINITY]),
        case("tanh_large", "large_argument", "1 − tanh² loses every bit; sech² keeps them", "input x\ny = tanh x\noutput y", &[20.0], &[1.0 / 20f64.cosh().powi(2)]),
        case("tanh_huge", "large_argument", "underflows to exactly 0", "input x\ny = tanh x\noutput y", &[400.0], &[0.0]),
        case("exp_large", "large_argument", "exp′ at 700 is finite", "input x\ny = exp x\noutput y", &[700.0], &[700f64.exp()]),
        case("softplus_large", "large_argument", "naive ln(1 + eˣ) overflows at 1000; the derivative is 1", "input x\ny = softplus x\noutput y", &[1000.0], &[1.0]),
        case("softplus_very_negative", "large_argument", "sigmoid(−1000) underflows to 0, not NaN", "input x\ny = softplus x\noutput y", &[-1000.0], &[0.0]),
        case("softplus_negative", "large_argument", "sigmoid(−40) = e⁻⁴⁰/(1 + e⁻⁴⁰)", "input x\ny = softplus x\noutput y", &[-40.0], &[(-40f64).exp() / (1.0 + (-40f64).exp())]),
        // atan2 near and at the origin.
        case("atan2_at_origin", "atan2_origin", "undefined: NaN by convention (PyTorch, JAX)", "input y x\nz = atan2 y x\noutput z", &[0.0, 0.0], &[nan, nan]),
        case("atan2_near_origin", "atan2_origin", "x² + y² underflows at 1e−300: naive rules give 0/0", "input y x\nz = atan2 y x\noutput z", &[1e-300, 1e-300], &[0.5e300, -0.5e300]),
        case("atan2_negative_axis", "atan2_origin", "on the negative x axis the value jumps but the derivative is smooth", "input y x\nz = atan2 y x\noutput z", &[0.0, -1.0], &[-1.0, 0.0]),
        case("atan2_huge", "atan2_origin", "x² + y² overflows at 1e200: naive rules give 0 by ∞", "input y x\nz = atan2 y x\noutput z", &[1e200, 1e200], &[0.5e-200, -0.5e-200]),
        // Norms at zero.
        case("hypot_at_origin", "norm_at_zero", "hypot′ at the origin: 0 by convention (a subgradient), not 0/0", "input a b\nz = hypot a b\noutput z", &[0.0, 0.0], &[0.0, 0.0]),
        case("norm_at_zero", "norm_at_zero", "a three-vector norm built from hypot at the zero vector", "input a b c\nh = hypot a b\nn = hypot h c\noutput n", &[0.0, 0.0, 0.0], &[0.0, 0.0, 0.0]),
        // Kinks at ±0 and ties.
        case("abs_at_zero", "kink", "abs′(0) = 0 (PyTorch sign(0))", "input x\ny = abs x\noutput y", &[0.0], &[0.0]),
        case("abs_at_negative_zero", "kink", "−0 is zero too", "input x\ny = abs x\noutput y", &[-0.0], &[0.0]),
        case("relu_at_zero", "kink", "relu′(0) = 0", "input x\ny = relu x\noutput y", &[0.0], &[0.0]),
        case("relu_at_negative_zero", "kink", "relu′(−0) = 0", "input x\ny = relu x\noutput y", &[-0.0], &[0.0]),
        case("max_tie", "tie", "max at a tie splits the adjoint ½/½", "input a b\nz = max a b\noutput z", &[1.5, 1.5], &[0.5, 0.5]),
        case("min_tie", "tie", "min at a tie splits the adjoint ½/½", "input a b\nz = min a b\noutput z", &[-2.0, -2.0], &[0.5, 0.5]),
        case("max_of_itself", "tie", "max(x, x) = x: the halves add back to 1", "input x\nz = max x x\noutput z", &[3.0], &[1.0]),
        // expm1 and log1p.
        case("expm1_near_zero", "expm1_log1p", "expm1′(1e−10) = e^1e−10", "input x\ny = expm1 x\noutput y", &[1e-10], &[1e-10f64.exp()]),
        case("log1p_near_zero", "expm1_log1p", "log1p′(1e−10) = 1/(1 + 1e−10)", "input x\ny = log1p x\noutput y", &[1e-10], &[1.0 / (1.0 + 1e-10)]),
        case("expm1_far", "expm1_log1p", "expm1′(50) = e⁵⁰", "input x\ny = expm1 x\noutput y", &[50.0], &[50f64.exp()]),
        case("log1p_far", "expm1_log1p", "log1p′(1e10)", "input x\ny = log1p x\noutput y", &[1e10], &[1.0 / (1.0 + 1e10)]),
        case("log1p_near_minus_one", "expm1_log1p", "log1p′ near −1 is large but finite", "input x\ny = log1p x\noutput y", &[-0.75], &[4.0]),
        // x·ln x at 0.
        case("x_ln_x_at_zero", "x_ln_x", "the primal is 0·(−∞) = NaN: the derivative is undefined (forward gives NaN, reverse the limit −∞)", "input x\nl = ln x\ny = mul x l\noutput y", &[0.0], &[nan]),
        case("x_ln_x_near_zero", "x_ln_x", "ln x + 1 at 1e−300", "input x\nl = ln x\ny = mul x l\noutput y", &[1e-300], &[1e-300f64.ln() + 1.0]),
        // logsumexp.
        case("logsumexp_huge", "logsumexp", "naive Σeˣ overflows at 1000; the softmax is ½, ½", "input a b\nz = logsumexp a b\noutput z", &[1000.0, 1000.0], &[0.5, 0.5]),
        case("logsumexp_huge_spread", "logsumexp", "softmax(1000, 0) = (1, e⁻¹⁰⁰⁰)", "input a b\nz = logsumexp a b\noutput z", &[1000.0, 0.0], &[1.0, lse_far]),
        case("logsumexp_all_negative_infinity", "logsumexp", "all −∞: equal shares by convention (naive: 0/0)", "input a b\nz = logsumexp a b\noutput z", &[ninf, ninf], &[0.5, 0.5]),
        case("logsumexp_one_negative_infinity", "logsumexp", "a −∞ entry gets 0", "input a b\nz = logsumexp a b\noutput z", &[ninf, 0.0], &[0.0, 1.0]),
        // Unused intermediates at singular points.
        case("unused_ln_at_zero", "unused_singular", "an unused ln 0 must not poison the gradient with 0·∞", "input x\nl = ln x\ny = mul x x\noutput y", &[0.0], &[0.0]),
        case("unused_sqrt_negative", "unused_singular", "an unused NaN must not poison the gradient", "input x\ns = sqrt x\ny = sin x\noutput y", &[-1.0], &[(-1f64).cos()]),
        case("unused_recip_zero", "unused_singular", "an unused 1/0", "input x y\nr = recip y\nz = mul x y\noutput z", &[2.0, 0.0], &[0.0, 2.0]),
        // Fan-out.
        case("fan_out_cube", "fan_out", "x·x·x uses x three times: 3x²", "input x\na = mul x x\nb = mul a x\noutput b", &[1.5], &[6.75]),
        case("fan_out_shared", "fan_out", "a value read by four operations", "input x\na = sin x\nb = mul a a\nc = add a b\nd = mul c a\noutput d", &[0.7], &[{
            let (s, c) = (0.7f64.sin(), 0.7f64.cos());
            (2.0 * s + 3.0 * s * s) * c
        }]),
        // where-style branches.
        case("where_sqrt", "where_branch", "where(x > 0, √x, 0) at 0: the untaken √ has an infinite partial", "input x\nzero = const 0\ns = sqrt x\nv = iflt zero x s zero\noutput v", &[0.0], &[0.0]),
        case("where_ln", "where_branch", "where(x > 0, ln x, 0) at −1: the untaken ln is NaN", "input x\nzero = const 0\nl = ln x\nv = iflt zero x l zero\noutput v", &[-1.0], &[0.0]),
        // Deep chains.
        with_ulps(case("deep_sin_chain", "deep_chain", "forty nested sines: a long product of cosines", deep_sin, &[0.5], &[derivative]), 64.0),
        with_ulps(case("deep_square_chain", "deep_chain", "ten squarings: 1024·x^1023", "input x\na = mul x x\nb = mul a a\nc = mul b b\nd = mul c c\ne = mul d d\nf = mul e e\ng = mul f f\nh = mul g g\ni = mul h h\nj = mul i i\noutput j", &[1.0001], &[1024.0 * 1.0001f64.powi(1023)]), 1024.0),
        // Catastrophic cancellation.
        case("cancellation_shift", "cancellation", "(x + h) − x: the primal cancels, the derivative is exactly 0", "input x\nh = const 1e-10\na = add x h\nb = sub a x\noutput b", &[1.0], &[0.0]),
        case("cancellation_square", "cancellation", "(x + 1)² − x² − 2x at 1e8: the derivative is exactly 0", "input x\none = const 1\ntwo = const 2\na = add x one\nb = mul a a\nc = mul x x\nd = sub b c\ne = mul two x\nf = sub d e\noutput f", &[1e8], &[0.0]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use adcheck_engines::forward::ForwardEngine;
    use adcheck_engines::reverse::ReverseEngine;
    use adcheck_engines::Engine;
    use std::collections::HashSet;

    #[test]
    fn catalogue_is_large_named_uniquely_and_parses() {
        let all = catalogue();
        assert!(all.len() >= 40, "{}", all.len());
        let names: HashSet<_> = all.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), all.len());
        for p in &all {
            let program = p.parse();
            assert!(!program.body().is_empty(), "{}", p.name);
            assert_eq!(
                adcheck_engines::Differentiable::n_inputs(&program),
                p.point.len(),
                "{}",
                p.name
            );
            assert_eq!(p.expected.len(), p.point.len(), "{}", p.name);
        }
    }

    #[test]
    fn built_in_engines_pass_every_expectation() {
        for p in catalogue() {
            for engine in [&ForwardEngine as &dyn Engine, &ReverseEngine] {
                let got = engine.gradient(&p.parse(), &p.point).unwrap();
                if let Err(e) = p.check(&got.derivative) {
                    panic!("{} in {}: {e}", p.name, engine.name());
                }
            }
        }
    }
}
