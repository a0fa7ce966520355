//! Is a candidate's edge over a reference more than luck? A paired stationary block bootstrap
//! (Politis and Romano, 1994) of the difference of one metric between two aligned series of
//! per-bar strategy returns.
//!
//! **Pairing.** Only bars where both series hold a number are compared (a version without a
//! window yet, a bar whose close is missing); every resample draws the same bars from both
//! series, so whatever the two share (the market's move) cancels in the difference.
//!
//! **Resampling.** Each resample is `n` indices: the first uniform in `0..n`; each next one starts
//! a new block at a uniform index with probability `p = 1 / block_length`, else follows the
//! previous one, wrapping from `n - 1` to `0`. This is `arch.bootstrap.StationaryBootstrap`'s
//! rule (blocks of geometric length with mean `block_length`, on a circle).
//!
//! **Block length.** Given, or by default Politis and White's (2004) automatic choice for the
//! stationary bootstrap, with Patton, Politis and White's (2009) correction, computed on the
//! per-bar difference of the two series exactly as `arch.bootstrap.optimal_block_length` computes
//! its `stationary` column ([`optimal_block_length`]); clamped to `1 ..= n`, and 1 when the
//! difference has no variance.
//!
//! **Randomness.** Resample `b` draws from its own xoshiro256++ stream: the generator seeded from
//! `seed` (through SplitMix64, `rand_xoshiro`'s `seed_from_u64`), jumped ahead `2^128` steps `b`
//! times. Streams never overlap, and the result is the same whatever the number of threads. A
//! uniform index in `0..n` is `(x * n) >> 64` of a 64-bit draw `x` (a bias below `n / 2^64`).
//!
//! **p-value.** With `d` the observed difference oriented so that positive favours the candidate
//! (candidate minus reference, or reference minus candidate for a metric where lower is better)
//! and `d*_b` the same difference in resample `b`, the one-sided p-value of "the candidate is not
//! better" is `(1 + #{b : d*_b - d >= d}) / (1 + B)`: the share of resampled differences, centred
//! on the observed one (the null of no edge), at or beyond it, counting the observed sample
//! itself, so that it is never 0. A resample whose metric is not a number (a resample of
//! constant returns has no Sharpe ratio) counts against the candidate. A NaN observed difference
//! gives a NaN p-value.
//!
//! **Metrics** (of the returns `r`, defined once in [`crate::core::backtest::returns`], as the
//! scores use them): `sharpe`, `total_return` and `max_drawdown` (lower is better). The gate's other metrics (hit rate, price
//! errors, turnover, exposure) are properties of predictions or positions, not of returns, and
//! are refused ([`ReturnMetric::parse`]).

use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use crate::core::alloc;
use crate::core::backtest::returns::ReturnStats;
use crate::core::error::{Error, Result};
use crate::core::parallel;

/// Resamples when the caller names no number.
pub const DEFAULT_RESAMPLES: usize = 1_000;

/// A metric of a series of per-bar returns that the bootstrap can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnMetric {
    /// Annualised mean over standard deviation (`ddof = 1`).
    Sharpe,
    /// Compounded return, `prod(1 + r) - 1`.
    TotalReturn,
    /// Largest fall of the equity curve from its running maximum, as a fraction.
    MaxDrawdown,
}

