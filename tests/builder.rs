//! The builder's options: a stream source, delay policies, the cap, the deadline and events.
#![allow(missing_docs)]
