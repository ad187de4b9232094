//! Checks the machine before anything builds GMP and MPFR.
//!
//! `rug` builds GMP from source the first time, and GMP's build needs `m4`.
//! On a fresh Debian machine with only the Rust toolchain it is missing, and
//! the build would fail deep inside a dependency's build script. So every
//! xtask command that builds the workspace checks first: when `m4` is absent
//! it installs it with apt if running as root, and otherwise stops with the
//! exact command to run.

use anyhow::{bail, Context, Result};
use std::process::Command;

/// The Debian command that installs what GMP's build needs.
pub const INSTALL_HINT: &str = "sudo apt-get update && sudo apt-get install -y m4";

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
    if on_path("m4") {
        return Ok(());
    }
    if running_as_root() && on_path("apt-get") {
        eprintln!("xtask: `m4` (needed to build GMP) is missing; installing it with apt-get");
        for args in [&["update", "-qq"][..], &["install", "-y", "-qq", "m4"][..]] {
            let status = Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .context("running apt-get")?;
            if !status.success() {
                bail!(
                    "`apt-get {}` failed; install m4 yourself: {INSTALL_HINT}",
                    args.join(" ")
                );
            }
        }
        if on_path("m4") {
            return Ok(());
        }
    }
    bail!("`m4` is needed to build GMP (through the `rug` crate) and is not installed.\nRun: {INSTALL_HINT}")
}
