//! Backtests: sweeps of a long series through bundles ([`sweep`]), the scores of how their
//! predictions would have traded ([`score`]), and whether one row's edge over another is more
//! than luck ([`bootstrap`]).

pub mod bootstrap;
pub mod score;
pub mod sweep;
