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
