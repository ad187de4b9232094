//! One call from an engine crate's own tests: the suites on the engine, the
//! full report written to a folder, saved failures and a corpus replayed,
//! and a readable failure when anything is `wrong`.
//!
//! ```no_run
//! # use adcheck_engines::forward::ForwardEngine as MyEngine;
//! use adcheck_campaign::check::Check;
//!
//! #[test]
//! fn my_engine_conforms() {
//!     Check::new(&MyEngine, "target/adcheck/my-engine")
//!         .cases(500)
//!         .corpus("tests/adcheck-corpus")
//!         .run()
//!         .expect("the campaign ran")
//!         .assert_no_failures();
//! }
//! ```
//!
//! Like proptest's failure persistence, a failure found once is replayed
//! first on every later run: each shrunk counterexample is saved as a replay
//! file in `OUT/failures/`, and the next [`Check::run`] replays every file
//! there before the suites (a replay that still fails keeps its file; one
//! that passes is dropped, as the bug is fixed). Copy a file into the corpus
//! folder to keep it as a regression case for good.

use crate::inputs::{check_cases_kept, load_replays, min_bits};
use crate::report::{write_conformance, ReportContext};
use crate::run::{execute, findings, totals, Finished, Keep, Replays};
use crate::InputError;
use adcheck_engines::Engine;
use adcheck_suites::conformance::{
    CaseId, ConformanceConfig, FailMeaning, Outcome, ReplayCase, Suite,
};
use adcheck_suites::generate::GenConfig;
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The seed a [`Check`] uses unless given one: fixed, so a crate's test
/// sees the same cases on every run (and its failures replay as saved).
pub const DEFAULT_SEED: u64 = 20261126;

/// A campaign on one engine, configured by its builder methods and started
/// by [`Check::run`].
#[must_use = "a Check does nothing until `run` is called"]
pub struct Check<'e> {
    engine: &'e dyn Engine,
    out: PathBuf,
    config: ConformanceConfig,
    corpus: Option<PathBuf>,
    min_bits: Option<f64>,
    quiet: bool,
}

impl<'e> Check<'e> {
    /// Checks `engine` with every suite on 1,000 generated cases (seed
    /// [`DEFAULT_SEED`]), writing the report and its outputs into `out`.
    pub fn new(engine: &'e dyn Engine, out: impl Into<PathBuf>) -> Self {
        Check {
            engine,
            out: out.into(),
            config: ConformanceConfig {
                cases: 1_000,
                seed: DEFAULT_SEED,
                ..ConformanceConfig::default()
            },
            corpus: None,
            min_bits: None,
            quiet: true,
        }
    }

    /// How many generated programs to check (at most 250,000).
    pub fn cases(mut self, cases: u64) -> Self {
        self.config.cases = cases;
        self
    }

    /// The seed every random choice flows from.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Only these suites (default: all of them).
    pub fn suites(mut self, suites: &[Suite]) -> Self {
        self.config.suites = suites.to_vec();
        self
    }

    /// The shape of the generated programs.
    pub fn generator(mut self, generator: GenConfig) -> Self {
        self.config.generator = generator;
        self
    }

    /// A folder of replay files (the crate's own regression cases) replayed
    /// on every run; it must exist.
    pub fn corpus(mut self, dir: impl Into<PathBuf>) -> Self {
        self.corpus = Some(dir.into());
        self
    }

    /// `inaccurate` answers keeping fewer than `bits` correct bits fail the
    /// run too (without it they are counted and reported only).
    pub fn min_bits(mut self, bits: f64) -> Self {
        self.min_bits = Some(bits);
        self
    }

    /// Show a progress bar on standard error (off by default: test output
    /// is captured).
    pub fn progress(mut self, shown: bool) -> Self {
        self.quiet = !shown;
        self
    }

