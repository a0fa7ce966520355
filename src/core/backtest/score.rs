//! Scores of a sweep: how each version's predictions would have traded, in one pass per row,
//! rows in parallel; with the settings' checks, the as-live composite and the buy-and-hold
//! benchmark. The bindings only convert.
//!
//! **Rows**, in this order: every version of the sweep; `buy-and-hold` ([`BUY_AND_HOLD`]); and,
//! for an as-live sweep, `as-live` ([`AS_LIVE`]): at each bar, the version live then.
//!
//! **Definitions**, with `close` the bars' closes, `T` their number and `h` the horizon:
//!
//! - A close is *usable* when it is a number above 0 (not NaN, not infinite, not 0 or below).
//! - `signal[t]`, the position the row takes at bar `t`:
//!   - for a version whose prices are in price units, live's rule: with the predicted return
//!     `r = (price[t] - close[t]) / close[t]`, +1 when `r > long_threshold`, -1 when
//!     `r < short_threshold`, 0 otherwise, and 0 where `close[t]` is not usable. This is
//!     upstream's `MLBasicSignalGenerator.generate_signal` (bumpy-croc/ai-trading-bot,
//!     `src/strategies/components/ml_signal_generator.py`): `predicted_return >
//!     long_entry_threshold` buys, `predicted_return < short_entry_threshold` sells, anything
//!     else holds, and an invalid price holds; both comparisons strict, with the base thresholds
//!     `LONG_ENTRY_THRESHOLD = 0.0` and `SHORT_ENTRY_THRESHOLD = -0.0005` as defaults
//!     ([`LONG_THRESHOLD`], [`SHORT_THRESHOLD`]);
//!   - for any other version, its `direction[t]`;
//!   - 0 where the bar has no prediction (no confidence, or a NaN price in price units);
//!   - for `buy-and-hold`, +1 from the first bar at which any version has a prediction to the
//!     end, 0 before (no version predicting at all: 0 throughout).
//! - `bars`, the scored bars: those with a prediction whose `close[t]` and `close[t + h]` are
//!   both usable (`t + h < T`). Bars with an unusable close, or judged against one, are skipped
//!   here and in every metric of them below.
//! - `hit_rate`: over the scored bars with a nonzero signal, the share where the signal equals
//!   `sign(close[t + h] - close[t])`.
//! - `exposure`: the share of the scored bars with a nonzero signal (a position).
//! - `mae`, `rmse`: of `price[t]` against `close[t + h]` over the scored bars in price units;
//!   NaN when the prices are not in price units.
//! - The strategy holds `position[t] = signal[t]` from close `t` to close `t + 1`. The market's
//!   step return `m[t] = close[t + 1] / close[t] - 1` when both closes are usable, and 0
//!   otherwise: no profit or loss is booked over a step whose ends are not both usable closes.
//!   `pnl[t] = position[t] * m[t] - fee * |position[t] - position[t - 1]|` (`position[-1] = 0`,
//!   `fee = fee_bps / 1e4`) for `t` in `0 .. T - 1`: the per-bar *returns* of the row.
//!   Their metrics are [`crate::core::backtest::returns`]' (the bootstrap's too):
//!   `equity = cumprod(1 + pnl)`, `total_return = equity[-1] - 1`, `sharpe = mean(pnl) /
//!   std(pnl, ddof=1) * sqrt(periods_per_year)`, `max_drawdown = max(1 - equity / peak)` with
//!   `peak` the running maximum of the initial capital 1 and `equity` (so a loss from the first
//!   bar on counts, as quantstats, empyrical and pyfolio count it), and `turnover =
//!   mean(|position[t] - position[t - 1]|)`. These are exactly quantstats' `comp`, `sharpe` and
//!   `max_drawdown` of the returns.
//!
//! Unusable closes thus never turn a metric into NaN: a metric is NaN only when it has nothing
//! to be computed from (no scored bar, fewer than two returns, no spread of returns).

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1};
use rayon::prelude::*;

use crate::core::alloc;
use crate::core::backtest::returns::ReturnStats;
use crate::core::error::{Error, Result};
use crate::core::parallel;
use crate::core::predict::times;

/// The default `long_threshold`: upstream's `LONG_ENTRY_THRESHOLD` (any positive predicted
/// return buys).
pub const LONG_THRESHOLD: f64 = 0.0;
/// The default `short_threshold`: upstream's `SHORT_ENTRY_THRESHOLD` (a predicted return below
/// -0.05% sells).
pub const SHORT_THRESHOLD: f64 = -0.0005;
/// The fewest scored bars a row needs to be ranked (or to pass a gate): with fewer, one
/// metric's difference is mostly chance. At 100 bars the standard error of a per-bar Sharpe
/// ratio is already 0.1, several times an hourly strategy's typical per-bar Sharpe ratio.
pub const MIN_BARS: usize = 100;
/// The name of the buy-and-hold benchmark's row.
pub const BUY_AND_HOLD: &str = "buy-and-hold";
/// The name of the as-live composite's row.
pub const AS_LIVE: &str = "as-live";

/// One row's scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Scored bars: with a prediction, and usable closes at `t` and `t + horizon`.
    pub bars: usize,
    /// Share of the scored bars with a nonzero signal whose sign matched the move.
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
    /// Share of the scored bars with a position.
    pub exposure: f64,
}

/// Which values of a metric are the better ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Larger is better.
    Higher,
    /// Smaller is better.
    Lower,
    /// Neither: the column describes a row (how many bars, how much time in the market), it
    /// does not judge it; nothing ranks or gates by it.
    Neither,
}

impl Better {
    /// `"higher"`, `"lower"` or `"neither"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Higher => "higher",
            Self::Lower => "lower",
            Self::Neither => "neither",
        }
    }
}

/// One column of a score: its name, its value, which values are better, and whether it counts
/// (an integer) rather than measures.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// The column's name, as Python, the CLI and the journal spell it.
    pub name: &'static str,
    /// The column's value in a score.
    pub value: fn(&Score) -> f64,
    /// Which values are better.
    pub better: Better,
    /// Whether the value is a count (`bars`).
    pub count: bool,
}

