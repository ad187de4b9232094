//! Runs the suites on the built-in engines and prints every failure.
//! `cargo run --release -p adcheck-suites --example probe -- CASES SEED`
use adcheck_engines::{forward::ForwardEngine, reverse::ReverseEngine, Engine};
use adcheck_suites::conformance::{run, ConformanceConfig};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let config = ConformanceConfig {
        cases: args.first().copied().unwrap_or(1000),
        seed: args.get(1).copied().unwrap_or(1),
        ..ConformanceConfig::default()
    };
    let start = std::time::Instant::now();
    let engines: [&dyn Engine; 2] = [&ForwardEngine, &ReverseEngine];
    for report in run(&engines, &config, &|_| {}) {
        println!(
            "{}: {} records, {} fail, {} inconclusive ({:.2}%)",
            report.engine,
            report.records.len(),
            report.count("fail"),
            report.count("inconclusive"),
            100.0 * report.inconclusive_share()
        );
        let mut reasons = std::collections::BTreeMap::new();
        for r in &report.records {
            if r.verdict == "inconclusive" {
                *reasons.entry(r.reason.clone()).or_insert(0) += 1;
                if std::env::var("SHOW").is_ok_and(|s| s == r.reason) {
                    println!("  INC {} {} {}", r.case, r.family, r.check);
                }
            }
            if r.verdict == "fail" {
                println!("  FAIL {} {} {}: {}", r.case, r.family, r.check, r.reason);
            }
        }
        println!("  inconclusive by reason: {reasons:?}");
        for c in &report.counterexamples {
            println!(
                "  shrunk {} -> {} in {} steps:\n{}  point {:?} v {:?} u {:?}",
                c.original_size,
                c.size,
                c.shrink_steps,
                c.case.program_text,
                c.case.point,
                c.case.direction,
                c.case.cotangent
            );
        }
    }
    println!("{:.2}s", start.elapsed().as_secs_f64());
}
