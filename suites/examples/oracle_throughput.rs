//! Measures the oracle's speed on one core: programs per second for
//! generated programs of 20 operations with 4 inputs, both references
//! (symbolic and finite differences with its self-check) for a gradient and
//! a J·v.
//!
//! `cargo run --release -p adcheck-suites --example oracle_throughput -- [PROGRAMS] [SEED]`

use adcheck_oracle::{Oracle, Quantity};
use adcheck_suites::generate::{case, GenConfig};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let programs: u64 = args
        .next()
        .map_or(2000, |a| a.parse().expect("a number of programs"));
    let seed: u64 = args.next().map_or(1, |a| a.parse().expect("a seed"));
    let config = GenConfig {
        inputs: (4, 4),
        outputs: (1, 1),
        length: (20, 20),
        large_one_in: 0,
        ..GenConfig::default()
    };
    let cases: Vec<_> = (0..programs).map(|i| case(&config, seed, i)).collect();
    let oracle = Oracle::default();
    for (name, quantity) in [("gradient", None), ("jvp", Some(()))] {
        let start = Instant::now();
        let mut entries = 0;
        for c in &cases {
            let q = match quantity {
                None => Quantity::Gradient,
                Some(()) => Quantity::Jvp(c.direction.clone()),
            };
            let reference = oracle
                .reference(&c.program, &c.point, &q)
                .expect("valid cases");
            entries += reference.entries.len();
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{name}: {programs} programs (20 operations, 4 inputs) in {seconds:.3} s on one core: {:.0} programs/s ({entries} entries)",
            programs as f64 / seconds
        );
    }
}
