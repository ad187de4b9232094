//! `cargo xtask`: adcheck's automation (see ARCHITECTURE.md).
//!
//! xtask itself depends on nothing native, so it can check the machine (see
//! [`preflight`]) before the workspace, and with it GMP, is built.

mod build;
mod preflight;
mod python;

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
    /// Check the machine, then run the whole test suite (`cargo test --workspace`, the plug-in crate's, the source engine without `jit`, the Python helper's).
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
    /// Check one engine and write a conformance report (`adcheck
    /// conformance`): `--engine NAME` for a built-in engine or an adapter
    /// (num-dual, echidna: their cargo feature is turned on), or
    /// `--engine-cmd "CMD ARGS"` for a process speaking the protocol.
    #[command(disable_help_flag = true)]
    Conformance {
        /// Arguments for `adcheck conformance`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Serve an engine over the JSON-lines protocol on standard input and
    /// output (`adcheck serve --engine NAME`), e.g. as a GradBench tool.
    #[command(disable_help_flag = true)]
    Serve {
        /// Arguments for `adcheck serve`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure cost scaling: CSV, SVG plots and index.html under
    /// target/adcheck/bench (`adcheck-bench`; `--quick` for a smoke run,
    /// `--peers` to measure echidna and num-dual beside the built-in
    /// engines, `report` to rebuild the page from the CSVs).
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

/// The adapters behind cargo features of the runner: engine name, feature.
const ADAPTERS: [(&str, &str); 2] = [("num-dual", "num-dual"), ("echidna", "echidna")];

/// The value of `--flag VALUE` or `--flag=VALUE` in `args`.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let prefix = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix(&prefix).map(str::to_string)
        }
    })
}

/// The runner features an engine needs (`--engine num-dual` needs the
/// feature `num-dual`).
fn features_for(args: &[String]) -> Vec<String> {
    let engines: Vec<String> = args
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            if a == "--engine" {
                args.get(i + 1).cloned()
            } else {
                a.strip_prefix("--engine=").map(str::to_string)
            }
        })
        .collect();
    ADAPTERS
        .iter()
        .filter(|(name, _)| engines.iter().any(|e| e == name))
        .map(|(_, feature)| feature.to_string())
        .collect()
}

/// Runs `BINARY [SUBCOMMAND] ARGS` of the runner crate, built in release
/// mode with `features` (the build shown when it has work to do).
fn runner(
    binary: &str,
    subcommand: Option<&str>,
    features: &[String],
    args: Vec<String>,
) -> Result<ExitCode> {
    let quiet = args.iter().any(|a| a == "--quiet");
    let mut all: Vec<String> = subcommand.map(str::to_string).into_iter().collect();
    all.extend(args);
    build::run_runner(binary, features, &all, quiet)
}

/// Runs `cargo` with `args` from the workspace root.
fn cargo_status(args: &[String]) -> Result<std::process::ExitStatus> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    Command::new(cargo)
        .args(args)
        .current_dir(build::workspace_root()?)
        .status()
        .context("running cargo")
}

/// Runs `cargo` with `args` from the workspace root and returns its exit code.
fn cargo(args: &[String]) -> Result<ExitCode> {
    Ok(build::exit_code(cargo_status(args)?.code()))
}

fn run(cli: Cli) -> Result<ExitCode> {
    preflight::ensure_build_tools()?;
    match cli.command {
        Task::Test { args } => {
            if !build::native_libraries_built("debug") {
                eprintln!("{}", build::build_notice("the workspace's tests", "debug"));
            }
            let mut all = vec!["test".to_string(), "--workspace".to_string()];
            all.extend(args);
            let code = cargo(&all)?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            // A crate outside the workspace checking its own engine with
            // one `Check` (docs/plug-in.md), built into the workspace's
            // target folder so it reuses the compiled dependencies.
            let root = build::workspace_root()?;
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args([
                    "test",
                    "--manifest-path",
                    "examples/plug-in-crate/Cargo.toml",
                ])
                .env("CARGO_TARGET_DIR", root.join("target"))
                .current_dir(&root)
                .status()
                .context("running cargo")?;
            if !status.success() {
                return Ok(build::exit_code(status.code()));
            }
            // The source engine built without `jit` (the README's
            // fallback): its register interpreter runs every program.
            let code = cargo(&[
                "test".into(),
                "-p".into(),
                "adcheck-source".into(),
                "--no-default-features".into(),
            ])?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            // The Python helper's own tests (standard library only).
            Ok(if python::helper_tests()? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Task::Verify { args } => runner("adcheck", Some("verify"), &features_for(&args), args),
        Task::Conformance { args } => {
            let command = flag_value(&args, "--engine-cmd").unwrap_or_default();
            python::prepare_engine(&command)?;
            runner("adcheck", Some("conformance"), &features_for(&args), args)
        }
        Task::Serve { args } => runner("adcheck", Some("serve"), &features_for(&args), args),
        Task::Report { args } => runner("adcheck", Some("report"), &[], args),
        Task::Bench { args } => {
            // The peers are the adapters' crates, compiled in on request.
            let peers: Vec<String> = if args.iter().any(|a| a == "--peers") {
                ADAPTERS.iter().map(|(_, f)| f.to_string()).collect()
            } else {
                Vec::new()
            };
            runner("adcheck-bench", None, &peers, args)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn adapters_turn_on_their_features() {
        assert_eq!(
            features_for(&words("--engine num-dual --seed 1")),
            ["num-dual"]
        );
        assert_eq!(features_for(&words("--engine=echidna")), ["echidna"]);
        assert!(features_for(&words("--engine reverse")).is_empty());
        assert_eq!(
            flag_value(&words("--engine-cmd python3 --seed 1"), "--engine-cmd").as_deref(),
            Some("python3")
        );
    }
}
