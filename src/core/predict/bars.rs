//! Raw market bars in, prices out: upstream's live recipe for `price_only` bundles, once.
//!
//! Upstream's live engine (ai-trading-bot, `src/prediction/features/price_only.py`,
//! `PriceOnlyFeatureExtractor`) computes each `X_normalized` feature from OHLCV bars as a rolling
//! min-max over `w` bars (pandas `rolling(w, min_periods=1)`, so a window counts from the first
//! bar given and skips NaN): `(X - min) / (max - min)`, and `0.5` where `max == min` or either is
//! undefined. After `runner.predict`, `PredictionEngine._apply_rolling_denormalization`
//! (`src/prediction/engine.py`) maps a `price_normalization.method == "rolling_minmax"` output
//! back to a price with the min and max of the last `window` values of `target_feature`:
//! `out * (max - min) + min`, or the constant where `max == min`.
//!
//! Live prediction (`Predictor::predict_bars`) and sweeps over raw bars both call the functions
//! here, so a sweep's value at bar `t` is what live trading computes from the bars up to `t`.

use std::collections::VecDeque;

use ndarray::{ArrayView1, ArrayView2};
use serde_json::Value;

pub use super::columns::BAR_COLUMNS;

use super::columns::feature_names;
use crate::core::alloc;
use crate::core::error::Result;

/// The rolling window when the metadata gives none: upstream's `DEFAULT_NORMALIZATION_WINDOW`.
pub const DEFAULT_WINDOW: usize = 120;

/// What a feature name must end with to be computed from a bar column.
const NORMALIZED_SUFFIX: &str = "_normalized";

/// What a bundle's `feature_strategy` must start with for its features to come from raw bars.
const PRICE_ONLY_STRATEGY: &str = "price_only";

/// How a bundle's features come from raw bars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarFeatures {
    /// Per model feature column, the index into [`BAR_COLUMNS`] of the bar column it normalises.
    pub columns: Vec<usize>,
    /// The rolling window, in bars.
    pub window: usize,
}

/// How a `rolling_minmax` output maps back to a price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollingPrice {
    /// The bar column whose min and max undo the scaling (`target_feature`, `"close"` by
    /// default): an index into [`BAR_COLUMNS`].
    pub column: usize,
    /// How many of the last bars the min and max are taken over.
    pub window: usize,
}

impl RollingPrice {
    /// The target column's name.
    pub fn target(&self) -> &'static str {
        BAR_COLUMNS[self.column]
    }
}

/// `price_normalization.window` when the metadata gives one; `Err` says why it is unusable.
fn window(metadata: &Value) -> std::result::Result<usize, String> {
    match metadata
        .get("price_normalization")
        .and_then(|params| params.get("window"))
    {
        None | Some(Value::Null) => Ok(DEFAULT_WINDOW),
        Some(value) => value
            .as_u64()
            .and_then(|w| usize::try_from(w).ok())
            .filter(|&w| w > 0)
            .ok_or_else(|| {
                format!("price_normalization.window must be a positive integer, got {value}")
            }),
    }
}

