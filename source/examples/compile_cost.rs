//! What compiling costs: generated programs compiled natively and for the
//! interpreter, CPU time per program, and how large they are.
//!
//! `cargo run --release -p adcheck-source --example compile_cost -- [COUNT] [SEED]`

use adcheck_source::{Compiled, Options};
use adcheck_suites::generate::{case, GenConfig};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("run") {
        // `run PROBLEM N REPS`: one gradient program (rosenbrock or
        // logsumexp), evaluated REPS times, and the primal as often (for
        // callgrind: `--toggle-collect=*evaluate*` or `*primal*`).
        let problem = args.next().unwrap_or_else(|| "rosenbrock".into());
        let n: usize = args.next().map_or(1000, |a| a.parse().expect("N"));
        let reps: usize = args.next().map_or(100, |a| a.parse().expect("REPS"));
        let x = adcheck_suites::problems::point(n, 7);
        let (p, value) = match problem.as_str() {
            "logsumexp" => {
                let f = adcheck_suites::problems::LogSumExp { n };
                (adcheck_engines::trace(&f, &x), primal(&f, &x, reps))
            }
            _ => {
                let f = adcheck_suites::problems::Rosenbrock { n };
                (adcheck_engines::trace(&f, &x), primal(&f, &x, reps))
            }
        };
        let c = Compiled::new(&p, Options::default());
        let mut ws = adcheck_source::Workspace::default();
        let gradient = evaluate(&c, &mut ws, &x, reps);
        println!(
            "{problem} n={n}: f = {value}, |∇f|₁ = {gradient}, {:?} loops",
            c.native_loops()
        );
        return;
    }
    if first.as_deref() == Some("rosenbrock") {
        for n in args.map(|a| a.parse::<usize>().expect("N")) {
            let f = adcheck_suites::problems::Rosenbrock { n };
            let x = adcheck_suites::problems::point(n, 7);
            let p = adcheck_engines::trace(&f, &x);
            let start = Instant::now();
            let c = Compiled::new(&p, Options::default());
            println!(
                "rosenbrock n={n}: {} operations, compiled in {:.3} s ({:?})",
                c.graph().body().len(),
                start.elapsed().as_secs_f64(),
                c.why_interpreted()
            );
        }
        return;
    }
    let count: u64 = first.map_or(2000, |a| a.parse().expect("COUNT"));
    let seed: u64 = args.next().map_or(20261126, |a| a.parse().expect("SEED"));
    let config = GenConfig::default();
    let programs: Vec<_> = (0..count).map(|i| case(&config, seed, i).program).collect();
    let operations: usize = programs.iter().map(|p| p.body().len()).sum();
    for (name, options) in [
        (
            "interpreter",
            Options {
                simplify: true,
                native: false,
            },
        ),
        ("native", Options::default()),
    ] {
        let start = Instant::now();
        for p in &programs {
            std::hint::black_box(Compiled::new(p, options));
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{name}: {count} programs ({:.1} operations each) in {seconds:.3} s, {:.1} µs a program",
            operations as f64 / count as f64,
            seconds / count as f64 * 1e6
        );
    }
}

#[inline(never)]
fn evaluate(c: &Compiled, ws: &mut adcheck_source::Workspace, x: &[f64], reps: usize) -> f64 {
    let (mut value, mut gradient) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        c.vjp_into(ws, x, &[1.0], &mut value, &mut gradient);
        std::hint::black_box(&gradient);
    }
    gradient.iter().map(|g| g.abs()).sum()
}

#[inline(never)]
fn primal<F: adcheck_engines::Differentiable>(f: &F, x: &[f64], reps: usize) -> f64 {
    let mut total = 0.0;
    for _ in 0..reps {
        total = std::hint::black_box(f.eval(x)[0]);
    }
    total
}
