//! Backtests: sweeps of a long series through bundles ([`sweep`]) and the scores of how their
//! predictions would have traded ([`score`]).

pub mod score;
pub mod sweep;