/// The columns of a score, in order: the one table that the bindings and Python's
/// `atb_prediction.metrics` read.
pub const METRICS: [Metric; 9] = [
    Metric {
        name: "bars",
        value: |s| s.bars as f64,
        better: Better::Neither,
        count: true,
    },
    Metric {
        name: "hit_rate",
        value: |s| s.hit_rate,
        better: Better::Higher,
        count: false,
    },
    Metric {
        name: "mae",
        value: |s| s.mae,
        better: Better::Lower,
        count: false,
    },
    Metric {
        name: "rmse",
        value: |s| s.rmse,
        better: Better::Lower,
        count: false,
    },
    Metric {
        name: "total_return",
        value: |s| s.total_return,
        better: Better::Higher,
        count: false,
    },
    Metric {
        name: "sharpe",
        value: |s| s.sharpe,
        better: Better::Higher,
        count: false,
    },
    Metric {
        name: "max_drawdown",
        value: |s| s.max_drawdown,
        better: Better::Lower,
        count: false,
    },
    Metric {
        name: "turnover",
        value: |s| s.turnover,
        better: Better::Higher,
        count: false,
    },
    Metric {
        name: "exposure",
        value: |s| s.exposure,
        better: Better::Neither,
        count: false,
    },
];

/// How to score, as the caller gave it: checked by [`Settings::check`] before any work and
/// turned into [`ScoreOptions`] once the bars are known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Bars ahead that hit rate and price errors are judged against (any integer: checked).
    pub horizon: i128,
    /// Cost of changing the position by 1, in basis points of the position.
    pub fee_bps: f64,
    /// Bars per year, to annualise the Sharpe ratio; `None` while not known yet.
    pub periods_per_year: Option<f64>,
    /// A predicted return above this goes long.
    pub long_threshold: f64,
    /// A predicted return below this goes short.
    pub short_threshold: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            horizon: 1,
            fee_bps: 0.0,
            periods_per_year: None,
            long_threshold: LONG_THRESHOLD,
            short_threshold: SHORT_THRESHOLD,
        }
    }
}

impl Settings {
    /// Refuses a setting no score can be computed with, naming it: a horizon below 1 (or, with
    /// `bars` known, one that leaves no bar to judge), a negative or non-finite fee, a
    /// non-finite threshold or a short threshold above the long one, and a periods per year
    /// that is not a positive number.
    pub fn check(&self, bars: Option<usize>) -> Result<()> {
        let invalid = |message: String| Err(Error::InvalidArgument(message));
        // The bindings saturate an integer beyond i128 to its bounds.
        let horizon = match self.horizon {
            i128::MAX => "2**127 or more".to_owned(),
            i128::MIN => "-2**127 or less".to_owned(),
            horizon => horizon.to_string(),
        };
        if self.horizon < 1 {
            return invalid(format!("horizon must be at least 1 bar, got {horizon}"));
        }
        if let Some(bars) = bars {
            if self.horizon >= bars as i128 {
                return invalid(format!(
                    "horizon {horizon} leaves no bar to judge: the series has {bars} bar{}, so \
                     the horizon must be below {bars}",
                    if bars == 1 { "" } else { "s" }
                ));
            }
        }
        if !self.fee_bps.is_finite() || self.fee_bps < 0.0 {
            return invalid(format!(
                "fee_bps must be a finite number of basis points, 0 or more, got {}",
                self.fee_bps
            ));
        }
        for (name, value) in [
            ("long_threshold", self.long_threshold),
            ("short_threshold", self.short_threshold),
        ] {
            if !value.is_finite() {
                return invalid(format!(
                    "{name} must be a finite predicted return (0.001 is 0.1%), got {value}"
                ));
            }
        }
        if self.short_threshold > self.long_threshold {
            return invalid(format!(
                "short_threshold ({}) must not be above long_threshold ({})",
                self.short_threshold, self.long_threshold
            ));
        }
        if let Some(periods) = self.periods_per_year {
            if !periods.is_finite() || periods <= 0.0 {
                return invalid(format!(
                    "periods_per_year must be a positive number, got {periods}"
                ));
            }
        }
        Ok(())
    }

    /// The checked options for a series of `bars` bars.
    pub fn options(&self, bars: usize) -> Result<ScoreOptions> {
        self.check(Some(bars))?;
        let periods_per_year = self.periods_per_year.ok_or_else(|| {
            Error::InvalidArgument(
                "periods_per_year is needed to annualise the Sharpe ratio".into(),
            )
        })?;
        Ok(ScoreOptions {
            // Checked: 1 <= horizon < bars, so it fits.
            horizon: usize::try_from(self.horizon).unwrap_or(usize::MAX),
            fee_bps: self.fee_bps,
            periods_per_year,
            long_threshold: self.long_threshold,
            short_threshold: self.short_threshold,
        })
    }
}

/// Checked settings ([`Settings::options`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreOptions {
    /// Bars ahead that hit rate and price errors are judged against, at least 1.
    pub horizon: usize,
    /// Cost of changing the position by 1, in basis points of the position.
    pub fee_bps: f64,
    /// Bars per year, to annualise the Sharpe ratio.
    pub periods_per_year: f64,
    /// A predicted return above this goes long.
    pub long_threshold: f64,
    /// A predicted return below this goes short.
    pub short_threshold: f64,
}

/// Live's signal from a predicted return: +1 above `long`, -1 below `short`, else (and for NaN)
/// 0; `short <= long` (checked by [`Settings::check`]), so at most one side holds.
#[inline]
pub fn signal(predicted_return: f64, long: f64, short: f64) -> i8 {
    // Without branches: the signs of predicted returns are as good as random, and a
    // mispredicted branch per bar costs more than both comparisons.
    i8::from(predicted_return > long) - i8::from(predicted_return < short)
}

fn sign(value: f64) -> i8 {
    signal(value, 0.0, 0.0)
}

/// Whether a close can be traded at and judged against: a number above 0.
fn usable(close: f64) -> bool {
    close > 0.0 && close < f64::INFINITY
}

/// The bars per year of a timeframe such as `15m`, `1h`, `4h`, `1d` or `1w`: a 365-day year over
/// its bar duration (the one timeframe rule, [`times::timeframe_nanos`]); used when a series
/// has no times to measure its own spacing by.
pub fn timeframe_periods_per_year(timeframe: &str) -> Result<f64> {
    times::periods_per_year(times::timeframe_nanos(timeframe)?)
}

/// Marks a bar that cannot be judged: no usable close at `t` or at `t + horizon`.
const UNJUDGED: i8 = i8::MIN;

/// The bars whose close is not usable: how many, and the first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnusableCloses {
    /// How many bars have an unusable close.
    pub count: usize,
    /// The first of them.
    pub first: Option<usize>,
}

/// What every row's score shares: the closes, the market's step returns and the sign of each
/// bar's move over the horizon, computed once per scoring rather than once per row.
#[derive(Debug, Clone)]
pub struct Closes<'a> {
    close: ArrayView1<'a, f64>,
    /// `m[t] = close[t + 1] / close[t] - 1` for `t` in `0 .. T - 1`; 0 unless both are usable.
    returns: Vec<f64>,
    /// `sign(close[t + horizon] - close[t])` per bar; [`UNJUDGED`] unless both are usable.
    moves: Vec<i8>,
    horizon: usize,
    unusable: UnusableCloses,
}

