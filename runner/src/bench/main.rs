//! `adcheck-bench`: cost scaling of the built-in engines, measured side by
//! side in one run, written as CSV, SVG plots and a self-contained HTML page.
//!
//! `cargo xtask bench [--quick] [--experiment NAME]...` runs it;
//! `cargo xtask bench report` rebuilds the plots and the page from the CSVs.

mod alloc;
mod experiments;
mod instructions;
mod plots;
mod rows;
mod timing;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// Cost scaling of the built-in AD engines.
#[derive(Parser)]
#[command(name = "adcheck-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// A smoke run: few sizes and short timings (for CI).
    #[arg(long)]
    quick: bool,
    /// An experiment to run (repeatable; default: all): gradient, nm,
    /// checkpoint, second, scale.
    #[arg(long = "experiment", value_name = "NAME")]
    experiments: Vec<String>,
    /// Where to write the outputs.
    #[arg(long, default_value = "target/adcheck/bench")]
    out: PathBuf,
    /// Measure the peer crates beside the built-in engines in the gradient
    /// experiment: echidna's reverse mode and num-dual's forward mode (a
    /// build with the `echidna` and `num-dual` features; `cargo xtask bench
    /// --peers` makes it).
    #[arg(long)]
    peers: bool,
    /// Also count each method of the gradient experiment in instructions
    /// under callgrind (valgrind must be installed; a few minutes): counts
    /// do not move with other load on the machine, as CPU time does.
    #[arg(long)]
    instructions: bool,
    /// Internal: one method of the gradient experiment, under callgrind
    /// (`PROBLEM,N,METHOD,REPS`).
    #[arg(long, hide = true, value_name = "PROBLEM,N,METHOD,REPS")]
    child: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Rebuild the plots and index.html from the CSVs in the output folder.
    Report,
}

fn run(cli: Cli) -> Result<()> {
    std::fs::create_dir_all(&cli.out).with_context(|| format!("creating {}", cli.out.display()))?;
    if let Some(Command::Report) = cli.command {
        return plots::report(&cli.out);
    }
    let all = ["gradient", "nm", "checkpoint", "second", "scale"];
    for e in &cli.experiments {
        if !all.contains(&e.as_str()) {
            bail!("unknown experiment `{e}` (known: {})", all.join(", "));
        }
    }
    let chosen: Vec<&str> = if cli.experiments.is_empty() {
        all.to_vec()
    } else {
        all.iter()
            .copied()
            .filter(|a| cli.experiments.iter().any(|e| e == a))
            .collect()
    };
    if cli.peers && !cfg!(all(feature = "echidna", feature = "num-dual")) {
        bail!("--peers needs a build with the echidna and num-dual features: run `cargo xtask bench --peers`");
    }
    if cli.instructions && !chosen.contains(&"gradient") {
        bail!(
            "--instructions counts the gradient experiment: select it too (--experiment gradient)"
        );
    }
    if cli.instructions && !instructions::valgrind_available() {
        bail!("--instructions needs valgrind on the PATH (Debian: apt-get install valgrind)");
    }
    let mut settings = timing::Settings::new(cli.quick);
    settings.peers = cli.peers;
    if let Some(child) = &cli.child {
        let parts: Vec<&str> = child.split(',').collect();
        let [problem, n, method, reps] = parts[..] else {
            bail!("--child takes PROBLEM,N,METHOD,REPS");
        };
        settings.child = Some((
            problem.to_string(),
            n.parse().context("--child N")?,
            method.to_string(),
            reps.parse().context("--child REPS")?,
        ));
        return experiments::gradient(&cli.out, &settings);
    }
    experiments::write_meta(&cli.out, cli.quick)?;
    for name in chosen {
        eprintln!(
            "experiment {name}{}",
            if cli.quick { " (quick)" } else { "" }
        );
        match name {
            "gradient" => experiments::gradient(&cli.out, &settings)?,
            "nm" => experiments::nm(&cli.out, &settings)?,
            "checkpoint" => experiments::checkpoint(&cli.out, &settings)?,
            "scale" => experiments::scale(&cli.out, &settings)?,
            _ => experiments::second(&cli.out, &settings)?,
        }
    }
    if cli.instructions {
        eprintln!("instructions of the gradient experiment (callgrind)");
        instructions::count_gradient(&cli.out, cli.quick, cli.peers)?;
    }
    plots::report(&cli.out)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let rendered = e.render().to_string();
            eprintln!(
                "{} (try --help)",
                rendered.lines().next().unwrap_or("invalid arguments")
            );
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
