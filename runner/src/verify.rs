//! `adcheck verify`: every suite against every selected engine.

use crate::inputs::{
    check_cases, corpus_for, deadline, min_bits, parse_shard, random_seed, select_engines,
    select_suites, DEFAULT_CORPUS,
};
use adcheck_engines::Engine;
use adcheck_reports::{
    render_engine_summary, render_table, write_summary, CaseWriter, Summary, TotalsCounter,
};
use adcheck_suites::conformance::{
    run_streaming, scheduled_cases, ConformanceConfig, ConformanceReport, FailMeaning, Outcome,
    Record, RunOutcome, Shard, Suite, Summarizer, SummaryRow,
};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// How to print the result.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// A table for people.
    Human,
    /// `summary.json` on standard output.
    Json,
}

/// The flags of `verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// An engine to check (repeatable; default: every built-in engine).
    #[arg(long = "engine", value_name = "NAME")]
    pub(crate) engines: Vec<String>,
    /// A suite to run (repeatable; default: all): generated, catalogue,
    /// properties, corpus.
    #[arg(long = "suite", value_name = "NAME")]
    pub(crate) suites: Vec<String>,
    /// Generated programs to check.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) cases: u64,
    /// The seed every random choice flows from (default: random, printed).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Stop starting new cases after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) time_budget: Option<f64>,
    /// Run only shard K of N (`K/N`, K from 0): a deterministic partition of
    /// the generated cases; merge the outputs with `report merge`.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub(crate) shard: Option<Shard>,
    /// Replay saved cases (a replay file, or a folder of them) instead of
    /// the suites.
    #[arg(long, value_name = "FILE|DIR")]
    pub(crate) replay: Option<PathBuf>,
    /// The regression corpus replayed on every run (default: `corpus`, if
    /// that folder exists).
    #[arg(long, value_name = "DIR")]
    pub(crate) corpus: Option<PathBuf>,
    /// Where to write cases.csv, timings.csv, summary.json and failures/
    /// (with --replay, into its subfolder replay/).
    #[arg(long, value_name = "DIR", default_value = "target/adcheck/verify")]
    pub(crate) out: PathBuf,
    /// No progress bar and no summary (the totals line stays).
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Also print the full engine × suite × family table (always written
    /// to table.txt) and every shrunk program.
    #[arg(long, visible_alias = "table")]
    pub(crate) verbose: bool,
    /// Output format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub(crate) format: Format,
    /// Inaccurate answers (the right value to a loose bound, bits lost
    /// beyond the rounding scale) keeping fewer than B correct bits fail
    /// the run; without this flag they are counted and reported only.
    #[arg(long, value_name = "B")]
    pub(crate) min_bits: Option<f64>,
    /// Run the suites against every mutant engine (each with one planted
    /// bug) instead, and report which are killed; fails if any survives.
    #[arg(long, conflicts_with_all = ["engines", "replay"])]
    pub(crate) mutants: bool,
    /// The shape of the generated programs.
    #[command(flatten)]
    pub(crate) generator: crate::generator::GeneratorArgs,
}

/// Exit status 1 when a failure fails the run (any but an `inaccurate`
/// one that keeps `--min-bits`), else 0.
pub(crate) fn exit_status(summary: &Summary) -> ExitCode {
    crate::exit::findings_if(summary.failing_the_run() > 0)
}

/// The settings of `verify --mutants`, validated as `verify`'s own are
/// (one process, no shard, no replay).
fn mutants_config(args: &VerifyArgs) -> Result<crate::mutants::MutantsConfig, crate::InputError> {
    let deadline = deadline(args.time_budget)?;
    check_cases(args.cases, Shard::default())?;
    let generator = args.generator.config()?;
    let mut suites = select_suites(&args.suites)?;
    let seed = args.seed.unwrap_or_else(random_seed);
    let corpus = corpus_for(None, args.corpus.as_deref(), &mut suites)?;
    Ok(crate::mutants::MutantsConfig {
        config: ConformanceConfig {
            cases: args.cases,
            seed,
            suites,
            generator,
            corpus,
            deadline,
            ..ConformanceConfig::default()
        },
        out: args.out.clone(),
        quiet: args.quiet,
    })
}

