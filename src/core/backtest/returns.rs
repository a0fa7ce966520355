//! The metrics of a strategy's per-bar returns, the one home: the scores of a sweep
//! ([`crate::core::backtest::score`]) and the bootstrap's resamples
//! ([`crate::core::backtest::bootstrap`]) both push returns into a [`ReturnStats`], so a gate's
//! comparison and the score table can never disagree on what a Sharpe ratio is.
//!
//! For returns `r` (`t` in `0 .. n`): `equity = cumprod(1 + r)`; `total_return = equity[-1] - 1`;
//! `sharpe = mean(r) / std(r, ddof=1) * sqrt(periods_per_year)` (NaN without spread or with
//! fewer than two returns); `max_drawdown = max(1 - equity / running_max(equity))`, where the
//! running maximum starts from the initial capital, 1, so a loss from the first bar on is a
//! drawdown (as quantstats, empyrical and pyfolio count it). With no return at all, every
//! metric is NaN.

/// The running sums of per-bar returns, one return at a time, without storing them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReturnStats {
    count: usize,
    // The variance from sums shifted by the first return: no division per bar, and no
    // cancellation when the mean is large against the spread.
    shift: f64,
    sum: f64,
    squares: f64,
    equity: f64,
    peak: f64,
    drawdown: f64,
}

impl Default for ReturnStats {
    fn default() -> Self {
        Self {
            count: 0,
            shift: 0.0,
            sum: 0.0,
            squares: 0.0,
            equity: 1.0,
            peak: 1.0,
            drawdown: 0.0,
        }
    }
}

impl ReturnStats {
    /// Adds the next return.
    #[inline]
    pub fn push(&mut self, value: f64) {
        if self.count == 0 {
            self.shift = value;
        }
        self.count += 1;
        let shifted = value - self.shift;
        self.sum += shifted;
        self.squares += shifted * shifted;
        self.equity *= 1.0 + value;
        if self.equity > self.peak {
            self.peak = self.equity;
        } else if self.equity < self.peak * (1.0 - self.drawdown) {
            // Only a new deepest point divides: most bars are not one.
            self.drawdown = self.drawdown.max(1.0 - self.equity / self.peak);
        }
    }

    /// The stats of `returns`, in order.
    pub fn of(returns: impl IntoIterator<Item = f64>) -> Self {
        let mut stats = Self::default();
        for value in returns {
            stats.push(value);
        }
        stats
    }

    /// How many returns were pushed.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The equity after the returns so far, from an initial capital of 1.
    pub fn equity(&self) -> f64 {
        self.equity
    }

    /// `equity - 1`; NaN with no return.
    pub fn total_return(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.equity - 1.0
        }
    }

    /// The annualised Sharpe ratio; NaN with fewer than two returns or no spread.
    pub fn sharpe(&self, periods_per_year: f64) -> f64 {
        if self.count < 2 {
            return f64::NAN;
        }
        let n = self.count as f64;
        let mean = self.shift + self.sum / n;
        let std = ((self.squares - self.sum * self.sum / n) / (n - 1.0))
            .max(0.0)
            .sqrt();
        if std > 0.0 {
            mean / std * periods_per_year.sqrt()
        } else {
            f64::NAN
        }
    }

    /// The largest fall of equity from its running maximum (from the initial capital), as a
    /// fraction; NaN with no return.
    pub fn max_drawdown(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.drawdown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_follow_their_definitions() {
        let returns = [0.1, -0.2, 0.05, 0.0, -0.1];
        let stats = ReturnStats::of(returns);
        assert_eq!(stats.count(), 5);
        let equity: Vec<f64> = returns
            .iter()
            .scan(1.0, |e, r| {
                *e *= 1.0 + r;
                Some(*e)
            })
            .collect();
        assert!((stats.total_return() - (equity[4] - 1.0)).abs() < 1e-15);
        assert_eq!(stats.equity(), equity[4]);
        let mean = returns.iter().sum::<f64>() / 5.0;
        let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
        assert!((stats.sharpe(4.0) - mean / std * 2.0).abs() < 1e-12);
        let mut peak: f64 = 1.0;
        let deepest = equity.iter().fold(0.0f64, |d, &e| {
            peak = peak.max(e);
            d.max(1.0 - e / peak)
        });
        assert!((stats.max_drawdown() - deepest).abs() < 1e-15);
    }

    #[test]
    fn a_loss_from_the_first_bar_is_a_drawdown_and_empty_stats_are_nan() {
        let first_loss = ReturnStats::of([-0.1, 0.05]);
        assert!((first_loss.max_drawdown() - 0.1).abs() < 1e-15);
        let empty = ReturnStats::default();
        assert!(empty.total_return().is_nan() && empty.max_drawdown().is_nan());
        assert!(empty.sharpe(1.0).is_nan());
        let one = ReturnStats::of([0.5]);
        assert!(one.sharpe(1.0).is_nan() && one.total_return() == 0.5);
        assert!(ReturnStats::of([0.01, 0.01, 0.01]).sharpe(1.0).is_nan());
        // Two returns are the fewest with a spread: a number, not NaN.
        let two = ReturnStats::of([0.01, 0.03]);
        assert!((two.sharpe(1.0) - 0.02 / 0.0002f64.sqrt()).abs() < 1e-12);
    }
}
