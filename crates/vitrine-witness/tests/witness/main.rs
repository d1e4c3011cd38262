//! Integration tests for vitrine-witness: one module per concern.

mod common;
mod concurrency;
mod fork;
mod refusals;
mod restart;
mod spec;
