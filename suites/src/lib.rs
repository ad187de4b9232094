//! What adcheck checks: generated programs, the pitfall catalogue,
//! consistency properties, and the conformance API.
//!
//! **The public surface** is what a third party codes against; the
//! machinery of a run (preparing cases, judging them, batches, the fault
//! guard, shrinking) is private to the crate. Configurations
//! (`ConformanceConfig`, `GenConfig`) are plain structs built with
//! `..Default::default()`, so a new field never breaks a caller. Results a
//! caller only reads (`RunOutcome`, `RunCounts`, `CaseOutcome`,
//! `HuntOutcome`, `Kill`, `PitfallAnswer`, `ReferenceEntry`) and the
//! enums that grow (`Check`, `Suite`, `Family`, `Property`,
//! `PropertyOutcome`) are `#[non_exhaustive]`. The verdict model's own
//! enums (`Outcome`, `FailMeaning`) and the schema of `cases.csv` and of
//! replay files (`Record`, `Counterexample`, `ReplayCase`) are closed on
//! purpose: a new verdict or column is a breaking change that every
//! report must handle, and the compiler finds each place.

mod batch;
pub mod catalogue;
pub mod conformance;
pub mod examine;
mod fault_guard;
pub mod generate;
pub mod problems;
pub mod properties;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