/// Runs `verify`.
pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    if args.mutants {
        return crate::mutants::run(&mutants_config(&args)?);
    }
    // Flags first, so a bad one is the only thing printed.
    let deadline = deadline(args.time_budget)?;
    let min_bits = min_bits(args.min_bits)?;
    let generator = args.generator.config()?;
    let shard = args.shard.unwrap_or_default();
    check_cases(args.cases, shard)?;
    let engines = select_engines(&args.engines)?;
    let mut suites = select_suites(&args.suites)?;
    let seed = args.seed.unwrap_or_else(random_seed);
    let corpus = corpus_for(args.replay.as_deref(), args.corpus.as_deref(), &mut suites)?;
    let config = ConformanceConfig {
        cases: args.cases,
        seed,
        suites: suites.clone(),
        generator,
        shard,
        corpus,
        deadline,
        ..ConformanceConfig::default()
    };
    let engine_refs: Vec<&dyn Engine> = engines.iter().map(|e| e.as_ref()).collect();
    // A replay writes beside, never over, the failures it may be reading.
    let out = match &args.replay {
        Some(_) => args.out.join("replay"),
        None => args.out.clone(),
    };
    let finished = execute(
        &engine_refs,
        &config,
        &out,
        args.quiet,
        min_bits,
        Keep::Failures,
    )?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&finished.summary)?),
        Format::Human if !args.quiet => {
            let replay = |engine: &str| format!("cargo xtask verify --engine {engine}");
            let corpus = args.corpus.as_deref().unwrap_or(Path::new(DEFAULT_CORPUS));
            print_findings(&finished, &out, corpus, &replay, args.verbose);
        }
        Format::Human => {}
    }
    print_totals(&finished, &out);
    Ok(exit_status(&finished.summary))
}

/// A finished run: what was kept of its outcome, its summary, its tables
/// and its wall time.
pub(crate) struct Finished {
    /// Per engine: every record under [`Keep::Everything`], else only the
    /// failures; every counterexample.
    pub(crate) outcome: RunOutcome,
    pub(crate) summary: Summary,
    /// Per engine, the rows of its engine × suite × family table.
    pub(crate) tables: Vec<Vec<SummaryRow>>,
    pub(crate) wall: f64,
}

/// Which records a run keeps in memory once they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Every record (a conformance report reads them all).
    Everything,
    /// The failures only, so memory does not grow with the cases.
    Failures,
}

