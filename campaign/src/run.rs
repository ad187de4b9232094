//! A campaign run: the suites on engines, every output written as cases
//! are judged (`cases.csv`, `timings.csv`, `failures/`), then
//! `summary.json` and `table.txt`; and the texts a command prints about it.

use adcheck_engines::Engine;
use adcheck_reports::{
    render_engine_summary, render_table, write_summary, CaseWriter, Summary, TotalsCounter,
};
use adcheck_suites::conformance::{
    run_streaming, scheduled_cases, ConformanceConfig, ConformanceReport, FailMeaning, Outcome,
    Record, RunOutcome, Suite, Summarizer, SummaryRow,
};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Write;
use std::fs;
use std::path::Path;
use std::time::Instant;

/// A finished run: what was kept of its outcome, its summary, its tables
/// and its wall time.
pub struct Finished {
    /// Per engine: every record under [`Keep::Everything`], else only the
    /// failures; every counterexample.
    pub outcome: RunOutcome,
    /// The totals and settings, as written to `summary.json`.
    pub summary: Summary,
    /// Per engine, the rows of its engine × suite × family table.
    pub tables: Vec<Vec<SummaryRow>>,
    /// Seconds from the first case to the last.
    pub wall: f64,
}

/// Which records a run keeps in memory once they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Every record (a conformance report reads them all).
    Everything,
    /// The failures only, so memory does not grow with the cases.
    Failures,
}

/// Runs `config` on `engines` with a progress bar on standard error (none
/// when `quiet`), writing `cases.csv`, `timings.csv` and `failures/` (one
/// replay file per shrunk counterexample) as cases are judged, and
/// `summary.json` and `table.txt` at the end, into `out`. `min_bits` makes
/// `inaccurate` answers keeping fewer bits fail the run.
pub fn execute(
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
        outcome: RunOutcome::new(kept, counts.skipped, counts.scheduled),
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
pub fn full_table(finished: &Finished) -> String {
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

/// How a failure is replayed, for [`findings`].
#[derive(Clone, Copy)]
pub enum Replays<'a> {
    /// By a command line: `command(engine)` checks one engine, and
    /// `--replay FILE` or `--suite catalogue` is added to it.
    Command(&'a dyn Fn(&str) -> String),
    /// By the crate's own tests ([`crate::check::Check`]): saved failures
    /// and the catalogue replay on the next `cargo test`.
    CrateTests,
}

impl Replays<'_> {
    /// The line saying how to replay one failure of `engine`: from a replay
    /// file, from `suite` (corpus or catalogue), or by running again.
    fn line(&self, engine: &str, file: Option<&Path>, suite: Suite, corpus: &Path) -> String {
        match self {
            Replays::Command(command) => {
                let command = command(engine);
                match (file, suite) {
                    (Some(file), _) => format!("replay: {command} --replay {}", file.display()),
                    (None, Suite::Corpus) => {
                        format!("replay: {command} --replay {}", corpus.display())
                    }
                    (None, Suite::Catalogue) => format!("replay: {command} --suite catalogue"),
                    (None, _) => format!("replay: {command}"),
                }
            }
            Replays::CrateTests => match file {
                Some(file) => format!(
                    "saved as {}: the next `cargo test` replays it first",
                    file.display()
                ),
                None => "replayed by every `cargo test`".to_string(),
            },
        }
    }
}

/// The per-engine summary, then every failure with its evidence on one
/// line and how to replay it; with `verbose`, the full table and the shrunk
/// programs too.
pub fn findings(
    finished: &Finished,
    out: &Path,
    corpus: &Path,
    replays: Replays<'_>,
    verbose: bool,
) -> String {
    let mut text = String::new();
    let outcome = &finished.outcome;
    if verbose {
        let _ = writeln!(text, "{}\n", full_table(finished));
    }
    let _ = writeln!(text, "{}", render_engine_summary(&finished.summary));
    for report in &outcome.reports {
        let failed: Vec<&Record> = report
            .records
            .iter()
            .filter(|r| r.fail_meaning().is_some())
            .collect();
        if failed.is_empty() {
            continue;
        }
        let _ = writeln!(text);
        let shown = if verbose {
            failed.len()
        } else {
            FAILURES_SHOWN
        };
        for r in failed.iter().take(shown) {
            let meaning = r.fail_meaning().map_or("", FailMeaning::name);
            let _ = writeln!(
                text,
                "FAIL {} {} {} ({meaning}): {}",
                r.engine,
                r.case,
                r.check,
                one_line(&r.reason)
            );
            let counterexample = report.counterexamples.iter().find(|c| c.shows(r));
            let file = counterexample.map(|c| out.join(format!("failures/{}.json", c.case.id)));
            let replay = replays.line(&r.engine, file.as_deref(), r.suite, corpus);
            match counterexample {
                Some(c) => {
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
                    let _ = writeln!(text, "     {shrunk}; {replay}");
                    if verbose {
                        let _ = writeln!(text, "{}", c.case.program_text);
                    }
                }
                None => {
                    let _ = writeln!(text, "     {replay}");
                }
            }
        }
        if failed.len() > shown {
            let _ = writeln!(
                text,
                "... and {} more failures of {} (every one in {}; all listed with --verbose)",
                failed.len() - shown,
                report.engine,
                out.join("cases.csv").display()
            );
        }
    }
    text
}

/// `text` on one line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// The two-line account of a run (totals, then the seed), as printed on
/// standard error at the end of every run.
pub fn totals(finished: &Finished, out: &Path) -> String {
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
    format!(
        "{checked} cases ({} skipped by the time budget) in {wall:.1} s ({:.0} cases/s); {} checks: {conventions} conventions, {fails} failed{meanings}, {inconclusive} inconclusive ({:.2}%); outputs in {}",
        outcome.skipped,
        checked as f64 / wall.max(1e-9),
        all,
        100.0 * inconclusive as f64 / all.max(1) as f64,
        out.display()
    ) + &format!("\nseed {}: rerun with --seed {}", summary.seed, summary.seed)
}
