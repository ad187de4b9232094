//! What adcheck checks: generated programs, the pitfall catalogue,
//! consistency properties, and the conformance API.

pub mod catalogue;
pub mod conformance;
pub mod generate;
pub mod properties;
