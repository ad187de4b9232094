//! The exit statuses of `adcheck`, named (documented in the README).

use std::process::ExitCode;

/// Nothing failed the run.
pub(crate) const CLEAN: u8 = 0;
/// A check was `wrong`, `inconsistent` or a `fault` (or `inaccurate` under
/// `--min-bits`), or a mutant survived: findings, not an error.
pub(crate) const FINDINGS: u8 = 1;
/// The command could not run as asked: bad flags or input files, an engine
/// that cannot start, an I/O error. One line on standard error says why.
pub(crate) const USAGE_OR_INPUT_ERROR: u8 = 2;

/// [`CLEAN`] when nothing failed, else [`FINDINGS`].
pub(crate) fn findings_if(failed: bool) -> ExitCode {
    ExitCode::from(if failed { FINDINGS } else { CLEAN })
}