impl<'a> Closes<'a> {
    /// The closes of every bar, judged `horizon` bars ahead.
    pub fn new(close: ArrayView1<'a, f64>, horizon: usize) -> Result<Self> {
        let len = close.len();
        let returns = alloc::try_collect(
            (1..len).map(|t| {
                if usable(close[t - 1]) && usable(close[t]) {
                    close[t] / close[t - 1] - 1.0
                } else {
                    0.0
                }
            }),
            || format!("the market's returns ({len} bars)"),
        )?;
        let moves = alloc::try_collect(
            (0..len).map(|t| match t.checked_add(horizon).filter(|&end| end < len) {
                Some(end) if usable(close[t]) && usable(close[end]) => sign(close[end] - close[t]),
                _ => UNJUDGED,
            }),
            || format!("the moves to judge ({len} bars)"),
        )?;
        let mut unusable = UnusableCloses::default();
        for (t, &value) in close.iter().enumerate() {
            if !usable(value) {
                unusable.count += 1;
                unusable.first.get_or_insert(t);
            }
        }
        Ok(Self {
            close,
            returns,
            moves,
            horizon,
            unusable,
        })
    }

    /// The number of bars.
    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// Whether there are no bars.
    pub fn is_empty(&self) -> bool {
        self.close.is_empty()
    }

    /// The bars whose close is not usable.
    pub fn unusable(&self) -> UnusableCloses {
        self.unusable
    }
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

/// A version's predictions, or the as-live composite's.
#[derive(Debug, Clone, Copy)]
pub struct Predictions<'a> {
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

/// What a row does at one bar.
#[derive(Debug, Clone, Copy)]
struct Bar {
    predicted: bool,
    signal: i8,
    price: f64,
    units: bool,
}

impl Predictions<'_> {
    fn fits(&self, bars: usize) -> bool {
        self.price.len() == bars
            && self.confidence.len() == bars
            && self.direction.len() == bars
            && self.price_units.fits(bars)
            && self.classifier.fits(bars)
    }

    /// Whether bar `t` has a prediction.
    fn predicted(&self, t: usize) -> bool {
        !self.confidence[t].is_nan() && (self.classifier.at(t) || self.price[t].is_finite())
    }

    #[inline]
    fn bar(&self, t: usize, close: f64, options: &ScoreOptions) -> Bar {
        let price = self.price[t];
        let units = self.price_units.at(t);
        let predicted = self.predicted(t);
        let signal = match (predicted, units) {
            (false, _) => 0,
            (true, true) if usable(close) => signal(
                (price - close) / close,
                options.long_threshold,
                options.short_threshold,
            ),
            (true, true) => 0,
            (true, false) => self.direction[t].signum(),
        };
        Bar {
            predicted,
            signal,
            price,
            units,
        }
    }
}

/// One row to score.
#[derive(Debug, Clone, Copy)]
pub enum Row<'a> {
    /// A version's predictions, or the as-live composite's.
    Predictions(Predictions<'a>),
    /// Long from bar `from` to the end (`None`: never).
    BuyAndHold {
        /// The first bar of the position.
        from: Option<usize>,
    },
}

/// Where a row's per-bar series go, each when asked for.
#[derive(Debug, Default)]
pub struct Curves<'a> {
    /// `[T - 1]`: the per-bar strategy returns `pnl`.
    pub returns: Option<ArrayViewMut1<'a, f64>>,
    /// `[T - 1]`: the equity curve `cumprod(1 + pnl)`.
    pub equity: Option<ArrayViewMut1<'a, f64>>,
    /// `[T]`: whether each bar is scored.
    pub scored: Option<ArrayViewMut1<'a, bool>>,
}

/// Scores one row against `closes`, writing the series `curves` asks for.
pub fn score(
    row: &Row<'_>,
    closes: &Closes<'_>,
    options: &ScoreOptions,
    curves: Curves<'_>,
) -> Result<Score> {
    let bars = closes.len();
    let steps = bars.saturating_sub(1);
    if let Row::Predictions(predictions) = row {
        if !predictions.fits(bars) {
            return Err(Error::invalid_input(format!(
                "every row to score must have one value per bar of close ({bars})"
            )));
        }
    }
    for (name, len, want) in [
        ("returns", curves.returns.as_ref().map(|c| c.len()), steps),
        ("equity", curves.equity.as_ref().map(|c| c.len()), steps),
        ("scored", curves.scored.as_ref().map(|c| c.len()), bars),
    ] {
        if len.is_some_and(|len| len != want) {
            return Err(Error::InvalidArgument(format!(
                "the {name} array must have {want} values"
            )));
        }
    }
    Ok(match row {
        Row::Predictions(predictions) => walk(
            |t, close| predictions.bar(t, close, options),
            closes,
            options,
            curves,
        ),
        Row::BuyAndHold { from } => {
            let from = from.unwrap_or(usize::MAX);
            walk(
                |t, _| {
                    let held = t >= from;
                    Bar {
                        predicted: held,
                        signal: i8::from(held),
                        price: f64::NAN,
                        units: false,
                    }
                },
                closes,
                options,
                curves,
            )
        }
    })
}

