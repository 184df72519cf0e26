//! The race semantics, in virtual time.