    /// Runs the campaign: saved failures (`OUT/failures/`) and the corpus
    /// first, then the suites; writes `cases.csv`, `timings.csv`,
    /// `summary.json`, `table.txt`, `failures/` and the conformance report
    /// (`conformance.md`, `.html`, `.csv`) into the output folder. An error
    /// means the campaign could not run (a bad setting, an unreadable
    /// replay file, an output that cannot be written); what the engine got
    /// wrong is in the outcome.
    pub fn run(self) -> Result<CheckOutcome> {
        check_cases_kept(self.config.cases)?;
        let min_bits = min_bits(self.min_bits)?;
        let mut config = self.config;
        let saved = saved_failures(&self.out)?;
        let mut corpus = match &self.corpus {
            Some(dir) if dir.is_dir() => load_replays(dir)?,
            Some(dir) => {
                return Err(InputError(format!("corpus {}: no such folder", dir.display())).into())
            }
            None => Vec::new(),
        };
        // A saved failure already in the corpus is replayed once.
        let ids: HashSet<String> = corpus.iter().map(|c| c.id.clone()).collect();
        let replayed: Vec<ReplayCase> =
            saved.into_iter().filter(|c| !ids.contains(&c.id)).collect();
        corpus.extend(replayed.iter().cloned());
        if !corpus.is_empty() && !config.suites.contains(&Suite::Corpus) {
            config.suites.push(Suite::Corpus);
        }
        config.corpus = corpus;
        fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        let finished = execute(
            &[self.engine],
            &config,
            &self.out,
            self.quiet,
            min_bits,
            Keep::Everything,
        )?;
        keep_still_failing(&self.out, &replayed, &finished)?;
        let name = self.engine.name();
        let context = ReportContext {
            description: format!(
                "The engine `{name}`, checked from its crate's own tests (`adcheck_campaign::check::Check`)."
            ),
            engine_command:
                "saved as `{file}`; the next `cargo test` replays it first (`Check::run` replays every file in the failures folder)"
                    .to_string(),
            command: format!(
                "cargo test (Check::new(&engine, {:?}).seed({}).cases({}))",
                self.out.display().to_string(),
                config.seed,
                config.cases
            ),
        };
        write_conformance(self.engine, &config, &finished, &context, &self.out)?;
        let text = findings(
            &finished,
            &self.out,
            self.corpus.as_deref().unwrap_or(Path::new("(no corpus)")),
            Replays::CrateTests,
            false,
        ) + &totals(&finished, &self.out);
        Ok(CheckOutcome {
            report: self.out.join("conformance.md"),
            out: self.out,
            replayed: replayed.len(),
            finished,
            text,
        })
    }
}

/// The replay files a previous run left in `out/failures/`, if any.
fn saved_failures(out: &Path) -> Result<Vec<ReplayCase>, InputError> {
    let dir = out.join("failures");
    let any = fs::read_dir(&dir).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| e.path().extension().is_some_and(|x| x == "json"))
    });
    if any {
        load_replays(&dir)
    } else {
        Ok(Vec::new())
    }
}

/// Writes back the saved failures that failed again (the run cleared the
/// folder, and a replayed case is no new counterexample to save).
fn keep_still_failing(out: &Path, replayed: &[ReplayCase], finished: &Finished) -> Result<()> {
    let failed: HashSet<&str> = finished
        .outcome
        .reports
        .iter()
        .flat_map(|r| &r.records)
        .filter(|r| r.verdict == Outcome::Fail)
        .filter_map(|r| match CaseId::parse(&r.case) {
            CaseId::Corpus(id) => Some(id),
            _ => None,
        })
        .collect();
    for case in replayed.iter().filter(|c| failed.contains(c.id.as_str())) {
        let path = out.join("failures").join(format!("{}.json", case.id));
        if !path.exists() {
            let text = serde_json::to_string_pretty(case)?;
            fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// What a [`Check`] found.
pub struct CheckOutcome {
    /// The run: every record, the counterexamples, the summary.
    pub finished: Finished,
    /// The output folder.
    pub out: PathBuf,
    /// The Markdown report (`conformance.html` and `.csv` are beside it).
    pub report: PathBuf,
    /// How many saved failures of an earlier run were replayed.
    pub replayed: usize,
    text: String,
}

impl CheckOutcome {
    /// Checks whose verdict is `fail` with `meaning`.
    pub fn count(&self, meaning: FailMeaning) -> usize {
        self.finished
            .outcome
            .reports
            .iter()
            .flat_map(|r| &r.records)
            .filter(|r| r.fail_meaning() == Some(meaning))
            .count()
    }

    /// Failures that fail the run: `wrong`, `inconsistent`, `fault`, and
    /// `inaccurate` below [`Check::min_bits`].
    pub fn failing(&self) -> usize {
        self.finished.summary.failing_the_run()
    }

    /// The summary a person reads: the per-engine totals, every failure
    /// with its evidence and where its replay file is, and the totals line.
    pub fn summary(&self) -> &str {
        &self.text
    }

    /// Panics with [`CheckOutcome::summary`] and the report's path when
    /// anything fails the run: the one line an engine crate's test needs.
    #[track_caller]
    pub fn assert_no_failures(&self) {
        if self.failing() > 0 {
            panic!(
                "adcheck: {} checks fail the run\n{}\nreport: {}",
                self.failing(),
                self.text,
                self.report.display()
            );
        }
    }
}
