//! How large generated programs are: the live operations (those an output
//! depends on) of each family's programs, for the default generator or for
//! `--length N` (live operations asked for) as `verify` passes it.
//!
//! `cargo run --release -p adcheck-suites --example generated_sizes -- [CASES] [SEED] [LENGTH]`

use adcheck_suites::generate::{case, family_of, GenConfig};
use std::collections::BTreeMap;

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: u64 = args
        .next()
        .map_or(2000, |a| a.parse().expect("a number of cases"));
    let seed: u64 = args.next().map_or(1, |a| a.parse().expect("a seed"));
    let config = match args.next() {
        Some(length) => {
            let length: usize = length.parse().expect("a length");
            GenConfig {
                length: (length, length),
                live_length: true,
                ..GenConfig::default()
            }
        }
        None => GenConfig::default(),
    };
    // Per family: cases, total live size, smallest, largest.
    let mut sizes: BTreeMap<&str, (usize, usize, usize, usize)> = BTreeMap::new();
    for index in 0..cases {
        let c = case(&config, seed, index);
        let live = c.program.pruned().body().len();
        let e = sizes
            .entry(family_of(&config, index).name())
            .or_insert((0, 0, usize::MAX, 0));
        e.0 += 1;
        e.1 += live;
        e.2 = e.2.min(live);
        e.3 = e.3.max(live);
    }
    let (all_cases, all_live) = sizes.values().fold((0, 0), |a, e| (a.0 + e.0, a.1 + e.1));
    println!(
        "{cases} cases, seed {seed}, length {:?} (live: {})",
        config.length, config.live_length
    );
    println!(
        "{:<12} {:>6} {:>10} {:>6} {:>6}",
        "family", "cases", "mean live", "min", "max"
    );
    for (family, (k, total, least, most)) in &sizes {
        println!(
            "{family:<12} {k:>6} {:>10.1} {least:>6} {most:>6}",
            *total as f64 / *k as f64
        );
    }
    println!(
        "{:<12} {all_cases:>6} {:>10.1}",
        "all",
        all_live as f64 / all_cases as f64
    );
}
