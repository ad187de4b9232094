//! Python for the engines under examples/ and the helper's tests.
//!
//! The JAX engine needs `jax` (CPU, ~100 MB): when the `python3` on the
//! PATH cannot import it, xtask makes a virtual environment of the
//! project's own, `target/adcheck/python/jax`, installs the pinned JAX
//! there with pip, and puts its `bin` first on the PATH of the run, so
//! the command stays `python3 examples/jax_engine/jax_engine.py`. PyTorch's
//! wheel pulls ~3 GB, so xtask never installs it: it uses
//! `target/adcheck/python/torch` when that environment exists, and
//! otherwise stops with the commands that make it.

use crate::build::workspace_root;
use crate::preflight;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The JAX release the conformance report in docs/conformance was made with.
pub const JAX: &str = "jax[cpu]==0.10.2";
/// The PyTorch release the conformance report was made with.
pub const TORCH: &str = "torch==2.15.0";

fn imports(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn environment(root: &Path, name: &str) -> PathBuf {
    root.join("target/adcheck/python").join(name)
}

/// Puts `env`'s `bin` first on this process's PATH (inherited by the run).
fn use_environment(env: &Path) -> Result<()> {
    let bin = env.join("bin");
    let mut paths = vec![bin.clone()];
    if let Some(old) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&old));
    }
    let joined = std::env::join_paths(paths).context("joining PATH")?;
    // xtask is single-threaded here; the runner it starts inherits this.
    std::env::set_var("PATH", joined);
    eprintln!("xtask: python3 is {}", bin.join("python3").display());
    Ok(())
}

fn run(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Makes the virtual environment `env` (installing Debian's python3-venv
/// when `venv` is missing and that can be done).
fn make_environment(env: &Path) -> Result<()> {
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(env)
        .status()
        .is_ok_and(|s| s.success());
    if made {
        return Ok(());
    }
    preflight::ensure_program("python3", "python3", "for the Python engines")?;
    preflight::ensure_apt_package("python3-venv", "to make a virtual environment for JAX")?;
    run(
        Command::new("python3").args(["-m", "venv"]).arg(env),
        "python3 -m venv",
    )
}

/// Makes sure the engine in `engine_cmd` can import its framework.
pub fn prepare_engine(engine_cmd: &str) -> Result<()> {
    let words: Vec<&str> = engine_cmd.split_whitespace().collect();
    if words.first() != Some(&"python3") {
        return Ok(());
    }
    preflight::ensure_program("python3", "python3", "to run the engine command")?;
    let root = workspace_root()?;
    let script = |name: &str| words.iter().any(|w| w.ends_with(name));
    if script("jax_engine.py") {
        if imports(Path::new("python3"), "jax") {
            return Ok(());
        }
        let env = environment(&root, "jax");
        let python = env.join("bin/python3");
        if !imports(&python, "jax") {
            eprintln!(
                "xtask: python3 has no JAX; installing {JAX} (~100 MB) into {}",
                env.display()
            );
            make_environment(&env)?;
            run(
                Command::new(&python).args(["-m", "pip", "install", "--quiet", JAX]),
                &format!("pip install {JAX}"),
            )?;
        }
        use_environment(&env)?;
    } else if script("pytorch_engine.py") {
        if imports(Path::new("python3"), "torch") {
            return Ok(());
        }
        let env = environment(&root, "torch");
        if imports(&env.join("bin/python3"), "torch") {
            return use_environment(&env);
        }
        bail!(
            "python3 cannot import torch, and adcheck never installs PyTorch (its wheel pulls ~3 GB). \
             Make its environment once with:\n  python3 -m venv {env} && {env}/bin/pip install {TORCH}\n\
             then run this command again (xtask uses {env} when it exists).",
            env = env.display()
        );
    }
    Ok(())
}

/// Runs the Python helper's tests (standard library only).
pub fn helper_tests() -> Result<bool> {
    preflight::ensure_program("python3", "python3", "for the Python helper's tests")?;
    let root = workspace_root()?;
    eprintln!("xtask: python3 -m unittest discover -s python/tests");
    let status = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "python/tests"])
        .current_dir(root)
        .status()
        .context("running python3")?;
    Ok(status.success())
}