/// Runs `config` on `engines` with a progress bar, writing `cases.csv`,
/// `timings.csv` and `failures/` as cases are judged, and `summary.json`
/// and `table.txt` at the end, into `out`.
pub(crate) fn execute(
    engines: &[&dyn Engine],
    config: &ConformanceConfig,
    out: &Path,
    quiet: bool,
    min_bits: Option<f64>,
    keep: Keep,
) -> Result<Finished> {
    let names: Vec<String> = engines.iter().map(|e| e.name().to_string()).collect();
    let suites = &config.suites;
    let shard = config.shard;
    let seed = config.seed;
    eprintln!(
        "adcheck: seed {seed}, {} generated cases{}, engines {}, suites {}",
        config.cases,
        if shard.count > 1 {
            format!(" (shard {}/{})", shard.index, shard.count)
        } else {
            String::new()
        },
        names.join(", "),
        suites
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let failures_dir = out.join("failures");
    if failures_dir.exists() {
        fs::remove_dir_all(&failures_dir)
            .with_context(|| format!("clearing {}", failures_dir.display()))?;
    }
    fs::create_dir_all(&failures_dir)
        .with_context(|| format!("creating {}", failures_dir.display()))?;

    let total = scheduled_cases(config);
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} cases, {per_sec}, eta {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let mut writer = CaseWriter::create(out)?;
    let mut counter = TotalsCounter::new(min_bits);
    let mut tables: Vec<Summarizer> = names.iter().map(|_| Summarizer::default()).collect();
    let mut kept: Vec<ConformanceReport> = names
        .iter()
        .map(|name| ConformanceReport {
            engine: name.clone(),
            ..ConformanceReport::default()
        })
        .collect();
    let mut failure_files = Vec::new();
    // The first error writing an output; the run goes on unwritten after it.
    let mut failed_write: Option<anyhow::Error> = None;
    let start = Instant::now();
    let counts = run_streaming(engines, config, &|k| bar.inc(k), &mut |e, case| {
        for r in &case.records {
            counter.add(r);
            tables[e].add(r);
            if failed_write.is_none() {
                failed_write = writer.write(r).err().map(anyhow::Error::from);
            }
        }
        for c in &case.counterexamples {
            let name = format!("failures/{}.json", c.case.id);
            let written = serde_json::to_string_pretty(&c.case)
                .map_err(anyhow::Error::from)
                .and_then(|text| {
                    let path = out.join(&name);
                    fs::write(&path, text + "\n")
                        .with_context(|| format!("writing {}", path.display()))
                });
            if let (Err(e), None) = (written, &failed_write) {
                failed_write = Some(e);
            }
            failure_files.push(name);
        }
        // Failures of saved and catalogue cases replay from where they are.
        let report = &mut kept[e];
        match keep {
            Keep::Everything => report.records.extend(case.records),
            Keep::Failures => report.records.extend(
                case.records
                    .into_iter()
                    .filter(|r| r.verdict == Outcome::Fail),
            ),
        }
        report.counterexamples.extend(case.counterexamples);
    });
    bar.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();
    if let Some(e) = failed_write {
        return Err(e);
    }
    writer.finish()?;
    failure_files.sort();
    let mut summary = Summary {
        seed,
        cases: config.cases,
        shard: format!("{}/{}", shard.index, shard.count),
        engines: names.clone(),
        suites: suites.iter().map(|s| s.name().to_string()).collect(),
        failures: failure_files,
        wall_seconds: wall,
        skipped_cases: counts.skipped,
        min_bits,
        ..Summary::default()
    };
    summary.totals = counter.finish();
    write_summary(&out.join("summary.json"), &summary)?;
    let finished = Finished {
        outcome: RunOutcome {
            reports: kept,
            skipped: counts.skipped,
            scheduled: counts.scheduled,
        },
        summary,
        tables: tables.iter().map(Summarizer::rows).collect(),
        wall,
    };
    let table_path = out.join("table.txt");
    fs::write(&table_path, full_table(&finished) + "\n")
        .with_context(|| format!("writing {}", table_path.display()))?;
    Ok(finished)
}

/// Every engine's engine × suite × family table.
pub(crate) fn full_table(finished: &Finished) -> String {
    finished
        .summary
        .engines
        .iter()
        .zip(&finished.tables)
        .map(|(engine, rows)| render_table(engine, rows))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Failures listed per engine before the rest is only counted (all of
/// them with `--verbose`; every one is in cases.csv).
const FAILURES_SHOWN: usize = 25;

/// Prints the per-engine summary, then every failure with its evidence on
/// one line and the command that replays it; with `verbose`, the full
/// table and the shrunk programs too. `engine_command(engine)` is the
/// command that checks one engine, to which `--replay FILE` is added.
pub(crate) fn print_findings(
    finished: &Finished,
    out: &Path,
    corpus: &Path,
    engine_command: &dyn Fn(&str) -> String,
    verbose: bool,
) {
    let outcome = &finished.outcome;
    if verbose {
        println!("{}\n", full_table(finished));
    }
    println!("{}", render_engine_summary(&finished.summary));
    for report in &outcome.reports {
        let failed: Vec<&Record> = report
            .records
            .iter()
            .filter(|r| r.fail_meaning().is_some())
            .collect();
        if failed.is_empty() {
            continue;
        }
        println!();
        let shown = if verbose {
            failed.len()
        } else {
            FAILURES_SHOWN
        };
        for r in failed.iter().take(shown) {
            let meaning = r.fail_meaning().map_or("", FailMeaning::name);
            println!(
                "FAIL {} {} {} ({meaning}): {}",
                r.engine,
                r.case,
                r.check,
                one_line(&r.reason)
            );
            let command = engine_command(&r.engine);
            let counterexample = report.counterexamples.iter().find(|c| {
                c.case.check == r.check && c.case.id.starts_with(&format!("{}-", r.case))
            });
            match (counterexample, r.suite) {
                (Some(c), _) => {
                    let shrunk = match &c.not_shrunk {
                        Some(why) if c.size == c.original_size => {
                            format!("not shrunk ({why})")
                        }
                        Some(why) => format!(
                            "shrunk from {} to {} assignments, then stopped ({why})",
                            c.original_size, c.size
                        ),
                        None => {
                            format!("shrunk from {} to {} assignments", c.original_size, c.size)
                        }
                    };
                    println!(
                        "     {shrunk}; replay: {command} --replay {}",
                        out.join(format!("failures/{}.json", c.case.id)).display()
                    );
                    if verbose {
                        println!("{}", c.case.program_text);
                    }
                }
                (None, Suite::Corpus) => {
                    println!("     replay: {command} --replay {}", corpus.display())
                }
                (None, Suite::Catalogue) => {
                    println!("     replay: {command} --suite catalogue")
                }
                (None, _) => println!("     replay: {command}"),
            }
        }
        if failed.len() > shown {
            println!(
                "... and {} more failures of {} (every one in {}; all listed with --verbose)",
                failed.len() - shown,
                report.engine,
                out.join("cases.csv").display()
            );
        }
    }
}

/// `text` on one line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// Prints the one-paragraph account of a run on standard error.
pub(crate) fn print_totals(finished: &Finished, out: &Path) {
    let (outcome, summary, wall) = (&finished.outcome, &finished.summary, finished.wall);
    let checked = outcome.scheduled - outcome.skipped;
    let fails = summary.failures_total();
    let inconclusive: usize = summary.totals.values().map(|t| t.inconclusive).sum();
    let conventions: usize = summary.totals.values().map(|t| t.convention).sum();
    let all: usize = summary
        .totals
        .values()
        .map(|t| t.pass + t.convention + t.fail + t.inconclusive)
        .sum();
    let mut by_meaning: std::collections::BTreeMap<&str, usize> = Default::default();
    for t in summary.totals.values() {
        for (m, k) in &t.fail_by_meaning {
            *by_meaning.entry(m.as_str()).or_default() += k;
        }
    }
    let meanings = if fails == 0 {
        String::new()
    } else {
        let parts: Vec<String> = FailMeaning::ALL
            .iter()
            .filter_map(|m| {
                by_meaning
                    .get(m.name())
                    .map(|k| format!("{k} {}", m.name()))
            })
            .collect();
        format!(" ({})", parts.join(", "))
    };
    eprintln!(
        "{checked} cases ({} skipped by the time budget) in {wall:.1} s ({:.0} cases/s); {} checks: {conventions} conventions, {fails} failed{meanings}, {inconclusive} inconclusive ({:.2}%); outputs in {}",
        outcome.skipped,
        checked as f64 / wall.max(1e-9),
        all,
        100.0 * inconclusive as f64 / all.max(1) as f64,
        out.display()
    );
    eprintln!("seed {}: rerun with --seed {}", summary.seed, summary.seed);
}
