//! `adcheck conformance`: every suite against one engine (built-in, an
//! adapter, or a process), written up as a report (Markdown, HTML, CSV).

use crate::InputError;
use adcheck_campaign::inputs::{corpus_for, positive_seconds, random_seed, select_suites};
use adcheck_campaign::report::{folder_name, write_conformance, ReportContext};
use adcheck_campaign::run::{execute, findings, totals, Keep, Replays};
use adcheck_engines::Engine;
use adcheck_protocol::{split_command, ProcessEngine, ProcessOptions};
use adcheck_suites::conformance::ConformanceConfig;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// The flags of `conformance`.
#[derive(Args, Debug)]
pub struct ConformanceArgs {
    /// The engine to check: a built-in engine or an adapter compiled in
    /// (`cargo xtask conformance` compiles in the adapter named).
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "engine_cmd",
        conflicts_with = "engine_cmd"
    )]
    engine: Option<String>,
    /// An engine in another process: the command line that starts it (it
    /// speaks the JSON-lines protocol of `adcheck_protocol`).
    #[arg(long, value_name = "\"CMD ARGS\"")]
    engine_cmd: Option<String>,
    /// The name the report gives a process engine (default: the tool name
    /// it answers `start` with).
    #[arg(long, requires = "engine_cmd")]
    name: Option<String>,
    /// How long a process engine may take to answer one message.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    timeout: f64,
    /// How long a new process engine may take to answer each handshake
    /// message (`start`, `define`): a framework's import and first
    /// compilation, never counted against a case.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    startup_timeout: f64,
    /// Send a process engine one call per message even when it takes
    /// batches (to measure what batches gain, say).
    #[arg(long, requires = "engine_cmd")]
    no_batches: bool,
    /// Cases whose calls go in one batch to a process engine that takes
    /// batches.
    #[arg(long, value_name = "N", default_value_t = 16)]
    batch_cases: usize,
    /// Candidates tried when shrinking one failure (0: failures are saved
    /// as found; shrinking asks the engine one call at a time).
    #[arg(long, value_name = "N", default_value_t = 400)]
    shrink_budget: usize,
    /// A suite to run (repeatable; default: all): generated, catalogue,
    /// properties, corpus.
    #[arg(long = "suite", value_name = "NAME")]
    suites: Vec<String>,
    /// Generated programs to check.
    #[arg(long, default_value_t = 2_000)]
    cases: u64,
    /// The seed every random choice flows from (default: random, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Stop starting new cases after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    time_budget: Option<f64>,
    /// The regression corpus (default: `corpus`, if that folder exists).
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Replay saved cases (a replay file from a report's failures/, or a
    /// folder of them) instead of the suites.
    #[arg(long, value_name = "FILE|DIR")]
    replay: Option<PathBuf>,
    /// Where to write the report (default:
    /// target/adcheck/conformance/ENGINE; with --replay, its subfolder
    /// replay/).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// No progress bar and no summary (the totals line stays).
    #[arg(long)]
    quiet: bool,
    /// Inaccurate answers keeping fewer than B correct bits fail the run
    /// (without it they are counted and reported only).
    #[arg(long, value_name = "B")]
    min_bits: Option<f64>,
    /// Also print the full suite × family table (always in the report and
    /// table.txt) and every shrunk program.
    #[arg(long, visible_alias = "table")]
    verbose: bool,
    /// The shape of the generated programs.
    #[command(flatten)]
    generator: crate::generator::GeneratorArgs,
}

