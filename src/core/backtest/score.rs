//! Scores of a sweep: how each version's predictions would have traded, in one pass per row.
//!
//! For each row (a version, or the as-live composite of whichever version was live at each
//! bar), with `close` the bars' closes and `h` the horizon:
//!
//! - `signal[t]` is `sign(price[t] - close[t])` where the row's prices are in price units, else
//!   its `direction[t]`; 0 where the bar has no prediction (or a NaN price in price units).
//! - `bars`: the bars with a prediction whose `close[t + h]` exists (for a regression, `price[t]`
//!   finite; a classifier's price is NaN by design, so its bars are those with a confidence).
//! - `hit_rate`: over those bars with a nonzero signal, the share where `sign(signal[t])` equals
//!   `sign(close[t + h] - close[t])`.
//! - `mae`, `rmse`: of `price[t]` against `close[t + h]` over `bars`; NaN when the prices are not
//!   in price units.
//! - The strategy holds `position[t] = signal[t]` from close `t` to close `t + 1`:
//!   `pnl[t] = position[t] * (close[t + 1] / close[t] - 1) - fee * |position[t] - position[t - 1]|`
//!   (`position[-1] = 0`, `fee = fee_bps / 1e4`) for `t` in `0 .. T - 1`, `equity =
//!   cumprod(1 + pnl)`, `total_return = equity[-1] - 1`, `sharpe = mean(pnl) / std(pnl, ddof=1) *
//!   sqrt(periods_per_year)`, `max_drawdown = max(1 - equity / running_max(equity))`, `turnover =
//!   mean(|position[t] - position[t - 1]|)`.
//!
//! NaN closes propagate into the strategy's figures, as they would in a spreadsheet: a score is
//! only as good as its closes.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1};

use crate::core::error::{Error, Result};
use crate::core::predict::times;

/// One row's scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Bars with a prediction whose `close[t + horizon]` exists.
    pub bars: usize,
    /// Share of those bars with a nonzero signal whose sign matched the next move.
    pub hit_rate: f64,
    /// Mean absolute error of the price against `close[t + horizon]` (NaN without price units).
    pub mae: f64,
    /// Root mean squared error of the same.
    pub rmse: f64,
    /// `equity[-1] - 1`.
    pub total_return: f64,
    /// Annualised mean over standard deviation of the per-bar strategy returns.
    pub sharpe: f64,
    /// The largest fall of equity from its running maximum, as a fraction.
    pub max_drawdown: f64,
    /// Mean absolute change of position per bar.
    pub turnover: f64,
}

/// What scoring needs besides the rows.
#[derive(Debug, Clone, Copy)]
pub struct ScoreOptions {
    /// Cost of changing the position by 1, in basis points of the position.
    pub fee_bps: f64,
    /// Bars per year, to annualise the Sharpe ratio.
    pub periods_per_year: f64,
}

/// One row to score: a version's predictions, or the as-live composite's.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// `[T]` prices (NaN where undefined; NaN throughout for classifiers).
    pub price: ArrayView1<'a, f64>,
    /// `[T]` confidences: NaN where the bar has no prediction.
    pub confidence: ArrayView1<'a, f64>,
    /// `[T]` directions.
    pub direction: ArrayView1<'a, i8>,
    /// Whether `price` is in price units.
    pub price_units: Flag<'a>,
    /// Whether the prediction is a classifier's (its price is NaN by design).
    pub classifier: Flag<'a>,
}

/// A row's property: for a version, the same at every bar; for the as-live composite, per bar
/// (the live version's).
#[derive(Debug, Clone, Copy)]
pub enum Flag<'a> {
    /// The same for every bar.
    All(bool),
    /// Per bar.
    PerBar(&'a [bool]),
}

impl Flag<'_> {
    fn at(&self, bar: usize) -> bool {
        match self {
            Self::All(value) => *value,
            Self::PerBar(values) => values[bar],
        }
    }

    fn fits(&self, bars: usize) -> bool {
        !matches!(self, Self::PerBar(values) if values.len() != bars)
    }
}

fn sign(value: f64) -> i8 {
    if value > 0.0 {
        1
    } else if value < 0.0 {
        -1
    } else {
        0
    }
}

