//! Builds the runner in the open, then runs its binary.
//!
//! `cargo run --quiet` would hide a first build that takes minutes (GMP and
//! MPFR are compiled from source), so the runner is built with
//! `cargo build` first: with cargo's own progress and a one-line notice
//! when something needs building, quietly when nothing does (or when the
//! user asked for `--quiet`). The binary is then started directly.

use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::SystemTime;

/// The crate folders whose sources the runner is built from.
const CRATES: [&str; 8] = [
    "engines", "oracle", "suites", "reports", "protocol", "adapters", "runner", "mutants",
];

/// The workspace root (xtask lives in it).
pub fn workspace_root() -> Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("xtask lives inside the workspace")
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Whether GMP and MPFR have been built for `profile` (`debug`, `release`)
/// in this target folder: then a build compiles only adcheck's crates.
pub fn native_libraries_built(profile: &str) -> bool {
    let Ok(root) = workspace_root() else {
        return false;
    };
    let build = target_dir(&root).join(profile).join("build");
    fs::read_dir(build).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            e.file_name().to_string_lossy().starts_with("gmp-mpfr-sys-")
                && e.path().join("out").join("lib").is_dir()
        })
    })
}

/// The notice printed before a build of `profile` that has work to do.
pub fn build_notice(what: &str, profile: &str) -> String {
    if native_libraries_built(profile) {
        format!("xtask: building {what}")
    } else {
        format!(
            "xtask: building {what}; the first build compiles GMP and MPFR from source \
             and takes about 5 minutes on a 2-core machine (later runs start at once)"
        )
    }
}

/// The newest modification time among the files under `path`.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "target")
        .filter_map(|e| newest(&e.path()))
        .max()
}

/// Whether `exe`, built with `features` (recorded in `stamp`), is at
/// least as new as every source it is built from. A guess that only
/// decides whether the build is shown: cargo still checks, quietly.
fn looks_fresh(root: &Path, exe: &Path, stamp: &Path, features: &str) -> bool {
    let Ok(built) = fs::metadata(exe).and_then(|m| m.modified()) else {
        return false;
    };
    if fs::read_to_string(stamp).ok().as_deref() != Some(features) {
        return false;
    }
    let sources = CRATES
        .iter()
        .map(|c| root.join(c))
        .chain(["Cargo.toml", "Cargo.lock"].map(|f| root.join(f)));
    sources.filter_map(|p| newest(&p)).all(|t| t <= built)
}

/// Builds `binary` of the runner in release mode with `features`, showing
/// the build when it has work to do (unless `quiet`), then runs it with
/// `args` from the workspace root and returns its exit code.
pub fn run_runner(
    binary: &str,
    features: &[String],
    args: &[String],
    quiet: bool,
) -> Result<ExitCode> {
    let root = workspace_root()?;
    let release = target_dir(&root).join("release");
    let exe = release.join(format!("{binary}{}", std::env::consts::EXE_SUFFIX));
    let stamp = release.join(format!(".xtask-{binary}-features"));
    let features_text = features.join(",");
    let fresh = looks_fresh(&root, &exe, &stamp, &features_text);
    if !fresh && !quiet {
        eprintln!(
            "{}",
            build_notice(&format!("`{binary}` (release)"), "release")
        );
    }
    let mut build: Vec<String> = [
        "build",
        "--release",
        "-p",
        "adcheck-runner",
        "--bin",
        binary,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if fresh || quiet {
        build.push("--quiet".into());
    }
    if !features.is_empty() {
        build.push("--features".into());
        build.push(features_text.clone());
    }
    let status = crate::cargo_status(&build)?;
    if !status.success() {
        return Ok(exit_code(status.code()));
    }
    // Best effort: a missing stamp only means the next build is shown.
    let _ = fs::write(&stamp, &features_text);
    let status = Command::new(&exe)
        .args(args)
        .current_dir(&root)
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    Ok(exit_code(status.code()))
}

/// An exit code from a child's (none when killed by a signal: 1).
pub fn exit_code(code: Option<i32>) -> ExitCode {
    ExitCode::from(code.unwrap_or(1).clamp(0, 255) as u8)
}
