//! One planted bug per catalogue family is caught: by a catalogue case of its
//! own family (at most five assignments), and by generated programs whose
//! counterexample shrinks to at most five assignments.

use adcheck_mutants::Bug;
use adcheck_suites::catalogue::catalogue;
use adcheck_suites::conformance::{check_engine, hunt, ConformanceConfig, Outcome, Suite};

fn config(suites: Vec<Suite>) -> ConformanceConfig {
    ConformanceConfig {
        cases: 3000,
        seed: 2026,
        suites,
        ..ConformanceConfig::default()
    }
}

#[test]
fn planted_bugs_are_caught_and_shrink_small() {
    let planted = [
        (Bug::FanOutOverwritten, "fan_out"),
        (Bug::UnusedNodePoisons, "unused_singular"),
        (Bug::ConstantBasePowerRule, "constant_base"),
        (Bug::PowZeroBaseNaN, "pow_zero_base"),
        (Bug::LogsumexpUnstable, "logsumexp"),
    ];
    let pitfalls = catalogue();
    for (bug, family) in planted {
        let engine = bug.engine();
        // A catalogue case of the bug's own family fails, and it is small.
        let report = check_engine(engine.as_ref(), &config(vec![Suite::Catalogue]));
        let own: Vec<&str> = report
            .records
            .iter()
            .filter(|r| r.verdict == Outcome::Fail)
            .map(|r| r.case.trim_start_matches("cat-"))
            .filter(|name| {
                pitfalls
                    .iter()
                    .any(|p| p.name == *name && p.family == family)
            })
            .collect();
        assert!(!own.is_empty(), "{}: no {family} case fails", bug.name());
        for name in &own {
            let p = pitfalls.iter().find(|p| p.name == *name).unwrap();
            assert!(p.parse().body().len() <= 5, "{name} is not small");
        }
        let first = hunt(engine.as_ref(), &config(vec![Suite::Catalogue]))
            .first
            .unwrap();
        println!(
            "{:<26} catalogue: first kill {} after {} cases; own family: {}",
            bug.name(),
            first.case,
            first.cases_checked,
            own.join(", ")
        );
        // Generated programs catch it too, and shrink it.
        let generated = hunt(
            engine.as_ref(),
            &config(vec![Suite::Generated, Suite::Properties]),
        );
        match (&generated.first_generated, &generated.counterexample) {
            (Some(kill), Some(c)) => {
                println!(
                    "{:<26} generated: case {} ({}), shrunk {} -> {} assignments in {} candidates\n{}",
                    bug.name(),
                    kill.cases_checked,
                    kill.check,
                    c.original_size,
                    c.size,
                    c.shrink_steps,
                    c.case.program_text
                );
                assert!(
                    c.size <= 5,
                    "{} shrank only to {}:\n{}",
                    bug.name(),
                    c.size,
                    c.case.program_text
                );
            }
            // At a zero base every stencil leaves the domain (a negative base
            // to a non-integer power), so the oracle can only call generated
            // cases domain edges; the catalogue's declared convention is what
            // catches this bug.
            _ => assert_eq!(
                bug,
                Bug::PowZeroBaseNaN,
                "{} escaped 3000 generated cases",
                bug.name()
            ),
        }
    }
}
