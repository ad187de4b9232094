//! How often Symbolica, the oracle's third symbolic reference (feature
//! `symbolica`), applies to generated programs (their Jacobians), whether
//! it ever disagrees with the other two, and what it costs.
//!
//! `cargo run --release -p adcheck-suites --features symbolica --example third_reference -- [PROGRAMS] [SEED]`

use adcheck_oracle::{Oracle, Quantity, Support};
use adcheck_suites::generate::{case, GenConfig};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let programs: u64 = args
        .next()
        .map_or(1000, |a| a.parse().expect("a number of programs"));
    let seed: u64 = args.next().map_or(1, |a| a.parse().expect("a seed"));
    let config = GenConfig::default();
    let oracle = Oracle::default();
    let (mut applied, mut entries, mut agreeing, mut confirmed_elsewhere) = (0, 0, 0, 0);
    let mut disagreements = Vec::new();
    let mut why: std::collections::BTreeMap<String, u64> = Default::default();
    let start = Instant::now();
    for i in 0..programs {
        let c = case(&config, seed, i);
        let Ok(r) = oracle.reference(&c.program, &c.point, &Quantity::Jacobian) else {
            continue;
        };
        match &r.third {
            Some(third) => {
                applied += 1;
                for (t, e) in third.iter().zip(&r.entries) {
                    entries += 1;
                    // The oracle's own agreement slack (at f64 resolution).
                    let slack = (e.rounded.abs() + e.magnitude)
                        * 2f64.powi(24 - oracle.config.precision as i32);
                    let same = (t - e.rounded).abs() <= f64::EPSILON * e.rounded.abs()
                        || (t - e.rounded).abs() <= slack
                        || (t.is_nan() && e.rounded.is_nan());
                    agreeing += u64::from(same);
                    if !same {
                        disagreements.push(format!(
                            "case {i} at {:?}: Symbolica {t:e}, symbolic {:e}, finite differences {:?} ({:?})\n{}",
                            c.point, e.rounded, e.fd, e.support, c.program
                        ));
                    }
                    confirmed_elsewhere += u64::from(e.support == Support::Confirmed);
                }
            }
            None => {
                let reason = adcheck_oracle::third::reference(
                    &c.program,
                    &c.point,
                    &Quantity::Jacobian,
                    oracle.config.precision,
                )
                .err()
                .map_or_else(|| "disagreement".to_string(), |e| e.0);
                let key = reason.split(':').next().unwrap_or("").to_string();
                *why.entry(key).or_default() += 1;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("seed {seed}: {programs} generated programs, Jacobians, in {seconds:.1} s ({:.0} programs/s, one Symbolica thread)", programs as f64 / seconds);
    println!("Symbolica applied to {applied} programs; {entries} entries, {agreeing} agreeing with the symbolic reference (equal in f64, or within the oracle's agreement slack), {confirmed_elsewhere} also confirmed by finite differences");
    println!("entries that disagree: {}", disagreements.len());
    for d in disagreements.iter().take(3) {
        println!("{d}");
    }
    println!("stood aside:");
    for (reason, count) in why {
        println!("  {count:>6}  {reason}");
    }
}