/// The one pass over a row's bars that every score comes from.
fn walk(
    bar_at: impl Fn(usize, f64) -> Bar,
    closes: &Closes<'_>,
    options: &ScoreOptions,
    mut curves: Curves<'_>,
) -> Score {
    let close = closes.close;
    let bars_total = closes.len();
    let fee = options.fee_bps / 1e4;
    let horizon = closes.horizon;
    let (mut bars, mut decided, mut hits) = (0usize, 0usize, 0usize);
    let (mut abs_error, mut square_error, mut priced) = (0.0f64, 0.0f64, 0usize);
    let mut stats = ReturnStats::default();
    let (mut previous, mut turnover) = (0i8, 0.0f64);
    for t in 0..bars_total {
        let bar = bar_at(t, close[t]);
        let judged = closes.moves[t];
        let scored = bar.predicted && judged != UNJUDGED;
        if scored {
            bars += 1;
            // Without branches, as in `signal`: positions and hits are as good as random.
            let position = bar.signal != 0;
            decided += usize::from(position);
            hits += usize::from(position & (bar.signal == judged));
            if bar.units {
                let error = bar.price - close[t + horizon];
                abs_error += error.abs();
                square_error += error * error;
                priced += 1;
            }
        }
        if let Some(out) = curves.scored.as_mut() {
            out[t] = scored;
        }
        if let Some(&market) = closes.returns.get(t) {
            let change = f64::from((bar.signal - previous).abs());
            let pnl = f64::from(bar.signal) * market - fee * change;
            previous = bar.signal;
            turnover += change;
            stats.push(pnl);
            if let Some(out) = curves.returns.as_mut() {
                out[t] = pnl;
            }
            if let Some(out) = curves.equity.as_mut() {
                out[t] = stats.equity();
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
    let any_units = priced > 0;
    Score {
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
        total_return: stats.total_return(),
        sharpe: stats.sharpe(options.periods_per_year),
        max_drawdown: stats.max_drawdown(),
        turnover: ratio(turnover, stats.count()),
        exposure: ratio(decided as f64, bars),
    }
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
    /// The composite as predictions to score.
    pub fn predictions(&self) -> Predictions<'_> {
        Predictions {
            price: ArrayView1::from(&self.price),
            confidence: ArrayView1::from(&self.confidence),
            direction: ArrayView1::from(&self.direction),
            price_units: Flag::PerBar(&self.price_units),
            classifier: Flag::PerBar(&self.classifier),
        }
    }
}

/// A sweep's predictions: `[versions, T]` arrays, one flag per version, and for an as-live
/// sweep the live version's row at each bar (-1: none).
#[derive(Debug, Clone, Copy)]
pub struct Sweep<'a> {
    /// `[versions, T]` prices.
    pub price: ArrayView2<'a, f64>,
    /// `[versions, T]` confidences.
    pub confidence: ArrayView2<'a, f64>,
    /// `[versions, T]` directions.
    pub direction: ArrayView2<'a, i8>,
    /// Per version, whether its prices are in price units.
    pub price_units: &'a [bool],
    /// Per version, whether it is a classifier.
    pub classifier: &'a [bool],
    /// `[T]`: per bar, the row of the version live then (-1: none), for an as-live sweep.
    pub live: Option<ArrayView1<'a, i64>>,
}

impl<'a> Sweep<'a> {
    /// The number of versions.
    pub fn versions(&self) -> usize {
        self.price.nrows()
    }

    /// The number of bars.
    pub fn bars(&self) -> usize {
        self.price.ncols()
    }

    fn check(&self) -> Result<()> {
        let (versions, bars) = self.price.dim();
        if self.confidence.dim() != (versions, bars)
            || self.direction.dim() != (versions, bars)
            || self.price_units.len() != versions
            || self.classifier.len() != versions
        {
            return Err(Error::invalid_input(format!(
                "price, confidence and direction must all be [versions, bars] ({versions}, \
                 {bars}), with one price_units and classifier flag per version"
            )));
        }
        if self.live.is_some_and(|live| live.len() != bars) {
            return Err(Error::invalid_input(format!(
                "live_version must have one row per bar ({bars})"
            )));
        }
        Ok(())
    }

    fn version(&self, v: usize) -> Predictions<'_> {
        Predictions {
            price: self.price.row(v),
            confidence: self.confidence.row(v),
            direction: self.direction.row(v),
            price_units: Flag::All(self.price_units[v]),
            classifier: Flag::All(self.classifier[v]),
        }
    }

    /// The first bar at which any version has a prediction: where buy-and-hold starts.
    pub fn first_prediction(&self) -> Option<usize> {
        (0..self.versions())
            .filter_map(|v| {
                let version = self.version(v);
                (0..self.bars()).find(|&t| version.predicted(t))
            })
            .min()
    }

    /// The as-live composite, when the sweep is as-live.
    pub fn composite(&self) -> Result<Option<Composite>> {
        let Some(live) = self.live else {
            return Ok(None);
        };
        let (versions, bars) = self.price.dim();
        let what = || format!("the as-live composite ({bars} bars)");
        let mut out = Composite {
            price: alloc::try_with_capacity(bars, what)?,
            confidence: alloc::try_with_capacity(bars, what)?,
            direction: alloc::try_with_capacity(bars, what)?,
            price_units: alloc::try_with_capacity(bars, what)?,
            classifier: alloc::try_with_capacity(bars, what)?,
        };
        for (t, &row) in live.iter().enumerate() {
            match usize::try_from(row).ok().filter(|&r| r < versions) {
                Some(r) => {
                    out.price.push(self.price[[r, t]]);
                    out.confidence.push(self.confidence[[r, t]]);
                    out.direction.push(self.direction[[r, t]]);
                    out.price_units.push(self.price_units[r]);
                    out.classifier.push(self.classifier[r]);
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
                        "live_version names row {row} at bar {t}, but there are {versions} \
                         versions"
                    )))
                }
            }
        }
        Ok(Some(out))
    }
}

/// What a row of a sweep's scores is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// The version of this row of the sweep.
    Version(usize),
    /// The buy-and-hold benchmark.
    BuyAndHold,
    /// The as-live composite.
    AsLive,
}

impl RowKind {
    /// The row's name: the version's (from `versions`), [`BUY_AND_HOLD`] or [`AS_LIVE`].
    pub fn name<'n>(&self, versions: &'n [String]) -> &'n str {
        match self {
            Self::Version(v) => versions.get(*v).map_or("", String::as_str),
            Self::BuyAndHold => BUY_AND_HOLD,
            Self::AsLive => AS_LIVE,
        }
    }
}

/// Which per-bar series [`score_sweep`] keeps, besides the scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep {
    /// The `[rows, T - 1]` per-bar strategy returns.
    pub returns: bool,
    /// The `[rows, T - 1]` equity curves.
    pub equity: bool,
    /// The `[rows, T]` scored-bar mask.
    pub scored: bool,
}

/// A sweep's scores: one per row, with the series asked for.
#[derive(Debug, Clone)]
pub struct SweepScores {
    /// What each row is, in order.
    pub rows: Vec<RowKind>,
    /// One score per row.
    pub scores: Vec<Score>,
    /// `[rows, T - 1]` per-bar strategy returns, when kept.
    pub returns: Option<Array2<f64>>,
    /// `[rows, T - 1]` equity curves, when kept.
    pub equity: Option<Array2<f64>>,
    /// `[rows, T]` scored bars, when kept.
    pub scored: Option<Array2<bool>>,
    /// Where buy-and-hold starts: the first bar at which any version has a prediction.
    pub start: Option<usize>,
    /// The bars whose close is not usable.
    pub unusable: UnusableCloses,
}

fn curves<T: Clone + Send>(
    keep: bool,
    rows: usize,
    columns: usize,
    zero: T,
    what: &str,
) -> Result<Option<Array2<T>>> {
    if !keep {
        return Ok(None);
    }
    // As large as the price array (a row or two more), so allocated fallibly.
    let values = alloc::try_filled(rows.saturating_mul(columns), zero, || {
        format!("the {what} ({rows} rows of {columns} bars)")
    })?;
    Array2::from_shape_vec((rows, columns), values)
        .map(Some)
        .map_err(|error| Error::invalid_input(error.to_string()))
}

