//! Per-operation cost of each engine relative to plain `f64`: a chain of
//! 1000 applications of one operation, primal (`f64`), forward (one dual
//! direction), and reverse (record and sweep).
//!
//! `cargo bench -p adcheck-engines --bench operations`

// `criterion_group!` generates functions without documentation.
#![allow(missing_docs)]

use adcheck_engines::forward::Dual;
use adcheck_engines::reverse::Tape;
use adcheck_engines::Scalar;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;

const CHAIN: usize = 1000;

fn chain<S: Scalar>(x: S, op: fn(&S, &S) -> S) -> S {
    let c = S::from_f64(0.999);
    let mut v = x;
    for _ in 0..CHAIN {
        v = op(&v, &c);
    }
    v
}

fn operations(c: &mut Criterion) {
    type Op<S> = fn(&S, &S) -> S;
    fn ops<S: Scalar>() -> Vec<(&'static str, Op<S>)> {
        vec![
            ("add", |a, b| a.clone() + b.clone()),
            ("mul", |a, b| a.clone() * b.clone()),
            ("div", |a, b| a.clone() / b.clone()),
            ("sin", |a, _| a.sin()),
            ("exp_of_scaled", |a, b| {
                (a.clone() * b.clone()).exp() * b.clone()
            }),
        ]
    }
    let mut group = c.benchmark_group("operation chain of 1000");
    for ((name, f64_op), (_, dual_op)) in ops::<f64>().into_iter().zip(ops::<Dual>()) {
        group.bench_with_input(BenchmarkId::new("f64", name), &0.5, |b, &x| {
            b.iter(|| chain(black_box(x), f64_op))
        });
        group.bench_with_input(BenchmarkId::new("forward", name), &0.5, |b, &x| {
            b.iter(|| chain(black_box(Dual::new(x, 1.0)), dual_op))
        });
        let tape: Tape<f64> = Tape::new();
        group.bench_with_input(BenchmarkId::new("reverse", name), &0.5, |b, &x| {
            b.iter(|| {
                tape.clear();
                let input = tape.input(black_box(x));
                let out = chain_var(input, name);
                let mut adjoints = Vec::new();
                tape.backward(&[(out.node().unwrap_or(0), 1.0)], &mut adjoints);
                black_box(adjoints[0])
            })
        });
    }
    group.finish();
}

/// The same chains over tape variables (whose lifetime ties them to a tape,
/// so they cannot share the function-pointer table above).
fn chain_var<'t>(
    x: adcheck_engines::reverse::Var<'t, f64>,
    name: &str,
) -> adcheck_engines::reverse::Var<'t, f64> {
    type V<'t> = adcheck_engines::reverse::Var<'t, f64>;
    let c = V::from_f64(0.999);
    let mut v = x;
    for _ in 0..CHAIN {
        v = match name {
            "add" => v + c,
            "mul" => v * c,
            "div" => v / c,
            "sin" => v.sin(),
            _ => (v * c).exp() * c,
        };
    }
    v
}

criterion_group!(benches, operations);
criterion_main!(benches);