/// The bars per year of a timeframe such as `15m`, `1h`, `4h`, `1d` or `1w`: a 365-day year over
/// its bar duration (the one timeframe rule, [`times::timeframe_nanos`]); used when a series
/// has no times to measure its own spacing by.
pub fn periods_per_year(timeframe: &str) -> Result<f64> {
    times::periods_per_year(times::timeframe_nanos(timeframe)?)
}

/// What every row's score shares: the closes, their one-bar returns and the sign of each bar's
/// move over the horizon, computed once per scoring rather than once per row.
#[derive(Debug, Clone)]
pub struct Closes<'a> {
    close: ArrayView1<'a, f64>,
    /// `close[t + 1] / close[t] - 1` for `t` in `0 .. T - 1`.
    returns: Vec<f64>,
    /// `sign(close[t + horizon] - close[t])` for `t + horizon < T`.
    moves: Vec<i8>,
    horizon: usize,
}

impl<'a> Closes<'a> {
    /// The closes of every bar, judged `horizon` bars ahead.
    pub fn new(close: ArrayView1<'a, f64>, horizon: usize) -> Self {
        let len = close.len();
        let returns = (1..len).map(|t| close[t] / close[t - 1] - 1.0).collect();
        let moves = (horizon..len)
            .map(|t| sign(close[t] - close[t - horizon]))
            .collect();
        Self {
            close,
            returns,
            moves,
            horizon,
        }
    }

    /// The number of bars.
    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// Whether there are no bars.
    pub fn is_empty(&self) -> bool {
        self.close.is_empty()
    }
}

/// Scores one row against `closes`; when `equity` is given (`[T - 1]`), the equity curve is
/// written into it.
pub fn score(
    row: &Row<'_>,
    closes: &Closes<'_>,
    options: &ScoreOptions,
    mut equity_out: Option<ArrayViewMut1<'_, f64>>,
) -> Result<Score> {
    let bars_total = closes.len();
    if row.price.len() != bars_total
        || row.confidence.len() != bars_total
        || row.direction.len() != bars_total
        || !row.price_units.fits(bars_total)
        || !row.classifier.fits(bars_total)
    {
        return Err(Error::invalid_input(format!(
            "every row to score must have one value per bar of close ({bars_total})"
        )));
    }
    if let Some(out) = &equity_out {
        if out.len() != bars_total.saturating_sub(1) {
            return Err(Error::InvalidArgument(format!(
                "the equity array must have {} values (one per bar but the last)",
                bars_total.saturating_sub(1)
            )));
        }
    }
    let close = closes.close;
    let fee = options.fee_bps / 1e4;
    let horizon = closes.horizon;
    let (mut bars, mut decided, mut hits) = (0usize, 0usize, 0usize);
    let (mut abs_error, mut square_error, mut priced) = (0.0f64, 0.0f64, 0usize);
    // The variance of pnl from sums shifted by its first value: no division per bar, and no
    // cancellation when the mean is large against the spread.
    let (mut count, mut shift, mut sum, mut squares) = (0usize, 0.0f64, 0.0f64, 0.0f64);
    // `peak` is NaN until the first equity value: the running maximum is over equity itself.
    let (mut equity, mut peak, mut drawdown) = (1.0f64, f64::NAN, 0.0f64);
    let (mut previous, mut turnover) = (0i8, 0.0f64);
    for t in 0..bars_total {
        let price = row.price[t];
        let units = row.price_units.at(t);
        let predicted = !row.confidence[t].is_nan() && (row.classifier.at(t) || price.is_finite());
        let signal = match (predicted, units) {
            (false, _) => 0,
            (true, true) => sign(price - close[t]),
            (true, false) => row.direction[t].signum(),
        };
        if predicted && t + horizon < bars_total {
            bars += 1;
            if signal != 0 {
                decided += 1;
                hits += usize::from(signal == closes.moves[t]);
            }
            if units {
                let error = price - close[t + horizon];
                abs_error += error.abs();
                square_error += error * error;
                priced += 1;
            }
        }
        if let Some(&change_of_close) = closes.returns.get(t) {
            let change = f64::from((signal - previous).abs());
            let pnl = f64::from(signal) * change_of_close - fee * change;
            previous = signal;
            turnover += change;
            if count == 0 {
                shift = pnl;
            }
            count += 1;
            let shifted = pnl - shift;
            sum += shifted;
            squares += shifted * shifted;
            equity *= 1.0 + pnl;
            if equity.is_nan() {
                // A NaN close: the equity stays NaN from here on, and so does the drawdown.
                drawdown = f64::NAN;
            } else if !drawdown.is_nan() {
                if peak.is_nan() || equity > peak {
                    peak = equity;
                } else if equity < peak * (1.0 - drawdown) || peak <= 0.0 {
                    drawdown = drawdown.max(1.0 - equity / peak);
                }
            }
            if let Some(out) = equity_out.as_mut() {
                out[t] = equity;
            }
        }
    }
    let ratio = |part: f64, whole: usize| {
        if whole == 0 {
            f64::NAN
        } else {
            part / whole as f64
        }
    };
    let n = count as f64;
    let mean = shift + sum / n;
    let std = if count > 1 {
        ((squares - sum * sum / n) / (n - 1.0)).max(0.0).sqrt()
    } else {
        f64::NAN
    };
    let any_units = priced > 0;
    Ok(Score {
        bars,
        hit_rate: ratio(hits as f64, decided),
        mae: if any_units {
            ratio(abs_error, priced)
        } else {
            f64::NAN
        },
        rmse: if any_units {
            ratio(square_error, priced).sqrt()
        } else {
            f64::NAN
        },
        total_return: if count > 0 { equity - 1.0 } else { f64::NAN },
        sharpe: if std > 0.0 {
            mean / std * options.periods_per_year.sqrt()
        } else {
            f64::NAN
        },
        max_drawdown: if count > 0 { drawdown } else { f64::NAN },
        turnover: ratio(turnover, count),
    })
}

