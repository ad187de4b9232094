//! Checks the machine before anything builds GMP and MPFR.
//!
//! `rug` builds GMP from source the first time, and GMP's build needs `m4`.
//! On a fresh Debian machine with only the Rust toolchain it is missing, and
//! the build would fail deep inside a dependency's build script. So every
//! xtask command that builds the workspace checks first: when `m4` is absent
//! it installs it with apt if running as root, and otherwise stops with the
//! exact command to run. `cargo xtask conformance` does the same for
//! `python3` when the engine command starts with it (the Python reference
//! engine under examples/).

use anyhow::{bail, Context, Result};
use std::process::Command;

/// The Debian command that installs `package`.
pub fn install_hint(package: &str) -> String {
    format!("sudo apt-get update && sudo apt-get install -y {package}")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Ensures `m4` is available, installing it when that can be done safely.
pub fn ensure_build_tools() -> Result<()> {
    ensure_program("m4", "m4", "to build GMP (through the `rug` crate)")
}

/// Installs the Debian `package` with apt-get when running as root;
/// otherwise stops with the command to run. `why` completes "needed …".
pub fn ensure_apt_package(package: &str, why: &str) -> Result<()> {
    let hint = install_hint(package);
    if !(running_as_root() && on_path("apt-get")) {
        bail!("the Debian package {package} is needed {why}.\nRun: {hint}");
    }
    eprintln!("xtask: installing {package} with apt-get (needed {why})");
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", package][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?;
        if !status.success() {
            bail!(
                "`apt-get {}` failed; install {package} yourself: {hint}",
                args.join(" ")
            );
        }
    }
    Ok(())
}

/// Ensures `program` is on the PATH: installs the Debian `package` with
/// apt-get when running as root, and otherwise stops with the command to
/// run. `why` completes "`program` is needed …".
pub fn ensure_program(program: &str, package: &str, why: &str) -> Result<()> {
    if on_path(program) {
        return Ok(());
    }
    let hint = install_hint(package);
    if running_as_root() && on_path("apt-get") {
        ensure_apt_package(package, why)?;
        if on_path(program) {
            return Ok(());
        }
    }
    bail!("`{program}` is needed {why} and is not installed.\nRun: {hint}")
}
