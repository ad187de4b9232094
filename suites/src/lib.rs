//! What adcheck checks: generated programs, the pitfall catalogue,
//! consistency properties, and the conformance API.

pub mod batch;
pub mod catalogue;
pub mod conformance;
pub mod examine;
pub mod fault_guard;
pub mod generate;
pub mod problems;
pub mod properties;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