/// The as-live composite of a sweep's rows: at each bar, the row of the version `live[t]` names
/// (-1: none; the bar has no prediction).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Composite {
    /// Per bar, the live version's price.
    pub price: Vec<f64>,
    /// Per bar, its confidence.
    pub confidence: Vec<f64>,
    /// Per bar, its direction.
    pub direction: Vec<i8>,
    /// Per bar, whether its prices are in price units.
    pub price_units: Vec<bool>,
    /// Per bar, whether it is a classifier.
    pub classifier: Vec<bool>,
}

impl Composite {
    /// The composite as a row to score.
    pub fn row(&self) -> Row<'_> {
        Row {
            price: ArrayView1::from(&self.price),
            confidence: ArrayView1::from(&self.confidence),
            direction: ArrayView1::from(&self.direction),
            price_units: Flag::PerBar(&self.price_units),
            classifier: Flag::PerBar(&self.classifier),
        }
    }
}

/// The as-live composite of `[versions, T]` rows, given each version's flags and the live row of
/// each bar.
pub fn composite(
    price: ArrayView2<'_, f64>,
    confidence: ArrayView2<'_, f64>,
    direction: ArrayView2<'_, i8>,
    price_units: &[bool],
    classifier: &[bool],
    live: ArrayView1<'_, i64>,
) -> Result<Composite> {
    let (versions, bars) = price.dim();
    if confidence.dim() != (versions, bars)
        || direction.dim() != (versions, bars)
        || live.len() != bars
        || price_units.len() != versions
        || classifier.len() != versions
    {
        return Err(Error::invalid_input(
            "the as-live composite needs [versions, bars] arrays, one live row per bar and one \
             flag per version",
        ));
    }
    let mut out = Composite::default();
    for (t, &row) in live.iter().enumerate() {
        match usize::try_from(row).ok().filter(|&r| r < versions) {
            Some(r) => {
                out.price.push(price[[r, t]]);
                out.confidence.push(confidence[[r, t]]);
                out.direction.push(direction[[r, t]]);
                out.price_units.push(price_units[r]);
                out.classifier.push(classifier[r]);
            }
            None if row < 0 => {
                out.price.push(f64::NAN);
                out.confidence.push(f64::NAN);
                out.direction.push(0);
                out.price_units.push(false);
                out.classifier.push(false);
            }
            None => {
                return Err(Error::invalid_input(format!(
                    "live_version names row {row} at bar {t}, but there are {versions} versions"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(_horizon: usize, fee_bps: f64) -> ScoreOptions {
        ScoreOptions {
            fee_bps,
            periods_per_year: 4.0,
        }
    }

    #[test]
    fn a_regression_in_price_units_is_scored_by_its_price() {
        let close = [100.0, 110.0, 99.0, 99.0, 120.0];
        // Predicted prices: up, down, NaN (no prediction), up.
        let price = [105.0, 100.0, f64::NAN, 101.0, 130.0];
        let confidence = [1.0, 1.0, f64::NAN, 1.0, 1.0];
        let direction = [1, 1, 0, 1, 1]; // ignored in price units
        let row = Row {
            price: ArrayView1::from(&price),
            confidence: ArrayView1::from(&confidence),
            direction: ArrayView1::from(&direction),
            price_units: Flag::All(true),
            classifier: Flag::All(false),
        };
        let mut equity = [0.0; 4];
        let score = score(
            &row,
            &Closes::new(ArrayView1::from(&close), 1),
            &options(1, 10.0),
            Some(ArrayViewMut1::from(&mut equity)),
        )
        .unwrap();
        // Bars 0, 1, 3 have a prediction and a next close; signals +1, -1, +1; moves +, -, +.
        assert_eq!(score.bars, 3);
        assert_eq!(score.hit_rate, 1.0);
        let errors: [f64; 3] = [105.0 - 110.0, 100.0 - 99.0, 101.0 - 120.0];
        assert!((score.mae - errors.iter().map(|e| e.abs()).sum::<f64>() / 3.0).abs() < 1e-12);
        let rmse = (errors.iter().map(|e| e * e).sum::<f64>() / 3.0).sqrt();
        assert!((score.rmse - rmse).abs() < 1e-12);
        // Positions +1, -1, 0, +1 over t = 0..3; fee 0.001 per unit of change.
        let pnl = [
            0.1 - 0.001,
            -(99.0 / 110.0 - 1.0) - 0.002,
            0.0 - 0.001,
            (120.0 / 99.0 - 1.0) - 0.001,
        ];
        let mut expected = 1.0;
        for (t, p) in pnl.iter().enumerate() {
            expected *= 1.0 + p;
            assert!((equity[t] - expected).abs() < 1e-12, "equity[{t}]");
        }
        assert!((score.total_return - (expected - 1.0)).abs() < 1e-12);
        assert_eq!(score.turnover, (1.0 + 2.0 + 1.0 + 1.0) / 4.0);
        let mean = pnl.iter().sum::<f64>() / 4.0;
        let var = pnl.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / 3.0;
        assert!((score.sharpe - mean / var.sqrt() * 2.0).abs() < 1e-9);
        let drawdown = 1.0 - equity[2] / equity[0].max(equity[1]).max(equity[2]);
        assert!((score.max_drawdown - drawdown.max(0.0)).abs() < 1e-12);
    }

    #[test]
    fn without_price_units_the_direction_decides_and_there_is_no_error() {
        let close = [1.0, 2.0, 1.0];
        let price = [0.4, 0.6, 0.5];
        let row = Row {
            price: ArrayView1::from(&price),
            confidence: ArrayView1::from(&[1.0, 1.0, 1.0]),
            direction: ArrayView1::from(&[-1i8, 0, 1]),
            price_units: Flag::All(false),
            classifier: Flag::All(false),
        };
        let score = score(
            &row,
            &Closes::new(ArrayView1::from(&close), 1),
            &options(1, 0.0),
            None,
        )
        .unwrap();
        assert_eq!(score.bars, 2);
        assert_eq!(score.hit_rate, 0.0); // -1 against a rise; bar 1 has no signal
        assert!(score.mae.is_nan() && score.rmse.is_nan());
        assert_eq!(score.total_return, (1.0 - 1.0) * (1.0 + 0.0) - 1.0);
    }

    #[test]
    fn classifiers_count_by_confidence_and_horizons_shorten_bars() {
        let close = [1.0, 2.0, 3.0, 2.0];
        let row = Row {
            price: ArrayView1::from(&[f64::NAN; 4]),
            confidence: ArrayView1::from(&[0.9, f64::NAN, 0.8, 0.7]),
            direction: ArrayView1::from(&[1i8, 0, -1, 1]),
            price_units: Flag::All(false),
            classifier: Flag::All(true),
        };
        let score = score(
            &row,
            &Closes::new(ArrayView1::from(&close), 2),
            &options(2, 0.0),
            None,
        )
        .unwrap();
        // Bars 0 and 1 have close[t + 2]; bar 1 has no prediction.
        assert_eq!(score.bars, 1);
        assert_eq!(score.hit_rate, 1.0);
        assert!(score.sharpe.is_finite());
    }

    #[test]
    fn nan_closes_propagate_and_degenerate_rows_are_nan() {
        let close = [1.0, f64::NAN, 2.0];
        let row = Row {
            price: ArrayView1::from(&[1.0, 1.0, 1.0]),
            confidence: ArrayView1::from(&[1.0, 1.0, 1.0]),
            direction: ArrayView1::from(&[1i8, 1, 1]),
            price_units: Flag::All(false),
            classifier: Flag::All(false),
        };
        let score = score(
            &row,
            &Closes::new(ArrayView1::from(&close), 1),
            &options(1, 0.0),
            None,
        )
        .unwrap();
        assert!(score.total_return.is_nan() && score.max_drawdown.is_nan());
        let one = score_of_one_bar();
        assert!(one.total_return.is_nan() && one.sharpe.is_nan() && one.turnover.is_nan());
        assert!(one.hit_rate.is_nan());
    }

    fn score_of_one_bar() -> Score {
        let row = Row {
            price: ArrayView1::from(&[1.0]),
            confidence: ArrayView1::from(&[1.0]),
            direction: ArrayView1::from(&[1i8]),
            price_units: Flag::All(false),
            classifier: Flag::All(false),
        };
        let close = [1.0];
        score(
            &row,
            &Closes::new(ArrayView1::from(&close), 1),
            &options(1, 0.0),
            None,
        )
        .unwrap()
    }

    #[test]
    fn the_composite_takes_the_live_rows() {
        let price = ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let confidence = ndarray::arr2(&[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]);
        let direction = ndarray::arr2(&[[1i8, 1, 1], [-1, -1, -1]]);
        let live = ndarray::arr1(&[1i64, -1, 0]);
        let composite = composite(
            price.view(),
            confidence.view(),
            direction.view(),
            &[true, false],
            &[false, true],
            live.view(),
        )
        .unwrap();
        assert_eq!(composite.price[0], 4.0);
        assert!(composite.price[1].is_nan() && composite.confidence[1].is_nan());
        assert_eq!(composite.price[2], 3.0);
        assert_eq!(composite.direction, vec![-1, 0, 1]);
        assert_eq!(composite.price_units, vec![false, false, true]);
        assert_eq!(composite.classifier, vec![true, false, false]);
        let bad = ndarray::arr1(&[2i64, 0, 0]);
        assert!(composite_of(&price, &confidence, &direction, &bad).is_err());
    }

    fn composite_of(
        price: &ndarray::Array2<f64>,
        confidence: &ndarray::Array2<f64>,
        direction: &ndarray::Array2<i8>,
        live: &ndarray::Array1<i64>,
    ) -> Result<Composite> {
        composite(
            price.view(),
            confidence.view(),
            direction.view(),
            &[true, true],
            &[false, false],
            live.view(),
        )
    }

    #[test]
    fn periods_per_year_follow_the_timeframe() {
        assert_eq!(periods_per_year("1h").unwrap(), 8760.0);
        assert_eq!(periods_per_year("4h").unwrap(), 2190.0);
        assert_eq!(periods_per_year("1d").unwrap(), 365.0);
        assert_eq!(periods_per_year("15m").unwrap(), 35040.0);
        assert_eq!(periods_per_year("1w").unwrap(), 365.0 / 7.0);
        for bad in ["", "h", "0h", "1y", "unknown", "-1h"] {
            assert!(periods_per_year(bad).is_err(), "{bad}");
        }
    }
}
