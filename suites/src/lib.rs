//! What adcheck checks: generated programs, the pitfall catalogue, consistency
//! properties and the conformance API. Filled in by the suites issue.
