//! Programs with many inputs: their gradients are taken in reverse mode and
//! their range risks bounded over all entries at once, and the verdicts
//! stay those of the verdict model: the exact gradient passes, planted
//! errors fail.

use adcheck_engines::Program;
use adcheck_oracle::{Miss, Oracle, Quantity, Verdict};

/// `ln Σ exp(xᵢ)` over `n` inputs, as a program of `2n` operations.
fn log_sum_exp(n: usize) -> Program {
    let mut text = String::from("input");
    for i in 0..n {
        text.push_str(&format!(" x{i}"));
    }
    for i in 0..n {
        text.push_str(&format!("\ne{i} = exp x{i}"));
    }
    text.push_str("\ns1 = add e0 e1");
    for i in 2..n {
        text.push_str(&format!("\ns{i} = add s{} e{i}", i - 1));
    }
    text.push_str(&format!("\ny = ln s{}\noutput y", n - 1));
    Program::parse(&text).unwrap()
}

fn is_wrong(v: &Verdict) -> bool {
    matches!(
        v,
        Verdict::Fail {
            miss: Miss::Wrong,
            ..
        }
    )
}

#[test]
fn wide_gradients_pass_when_exact_and_fail_when_planted_wrong() {
    // 100 inputs: beyond the forward symbolic gradient, within the exact
    // range sweeps; 1,000: beyond both.
    for n in [100, 1000] {
        let p = log_sum_exp(n);
        let x: Vec<f64> = (0..n)
            .map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0)
            .collect();
        let oracle = Oracle::default();
        let reference = oracle.reference(&p, &x, &Quantity::Gradient).unwrap();
        // The softmax, in f64: each entry within a few ulps.
        let top = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = x.iter().map(|&v| (v - top).exp()).collect();
        let total: f64 = weights.iter().sum();
        let softmax: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let verdicts = oracle.judge(&reference, &softmax).unwrap();
        assert_eq!(verdicts.len(), n);
        for (k, v) in verdicts.iter().enumerate() {
            assert!(v.is_pass(), "n = {n}, entry {k}: {v:?}");
        }
        let mut planted = softmax.clone();
        planted[n / 3] *= 1.0 + 1e-6;
        planted[n / 2] = -planted[n / 2];
        let verdicts = oracle.judge(&reference, &planted).unwrap();
        for (k, v) in verdicts.iter().enumerate() {
            if k == n / 3 || k == n / 2 {
                assert!(is_wrong(v), "n = {n}, planted entry {k}: {v:?}");
            } else {
                assert!(v.is_pass(), "n = {n}, entry {k}: {v:?}");
            }
        }
    }
}

#[test]
fn a_wide_gradient_with_a_huge_partial_is_never_passed_wrong() {
    // e^705 ≈ 2¹⁰¹⁷ is finite in f64 but beyond the 2¹⁰⁰⁰ headroom an
    // engine's sums need, while every softmax entry is ordinary.
    let n = 200;
    let p = log_sum_exp(n);
    let mut x = vec![0.0; n];
    x[7] = 705.0;
    let oracle = Oracle::default();
    let reference = oracle.reference(&p, &x, &Quantity::Gradient).unwrap();
    let mut exact = vec![(-705.0f64).exp(); n];
    exact[7] = 1.0;
    for (k, v) in oracle.judge(&reference, &exact).unwrap().iter().enumerate() {
        assert!(!matches!(v, Verdict::Fail { .. }), "entry {k}: {v:?}");
    }
    // A sign error at the dominant entry is never passed nor admitted.
    let mut planted = exact.clone();
    planted[7] = -1.0;
    let verdicts = oracle.judge(&reference, &planted).unwrap();
    assert!(
        !verdicts[7].is_pass() && !matches!(verdicts[7], Verdict::Convention { .. }),
        "{:?}",
        verdicts[7]
    );
}