impl ReturnMetric {
    /// The metrics of returns, by name.
    pub const NAMES: [&'static str; 3] = ["sharpe", "total_return", "max_drawdown"];

    /// The metric called `name`; any other name (the gate's metrics of predictions or positions
    /// included) is refused naming the ones that are metrics of returns.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "sharpe" => Ok(Self::Sharpe),
            "total_return" => Ok(Self::TotalReturn),
            "max_drawdown" => Ok(Self::MaxDrawdown),
            other => Err(Error::InvalidArgument(format!(
                "the bootstrap compares a metric of the strategy's returns ({}), not {other:?}: \
                 hit rate, price errors, turnover and exposure are not functions of the returns \
                 a resample draws",
                Self::NAMES.join(", ")
            ))),
        }
    }

    /// The metric's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sharpe => "sharpe",
            Self::TotalReturn => "total_return",
            Self::MaxDrawdown => "max_drawdown",
        }
    }

    /// Whether a larger value is the better one.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Self::MaxDrawdown)
    }

    /// The metric of `returns`, in order.
    pub fn of(self, returns: impl IntoIterator<Item = f64>, periods_per_year: f64) -> f64 {
        self.value(&ReturnStats::of(returns), periods_per_year)
    }

    /// The metric of returns already accumulated.
    pub fn value(self, stats: &ReturnStats, periods_per_year: f64) -> f64 {
        match self {
            Self::Sharpe => stats.sharpe(periods_per_year),
            Self::TotalReturn => stats.total_return(),
            Self::MaxDrawdown => stats.max_drawdown(),
        }
    }
}

/// How a comparison resamples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapOptions {
    /// Resamples drawn (at least 1).
    pub resamples: usize,
    /// Mean block length in bars (at least 1); `None`: Politis and White's automatic choice.
    pub block_length: Option<f64>,
    /// Seeds the resamples' random streams.
    pub seed: u64,
    /// Bars per year, to annualise the Sharpe ratio.
    pub periods_per_year: f64,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        Self {
            resamples: DEFAULT_RESAMPLES,
            block_length: None,
            seed: 0,
            periods_per_year: 1.0,
        }
    }
}

/// The outcome of one paired comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The metric compared.
    pub metric: ReturnMetric,
    /// Bars compared: those where both series hold a number.
    pub bars: usize,
    /// The candidate's metric over those bars.
    pub candidate: f64,
    /// The reference's metric over those bars.
    pub reference: f64,
    /// One-sided p-value that the candidate is not better (see the module's documentation).
    pub p_value: f64,
    /// The mean block length used.
    pub block_length: f64,
    /// Resamples drawn.
    pub resamples: usize,
    /// The seed of the resamples' streams.
    pub seed: u64,
}

impl BootstrapOptions {
    /// Options from a caller's values, checked ([`Self::check`]): any integer for `resamples`
    /// and `seed` (a negative count or seed is refused by name, not overflowed).
    pub fn from_values(
        resamples: i128,
        block_length: Option<f64>,
        seed: i128,
        periods_per_year: f64,
    ) -> Result<Self> {
        let resamples = usize::try_from(resamples).map_err(|_| {
            Error::InvalidArgument(format!("resamples must be at least 1, got {resamples}"))
        })?;
        let seed = u64::try_from(seed).map_err(|_| {
            Error::InvalidArgument(format!(
                "seed must be an integer from 0 to 2**64 - 1, got {seed}"
            ))
        })?;
        let options = Self {
            resamples,
            block_length,
            seed,
            periods_per_year,
        };
        options.check()?;
        Ok(options)
    }

    /// Refuses options no bootstrap can run with, naming the option: no resample, a block
    /// length below one bar or not a number, a periods per year that is not a positive number.
    pub fn check(&self) -> Result<()> {
        if self.resamples == 0 {
            return Err(Error::InvalidArgument(
                "resamples must be at least 1, got 0".to_owned(),
            ));
        }
        if let Some(length) = self.block_length {
            if !(length.is_finite() && length >= 1.0) {
                return Err(Error::InvalidArgument(format!(
                    "block_length must be a number of bars, 1 or more, got {length}"
                )));
            }
        }
        if !(self.periods_per_year.is_finite() && self.periods_per_year > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "periods_per_year must be a positive number, got {}",
                self.periods_per_year
            )));
        }
        Ok(())
    }
}

