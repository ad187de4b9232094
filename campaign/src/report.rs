//! The conformance report of one engine, assembled from a finished run:
//! `conformance.md`, `conformance.html` and `conformance.csv`, beside the
//! run's own outputs.

use crate::run::Finished;
use adcheck_engines::Engine;
use adcheck_oracle::Oracle;
use adcheck_reports::conformance::ConformanceDocument;
use adcheck_suites::conformance::{ConformanceConfig, Suite};
use adcheck_suites::examine::examine_catalogue;
use anyhow::Result;
use std::path::Path;

/// How the report tells its reader to repeat what it shows.
#[derive(Clone, Debug)]
pub struct ReportContext {
    /// One sentence on what the engine is (the built-in engine `reverse`,
    /// an adapter, a process and its protocol settings).
    pub description: String,
    /// The command that checks this engine; a replay adds `--replay FILE`.
    pub engine_command: String,
    /// The command that reproduces the whole run.
    pub command: String,
}

/// Writes the conformance report of `engine` for the run `finished` (made
/// with `config`, the engine the run's only one) into `out`. The catalogue
/// is examined again case by case for the report's conventions table when
/// the run included it.
pub fn write_conformance(
    engine: &dyn Engine,
    config: &ConformanceConfig,
    finished: &Finished,
    context: &ReportContext,
    out: &Path,
) -> Result<()> {
    let catalogue = if config.suites.contains(&Suite::Catalogue) {
        examine_catalogue(engine, &Oracle::new(config.oracle.clone()))
    } else {
        Vec::new()
    };
    let failures_dir = out.join("failures").display().to_string();
    let name = engine.name().to_string();
    let document = ConformanceDocument {
        engine: &name,
        description: &context.description,
        command: &context.command,
        seed: config.seed,
        cases: config.cases,
        wall_seconds: finished.wall,
        skipped_cases: finished.outcome.skipped,
        report: &finished.outcome.reports[0],
        catalogue: &catalogue,
        failures_dir: &failures_dir,
        engine_command: &context.engine_command,
        corpus: &config.corpus,
    };
    document.write(out)?;
    Ok(())
}

/// A folder name for an engine's report: its name with every character
/// other than ASCII letters, digits, `-` and `_` made `_` (`jax-0.10.2`
/// becomes `jax-0_10_2`).
pub fn folder_name(engine: &str) -> String {
    engine
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