/// Runs `conformance`.
pub fn run(args: ConformanceArgs) -> Result<ExitCode> {
    let timeout = positive_seconds("--timeout", args.timeout)?;
    let startup_timeout = positive_seconds("--startup-timeout", args.startup_timeout)?;
    if args.batch_cases == 0 || args.batch_cases > 4096 {
        return Err(InputError(format!(
            "--batch-cases {}: give 1 to 4096 cases a batch",
            args.batch_cases
        ))
        .into());
    }
    let deadline = adcheck_campaign::inputs::deadline(args.time_budget)?;
    adcheck_campaign::inputs::check_cases_kept(args.cases)?;
    let min_bits = adcheck_campaign::inputs::min_bits(args.min_bits)?;
    let generator = args.generator.config()?;
    let mut suites = select_suites(&args.suites)?;
    let (engine, description): (Box<dyn Engine>, String) = match (&args.engine, &args.engine_cmd) {
        (Some(name), _) => {
            let engine = adcheck_campaign::registry::engine_named(name)?;
            let what = if adcheck_campaign::registry::builtin_engines()
                .iter()
                .any(|e| e.name() == name)
            {
                format!("The built-in engine `{name}`.")
            } else {
                format!(
                    "The `{name}` adapter (crate `adcheck-adapters`, feature `{name}`; the crate version is pinned in adapters/Cargo.toml)."
                )
            };
            (engine, what)
        }
        (None, Some(line)) => {
            let command =
                split_command(line).map_err(|e| InputError(format!("--engine-cmd: {e}")))?;
            let options = ProcessOptions {
                timeout,
                startup_timeout,
                name: args.name.clone(),
                batches: !args.no_batches,
            };
            let engine = ProcessEngine::with_options(command, options).map_err(|e| {
                InputError(format!(
                    "--engine-cmd `{line}`: the engine did not start: {e}"
                ))
            })?;
            let batches = match engine.batch_max_calls() {
                0 if args.no_batches => "one call a message (--no-batches)".to_string(),
                0 => "one call a message (the engine takes no batches)".to_string(),
                n => format!(
                    "calls of {} cases a batch, at most {n} calls a message",
                    args.batch_cases
                ),
            };
            let what = format!(
                "An engine in another process, `{line}` (tool `{}`, functions {}), over the JSON-lines protocol; per-message timeout {:.1} s; {batches}.",
                engine.tool(),
                engine.functions().join(", "),
                timeout.as_secs_f64()
            );
            (Box::new(engine), what)
        }
        (None, None) => unreachable!("clap requires one of --engine and --engine-cmd"),
    };
    let seed = args.seed.unwrap_or_else(random_seed);
    let corpus = corpus_for(args.replay.as_deref(), args.corpus.as_deref(), &mut suites)?;
    let config = ConformanceConfig {
        cases: args.cases,
        seed,
        generator,
        suites: suites.clone(),
        corpus,
        deadline,
        batch_cases: args.batch_cases,
        shrink_budget: args.shrink_budget,
        ..ConformanceConfig::default()
    };
    let mut out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("target/adcheck/conformance").join(folder_name(engine.name()))
    });
    if args.replay.is_some() {
        // Beside, never over, the failures being replayed.
        out.push("replay");
    }

    let finished = execute(
        &[engine.as_ref()],
        &config,
        &out,
        args.quiet,
        min_bits,
        Keep::Everything,
    )?;
    let engine_command = match (&args.engine, &args.engine_cmd) {
        (Some(name), _) => format!("cargo xtask conformance --engine {name}"),
        (None, Some(line)) => format!("cargo xtask conformance --engine-cmd '{line}'"),
        (None, None) => unreachable!("clap requires one of --engine and --engine-cmd"),
    };
    let mut command = format!("{engine_command} --seed {seed} --cases {}", args.cases);
    for s in &args.suites {
        command.push_str(&format!(" --suite {s}"));
    }
    let context = ReportContext {
        description,
        engine_command: engine_command.clone(),
        command,
    };
    write_conformance(engine.as_ref(), &config, &finished, &context, &out)?;
    if !args.quiet {
        let replay = |_: &str| engine_command.clone();
        let corpus = args.corpus.as_deref().unwrap_or(std::path::Path::new(
            adcheck_campaign::inputs::DEFAULT_CORPUS,
        ));
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
    eprintln!("{}", totals(&finished, &out));
    eprintln!(
        "report: {} (also conformance.html, conformance.csv)",
        out.join("conformance.md").display()
    );
    Ok(crate::verify::exit_status(&finished.summary))
}

/// The flags of `serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The engine to serve (a built-in engine or an adapter compiled in).
    #[arg(long, value_name = "NAME")]
    engine: String,
}

/// Runs `serve`: the engine answers the protocol on standard input and
/// output until its input ends.
pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let engine = adcheck_campaign::registry::engine_named(&args.engine)?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    adcheck_protocol::serve(engine.as_ref(), stdin.lock(), stdout.lock())?;
    Ok(ExitCode::from(crate::exit::CLEAN))
}