/// The bars of `candidate` and `reference` where both hold a (finite) number, as pairs: a
/// resample reads both at a random bar, from one cache line.
fn paired(candidate: &[f64], reference: &[f64]) -> Result<Vec<[f64; 2]>> {
    if candidate.len() != reference.len() {
        return Err(Error::invalid_input(format!(
            "the candidate's and the reference's returns must cover the same bars, got {} and {}",
            candidate.len(),
            reference.len()
        )));
    }
    let both = candidate
        .iter()
        .zip(reference)
        .filter(|(c, r)| c.is_finite() && r.is_finite())
        .count();
    let mut pairs = alloc::try_with_capacity(both, || format!("the {both} paired returns"))?;
    pairs.extend(
        candidate
            .iter()
            .zip(reference)
            .filter(|(c, r)| c.is_finite() && r.is_finite())
            .map(|(&c, &r)| [c, r]),
    );
    Ok(pairs)
}

/// Compares `metric` between two aligned series of per-bar returns (NaN where a series has
/// none): the observed values over the bars both have, and the bootstrap p-value that the
/// candidate is not better.
///
/// Errors: options out of range, series of different lengths, or fewer than 2 paired bars.
pub fn compare(
    candidate: &[f64],
    reference: &[f64],
    metric: ReturnMetric,
    options: &BootstrapOptions,
) -> Result<Comparison> {
    options.check()?;
    let pairs = paired(candidate, reference)?;
    let bars = pairs.len();
    if bars < 2 {
        return Err(Error::invalid_input(format!(
            "the candidate and the reference have {bars} bar(s) with a return in common; a \
             comparison needs at least 2"
        )));
    }
    let block_length = match options.block_length {
        Some(length) => length.min(bars as f64),
        None => {
            let difference = alloc::try_collect(pairs.iter().map(|[c, r]| c - r), || {
                format!("the {bars} differences of returns")
            })?;
            let automatic = optimal_block_length(&difference)?;
            if automatic.is_finite() {
                automatic.clamp(1.0, bars as f64)
            } else {
                1.0
            }
        }
    };
    let periods = options.periods_per_year;
    let candidate_value = metric.of(pairs.iter().map(|pair| pair[0]), periods);
    let reference_value = metric.of(pairs.iter().map(|pair| pair[1]), periods);
    let orient = |c: f64, r: f64| {
        if metric.higher_is_better() {
            c - r
        } else {
            r - c
        }
    };
    let observed = orient(candidate_value, reference_value);
    let replicates = resample(&pairs, metric, options, block_length)?;
    let p_value = if observed.is_nan() {
        f64::NAN
    } else {
        let beyond = replicates
            .iter()
            .filter(|&&d| d.is_nan() || d - observed >= observed)
            .count();
        (1.0 + beyond as f64) / (1.0 + replicates.len() as f64)
    };
    Ok(Comparison {
        metric,
        bars,
        candidate: candidate_value,
        reference: reference_value,
        p_value,
        block_length,
        resamples: options.resamples,
        seed: options.seed,
    })
}

/// The oriented difference (positive favours the candidate) in each resample.
fn resample(
    pairs: &[[f64; 2]],
    metric: ReturnMetric,
    options: &BootstrapOptions,
    block_length: f64,
) -> Result<Vec<f64>> {
    let resamples = options.resamples;
    let mut streams = alloc::try_with_capacity(resamples, || {
        format!("the random streams of {resamples} resamples")
    })?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(options.seed);
    for _ in 0..resamples {
        streams.push(rng.clone());
        rng.jump();
    }
    let mut out = alloc::try_filled(resamples, f64::NAN, || {
        format!("the differences of {resamples} resamples")
    })?;
    let new_block = 1.0 / block_length;
    let periods = options.periods_per_year;
    // On the pool sized by the cores this process may use (`parallel::usable_cores`).
    parallel::install(|| {
        out.par_iter_mut()
            .zip(streams.par_iter_mut())
            .for_each(|(slot, stream)| {
                let indices = StationaryIndices::new(stream, pairs.len(), new_block);
                *slot = difference_at(pairs, metric, periods, indices);
            });
    });
    Ok(out)
}

