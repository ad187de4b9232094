//! Reference derivatives in arbitrary precision.
