//! Backtests: sweeps of a long series through bundles ([`sweep`]), the scores of how their
//! predictions would have traded ([`score`]), the metrics of per-bar returns both share
//! ([`returns`]), and whether one row's edge over another is more than luck ([`bootstrap`]).

pub mod bootstrap;
pub mod returns;
pub mod score;
pub mod sweep;
