//! Why the oracle stays undecided: judges the reverse engine's J·v and uᵀJ
//! on generated cases and groups the inconclusive entries by reason and the
//! first words of their detail, with up to three example cases each.
//!
//! `cargo run --release -p adcheck-suites --example inconclusive_reasons -- [CASES] [SEED] [FAMILY]`

use adcheck_engines::{reverse::ReverseEngine, Engine};
use adcheck_oracle::{Oracle, Quantity, Verdict};
use adcheck_suites::generate::{case, Family, GenConfig};
use std::collections::BTreeMap;

/// Examples kept per group.
const EXAMPLES: usize = 3;

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: u64 = args
        .next()
        .map_or(2000, |a| a.parse().expect("a number of cases"));
    let seed: u64 = args.next().map_or(1, |a| a.parse().expect("a seed"));
    let family = args
        .next()
        .map(|f| Family::from_name(&f).expect("a family name"));
    let config = GenConfig {
        family,
        ..GenConfig::default()
    };
    let oracle = Oracle::default();
    let mut groups: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    let mut judged = 0usize;
    for index in 0..cases {
        let c = case(&config, seed, index);
        for quantity in [
            Quantity::Jvp(c.direction.clone()),
            Quantity::Vjp(c.cotangent.clone()),
        ] {
            let answer = match &quantity {
                Quantity::Jvp(v) => ReverseEngine.jvp(&c.program, &c.point, v),
                Quantity::Vjp(u) => ReverseEngine.vjp(&c.program, &c.point, u),
                _ => unreachable!(),
            };
            let Ok(answer) = answer else { continue };
            let reference = oracle
                .reference(&c.program, &c.point, &quantity)
                .expect("valid cases");
            for v in oracle
                .judge(&reference, &answer.derivative)
                .expect("lengths match")
            {
                judged += 1;
                if let Verdict::Inconclusive { reason, detail } = v {
                    let words: String = detail
                        .split([';', ':'])
                        .next()
                        .unwrap_or("")
                        .chars()
                        .map(|ch| if ch.is_ascii_digit() { '#' } else { ch })
                        .take(90)
                        .collect();
                    let key = format!("{}: {words}", reason.name());
                    let example = format!(
                        "gen-{index} {} at {:?}\n{}\n{}",
                        quantity.name(),
                        c.point,
                        c.program,
                        detail.chars().take(600).collect::<String>()
                    );
                    let group = groups.entry(key).or_insert((0, Vec::new()));
                    group.0 += 1;
                    if group.1.len() < EXAMPLES {
                        group.1.push(example);
                    }
                }
            }
        }
    }
    let mut sorted: Vec<_> = groups.into_iter().collect();
    sorted.sort_by_key(|(_, (n, _))| std::cmp::Reverse(*n));
    let total: usize = sorted.iter().map(|(_, (n, _))| n).sum();
    println!("{total} of {judged} entries inconclusive (seed {seed}, {cases} cases)");
    for (key, (n, example)) in sorted {
        println!("\n{n:6}  {key}\n{}", example.join("\n--\n"));
    }
}