/// Scores every row of `sweep` against `close`: each version, buy-and-hold, and the as-live
/// composite of an as-live sweep, in parallel, one pass per row.
pub fn score_sweep(
    sweep: &Sweep<'_>,
    close: ArrayView1<'_, f64>,
    settings: &Settings,
    keep: Keep,
) -> Result<SweepScores> {
    sweep.check()?;
    let bars = sweep.bars();
    if close.len() != bars {
        return Err(Error::invalid_input(format!(
            "close must have one value per bar ({bars}), got {}",
            close.len()
        )));
    }
    let options = settings.options(bars)?;
    let composite = sweep.composite()?;
    let start = sweep.first_prediction();
    let mut rows: Vec<RowKind> = (0..sweep.versions()).map(RowKind::Version).collect();
    let mut work: Vec<Row<'_>> = (0..sweep.versions())
        .map(|v| Row::Predictions(sweep.version(v)))
        .collect();
    rows.push(RowKind::BuyAndHold);
    work.push(Row::BuyAndHold { from: start });
    if let Some(composite) = &composite {
        rows.push(RowKind::AsLive);
        work.push(Row::Predictions(composite.predictions()));
    }
    let steps = bars.saturating_sub(1);
    let mut returns = curves(keep.returns, rows.len(), steps, 0.0, "strategy returns")?;
    let mut equity = curves(keep.equity, rows.len(), steps, 0.0, "equity curves")?;
    let mut scored = curves(keep.scored, rows.len(), bars, false, "scored bars")?;
    let mut outs: Vec<Curves<'_>> = (0..rows.len()).map(|_| Curves::default()).collect();
    if let Some(array) = returns.as_mut() {
        for (out, row) in outs.iter_mut().zip(array.outer_iter_mut()) {
            out.returns = Some(row);
        }
    }
    if let Some(array) = equity.as_mut() {
        for (out, row) in outs.iter_mut().zip(array.outer_iter_mut()) {
            out.equity = Some(row);
        }
    }
    if let Some(array) = scored.as_mut() {
        for (out, row) in outs.iter_mut().zip(array.outer_iter_mut()) {
            out.scored = Some(row);
        }
    }
    let closes = Closes::new(close, options.horizon)?;
    // Rows in parallel on the pool sized by the cores this process may use.
    let scores = parallel::install(|| {
        work.par_iter()
            .zip(outs)
            .map(|(row, out)| score(row, &closes, &options, out))
            .collect::<Result<Vec<_>>>()
    })?;
    Ok(SweepScores {
        rows,
        scores,
        returns,
        equity,
        scored,
        start,
        unusable: closes.unusable(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(horizon: usize, fee_bps: f64) -> ScoreOptions {
        ScoreOptions {
            horizon,
            fee_bps,
            periods_per_year: 4.0,
            long_threshold: LONG_THRESHOLD,
            short_threshold: SHORT_THRESHOLD,
        }
    }

    fn run(row: &Row<'_>, close: &[f64], options: &ScoreOptions) -> Score {
        let closes = Closes::new(ArrayView1::from(close), options.horizon).unwrap();
        score(row, &closes, options, Curves::default()).unwrap()
    }

    fn version<'a>(
        price: &'a [f64],
        confidence: &'a [f64],
        direction: &'a [i8],
        units: bool,
        classifier: bool,
    ) -> Row<'a> {
        Row::Predictions(Predictions {
            price: ArrayView1::from(price),
            confidence: ArrayView1::from(confidence),
            direction: ArrayView1::from(direction),
            price_units: Flag::All(units),
            classifier: Flag::All(classifier),
        })
    }

    #[test]
    fn a_regression_in_price_units_is_scored_by_its_price() {
        let close = [100.0, 110.0, 99.0, 99.0, 120.0];
        // Predicted prices: up, down, NaN (no prediction), up.
        let price = [105.0, 100.0, f64::NAN, 101.0, 130.0];
        let confidence = [1.0, 1.0, f64::NAN, 1.0, 1.0];
        let direction = [1, 1, 0, 1, 1]; // ignored in price units
        let row = version(&price, &confidence, &direction, true, false);
        let mut equity = [0.0; 4];
        let mut returns = [0.0; 4];
        let mut scored = [false; 5];
        let options = options(1, 10.0);
        let closes = Closes::new(ArrayView1::from(&close), 1).unwrap();
        let curves = Curves {
            returns: Some(ArrayViewMut1::from(&mut returns)),
            equity: Some(ArrayViewMut1::from(&mut equity)),
            scored: Some(ArrayViewMut1::from(&mut scored)),
        };
        let score = score(&row, &closes, &options, curves).unwrap();
        // Bars 0, 1, 3 have a prediction and a next close; signals +1, -1, +1; moves +, -, +.
        assert_eq!(score.bars, 3);
        assert_eq!(scored, [true, true, false, true, false]);
        assert_eq!(score.hit_rate, 1.0);
        assert_eq!(score.exposure, 1.0);
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
            assert!((returns[t] - p).abs() < 1e-15, "returns[{t}]");
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
    fn live_thresholds_decide_a_position_in_price_units() {
        // Predicted returns +0.01%, 0, -0.01%, -0.06%, and none at the last bar.
        let close = [100.0; 5];
        let price = [100.01, 100.0, 99.99, 99.94, f64::NAN];
        let confidence = [1.0; 5];
        let row = version(&price, &confidence, &[0; 5], true, false);
        let mut returns = [0.0; 4];
        let options = options(1, 10_000.0); // a fee of 1 per unit changed shows each position
        let closes = Closes::new(ArrayView1::from(&close), 1).unwrap();
        let curves = Curves {
            returns: Some(ArrayViewMut1::from(&mut returns)),
            ..Curves::default()
        };
        let score = score(&row, &closes, &options, curves).unwrap();
        // Positions +1, 0 (not above 0), 0 (not below -0.05%), -1: changes 1, 1, 0, 1.
        assert_eq!(returns, [-1.0, -1.0, 0.0, -1.0]);
        assert_eq!(score.exposure, 2.0 / 4.0);
        assert_eq!(score.hit_rate, 0.0); // flat closes: no move to hit
        let wide = ScoreOptions {
            long_threshold: 0.001,
            short_threshold: -0.001,
            ..options
        };
        assert_eq!(run(&row, &close, &wide).exposure, 0.0);
        // Both comparisons are strict: a predicted return of exactly +-50% holds no position.
        let exact = ScoreOptions {
            long_threshold: 0.5,
            short_threshold: -0.5,
            ..options
        };
        let row = version(&[150.0, 50.0, 151.0, 49.0], &[1.0; 4], &[0; 4], true, false);
        let mut returns = [0.0; 3];
        let curves = Curves {
            returns: Some(ArrayViewMut1::from(&mut returns)),
            ..Curves::default()
        };
        let closes = Closes::new(ArrayView1::from(&[100.0; 4]), 1).unwrap();
        super::score(&row, &closes, &exact, curves).unwrap();
        assert_eq!(returns, [0.0, 0.0, -1.0]);
        assert_eq!(signal(-0.5, 0.5, -0.5), 0);
        assert_eq!(signal(f64::NAN, 0.0, 0.0), 0);
    }

    #[test]
    fn without_price_units_the_direction_decides_and_there_is_no_error() {
        let close = [1.0, 2.0, 1.0];
        let price = [0.4, 0.6, 0.5];
        let row = version(&price, &[1.0, 1.0, 1.0], &[-1, 0, 1], false, false);
        let score = run(&row, &close, &options(1, 0.0));
        assert_eq!(score.bars, 2);
        assert_eq!(score.hit_rate, 0.0); // -1 against a rise; bar 1 has no signal
        assert_eq!(score.exposure, 0.5);
        assert!(score.mae.is_nan() && score.rmse.is_nan());
        assert_eq!(score.total_return, (1.0 - 1.0) * (1.0 + 0.0) - 1.0);
    }

    #[test]
    fn classifiers_count_by_confidence_and_horizons_shorten_bars() {
        let close = [1.0, 2.0, 3.0, 2.0];
        let nan = [f64::NAN; 4];
        let row = version(
            &nan,
            &[0.9, f64::NAN, 0.8, 0.7],
            &[1, 0, -1, 1],
            false,
            true,
        );
        let score = run(&row, &close, &options(2, 0.0));
        // Bars 0 and 1 have close[t + 2]; bar 1 has no prediction.
        assert_eq!(score.bars, 1);
        assert_eq!(score.hit_rate, 1.0);
        assert!(score.sharpe.is_finite());
    }

    #[test]
    fn unusable_closes_are_skipped_and_book_no_return() {
        let close = [1.0, f64::NAN, 2.0, 4.0, 0.0, 4.0, 8.0];
        let row = version(&[1.0; 7], &[1.0; 7], &[1; 7], false, false);
        let closes = Closes::new(ArrayView1::from(&close), 1).unwrap();
        assert_eq!(
            closes.unusable(),
            UnusableCloses {
                count: 2,
                first: Some(1)
            }
        );
        let mut returns = [9.0; 6];
        let mut scored = [true; 7];
        let curves = Curves {
            returns: Some(ArrayViewMut1::from(&mut returns)),
            scored: Some(ArrayViewMut1::from(&mut scored)),
            ..Curves::default()
        };
        let score = score(&row, &closes, &options(1, 0.0), curves).unwrap();
        // Steps 0-1, 1-2, 3-4 and 4-5 touch an unusable close: no return booked.
        assert_eq!(returns, [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        // Judged bars: 2 (2 -> 4) and 5 (4 -> 8); the others touch an unusable close.
        assert_eq!(scored, [false, false, true, false, false, true, false]);
        assert_eq!(score.bars, 2);
        assert_eq!(score.hit_rate, 1.0);
        assert_eq!(score.total_return, 3.0);
        assert!(score.sharpe.is_finite() && score.max_drawdown == 0.0);
        // A horizon of 2 judges 0 -> 2 and 3 -> 5; 1 -> 3, 2 -> 4 and 4 -> 6 touch an unusable
        // close.
        let two = run(&row, &close, &options(2, 0.0));
        assert_eq!(two.bars, 2);
    }

    #[test]
    fn a_price_signal_needs_a_usable_close() {
        let close = [f64::NAN, 1.0, 2.0];
        let row = version(&[5.0; 3], &[1.0; 3], &[-1; 3], true, false);
        let mut returns = [0.0; 2];
        let closes = Closes::new(ArrayView1::from(&close), 1).unwrap();
        let curves = Curves {
            returns: Some(ArrayViewMut1::from(&mut returns)),
            ..Curves::default()
        };
        let score = score(&row, &closes, &options(1, 100.0), curves).unwrap();
        // Flat at bar 0 (no close to compare with), long at bar 1 (fee 1%).
        assert_eq!(returns, [0.0, 1.0 - 0.01]);
        assert_eq!(score.bars, 1);
    }

    #[test]
    fn buy_and_hold_is_long_from_its_first_bar_with_one_fee() {
        let close = [1.0, 2.0, 4.0, 2.0];
        let mut returns = [0.0; 3];
        let closes = Closes::new(ArrayView1::from(&close), 1).unwrap();
        let curves = Curves {
            returns: Some(ArrayViewMut1::from(&mut returns)),
            ..Curves::default()
        };
        let row = Row::BuyAndHold { from: Some(1) };
        let score = score(&row, &closes, &options(1, 100.0), curves).unwrap();
        assert_eq!(returns, [0.0, 1.0 - 0.01, -0.5]);
        assert_eq!((score.bars, score.exposure, score.hit_rate), (2, 1.0, 0.5));
        assert!((score.turnover - 1.0 / 3.0).abs() < 1e-15);
        assert!(score.mae.is_nan());
        let never = run(&Row::BuyAndHold { from: None }, &close, &options(1, 1.0));
        assert_eq!((never.bars, never.total_return), (0, 0.0));
        assert!(never.exposure.is_nan() && never.sharpe.is_nan());
    }

    #[test]
    fn a_drawdown_counts_from_the_initial_capital() {
        // Short into a steady rise: equity only ever falls, from the first bar on.
        let close = [1.0, 1.1, 1.2, 1.3];
        let row = version(&[1.0; 4], &[1.0; 4], &[-1; 4], false, false);
        let score = run(&row, &close, &options(1, 0.0));
        assert!(score.total_return < 0.0);
        assert!((score.max_drawdown + score.total_return).abs() < 1e-15);
    }

    #[test]
    fn degenerate_rows_are_nan() {
        let one = run(
            &version(&[1.0], &[1.0], &[1], false, false),
            &[1.0],
            &options(1, 0.0),
        );
        assert!(one.total_return.is_nan() && one.sharpe.is_nan() && one.turnover.is_nan());
        assert!(one.hit_rate.is_nan() && one.exposure.is_nan());
    }

    #[test]
    fn a_short_row_is_refused() {
        let row = version(&[1.0], &[1.0], &[1], false, false);
        let closes = Closes::new(ArrayView1::from(&[1.0, 2.0]), 1).unwrap();
        let error = score(&row, &closes, &options(1, 0.0), Curves::default()).unwrap_err();
        assert!(error.to_string().contains("one value per bar of close (2)"));
    }

    #[test]
    fn a_row_with_any_one_field_short_is_refused() {
        let closes = Closes::new(ArrayView1::from(&[1.0, 2.0]), 1).unwrap();
        assert_eq!(closes.len(), 2);
        assert!(!closes.is_empty());
        assert!(
            Closes::new(ArrayView1::from(&[] as &[f64]), 0).is_ok_and(|closes| closes.is_empty())
        );
        let (two, one) = ([1.0, 1.0], [1.0]);
        let (signals, signal) = ([1i8, 1], [1i8]);
        let (flags, flag) = ([true, true], [true]);
        fn row<'a>(
            price: &'a [f64],
            confidence: &'a [f64],
            direction: &'a [i8],
            price_units: Flag<'a>,
            classifier: Flag<'a>,
        ) -> Row<'a> {
            Row::Predictions(Predictions {
                price: ArrayView1::from(price),
                confidence: ArrayView1::from(confidence),
                direction: ArrayView1::from(direction),
                price_units,
                classifier,
            })
        }
        let whole = row(
            &[1.0, 1.0],
            &two,
            &signals,
            Flag::PerBar(&flags),
            Flag::All(true),
        );
        assert!(score(&whole, &closes, &options(1, 0.0), Curves::default()).is_ok());
        for short in [
            row(&[1.0], &two, &signals, Flag::All(true), Flag::All(true)),
            row(
                &[1.0, 1.0],
                &one,
                &signals,
                Flag::All(true),
                Flag::All(true),
            ),
            row(&[1.0, 1.0], &two, &signal, Flag::All(true), Flag::All(true)),
            row(
                &[1.0, 1.0],
                &two,
                &signals,
                Flag::PerBar(&flag),
                Flag::All(true),
            ),
            row(
                &[1.0, 1.0],
                &two,
                &signals,
                Flag::All(true),
                Flag::PerBar(&flag),
            ),
        ] {
            let error = score(&short, &closes, &options(1, 0.0), Curves::default()).unwrap_err();
            assert!(error.to_string().contains("one value per bar of close (2)"));
        }
    }

    fn settings() -> Settings {
        Settings {
            periods_per_year: Some(8760.0),
            ..Settings::default()
        }
    }

    #[test]
    fn settings_are_checked_with_their_names() {
        let refused = |settings: Settings, bars: Option<usize>, text: &str| {
            let error = settings.check(bars).unwrap_err();
            assert!(matches!(error, Error::InvalidArgument(_)));
            assert!(error.to_string().contains(text), "{error}");
        };
        for horizon in [0, -1, i128::MIN] {
            let bad = Settings {
                horizon,
                ..settings()
            };
            refused(bad, None, "horizon must be at least 1 bar");
        }
        for horizon in [10, 11, u64::MAX.into(), i128::MAX] {
            let bad = Settings {
                horizon,
                ..settings()
            };
            assert!(bad.check(None).is_ok());
            refused(
                bad,
                Some(10),
                "leaves no bar to judge: the series has 10 bars",
            );
        }
        let nine = Settings {
            horizon: 9,
            ..settings()
        };
        assert_eq!(nine.options(10).unwrap().horizon, 9);
        for fee in [-0.5, f64::NAN, f64::INFINITY] {
            let bad = Settings {
                fee_bps: fee,
                ..settings()
            };
            refused(
                bad,
                None,
                "fee_bps must be a finite number of basis points, 0 or more",
            );
        }
        let bad = Settings {
            long_threshold: f64::NAN,
            ..settings()
        };
        refused(bad, None, "long_threshold must be a finite");
        let bad = Settings {
            short_threshold: f64::NEG_INFINITY,
            ..settings()
        };
        refused(bad, None, "short_threshold must be a finite");
        let bad = Settings {
            long_threshold: -0.001,
            ..settings()
        };
        refused(
            bad,
            None,
            "short_threshold (-0.0005) must not be above long_threshold",
        );
        let equal = Settings {
            long_threshold: 0.001,
            short_threshold: 0.001,
            ..settings()
        };
        assert!(equal.check(None).is_ok());
        for periods in [0.0, -1.0, f64::NAN] {
            let bad = Settings {
                periods_per_year: Some(periods),
                ..settings()
            };
            refused(bad, None, "periods_per_year must be a positive number");
        }
        let unknown = Settings {
            periods_per_year: None,
            ..settings()
        };
        assert!(unknown.check(Some(5)).is_ok());
        assert!(unknown.options(5).is_err());
    }

    #[test]
    fn the_metric_table_names_every_field_once() {
        let score = Score {
            bars: 7,
            hit_rate: 1.0,
            mae: 2.0,
            rmse: 3.0,
            total_return: 4.0,
            sharpe: 5.0,
            max_drawdown: 6.0,
            turnover: 8.0,
            exposure: 9.0,
        };
        let values: Vec<f64> = METRICS.iter().map(|m| (m.value)(&score)).collect();
        assert_eq!(values, [7.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 9.0]);
        let names: std::collections::BTreeSet<_> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), METRICS.len());
        let lower: Vec<_> = METRICS
            .iter()
            .filter(|m| m.better == Better::Lower)
            .map(|m| m.name)
            .collect();
        assert_eq!(lower, ["mae", "rmse", "max_drawdown"]);
        assert!(METRICS.iter().all(|m| m.count == (m.name == "bars")));
    }

    fn two_versions<'a>(
        price: &'a ndarray::Array2<f64>,
        confidence: &'a ndarray::Array2<f64>,
        direction: &'a ndarray::Array2<i8>,
        live: Option<&'a ndarray::Array1<i64>>,
    ) -> Sweep<'a> {
        Sweep {
            price: price.view(),
            confidence: confidence.view(),
            direction: direction.view(),
            price_units: &[true, false],
            classifier: &[false, true],
            live: live.map(|l| l.view()),
        }
    }

    #[test]
    fn the_composite_takes_the_live_rows() {
        let price = ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let confidence = ndarray::arr2(&[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]);
        let direction = ndarray::arr2(&[[1i8, 1, 1], [-1, -1, -1]]);
        let live = ndarray::arr1(&[1i64, -1, 0]);
        let sweep = two_versions(&price, &confidence, &direction, Some(&live));
        let composite = sweep.composite().unwrap().unwrap();
        assert_eq!(composite.price[0], 4.0);
        assert!(composite.price[1].is_nan() && composite.confidence[1].is_nan());
        assert_eq!(composite.price[2], 3.0);
        assert_eq!(composite.direction, vec![-1, 0, 1]);
        assert_eq!(composite.price_units, vec![false, false, true]);
        assert_eq!(composite.classifier, vec![true, false, false]);
        let bad = ndarray::arr1(&[2i64, 0, 0]);
        let sweep = two_versions(&price, &confidence, &direction, Some(&bad));
        let error = sweep.composite().unwrap_err().to_string();
        assert!(error.contains("names row 2 at bar 0, but there are 2 versions"));
        assert!(two_versions(&price, &confidence, &direction, None)
            .composite()
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_sweep_scores_versions_then_buy_and_hold_then_as_live() {
        let nan = f64::NAN;
        let price = ndarray::arr2(&[[nan, nan, 3.0, 5.0, 4.0], [nan, nan, nan, nan, nan]]);
        let confidence = ndarray::arr2(&[[nan, nan, 1.0, 1.0, 1.0], [nan, 0.5, 0.5, nan, 0.5]]);
        let direction = ndarray::arr2(&[[0i8, 0, 1, -1, 1], [0, -1, -1, 0, 1]]);
        let live = ndarray::arr1(&[-1i64, 1, 1, 0, 0]);
        let sweep = two_versions(&price, &confidence, &direction, Some(&live));
        let close = [1.0, 2.0, 4.0, 2.0, 3.0];
        let all = Keep {
            returns: true,
            equity: true,
            scored: true,
        };
        let scores = score_sweep(&sweep, ArrayView1::from(&close), &settings(), all).unwrap();
        let rows = [
            RowKind::Version(0),
            RowKind::Version(1),
            RowKind::BuyAndHold,
            RowKind::AsLive,
        ];
        assert_eq!(scores.rows, rows);
        let names: Vec<String> = vec!["a".into(), "b".into()];
        let named: Vec<&str> = scores.rows.iter().map(|r| r.name(&names)).collect();
        assert_eq!(named, ["a", "b", BUY_AND_HOLD, AS_LIVE]);
        // The classifier predicts from bar 1: buy-and-hold starts there.
        assert_eq!(scores.start, Some(1));
        let returns = scores.returns.as_ref().unwrap();
        assert_eq!(returns.row(2).to_vec(), [0.0, 1.0, -0.5, 0.5]);
        let equity = scores.equity.as_ref().unwrap();
        assert_eq!(equity.row(2).to_vec(), [1.0, 2.0, 1.0, 1.5]);
        // The composite: the classifier's -1 at bars 1 and 2, then the price version's.
        // Bar 3: price 5 over close 2 (long); bar 4: price 4 over 3 (long).
        assert_eq!(returns.row(3).to_vec(), [0.0, -1.0, 0.5, 0.5]);
        let scored = scores.scored.as_ref().unwrap();
        assert_eq!(scored.row(3).to_vec(), [false, true, true, true, false]);
        // Keeping the series changes no score (NaN included: compared as text).
        let alone = score_sweep(
            &sweep,
            ArrayView1::from(&close),
            &settings(),
            Keep::default(),
        );
        let alone = alone.unwrap().scores;
        assert_eq!(format!("{:?}", scores.scores), format!("{alone:?}"));
        for (row, score) in scores.scores.iter().enumerate() {
            assert_eq!(score.bars, scored.row(row).iter().filter(|&&s| s).count());
        }
        assert_eq!(scores.unusable, UnusableCloses::default());
    }

    #[test]
    fn a_sweep_refuses_bad_shapes_and_settings() {
        let price = ndarray::arr2(&[[1.0, 2.0], [1.0, 2.0]]);
        let confidence = ndarray::arr2(&[[1.0, 1.0], [1.0, 1.0]]);
        let direction = ndarray::arr2(&[[1i8, 1], [1, 1]]);
        let sweep = two_versions(&price, &confidence, &direction, None);
        let keep = Keep::default();
        let close = ArrayView1::from(&[1.0, 2.0]);
        assert!(score_sweep(&sweep, ArrayView1::from(&[1.0]), &settings(), keep).is_err());
        let far = Settings {
            horizon: 2,
            ..settings()
        };
        assert!(score_sweep(&sweep, close, &far, keep).is_err());
        let short_live = ndarray::arr1(&[0i64]);
        let sweep = two_versions(&price, &confidence, &direction, Some(&short_live));
        let error = score_sweep(&sweep, close, &settings(), keep).unwrap_err();
        assert!(error.to_string().contains("one row per bar (2)"));
        let narrow = ndarray::arr2(&[[1.0], [1.0]]);
        let sweep = two_versions(&price, &narrow, &direction, None);
        assert!(score_sweep(&sweep, close, &settings(), keep).is_err());
    }

    #[test]
    fn a_sweep_names_the_shapes_it_needs() {
        let price = ndarray::arr2(&[[1.0, 2.0], [1.0, 2.0]]);
        let confidence = ndarray::arr2(&[[1.0, 1.0], [1.0, 1.0]]);
        let direction = ndarray::arr2(&[[1i8, 1], [1, 1]]);
        let (narrow, narrow_direction) =
            (ndarray::arr2(&[[1.0], [1.0]]), ndarray::arr2(&[[1i8], [1]]));
        let close = ArrayView1::from(&[1.0, 2.0]);
        let whole = two_versions(&price, &confidence, &direction, None);
        let bad = [
            Sweep {
                confidence: narrow.view(),
                ..whole
            },
            Sweep {
                direction: narrow_direction.view(),
                ..whole
            },
            Sweep {
                price_units: &[true],
                ..whole
            },
            Sweep {
                classifier: &[true, false, true],
                ..whole
            },
        ];
        for sweep in bad {
            let error = score_sweep(&sweep, close, &settings(), Keep::default()).unwrap_err();
            assert!(error
                .to_string()
                .contains("must all be [versions, bars] (2, 2)"));
        }
        assert!(score_sweep(&whole, close, &settings(), Keep::default()).is_ok());
    }

    #[test]
    fn periods_per_year_follow_the_timeframe() {
        assert_eq!(timeframe_periods_per_year("1h").unwrap(), 8760.0);
        assert_eq!(timeframe_periods_per_year("4h").unwrap(), 2190.0);
        assert_eq!(timeframe_periods_per_year("1d").unwrap(), 365.0);
        assert_eq!(timeframe_periods_per_year("15m").unwrap(), 35040.0);
        assert_eq!(timeframe_periods_per_year("1w").unwrap(), 365.0 / 7.0);
        for bad in ["", "h", "0h", "1y", "unknown", "-1h"] {
            assert!(timeframe_periods_per_year(bad).is_err(), "{bad}");
        }
    }
}
