//! `cargo xtask`: adcheck's automation (see ARCHITECTURE.md).
//!
//! xtask itself depends on nothing native, so it can check the machine (see
//! [`preflight`]) before the workspace, and with it GMP, is built.

mod preflight;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::process::{Command, ExitCode};

/// adcheck's automation commands.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Check the machine, then run the whole test suite (`cargo test --workspace`).
    Test {
        /// Further arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check engines against every suite and the oracle (`adcheck verify`;
    /// `cargo xtask verify --help` lists its flags).
    #[command(disable_help_flag = true)]
    Verify {
        /// Arguments for `adcheck verify`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure cost scaling: CSV, SVG plots and index.html under
    /// target/adcheck/bench (`adcheck-bench`; `--quick` for a smoke run,
    /// `report` to rebuild the page from the CSVs).
    #[command(disable_help_flag = true)]
    Bench {
        /// Arguments for `adcheck-bench`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Work with the outputs of earlier runs (`adcheck report`, e.g.
    /// `cargo xtask report merge DIR...`).
    #[command(disable_help_flag = true)]
    Report {
        /// Arguments for `adcheck report`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Runs `BINARY [SUBCOMMAND] ARGS` of the runner crate, built in release mode.
fn runner(binary: &str, subcommand: Option<&str>, args: Vec<String>) -> Result<ExitCode> {
    let mut all: Vec<String> = [
        "run",
        "--release",
        "--quiet",
        "-p",
        "adcheck-runner",
        "--bin",
        binary,
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    all.extend(subcommand.map(str::to_string));
    all.extend(args);
    cargo(&all)
}

/// Runs `cargo` with `args` from the workspace root and returns its exit code.
fn cargo(args: &[String]) -> Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask lives inside the workspace")?;
    let status = Command::new(cargo)
        .args(args)
        .current_dir(root)
        .status()
        .context("running cargo")?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}

fn run(cli: Cli) -> Result<ExitCode> {
    preflight::ensure_build_tools()?;
    match cli.command {
        Task::Test { args } => {
            let mut all = vec!["test".to_string(), "--workspace".to_string()];
            all.extend(args);
            cargo(&all)
        }
        Task::Verify { args } => runner("adcheck", Some("verify"), args),
        Task::Report { args } => runner("adcheck", Some("report"), args),
        Task::Bench { args } => runner("adcheck-bench", None, args),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
