//! `adcheck verify`: every suite against every selected engine.

use adcheck_campaign::inputs::{
    check_cases, corpus_for, deadline, min_bits, parse_shard, random_seed, select_engines,
    select_suites, DEFAULT_CORPUS,
};
use adcheck_campaign::run::{execute, findings, totals, Keep, Replays};
use adcheck_engines::Engine;
use adcheck_reports::Summary;
use adcheck_suites::conformance::{ConformanceConfig, Shard};
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
            print!(
                "{}",
                findings(
                    &finished,
                    &out,
                    corpus,
                    Replays::Command(&replay),
                    args.verbose
                )
            );
        }
        Format::Human => {}
    }
    eprintln!("{}", totals(&finished, &out));
    Ok(exit_status(&finished.summary))
}