/// The oriented difference of `metric` over the bars `indices` names, in order.
fn difference_at(
    pairs: &[[f64; 2]],
    metric: ReturnMetric,
    periods_per_year: f64,
    indices: impl Iterator<Item = usize>,
) -> f64 {
    let (mut left, mut right) = (ReturnStats::default(), ReturnStats::default());
    for i in indices {
        let [c, r] = pairs[i];
        left.push(c);
        right.push(r);
    }
    let (c, r) = (
        metric.value(&left, periods_per_year),
        metric.value(&right, periods_per_year),
    );
    if metric.higher_is_better() {
        c - r
    } else {
        r - c
    }
}

/// The oriented differences of `metric` over given resamples' indices (each `n` indices into
/// the series): the statistic alone, for checking it against another implementation's
/// resamples. Non-finite returns are not paired away here: the series must be the paired ones.
pub fn differences_for_indices(
    candidate: &[f64],
    reference: &[f64],
    metric: ReturnMetric,
    periods_per_year: f64,
    resamples: &[&[usize]],
) -> Result<Vec<f64>> {
    let n = candidate.len();
    if reference.len() != n {
        return Err(Error::invalid_input(
            "the candidate's and the reference's returns must cover the same bars",
        ));
    }
    if let Some(bad) = resamples.iter().flat_map(|r| r.iter()).find(|&&i| i >= n) {
        return Err(Error::invalid_input(format!(
            "resample index {bad} is out of range for {n} bars"
        )));
    }
    let pairs = alloc::try_collect(
        candidate.iter().zip(reference).map(|(&c, &r)| [c, r]),
        || format!("the {n} paired returns"),
    )?;
    alloc::try_collect(
        resamples.iter().map(|indices| {
            difference_at(&pairs, metric, periods_per_year, indices.iter().copied())
        }),
        || format!("the differences of {} resamples", resamples.len()),
    )
}

/// One resample's indices: blocks of geometric length on a circle (see the module's
/// documentation).
struct StationaryIndices<'a> {
    rng: &'a mut Xoshiro256PlusPlus,
    n: usize,
    /// Probability of starting a new block at each bar after the first.
    new_block: f64,
    current: usize,
    left: usize,
}

impl<'a> StationaryIndices<'a> {
    fn new(rng: &'a mut Xoshiro256PlusPlus, n: usize, new_block: f64) -> Self {
        Self {
            rng,
            n,
            new_block,
            current: usize::MAX,
            left: n,
        }
    }

    #[inline]
    fn uniform_index(&mut self) -> usize {
        // Lemire's multiply-shift: the high word of a 64x64-bit product.
        ((u128::from(self.rng.next_u64()) * self.n as u128) >> 64) as usize
    }

    #[inline]
    fn unit(&mut self) -> f64 {
        // The top 53 bits as a float in [0, 1).
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

impl Iterator for StationaryIndices<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.current = if self.current == usize::MAX || self.unit() <= self.new_block {
            self.uniform_index()
        } else if self.current + 1 == self.n {
            0
        } else {
            self.current + 1
        };
        Some(self.current)
    }
}