/// How `metadata` says features come from raw bars, or why they cannot (naming what the bundle
/// would need).
pub fn bar_features(metadata: &Value) -> std::result::Result<BarFeatures, String> {
    let names = feature_names(metadata).unwrap_or_default();
    let needs = || {
        if names.is_empty() {
            "metadata.json names no feature_names".to_owned()
        } else {
            format!(
                "its feature_names are {}",
                names
                    .iter()
                    .map(|name| format!("{name:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    let strategy = metadata.get("feature_strategy").and_then(Value::as_str);
    if !strategy.is_some_and(|s| s.starts_with(PRICE_ONLY_STRATEGY)) {
        return Err(format!(
            "the bundle cannot take raw bars: its feature_strategy is {} (raw bars need a \
             {PRICE_ONLY_STRATEGY}* strategy), and {}; pass those feature columns instead",
            strategy.map_or_else(|| "not given".to_owned(), |s| format!("{s:?}")),
            needs()
        ));
    }
    let columns: Option<Vec<usize>> = names
        .iter()
        .map(|name| {
            let column = name.strip_suffix(NORMALIZED_SUFFIX)?;
            BAR_COLUMNS.iter().position(|&bar| bar == column)
        })
        .collect();
    match columns {
        Some(columns) if !columns.is_empty() => Ok(BarFeatures {
            columns,
            window: window(metadata).map_err(|reason| {
                format!("the bundle cannot take raw bars: metadata.json's {reason}")
            })?,
        }),
        _ => Err(format!(
            "the bundle cannot take raw bars: {} (raw bars give only {}); pass those feature \
             columns instead",
            needs(),
            BAR_COLUMNS
                .iter()
                .map(|bar| format!("{bar}{NORMALIZED_SUFFIX}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The `rolling_minmax` price mapping `metadata` asks for, if any; `Err` says why it cannot be
/// applied (an unusable window, or a target that is not a bar column).
pub fn rolling_price(metadata: &Value) -> std::result::Result<Option<RollingPrice>, String> {
    let Some(params) = metadata.get("price_normalization") else {
        return Ok(None);
    };
    if params.get("method").and_then(Value::as_str) != Some("rolling_minmax") {
        return Ok(None);
    }
    let target = params
        .get("target_feature")
        .and_then(Value::as_str)
        .unwrap_or("close");
    let column = BAR_COLUMNS
        .iter()
        .position(|&name| name == target)
        .ok_or_else(|| {
            format!(
                "price_normalization.target_feature {target:?} is not a bar column ({})",
                BAR_COLUMNS.join(", ")
            )
        })?;
    let window = window(metadata).map_err(|reason| format!("metadata.json's {reason}"))?;
    Ok(Some(RollingPrice { column, window }))
}

/// Running minimum and maximum over the last `window` values pushed, skipping NaN (pandas'
/// `rolling(window, min_periods=1).min()/.max()`). Each value enters and leaves each queue once,
/// so a series of `n` values costs O(n) whatever the window: one push is O(1), amortised.
/// Live streams ([`super::stream::BarStream`]) keep one per column between bars.
#[derive(Debug, Clone)]
pub struct RollingExtrema {
    window: usize,
    next: usize,
    lows: VecDeque<(usize, f64)>,
    highs: VecDeque<(usize, f64)>,
}

impl RollingExtrema {
    /// Empty, over the last `window` values (at least one).
    pub fn new(window: usize) -> Self {
        Self {
            window,
            next: 0,
            lows: VecDeque::new(),
            highs: VecDeque::new(),
        }
    }

    /// Adds the next value; returns `(min, max)` over the window ending at it, or `None` when
    /// the window holds no number.
    pub fn push(&mut self, value: f64) -> Option<(f64, f64)> {
        let index = self.next;
        self.next += 1;
        if !value.is_nan() {
            while self.lows.back().is_some_and(|&(_, low)| low >= value) {
                self.lows.pop_back();
            }
            self.lows.push_back((index, value));
            while self.highs.back().is_some_and(|&(_, high)| high <= value) {
                self.highs.pop_back();
            }
            self.highs.push_back((index, value));
        }
        // The window is `index + 1 - window ..= index`; older entries leave.
        let oldest = (index + 1).saturating_sub(self.window);
        while self.lows.front().is_some_and(|&(at, _)| at < oldest) {
            self.lows.pop_front();
        }
        while self.highs.front().is_some_and(|&(at, _)| at < oldest) {
            self.highs.pop_front();
        }
        Some((self.lows.front()?.1, self.highs.front()?.1))
    }
}

/// Per value of `values`, `(min, max)` over the `window` values ending at it (`None` where they
/// hold no number).
pub fn rolling_extrema(
    values: impl IntoIterator<Item = f64>,
    window: usize,
) -> impl Iterator<Item = Option<(f64, f64)>> {
    let mut extrema = RollingExtrema::new(window);
    values.into_iter().map(move |value| extrema.push(value))
}

/// The five bar columns of one bar, side by side: the block folds below run on all five at
/// once, so five independent chains of comparisons overlap instead of waiting on each other.
pub type Lanes = [f64; BAR_COLUMNS.len()];

/// The smaller of an `older` and a `newer` value where neither is NaN; of two equal values
/// (`-0.0` and `0.0`), the newer: the value [`RollingExtrema`]'s queue leaves at its front, so
/// that folds in bar order give the queue's bits. The form of the x86 `minpd` instruction,
/// which the compiler emits for it: one instruction per pair of lanes.
#[inline]
fn lane_min(older: f64, newer: f64) -> f64 {
    if older < newer {
        older
    } else {
        newer
    }
}

/// The larger of two values as [`lane_min`] (`maxpd`).
#[inline]
fn lane_max(older: f64, newer: f64) -> f64 {
    if older > newer {
        older
    } else {
        newer
    }
}

/// Folds the `(min, max)` lanes of newer values into those of older ones.
#[inline]
fn join(older: (&Lanes, &Lanes), newer: (&Lanes, &Lanes)) -> (Lanes, Lanes) {
    let (mut lows, mut highs) = (*older.0, *older.1);
    for lane in 0..BAR_COLUMNS.len() {
        lows[lane] = lane_min(lows[lane], newer.0[lane]);
        highs[lane] = lane_max(highs[lane], newer.1[lane]);
    }
    (lows, highs)
}

/// The `(min, max)` lanes of no value: what every fold starts from.
const NOTHING: (Lanes, Lanes) = (
    [f64::INFINITY; BAR_COLUMNS.len()],
    [f64::NEG_INFINITY; BAR_COLUMNS.len()],
);

/// `emit(row, lows, highs)` for each row `from..` of `bars` (row-major `[rows, 5]`, in
/// [`BAR_COLUMNS`] order): per column, the min and max over the `window` values ending at that
/// row, exactly as [`rolling_extrema`] gives them, the same bits (read one column with
/// [`extrema_at`]), by blocks rather than queues (van Herk / Gil-Werman).
///
/// The rows from `from` on are cut into blocks of `window`. A window ending in one block is the
/// running fold of that block up to its end, joined with the fold of the `window` rows before
/// the block from the window's first row on. Where the queues branch on the data, each value
/// here costs three folds of min and max on the five columns at once, without a branch: NaN
/// enters the min as +inf and the max as -inf, which change no fold that holds a number and
/// leave a min above the max where the window holds none. A live call asks for the last
/// `sequence_length` rows only, and pays for the `sequence_length + window` rows they read.
pub fn window_extrema(
    bars: &[f64],
    window: usize,
    from: usize,
    mut emit: impl FnMut(usize, &Lanes, &Lanes),
) -> Result<()> {
    let rows = bars.len() / BAR_COLUMNS.len();
    let window = window.max(1);
    if from >= rows {
        return Ok(());
    }
    // The folds from each of the `window` rows before a block to the block's start: a buffer
    // of this thread's kept between calls when it is small (a live call's), so that a call
    // neither allocates nor fills one.
    let size = window.min(rows);
    let mut owned = Vec::new();
    let mut kept =
        SUFFIX.with_borrow_mut(|kept| (size <= KEPT_SUFFIX).then(|| std::mem::take(kept)));
    let suffix = kept.as_mut().unwrap_or(&mut owned);
    if suffix.len() < size {
        let more = size - suffix.len();
        alloc::try_reserve(suffix, more, || {
            format!("the rolling extrema of {size} bars")
        })?;
        // alloc: within the capacity just reserved.
        suffix.resize(size, NOTHING);
    }
    let outcome = fold_blocks(bars, rows, window, from, suffix, &mut emit);
    if let Some(kept) = kept {
        SUFFIX.with_borrow_mut(|slot| *slot = kept);
    }
    outcome
}

/// How many rows of suffix folds a thread keeps between calls: a live call's window and more,
/// not a sweep's.
const KEPT_SUFFIX: usize = 4_096;

thread_local! {
    /// This thread's suffix folds, kept between calls of [`window_extrema`].
    static SUFFIX: std::cell::RefCell<Vec<(Lanes, Lanes)>> = const {
        std::cell::RefCell::new(Vec::new())
    };
}

/// [`window_extrema`]'s blocks, with `suffix` at least `window.min(rows)` long.
fn fold_blocks(
    bars: &[f64],
    rows: usize,
    window: usize,
    from: usize,
    suffix: &mut [(Lanes, Lanes)],
    emit: &mut impl FnMut(usize, &Lanes, &Lanes),
) -> Result<()> {
    let width = BAR_COLUMNS.len();
    let bar = |row: usize| -> (Lanes, Lanes) {
        let (mut lows, mut highs) = NOTHING;
        for (lane, &value) in bars[row * width..(row + 1) * width].iter().enumerate() {
            if !value.is_nan() {
                lows[lane] = value;
                highs[lane] = value;
            }
        }
        (lows, highs)
    };
    let mut start = from;
    while start < rows {
        let end = start.saturating_add(window).min(rows);
        // The rows before the block that its windows reach (fewer before the first bar).
        let before = start.saturating_sub(window);
        let mut folded = NOTHING;
        for row in (before..start).rev() {
            // The row is older than everything folded so far.
            let (lows, highs) = bar(row);
            folded = join((&lows, &highs), (&folded.0, &folded.1));
            suffix[row - before] = folded;
        }
        let mut running = NOTHING;
        for row in start..end {
            let (lows, highs) = bar(row);
            running = join((&running.0, &running.1), (&lows, &highs));
            // The window is `row + 1 - window ..= row` (from the first bar when that is
            // earlier): the block so far, and before the block from the window's first row.
            let first = (row + 1).saturating_sub(window);
            if first < start {
                let (lows, highs) = &suffix[first - before];
                let (lows, highs) = join((lows, highs), (&running.0, &running.1));
                emit(row, &lows, &highs);
            } else {
                emit(row, &running.0, &running.1);
            }
        }
        start = end;
    }
    Ok(())
}

/// One column's `(min, max)` from [`window_extrema`]'s lanes, as [`rolling_extrema`] gives it:
/// `None` where the window holds no number.
#[inline]
pub fn extrema_at(lows: &Lanes, highs: &Lanes, column: usize) -> Option<(f64, f64)> {
    let (low, high) = (lows[column], highs[column]);
    (low <= high).then_some((low, high))
}

/// Upstream's feature value: `(x - min) / (max - min)`, or `0.5` where the window is flat or
/// holds no number.
pub fn scaled(value: f64, extrema: Option<(f64, f64)>) -> f64 {
    match extrema {
        Some((low, high)) => scaled_between(value, low, high),
        None => 0.5,
    }
}

/// [`scaled`] between a window's `low` and `high` (`low > high`: the window holds no number,
/// as [`window_extrema`]'s lanes say it). The quotient is computed whatever the window, then
/// chosen, so that the compiler divides two lanes at a time; where it is not chosen it is never
/// seen.
#[inline]
fn scaled_between(value: f64, low: f64, high: f64) -> f64 {
    let quotient = (value - low) / (high - low);
    if low < high {
        quotient
    } else {
        0.5
    }
}

/// The features of the rows `from..` of `bars` (`[rows, 5]` in [`BAR_COLUMNS`] order), row-major
/// `[rows - from, features]`. Every rolling window starts at row 0 of `bars`, as upstream's
/// extractor starts at the first bar it is given.
///
/// A live call passes only the last `sequence_length + window - 1` bars; a sweep passes its
/// series, whose features it holds anyway (the output is as large as the bars read).
pub fn features(recipe: &BarFeatures, bars: ArrayView2<'_, f64>, from: usize) -> Result<Vec<f64>> {
    features_as(recipe, bars, from, |value| value)
}

/// [`features`], each value written as `write` makes it (`as f32` for a float32 model whose
/// features are not normalised, which `predict` would otherwise convert in a second pass).
pub fn features_as<T>(
    recipe: &BarFeatures,
    bars: ArrayView2<'_, f64>,
    from: usize,
    write: impl Fn(f64) -> T,
) -> Result<Vec<T>> {
    let rows = bars.nrows();
    let width = recipe.columns.len();
    let kept = rows.saturating_sub(from);
    let mut out = alloc::try_with_capacity(kept.saturating_mul(width), || {
        format!("the features of {kept} bars ({width} columns each)")
    })?;
    let copy;
    let bars = match bars.as_slice() {
        Some(values) if bars.ncols() == BAR_COLUMNS.len() => values,
        _ => {
            copy = alloc::try_collect(bars.iter().copied(), || {
                format!("a row-major copy of {rows} bars")
            })?;
            &copy[..]
        }
    };
    // Rows come in order, each pushed whole within the capacity reserved.
    window_extrema(bars, recipe.window, from, |row, lows, highs| {
        let value = &bars[row * BAR_COLUMNS.len()..(row + 1) * BAR_COLUMNS.len()];
        let mut lanes = [0.0; BAR_COLUMNS.len()];
        for (lane, slot) in lanes.iter_mut().enumerate() {
            *slot = scaled_between(value[lane], lows[lane], highs[lane]);
        }
        out.extend(recipe.columns.iter().map(|&column| write(lanes[column])));
    })?;
    Ok(out)
}

/// Why a model output cannot become a price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unpriceable {
    /// The model output itself is NaN or infinite.
    Output(f64),
    /// The target's window has no finite min and max.
    Window(Option<(f64, f64)>),
}

impl std::fmt::Display for Unpriceable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Output(value) => write!(
                f,
                "the model output is {value}, which cannot be mapped back to a price"
            ),
            Self::Window(None) => write!(f, "the price window holds no number"),
            Self::Window(Some((low, high))) => write!(
                f,
                "the price window is not finite (min {low}, max {high}); the bars hold NaN or \
                 infinite prices"
            ),
        }
    }
}

/// Upstream's `_apply_rolling_denormalization` of one output, given the min and max of the
/// target's last `window` values.
pub fn to_price(output: f64, extrema: Option<(f64, f64)>) -> std::result::Result<f64, Unpriceable> {
    if !output.is_finite() {
        return Err(Unpriceable::Output(output));
    }
    match extrema {
        Some((low, high)) if low.is_finite() && high.is_finite() => Ok(if high == low {
            low
        } else {
            output * (high - low) + low
        }),
        other => Err(Unpriceable::Window(other)),
    }
}

/// `(min, max)` of the last `window` values of `values` (NaN skipped), as the last value of
/// [`rolling_extrema`] gives it: the folds of [`window_extrema`]'s lanes, on one column.
pub fn last_extrema(values: ArrayView1<'_, f64>, window: usize) -> Option<(f64, f64)> {
    let start = values.len().saturating_sub(window.max(1));
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for &value in values.slice(ndarray::s![start..]) {
        if !value.is_nan() {
            low = lane_min(low, value);
            high = lane_max(high, value);
        }
    }
    (low <= high).then_some((low, high))
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use serde_json::json;

    use super::*;

    /// The obvious O(n·w) definition, for checking the queues.
    fn naive(values: &[f64], window: usize) -> Vec<Option<(f64, f64)>> {
        (0..values.len())
            .map(|end| {
                let start = (end + 1).saturating_sub(window);
                let numbers: Vec<f64> = values[start..=end]
                    .iter()
                    .copied()
                    .filter(|v| !v.is_nan())
                    .collect();
                if numbers.is_empty() {
                    None
                } else {
                    Some((
                        numbers.iter().copied().fold(f64::INFINITY, f64::min),
                        numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    ))
                }
            })
            .collect()
    }

    #[test]
    fn rolling_extrema_equal_the_definition() {
        let values = [
            3.0,
            1.0,
            f64::NAN,
            4.0,
            1.0,
            5.0,
            f64::NAN,
            f64::NAN,
            f64::NAN,
            2.0,
            6.0,
            f64::INFINITY,
            -2.0,
            6.0,
            6.0,
        ];
        for window in 1..=values.len() + 2 {
            let fast: Vec<_> = rolling_extrema(values.iter().copied(), window).collect();
            assert_eq!(fast, naive(&values, window), "window {window}");
        }
    }

    /// Bits of `(min, max)`, so that `-0.0` and `0.0` differ.
    fn bits(extrema: Option<(f64, f64)>) -> Option<(u64, u64)> {
        extrema.map(|(low, high)| (low.to_bits(), high.to_bits()))
    }

    #[test]
    fn blocks_give_the_queues_bits() {
        // Signed zeros, infinities, NaN runs and ties: the same value from both, bit for bit.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let pool = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0,
            0.0,
        ];
        let values: Vec<f64> = (0..400)
            .map(|row| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if (100..130).contains(&row) {
                    f64::NAN
                } else {
                    pool[(state % pool.len() as u64) as usize]
                }
            })
            .collect();
        // Five columns: the values, and the same shifted, so that the lanes differ.
        let rows = values.len();
        let lane = |column: usize, row: usize| values[(row + 37 * column) % rows];
        let bars: Vec<f64> = (0..rows)
            .flat_map(|row| (0..5).map(move |column| lane(column, row)))
            .collect();
        for window in [1, 2, 3, 7, 29, 30, 31, 64, 120, 399, 400, 401, usize::MAX] {
            let queues: Vec<Vec<_>> = (0..5)
                .map(|column| {
                    rolling_extrema((0..rows).map(|row| lane(column, row)), window)
                        .map(bits)
                        .collect()
                })
                .collect();
            for from in [0, 1, 5, 119, 200, 399, 400] {
                let mut blocks = Vec::new();
                window_extrema(&bars, window, from, |row, lows, highs| {
                    for column in 0..5 {
                        blocks.push((row, column, bits(extrema_at(lows, highs, column))));
                    }
                })
                .unwrap();
                let expected: Vec<_> = (from..rows)
                    .flat_map(|row| (0..5).map(move |column| (row, column)))
                    .map(|(row, column)| (row, column, queues[column][row]))
                    .collect();
                assert_eq!(blocks, expected, "window {window}, from {from}");
            }
            for end in [0, 1, 50, 115, 131, 400] {
                let head = ArrayView1::from(&values[..end]);
                assert_eq!(
                    bits(last_extrema(head, window)),
                    end.checked_sub(1).and_then(|last| queues[0][last]),
                    "last of {end}, window {window}"
                );
            }
        }
    }

    #[test]
    fn a_window_of_only_nan_is_undefined() {
        let fast: Vec<_> = rolling_extrema([f64::NAN, 1.0, f64::NAN, f64::NAN], 2).collect();
        assert_eq!(fast, vec![None, Some((1.0, 1.0)), Some((1.0, 1.0)), None]);
    }

    #[test]
    fn features_follow_upstreams_rule() {
        let recipe = BarFeatures {
            columns: vec![3, 4],
            window: 3,
        };
        // close: 1 2 3 3 3 ; volume: 5 NaN 5 7 NaN (values checked against pandas).
        let mut bars = Array2::<f64>::zeros((5, 5));
        let rows = [
            (1.0, 5.0),
            (2.0, f64::NAN),
            (3.0, 5.0),
            (3.0, 7.0),
            (3.0, f64::NAN),
        ];
        for (row, (close, volume)) in rows.into_iter().enumerate() {
            bars[[row, 3]] = close;
            bars[[row, 4]] = volume;
        }
        let out = features(&recipe, bars.view(), 0).unwrap();
        let expected = [
            [0.5, 0.5],      // one bar: flat
            [1.0, 0.5],      // close (2-1)/(2-1); volume's window {5, NaN} is flat
            [1.0, 0.5],      // close (3-1)/2; volume {5, NaN, 5} is flat
            [1.0, 1.0],      // close (3-2)/1; volume (7-5)/2
            [0.5, f64::NAN], // close flat {3,3,3}; a NaN volume in a window that is not flat
        ];
        for (row, values) in expected.iter().enumerate() {
            for (column, &value) in values.iter().enumerate() {
                let got = out[row * 2 + column];
                assert!(
                    got == value || (got.is_nan() && value.is_nan()),
                    "row {row} column {column}: {got} != {value}"
                );
            }
        }
        // Later rows only, from windows that still start at row 0.
        let bits = |values: &[f64]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&features(&recipe, bars.view(), 3).unwrap()),
            bits(&out[6..])
        );
        assert!(features(&recipe, bars.view(), 9).unwrap().is_empty());
    }

    #[test]
    fn prices_follow_upstreams_denormalisation() {
        assert_eq!(to_price(0.25, Some((100.0, 200.0))), Ok(125.0));
        assert_eq!(to_price(7.0, Some((100.0, 100.0))), Ok(100.0));
        assert_eq!(
            to_price(f64::NAN, Some((1.0, 2.0)))
                .unwrap_err()
                .to_string(),
            "the model output is NaN, which cannot be mapped back to a price"
        );
        assert_eq!(to_price(0.5, None), Err(Unpriceable::Window(None)));
        assert!(matches!(
            to_price(0.5, Some((1.0, f64::INFINITY))),
            Err(Unpriceable::Window(Some(_)))
        ));
        let extrema = |values: &[f64], window| last_extrema(ArrayView1::from(values), window);
        assert_eq!(extrema(&[9.0, 1.0, 4.0, 2.0], 2), Some((2.0, 4.0)));
        assert_eq!(extrema(&[9.0, 1.0], 5), Some((1.0, 9.0)));
        assert_eq!(extrema(&[], 5), None);
    }

    #[test]
    fn which_bundles_take_raw_bars() {
        let production = json!({
            "feature_strategy": "price_only_rolling_minmax",
            "feature_names": ["close_normalized", "volume_normalized", "high_normalized",
                              "low_normalized", "open_normalized"],
            "price_normalization": {"method": "rolling_minmax", "window": 60, "target_feature": "close"},
        });
        assert_eq!(
            bar_features(&production),
            Ok(BarFeatures {
                columns: vec![3, 4, 1, 2, 0],
                window: 60
            })
        );
        let price = rolling_price(&production).unwrap().unwrap();
        assert_eq!(
            (price.column, price.window, price.target()),
            (3, 60, "close")
        );
        let default_window = json!({"feature_strategy": "price_only_minmax",
                                    "feature_names": ["open_normalized"]});
        assert_eq!(
            bar_features(&default_window).unwrap().window,
            DEFAULT_WINDOW
        );
        assert_eq!(rolling_price(&default_window), Ok(None));

        let no_strategy = json!({"feature_names": ["close_normalized"]});
        let reason = bar_features(&no_strategy).unwrap_err();
        assert!(reason.contains("feature_strategy is not given"), "{reason}");
        assert!(reason.contains("\"close_normalized\""), "{reason}");
        let other = json!({"feature_strategy": "price_only", "feature_names": ["rsi_scaled", "close_normalized"]});
        let reason = bar_features(&other).unwrap_err();
        assert!(
            reason.contains("its feature_names are \"rsi_scaled\", \"close_normalized\""),
            "{reason}"
        );
        assert!(reason.contains("open_normalized, high_normalized, low_normalized, close_normalized, volume_normalized"), "{reason}");
        let nameless = json!({"feature_strategy": "price_only"});
        assert!(bar_features(&nameless)
            .unwrap_err()
            .contains("names no feature_names"));
        let bad_window = json!({"feature_strategy": "price_only", "feature_names": ["open_normalized"],
                                "price_normalization": {"method": "rolling_minmax", "window": 0}});
        assert!(bar_features(&bad_window)
            .unwrap_err()
            .contains("window must be a positive integer, got 0"));
        assert!(rolling_price(&bad_window).is_err());
        let target =
            json!({"price_normalization": {"method": "rolling_minmax", "target_feature": "vwap"}});
        assert_eq!(
            rolling_price(&target).unwrap_err(),
            "price_normalization.target_feature \"vwap\" is not a bar column (open, high, low, close, volume)"
        );
        let default_target = json!({"price_normalization": {"method": "rolling_minmax"}});
        assert_eq!(
            rolling_price(&default_target),
            Ok(Some(RollingPrice {
                column: 3,
                window: DEFAULT_WINDOW
            }))
        );
        assert_eq!(
            rolling_price(&json!({"price_normalization": {"mean": 1.0, "std": 2.0}})),
            Ok(None)
        );
    }
}
