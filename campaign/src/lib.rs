//! adcheck campaigns as a library, under the thin `adcheck` command line.
//!
//! Everything a command does between parsing its flags and printing lives
//! here, so a third party gets it without the binary:
//!
//! - [`inputs`]: what a run takes, validated the same way for every command
//!   (shards, durations, case counts, bits, engine and suite names), and
//!   the corpus and replay files loaded; each error one line
//!   ([`InputError`]).
//! - [`registry`]: the engines a name selects (built-in, adapters compiled
//!   in).
//! - [`run`]: a campaign executed with every output written as cases are
//!   judged, and the texts printed about it.
//! - [`report`]: the conformance report (Markdown, HTML, CSV) assembled
//!   from a finished run.
//! - [`check`]: one call from an engine crate's own tests — run the suites,
//!   write the full report, replay saved failures and a corpus, and fail
//!   with a readable summary when anything is `wrong`.
//!
//! ```no_run
//! use adcheck_campaign::check::Check;
//! use adcheck_engines::forward::ForwardEngine;
//!
//! let outcome = Check::new(&ForwardEngine, "target/adcheck/my-engine")
//!     .cases(200)
//!     .run()
//!     .expect("the campaign ran");
//! outcome.assert_no_failures();
//! ```

pub mod check;
pub mod inputs;
pub mod registry;
pub mod report;
pub mod run;

/// An error in what the user gave (flags, files): the command line exits
/// with status 2 and prints it on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// The guide `docs/plug-in.md`, its examples compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/plug-in.md")]
pub struct PlugInGuideDoctests;
