//! `adcheck verify --mutants`: do the suites kill every planted bug?

use crate::verify::{corpus_for, random_seed, select_suites, VerifyArgs};
use adcheck_mutants::Bug;
use adcheck_suites::conformance::{hunt, ConformanceConfig, HuntOutcome};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::fmt::Write;
use std::fs;
use std::process::ExitCode;
use std::time::Instant;

/// One line of the mutant table.
struct Line {
    bug: Bug,
    outcome: HuntOutcome,
}

fn table(lines: &[Line]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| mutant | mirrors | verdict | first kill (suite: case, check) | cases until kill | seconds until kill | generated kill at case | shrunk size |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for line in lines {
        let o = &line.outcome;
        let (verdict, first, cases, seconds) = match &o.first {
            Some(k) => (
                "killed",
                format!("{}: {}, {}", k.suite.name(), k.case, k.check),
                k.cases_checked.to_string(),
                format!("{:.3}", k.seconds),
            ),
            None => ("SURVIVED", "-".into(), "-".into(), "-".into()),
        };
        let generated = o
            .first_generated
            .as_ref()
            .map_or("-".to_string(), |k| k.cases_checked.to_string());
        let size = o.counterexample.as_ref().map_or("-".to_string(), |c| {
            format!("{} (from {})", c.size, c.original_size)
        });
        let _ = writeln!(
            out,
            "| {} | {} | {verdict} | {first} | {cases} | {seconds} | {generated} | {size} |",
            line.bug.name(),
            line.bug.mirrors()
        );
    }
    out
}

/// Runs the suites against every mutant.
pub fn run(args: &VerifyArgs) -> Result<ExitCode> {
    let deadline = crate::verify::deadline(args.time_budget)?;
    crate::verify::check_cases(args.cases, Default::default())?;
    let generator = args.generator.config()?;
    let mut suites = select_suites(&args.suites)?;
    let seed = args.seed.unwrap_or_else(random_seed);
    let corpus = corpus_for(None, args.corpus.as_deref(), &mut suites)?;
    let config = ConformanceConfig {
        cases: args.cases,
        seed,
        suites: suites.clone(),
        generator,
        corpus,
        deadline,
        ..ConformanceConfig::default()
    };
    eprintln!(
        "adcheck verify --mutants: seed {seed}, {} mutants, up to {} generated cases each",
        Bug::ALL.len(),
        args.cases
    );
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(Bug::ALL.len() as u64), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} mutants")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let start = Instant::now();
    let lines: Vec<Line> = Bug::ALL
        .par_iter()
        .map(|&bug| {
            let engine = bug.engine();
            let outcome = hunt(engine.as_ref(), &config);
            bar.inc(1);
            Line { bug, outcome }
        })
        .collect();
    bar.finish_and_clear();
    let text = table(&lines);
    fs::create_dir_all(&args.out)?;
    let path = args.out.join("mutants.md");
    fs::write(
        &path,
        format!(
            "Seed {seed}, up to {} generated cases per mutant.\n\n{text}",
            args.cases
        ),
    )?;
    let cases_dir = args.out.join("mutants");
    if cases_dir.exists() {
        fs::remove_dir_all(&cases_dir)?;
    }
    fs::create_dir_all(&cases_dir)?;
    for line in &lines {
        if let Some(c) = &line.outcome.counterexample {
            let file = cases_dir.join(format!("{}.json", line.bug.name()));
            fs::write(file, serde_json::to_string_pretty(&c.case)? + "\n")?;
        }
    }
    let survivors: Vec<&str> = lines
        .iter()
        .filter(|l| l.outcome.first.is_none())
        .map(|l| l.bug.name())
        .collect();
    if !args.quiet {
        println!("{text}");
        for line in &lines {
            if let Some(c) = &line.outcome.counterexample {
                println!(
                    "{} (generated case {}):\n{}",
                    line.bug.name(),
                    c.case.index.unwrap_or(0),
                    c.case.program_text
                );
            }
        }
    }
    eprintln!(
        "{} of {} mutants killed in {:.1} s; table in {}",
        lines.len() - survivors.len(),
        lines.len(),
        start.elapsed().as_secs_f64(),
        path.display()
    );
    if !survivors.is_empty() {
        eprintln!("survived: {}", survivors.join(", "));
    }
    Ok(crate::exit::findings_if(!survivors.is_empty()))
}
