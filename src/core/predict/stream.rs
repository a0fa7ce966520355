//! Raw bars one at a time: the state a live loop keeps so that each new bar costs one model run,
//! not the recomputation of every rolling window behind it.
//!
//! A [`BarStream`] holds, per model feature, the running min and max of its bar column
//! ([`bars::RollingExtrema`], the rule `predict_bars` and sweeps use), the running min and max of
//! a `rolling_minmax` bundle's price target, and the features of the last bars in a buffer whose
//! last `sequence_length` rows are always one contiguous window. A push updates each of them in
//! O(1) (amortised), so the window after bar `t` is the one [`Predictor::predict_bars`] computes
//! from the bars up to `t`: every rolling window starts at the first bar either was given.
//!
//! [`Predictor::predict_bars`]: super::Predictor::predict_bars

use super::bars::{self, BarFeatures, RollingExtrema, RollingPrice, BAR_COLUMNS};
use crate::core::alloc;
use crate::core::error::Result;

/// One raw bar: open, high, low, close, volume ([`BAR_COLUMNS`] order).
pub type Bar = [f64; BAR_COLUMNS.len()];

/// The rolling state of a bundle's features (and price window) over the bars pushed so far.
#[derive(Debug, Clone)]
pub struct BarStream {
    /// Per model feature: the bar column it scales, and that column's running min and max.
    features: Vec<(usize, RollingExtrema)>,
    /// A `rolling_minmax` bundle's price target column and its running min and max.
    price: Option<(usize, RollingExtrema)>,
    /// The price window's min and max after the last push (`None`: it holds no number).
    price_extrema: Option<(f64, f64)>,
    /// Rows per model window.
    sequence_length: usize,
    /// The features of the last bars, row-major: its last `sequence_length` rows are the window.
    rows: Vec<f64>,
    /// How many rows `rows` holds before the oldest are dropped (at least `sequence_length`).
    kept_rows: usize,
    /// Bars pushed so far.
    bars: usize,
}

impl BarStream {
    /// An empty stream computing `recipe`'s features for windows of `sequence_length` bars, and
    /// `price`'s window when the bundle maps its output back to a price. Nothing is allocated
    /// up front beyond the queues' first slots: what it holds grows with the bars pushed, up to
    /// twice a window of features.
    pub fn new(recipe: &BarFeatures, price: Option<&RollingPrice>, sequence_length: usize) -> Self {
        Self {
            features: recipe
                .columns
                .iter()
                .map(|&column| (column, RollingExtrema::new(recipe.window)))
                .collect(),
            price: price.map(|price| (price.column, RollingExtrema::new(price.window))),
            price_extrema: None,
            // A model window has at least one bar (`input_window`); at least one, whatever the
            // caller says, keeps the buffer arithmetic below total.
            sequence_length: sequence_length.max(1),
            rows: Vec::new(),
            kept_rows: sequence_length.max(1).saturating_mul(2),
            bars: 0,
        }
    }

    /// Takes the next bar: each running min and max moves on by one bar, and the bar's features
    /// join the window (the oldest leaves once the buffer is full).
    pub fn push(&mut self, bar: &Bar) -> Result<()> {
        let width = self.features.len();
        if self.rows.len() / width.max(1) >= self.kept_rows {
            // Keep the last `sequence_length - 1` rows at the front: one copy every
            // `kept_rows - sequence_length + 1` bars, so O(width) per bar, amortised.
            let keep = (self.sequence_length - 1) * width;
            let start = self.rows.len() - keep;
            self.rows.copy_within(start.., 0);
            self.rows.truncate(keep);
        }
        if self.rows.capacity() - self.rows.len() < width {
            // Doubling, as `push` would, but fallibly: the buffer grows with the bars pushed.
            let additional = self.rows.len().max(width);
            alloc::try_reserve(&mut self.rows, additional, || {
                format!("the features of {} bars", self.bars + 1)
            })?;
        }
        for (column, extrema) in &mut self.features {
            let value = bar[*column];
            let window = extrema.push(value);
            self.rows.push(bars::scaled(value, window));
        }
        if let Some((column, extrema)) = &mut self.price {
            self.price_extrema = extrema.push(bar[*column]);
        }
        self.bars += 1;
        Ok(())
    }

    /// Bars pushed so far.
    pub fn bars(&self) -> usize {
        self.bars
    }

    /// The features of the last `sequence_length` bars, row-major `[sequence_length, features]`,
    /// or `None` while fewer bars were pushed.
    pub fn window(&self) -> Option<&[f64]> {
        if self.bars < self.sequence_length {
            return None;
        }
        let len = self.sequence_length * self.features.len();
        Some(&self.rows[self.rows.len() - len..])
    }

    /// `[sequence_length, features]`: the shape of [`Self::window`].
    pub fn window_shape(&self) -> [usize; 2] {
        [self.sequence_length, self.features.len()]
    }

    /// The min and max of the price target's last `window` bars (`None`: they hold no number).
    pub fn price_extrema(&self) -> Option<(f64, f64)> {
        self.price_extrema
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;

    fn recipe(columns: Vec<usize>, window: usize) -> BarFeatures {
        BarFeatures { columns, window }
    }

    /// Seeded bars with flat stretches and NaN volumes.
    fn series(rows: usize) -> Array2<f64> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut bars = Array2::zeros((rows, 5));
        let mut close = 100.0;
        for row in 0..rows {
            if !(40..90).contains(&(row % 300)) {
                close += next() - 0.5;
            }
            let volume = if row % 97 == 5 {
                f64::NAN
            } else {
                next() * 10.0
            };
            for (column, value) in [close, close + 1.0, close - 1.0, close, volume]
                .into_iter()
                .enumerate()
            {
                bars[[row, column]] = value;
            }
        }
        bars
    }

    fn bits(values: &[f64]) -> Vec<u64> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn each_window_is_the_one_computed_from_all_bars_so_far() {
        let bars = series(700);
        for (sequence_length, window) in [(4, 3), (1, 1), (30, 50), (50, 7)] {
            let recipe = recipe(vec![3, 4, 1, 2, 0], window);
            let price = RollingPrice { column: 2, window };
            let mut stream = BarStream::new(&recipe, Some(&price), sequence_length);
            for end in 1..=bars.nrows() {
                stream
                    .push(&bars.row(end - 1).to_vec().try_into().unwrap())
                    .unwrap();
                let so_far = bars.slice(ndarray::s![..end, ..]);
                let expected = (end >= sequence_length)
                    .then(|| bars::features(&recipe, so_far, end - sequence_length).unwrap());
                assert_eq!(
                    stream.window().map(bits),
                    expected.as_deref().map(bits),
                    "bar {end}, sequence {sequence_length}, window {window}"
                );
                assert_eq!(
                    stream.price_extrema(),
                    bars::last_extrema(so_far.column(2), window),
                    "bar {end}"
                );
            }
            assert_eq!(stream.bars(), bars.nrows());
            assert!(stream.rows.len() <= 2 * sequence_length.max(1) * 5);
        }
    }

    #[test]
    fn without_a_price_window_there_are_no_extrema() {
        let mut stream = BarStream::new(&recipe(vec![4], 2), None, 1);
        assert!(stream.window().is_none());
        stream.push(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(stream.window(), Some(&[0.5][..]));
        assert_eq!(stream.window_shape(), [1, 1]);
        assert_eq!(stream.price_extrema(), None);
    }
}
