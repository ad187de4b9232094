//! `adcheck verify --mutants`: do the suites kill every planted bug?

use adcheck_mutants::Bug;
use adcheck_suites::conformance::{hunt, ConformanceConfig, HuntOutcome};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::fmt::Write;
use std::fs;
use std::path::PathBuf;
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

/// What `verify --mutants` runs: plain settings, validated by the caller.
pub(crate) struct MutantsConfig {
    /// The suites, cases, seed, corpus, generator and deadline of each hunt.
    pub(crate) config: ConformanceConfig,
    /// Where `mutants.md` and `mutants/` go.
    pub(crate) out: PathBuf,
    /// No progress bar and no table on standard output.
    pub(crate) quiet: bool,
}

/// Runs the suites against every mutant.
pub(crate) fn run(mutants: &MutantsConfig) -> Result<ExitCode> {
    let config = &mutants.config;
    let (seed, cases, quiet, out) = (config.seed, config.cases, mutants.quiet, &mutants.out);
    eprintln!(
        "adcheck verify --mutants: seed {seed}, {} mutants, up to {} generated cases each",
        Bug::ALL.len(),
        cases
    );
    let bar = if quiet {
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
            let outcome = hunt(engine.as_ref(), config);
            bar.inc(1);
            Line { bug, outcome }
        })
        .collect();
    bar.finish_and_clear();
    let text = table(&lines);
    fs::create_dir_all(out)?;
    let path = out.join("mutants.md");
    fs::write(
        &path,
        format!("Seed {seed}, up to {cases} generated cases per mutant.\n\n{text}"),
    )?;
    let cases_dir = out.join("mutants");
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
    if !quiet {
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