/// Politis and White's (2004) automatic mean block length for the stationary bootstrap, with
/// Patton, Politis and White's (2009) correction, as `arch.bootstrap.optimal_block_length`
/// computes it (its `stationary` column): autocovariances over the full sample, the lag window
/// `m` from the first run of `k_n = max(5, floor(log10 n))` insignificant autocorrelations
/// (band `2 sqrt(log10(n) / n)`), capped at `ceil(sqrt n) + k_n`, and the result capped at
/// `ceil(min(3 sqrt n, n / 3))`. NaN for a series without variance; not clamped below.
///
/// Errors: fewer than 9 values (the lags it needs would not fit).
pub fn optimal_block_length(x: &[f64]) -> Result<f64> {
    let n = x.len();
    let nobs = n as f64;
    let kn = 5usize.max(nobs.log10().floor() as usize);
    let m_max = nobs.sqrt().ceil() as usize + kn;
    if n < m_max + 2 {
        return Err(Error::invalid_input(format!(
            "the automatic block length needs more bars than {n}; give a block length"
        )));
    }
    let mean = x.iter().sum::<f64>() / nobs;
    let eps = alloc::try_collect(x.iter().map(|v| v - mean), || {
        format!("the {n} centred values")
    })?;
    let b_max = (3.0 * nobs.sqrt()).min(nobs / 3.0).ceil();
    let cv = 2.0 * (nobs.log10() / nobs).sqrt();
    // Sums of squares of eps[..k] and eps[k..], for the autocorrelations' denominators.
    let total: f64 = eps.iter().map(|e| e * e).sum();
    let lags = m_max + 1;
    let mut acv = alloc::try_filled(lags, 0.0, || format!("{lags} autocovariances"))?;
    let mut abs_acorr = alloc::try_filled(lags, 0.0, || format!("{lags} autocorrelations"))?;
    parallel::install(|| {
        acv.par_iter_mut()
            .zip(abs_acorr.par_iter_mut())
            .enumerate()
            .for_each(|(i, (covariance, correlation))| {
                let cross: f64 = eps[i..].iter().zip(&eps[..n - i]).map(|(a, b)| a * b).sum();
                let head: f64 = eps[..=i].iter().map(|e| e * e).sum();
                let tail: f64 = eps[n - i - 1..].iter().map(|e| e * e).sum();
                // eps[i + 1..] @ eps[i + 1..] and eps[..n - i - 1] @ eps[..n - i - 1].
                let (v1, v2) = (total - head, total - tail);
                *covariance = cross / nobs;
                *correlation = cross.abs() / (v1 * v2).sqrt();
            });
    });
    let opt_m = (kn..lags).find(|&i| abs_acorr[i - kn..i].iter().all(|&a| a < cv));
    let m = opt_m
        .map(|m| 2 * (m - kn).max(1))
        .unwrap_or(m_max)
        .min(m_max);
    let (mut g, mut long_run) = (0.0, acv[0]);
    for (k, &covariance) in acv.iter().enumerate().take(m + 1).skip(1) {
        let ratio = k as f64 / m as f64;
        let lam = if ratio <= 0.5 {
            1.0
        } else {
            2.0 * (1.0 - ratio)
        };
        g += 2.0 * lam * k as f64 * covariance;
        long_run += 2.0 * lam * covariance;
    }
    let d_sb = 2.0 * long_run * long_run;
    let b_sb = ((2.0 * g * g) / d_sb).cbrt() * nobs.cbrt();
    Ok(if b_sb.is_nan() { b_sb } else { b_sb.min(b_max) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..n)
            .map(|_| ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.02)
            .collect()
    }

    fn options(resamples: usize) -> BootstrapOptions {
        BootstrapOptions {
            resamples,
            block_length: Some(5.0),
            seed: 7,
            periods_per_year: 8760.0,
        }
    }

    #[test]
    fn metrics_follow_their_definitions() {
        let returns = [0.1, -0.05, 0.02, -0.2, 0.3];
        let mean = returns.iter().sum::<f64>() / 5.0;
        let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 4.0;
        let sharpe = ReturnMetric::Sharpe.of(returns, 4.0);
        assert!((sharpe - mean / var.sqrt() * 2.0).abs() < 1e-12);
        let total = ReturnMetric::TotalReturn.of(returns, 1.0);
        let equity: Vec<f64> = returns
            .iter()
            .scan(1.0, |e, r| {
                *e *= 1.0 + r;
                Some(*e)
            })
            .collect();
        assert!((total - (equity[4] - 1.0)).abs() < 1e-12);
        let drawdown = ReturnMetric::MaxDrawdown.of(returns, 1.0);
        let expected = equity
            .iter()
            .scan(1.0, |peak: &mut f64, &e| {
                *peak = peak.max(e);
                Some(1.0 - e / *peak)
            })
            .fold(0.0, f64::max);
        assert!((drawdown - expected).abs() < 1e-12);
        // From the initial capital: a loss from the first bar on counts.
        let falling = ReturnMetric::MaxDrawdown.of([-0.1, -0.1], 1.0);
        assert!((falling - 0.19).abs() < 1e-12);
        assert!(ReturnMetric::Sharpe.of([0.01; 10], 1.0).is_nan());
        assert!(ReturnMetric::TotalReturn.of([], 1.0).is_nan());
    }

    #[test]
    fn only_metrics_of_returns_are_accepted() {
        for name in ReturnMetric::NAMES {
            assert_eq!(ReturnMetric::parse(name).unwrap().name(), name);
        }
        let error = ReturnMetric::parse("hit_rate").unwrap_err().to_string();
        assert!(
            error.contains("sharpe, total_return, max_drawdown"),
            "{error}"
        );
        assert!(error.contains("\"hit_rate\""), "{error}");
    }

    #[test]
    fn the_indices_are_blocks_on_a_circle() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let indices: Vec<usize> = StationaryIndices::new(&mut rng, 50, 0.1).collect();
        assert_eq!(indices.len(), 50);
        let breaks = indices
            .windows(2)
            .filter(|w| w[1] != (w[0] + 1) % 50)
            .count();
        assert!(breaks < 20, "{breaks} new blocks for p = 0.1");
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        // p = 1: every index is a fresh draw; all in range.
        let fresh: Vec<usize> = StationaryIndices::new(&mut rng, 7, 1.0).collect();
        assert!(fresh.iter().all(|&i| i < 7));
    }

    #[test]
    fn blocks_are_geometric_with_the_mean_asked_and_starts_uniform() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let n = 200_000;
        let indices: Vec<usize> = StationaryIndices::new(&mut rng, n, 0.1).collect();
        let starts: Vec<usize> = indices
            .windows(2)
            .filter(|w| w[1] != (w[0] + 1) % n)
            .map(|w| w[1])
            .collect();
        // About n * p new blocks (a fresh start may continue the last by chance: rare).
        let mean = n as f64 / (starts.len() + 1) as f64;
        assert!((mean - 10.0).abs() < 0.3, "mean block length {mean}");
        // Fresh starts fall evenly over the bars: each tenth holds a tenth of them.
        let mut tenths = [0usize; 10];
        for start in &starts {
            tenths[start * 10 / n] += 1;
        }
        let expected = starts.len() as f64 / 10.0;
        for count in tenths {
            assert!(
                (count as f64 - expected).abs() < 5.0 * expected.sqrt(),
                "{tenths:?}"
            );
        }
    }

    #[test]
    fn a_clear_edge_has_a_small_p_value_and_no_edge_a_large_one() {
        let market = noise(2000, 1);
        let right: Vec<f64> = market.iter().map(|r| r.abs()).collect();
        let wrong: Vec<f64> = market.iter().map(|r| -r.abs()).collect();
        let better = compare(&right, &wrong, ReturnMetric::Sharpe, &options(500)).unwrap();
        assert_eq!(better.p_value, 1.0 / 501.0);
        assert!(better.candidate > better.reference);
        let worse = compare(&wrong, &right, ReturnMetric::Sharpe, &options(500)).unwrap();
        assert!(worse.p_value > 0.99);
        let same = compare(&market, &market, ReturnMetric::TotalReturn, &options(100)).unwrap();
        // d = 0 and every resampled d* = 0: all at or beyond.
        assert_eq!(same.p_value, 1.0);
    }

    #[test]
    fn results_depend_on_the_seed_alone() {
        let (a, b) = (noise(3000, 4), noise(3000, 5));
        let first = compare(&a, &b, ReturnMetric::Sharpe, &options(200)).unwrap();
        let again = compare(&a, &b, ReturnMetric::Sharpe, &options(200)).unwrap();
        assert_eq!(first, again);
        let other = BootstrapOptions {
            seed: 8,
            ..options(200)
        };
        assert_ne!(
            compare(&a, &b, ReturnMetric::Sharpe, &other)
                .unwrap()
                .p_value,
            first.p_value
        );
    }

    #[test]
    fn lower_is_better_for_drawdown() {
        let market = noise(1000, 2);
        let calm: Vec<f64> = market.iter().map(|r| r * 0.1).collect();
        let comparison = compare(&calm, &market, ReturnMetric::MaxDrawdown, &options(200)).unwrap();
        assert!(comparison.candidate < comparison.reference);
        assert!(comparison.p_value < 0.05, "{comparison:?}");
    }

    #[test]
    fn bars_without_a_number_in_either_series_are_left_out() {
        let mut a = noise(100, 1);
        let b = noise(100, 2);
        a[0] = f64::NAN;
        a[50] = f64::INFINITY;
        let comparison = compare(&a, &b, ReturnMetric::TotalReturn, &options(10)).unwrap();
        assert_eq!(comparison.bars, 98);
        let expected =
            ReturnMetric::TotalReturn.of(a.iter().copied().filter(|v| v.is_finite()), 1.0);
        assert!((comparison.candidate - expected).abs() < 1e-15);
    }

    #[test]
    fn bad_requests_are_refused() {
        let a = noise(100, 1);
        let refused = |options: BootstrapOptions| {
            compare(&a, &a, ReturnMetric::Sharpe, &options)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(refused(options(0)), "resamples must be at least 1, got 0");
        assert_eq!(
            BootstrapOptions::from_values(-3, None, 0, 1.0)
                .unwrap_err()
                .to_string(),
            "resamples must be at least 1, got -3"
        );
        assert!(BootstrapOptions::from_values(10, None, -1, 1.0)
            .unwrap_err()
            .to_string()
            .starts_with("seed must be an integer"));
        assert_eq!(
            refused(BootstrapOptions {
                block_length: Some(0.5),
                ..options(10)
            }),
            "block_length must be a number of bars, 1 or more, got 0.5"
        );
        assert!(compare(&a, &a[..99], ReturnMetric::Sharpe, &options(10))
            .unwrap_err()
            .to_string()
            .contains("got 100 and 99"));
        let nan = [f64::NAN; 10];
        assert!(compare(&nan, &nan, ReturnMetric::Sharpe, &options(10))
            .unwrap_err()
            .to_string()
            .contains("0 bar(s) with a return in common"));
        assert!(optimal_block_length(&a[..5]).is_err());
    }

    #[test]
    fn the_automatic_block_length_grows_with_dependence() {
        let white = noise(5000, 9);
        let mut persistent = vec![0.0; 5000];
        for t in 1..5000 {
            persistent[t] = 0.9 * persistent[t - 1] + white[t];
        }
        let short = optimal_block_length(&white).unwrap();
        let long = optimal_block_length(&persistent).unwrap();
        assert!(short < 3.0 && long > 10.0, "{short} {long}");
        assert!(optimal_block_length(&[1.0; 100]).unwrap().is_nan());
    }

    #[test]
    fn injected_indices_give_the_statistic_of_those_bars() {
        let (a, b) = (noise(10, 1), noise(10, 2));
        let indices: [&[usize]; 2] = [
            &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            &[3, 3, 3, 4, 5, 9, 0, 1, 1, 2],
        ];
        let got =
            differences_for_indices(&a, &b, ReturnMetric::TotalReturn, 1.0, &indices).unwrap();
        let pick = |s: &[f64], idx: &[usize]| idx.iter().map(|&i| s[i]).collect::<Vec<_>>();
        for (value, idx) in got.iter().zip(indices) {
            let expected = ReturnMetric::TotalReturn.of(pick(&a, idx), 1.0)
                - ReturnMetric::TotalReturn.of(pick(&b, idx), 1.0);
            assert!((value - expected).abs() < 1e-15);
        }
        assert!(differences_for_indices(&a, &b, ReturnMetric::Sharpe, 1.0, &[&[10]]).is_err());
    }
}
