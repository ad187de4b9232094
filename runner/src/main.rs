//! `adcheck`: the command line behind `cargo xtask verify`,
//! `conformance`, `serve` and `report`.
//!
//! Exit status: 0 when nothing failed, 1 when a check failed, 2 on a usage
//! or input error (always with a one-line message, never a backtrace).

mod conformance;
mod exit;
mod generator;
mod mutants;
mod verify;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Verifies and benchmarks automatic-differentiation engines.
#[derive(Parser)]
#[command(name = "adcheck", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check engines against every suite and the oracle.
    Verify(verify::VerifyArgs),
    /// Check one engine (built-in, an adapter, or a process speaking the
    /// JSON-lines protocol) and write a conformance report.
    Conformance(conformance::ConformanceArgs),
    /// Serve an engine over the JSON-lines protocol on standard input and
    /// output (also answers GradBench's hello, lse and llsq evals).
    Serve(conformance::ServeArgs),
    /// Work with the outputs of earlier runs.
    Report {
        #[command(subcommand)]
        action: ReportAction,
    },
}

#[derive(Subcommand)]
enum ReportAction {
    /// Merge the outputs of shard runs (`--shard K/N`) into one.
    Merge {
        /// The shard output folders.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Where to write the merged output.
        #[arg(long, default_value = "target/adcheck/verify/merged")]
        out: PathBuf,
    },
}

/// An error in what the user gave (flags, files): exit status 2.
pub use adcheck_campaign::InputError;

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Verify(args) => verify::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Serve(args) => conformance::serve(args),
        Command::Report {
            action: ReportAction::Merge { shards, out },
        } => {
            let summary =
                adcheck_reports::merge(&shards, &out).map_err(|e| InputError(e.to_string()))?;
            println!(
                "merged {} shards into {}: {} failures ({} failing the run)",
                shards.len(),
                out.display(),
                summary.failures_total(),
                summary.failing_the_run()
            );
            Ok(exit::findings_if(summary.failing_the_run() > 0))
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::from(exit::CLEAN);
            }
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("{first} (try --help)");
            return ExitCode::from(exit::USAGE_OR_INPUT_ERROR);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::USAGE_OR_INPUT_ERROR)
        }
    }
}
