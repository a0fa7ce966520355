//! Backtests: what a sweep's evidence is worth.

pub mod bootstrap;
