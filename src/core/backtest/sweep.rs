//! Backtest sweeps: every window of a long series through one bundle, on a pool of sessions.
//!
//! The series is normalised once into the model's dtype (normalisation is per feature and
//! static), windows are cut from that buffer straight into each batch's input tensor, and each
//! batch's decoded results are written into the caller's preallocated output slices. Memory stays
//! O(series + workers × batch); no `[windows, seq, features]` array is ever built.
//!
//! Batches follow one grid per bundle: batch `k` holds the windows ending at bars
//! `first + k·batch .. first + (k+1)·batch` (`first` = the first bar with a full window), cut
//! where a requested range starts or ends. Any split of the work into grid-aligned pieces (a local
//! pool, or remote workers each running some ranges) therefore feeds ONNX Runtime the very same
//! batches and gets bit-identical results.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use ndarray::{ArrayView1, ArrayView2};
use parking_lot::Mutex;

use crate::core::alloc;
use crate::core::error::{Error, Result};
use crate::core::onnx::session::{
    InferenceSession, ModelSource, OutputTarget, RunInput, SessionOptions,
};
use crate::core::onnx::tensor::{ElementType, TensorData, TensorView};
use crate::core::parallel::Failure;
use crate::core::predict::{bars, input_window, InputWindow, PredictionSpec, Predictor};
use crate::core::registry::bundle::LoadedBundle;

/// The most sessions (and threads) one sweep model opens: far beyond any machine's cores, low
/// enough that a typo cannot start a million threads.
pub const MAX_WORKERS: usize = 1024;

/// How often the calling thread wakes to report progress and check for cancellation.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A `[bars, features]` series as the caller holds it: C- or F-ordered, float32 or float64.
#[derive(Debug, Clone, Copy)]
pub enum SeriesView<'a> {
    /// A float32 series.
    Float32(ArrayView2<'a, f32>),
    /// A float64 series.
    Float64(ArrayView2<'a, f64>),
}

impl SeriesView<'_> {
    fn dim(&self) -> (usize, usize) {
        match self {
            Self::Float32(view) => view.dim(),
            Self::Float64(view) => view.dim(),
        }
    }
}

/// Where one run writes: slices indexed by bar, starting at bar `offset`.
pub struct SweepOutputs<'a> {
    /// The bar that index 0 of every slice belongs to.
    pub offset: usize,
    /// One price per bar.
    pub price: &'a mut [f64],
    /// One confidence per bar.
    pub confidence: &'a mut [f64],
    /// One direction per bar.
    pub direction: &'a mut [i8],
    /// Row-major `[bars, classes]` probabilities, for classifiers.
    pub probabilities: Option<&'a mut [f64]>,
}

/// What a run saw besides its results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Windows run (or skipped as non-finite).
    pub windows: usize,
    /// Windows left undefined because they hold a NaN or infinite value after normalisation.
    pub nonfinite_windows: usize,
    /// The first bar whose window was non-finite.
    pub first_nonfinite_bar: Option<usize>,
}

/// What a sweep reads from the caller's series: the bundle's feature columns as they are, or
/// raw OHLCV bars from which it computes them ([`crate::core::predict::bars`]).
#[derive(Debug, Clone, Copy)]
pub enum SeriesInput<'a> {
    /// `[bars, features]` feature columns, in the bundle's order.
    Features(SeriesView<'a>),
    /// `[bars, 5]` raw bars, columns in [`bars::BAR_COLUMNS`] order.
    Bars(ArrayView2<'a, f64>),
}

/// Bars whose prices could not be mapped back (left undefined), for the caller to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unpriced {
    /// How many bars.
    pub count: usize,
    /// The first of them.
    pub first_bar: Option<usize>,
}

/// One bundle opened for sweeping: a session per worker (each with one intra-op thread) and the
/// bundle's prediction spec.
pub struct SweepModel {
    sessions: Vec<InferenceSession>,
    spec: PredictionSpec,
    window: InputWindow,
    input_type: ElementType,
    timeout: Option<Duration>,
    origin: String,
}

impl std::fmt::Debug for SweepModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SweepModel")
            .field("origin", &self.origin)
            .field("workers", &self.sessions.len())
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl SweepModel {
    /// Opens `workers` sessions of the model in `bytes` (in parallel), named `origin` in every
    /// message, and checks that the model takes one `[batch, sequence_length, features]` float
    /// input ([`input_window`]: the model's dimensions, else those `spec` declares).
    pub fn open(
        bytes: &[u8],
        origin: &str,
        spec: PredictionSpec,
        options: &SessionOptions,
        workers: usize,
        timeout: Option<Duration>,
    ) -> Result<Self> {
        if !(1..=MAX_WORKERS).contains(&workers) {
            return Err(Error::InvalidArgument(format!(
                "workers must be between 1 and {MAX_WORKERS} (one session and one thread each), \
                 got {workers}"
            )));
        }
        let source = ModelSource::Named { bytes, origin };
        let sessions = InferenceSession::open_many(source, options, workers)?;
        let invalid = |reason: String| Error::invalid_input(format!("{origin}: {reason}"));
        let inputs = sessions[0].inputs();
        let window = input_window(inputs, &spec).map_err(invalid)?;
        let input_type = inputs[0].element_type;
        if !matches!(input_type, ElementType::Float32 | ElementType::Float64) {
            return Err(invalid(format!(
                "a sweep supports models with a float32 or float64 input; this one takes {}",
                input_type.name()
            )));
        }
        Ok(Self {
            input_type,
            sessions,
            spec,
            window,
            timeout,
            origin: origin.to_owned(),
        })
    }

    /// Opens `workers` sessions of an opened bundle: its very model bytes (those its integrity
    /// check read) and its spec, named by its key.
    pub fn from_bundle(
        bundle: &LoadedBundle,
        options: &SessionOptions,
        workers: usize,
        timeout: Option<Duration>,
    ) -> Result<Self> {
        let origin = if bundle.record.version_id.is_empty() {
            bundle.session.origin().to_owned()
        } else {
            bundle.record.key()
        };
        Self::open(
            &bundle.model,
            &origin,
            bundle.spec.clone(),
            options,
            workers,
            timeout,
        )
    }

    /// The window the model predicts from.
    pub fn window(&self) -> InputWindow {
        self.window
    }

    /// The number of sessions (and threads) a run uses.
    pub fn workers(&self) -> usize {
        self.sessions.len()
    }

    /// The number of classes, for classifiers.
    pub fn class_count(&self) -> Option<usize> {
        self.spec.class_count()
    }

    /// The bundle's prediction spec.
    pub fn spec(&self) -> &PredictionSpec {
        &self.spec
    }

    /// The model's input dtype, which [`Self::normalise`] produces.
    pub fn input_type(&self) -> ElementType {
        self.input_type
    }

    /// What messages call the bundle: its key, or where its model came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The whole series as the model's input, normalised once, row-major, in the model's input
    /// dtype: the feature columns as given, or the features computed from raw bars. Non-finite
    /// values are kept (the windows holding them are left undefined by [`Self::run`]).
    pub fn normalise(&self, series: SeriesInput<'_>) -> Result<TensorData> {
        match series {
            SeriesInput::Features(view) => self.normalise_features(view),
            SeriesInput::Bars(view) => {
                let recipe =
                    self.spec.bar_features.as_ref().map_err(|reason| {
                        Error::invalid_input(format!("{}: {reason}", self.origin))
                    })?;
                if view.ncols() != bars::BAR_COLUMNS.len() {
                    return Err(Error::invalid_input(format!(
                        "raw bars must have the columns {}; got {} columns",
                        bars::BAR_COLUMNS.join(", "),
                        view.ncols()
                    )));
                }
                let features = bars::features(recipe, view, 0)?;
                let shape = (view.nrows(), recipe.columns.len());
                self.normalise_features(SeriesView::Float64(
                    ArrayView2::from_shape(shape, &features)
                        .map_err(|e| Error::invalid_input(e.to_string()))?,
                ))
            }
        }
    }

    fn normalise_features(&self, series: SeriesView<'_>) -> Result<TensorData> {
        let (_, columns) = series.dim();
        if columns != self.window.feature_count {
            return Err(Error::invalid_input(format!(
                "the series has {columns} feature columns; {} takes {}",
                self.origin, self.window.feature_count
            )));
        }
        let spec = &self.spec;
        fn rows<S: Copy, D>(
            view: ArrayView2<'_, S>,
            spec: &PredictionSpec,
            read: impl Fn(S) -> f64,
            write: impl Fn(f64) -> D,
        ) -> Result<Vec<D>> {
            let mut out = alloc::try_with_capacity(view.len(), || {
                format!("a normalised series of {} values", view.len())
            })?;
            for row in view.rows() {
                for (column, &raw) in row.iter().enumerate() {
                    out.push(write(spec.normalise(column, read(raw))));
                }
            }
            Ok(out)
        }
        Ok(match (series, self.input_type) {
            (SeriesView::Float32(v), ElementType::Float32) => {
                TensorData::Float32(rows(v, spec, f64::from, |x| x as f32)?)
            }
            (SeriesView::Float64(v), ElementType::Float32) => {
                TensorData::Float32(rows(v, spec, |x| x, |x| x as f32)?)
            }
            (SeriesView::Float32(v), _) => TensorData::Float64(rows(v, spec, f64::from, |x| x)?),
            (SeriesView::Float64(v), _) => TensorData::Float64(rows(v, spec, |x| x, |x| x)?),
        })
    }

    /// Maps the outputs of the bars `outputs.offset..` back to prices with `target` (the series'
    /// [`bars::RollingPrice`] target column, every bar from 0), as [`Predictor::predict_bars`]
    /// does for one window: a bundle without a `rolling_minmax` price is left alone. A bar whose
    /// output or price window is not finite, where live prediction raises, becomes undefined.
    pub fn to_prices(
        &self,
        target: ArrayView1<'_, f64>,
        outputs: SweepOutputs<'_>,
    ) -> Result<Unpriced> {
        let Some(rolling) = &self.spec.rolling_price else {
            return Ok(Unpriced::default());
        };
        let SweepOutputs {
            offset,
            price,
            confidence,
            direction,
            ..
        } = outputs;
        let len = price.len();
        if confidence.len() != len || direction.len() != len || offset + len > target.len() {
            return Err(Error::InvalidArgument(format!(
                "the output arrays of bars {offset}.. do not match the {} bars of the target column",
                target.len()
            )));
        }
        // The rolling windows of the first bars reach back `window - 1` bars before `offset`.
        let start = offset.saturating_sub(rolling.window - 1);
        let extrema = bars::rolling_extrema(
            target
                .iter()
                .skip(start)
                .take(offset + len - start)
                .copied(),
            rolling.window,
        )
        .skip(offset - start);
        let mut unpriced = Unpriced::default();
        for (index, extrema) in extrema.enumerate() {
            // NaN confidence: no prediction at this bar (no window, or not live then).
            if confidence[index].is_nan() {
                continue;
            }
            match bars::to_price(price[index], extrema) {
                Ok(value) => price[index] = value,
                Err(_) => {
                    price[index] = f64::NAN;
                    confidence[index] = f64::NAN;
                    direction[index] = 0;
                    unpriced.count += 1;
                    unpriced.first_bar.get_or_insert(offset + index);
                }
            }
        }
        Ok(unpriced)
    }

    /// Runs the windows ending at the bars in `ranges` on every session in parallel, writing each
    /// result at `bar - outputs.offset`.
    ///
    /// `poll(done)` is called on the calling thread about every 100 ms and once at the end;
    /// returning `false` cancels the run (workers stop before their next batch) and the run
    /// returns `Ok(None)`.
    pub fn run(
        &self,
        normalised: TensorView<'_>,
        ranges: &[Range<usize>],
        batch_size: usize,
        outputs: SweepOutputs<'_>,
        poll: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Option<SweepStats>> {
        let columns = self.window.feature_count;
        if normalised.element_type() != self.input_type || normalised.len() % columns != 0 {
            return Err(Error::invalid_input(format!(
                "the normalised series must be {} with {columns} columns",
                self.input_type.name()
            )));
        }
        let bars = normalised.len() / columns;
        let batches = batch_grid(self.window.first_full_bar(), ranges, bars, batch_size)?;
        let classes = self.class_count();
        let chunks = split_outputs(outputs, &batches, classes)?;
        let work = Mutex::new(chunks.into_iter());
        // Chunks are handed out in bar order: the earliest failing bar's error is the one kept.
        let failure = Failure::default();
        let done = AtomicUsize::new(0);
        let stats = Mutex::new(SweepStats::default());
        let (alive, finished) = mpsc::channel::<()>();
        let mut keep_going = true;
        std::thread::scope(|scope| {
            for session in &self.sessions {
                let alive = alive.clone();
                let (work, failure, done, stats) = (&work, &failure, &done, &stats);
                scope.spawn(move || {
                    let _alive = alive;
                    let predictor = Predictor {
                        session,
                        spec: &self.spec,
                    };
                    failure.guard(session.origin(), "sweep worker", |rank| {
                        let mut input =
                            Batch::new(normalised, self.window.sequence_length, columns);
                        while !failure.is_cancelled() {
                            let Some(chunk) = work.lock().next() else {
                                return Ok(());
                            };
                            *rank = chunk.bars.start;
                            let windows = chunk.bars.len();
                            let skipped = self.run_chunk(&predictor, &mut input, chunk)?;
                            if let Some(first_bad) = skipped {
                                let mut stats = stats.lock();
                                stats.nonfinite_windows += first_bad.1;
                                stats.first_nonfinite_bar = Some(
                                    stats
                                        .first_nonfinite_bar
                                        .map_or(first_bad.0, |bar| bar.min(first_bad.0)),
                                );
                            }
                            done.fetch_add(windows, Ordering::Relaxed);
                        }
                        Ok(())
                    });
                });
            }
            drop(alive);
            loop {
                match finished.recv_timeout(POLL_INTERVAL) {
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    _ => {
                        if keep_going && !poll(done.load(Ordering::Relaxed)) {
                            keep_going = false;
                            failure.cancel();
                        }
                    }
                }
            }
        });
        if let Some(error) = failure.into_error() {
            return Err(error);
        }
        if !keep_going || !poll(done.load(Ordering::Relaxed)) {
            return Ok(None);
        }
        let mut stats = stats.into_inner();
        stats.windows = done.into_inner();
        Ok(Some(stats))
    }

    /// Runs one batch and decodes it into its output chunk; returns `(first bar, count)` of the
    /// windows left undefined because they hold non-finite values.
    fn run_chunk(
        &self,
        predictor: &Predictor<'_>,
        input: &mut Batch<'_>,
        chunk: OutputChunk<'_>,
    ) -> Result<Option<(usize, usize)>> {
        let OutputChunk {
            bars,
            price,
            confidence,
            direction,
            mut probabilities,
        } = chunk;
        let finite = input.fill(bars.clone())?;
        let windows = bars.len();
        let shape = [
            windows,
            self.window.sequence_length,
            self.window.feature_count,
        ];
        let mut run_input = RunInput {
            name: &predictor.session.inputs()[0].name,
            shape: &shape,
            data: input.view(),
            owner: None,
        };
        let first = predictor
            .run_first(&mut run_input, OutputTarget::Copy, self.timeout)?
            .ok_or_else(|| predictor.output_error("the model returned no outputs".to_owned()))?;
        let (first_shape, values) = predictor.as_f64(first)?;
        if first_shape.first() != Some(&windows) || values.is_empty() || values.len() % windows != 0
        {
            return Err(predictor.output_error(format!(
                "output shape {:?} does not have one row per window ({windows} windows)",
                first_shape
            )));
        }
        let per_window = values.len() / windows;
        let classes = self.class_count().unwrap_or(0);
        let mut skipped: Option<(usize, usize)> = None;
        for (index, row) in values.chunks(per_window).enumerate() {
            let probabilities = probabilities
                .as_deref_mut()
                .map(|p| &mut p[index * classes..(index + 1) * classes]);
            if !finite[index] {
                price[index] = f64::NAN;
                confidence[index] = f64::NAN;
                direction[index] = 0;
                if let Some(p) = probabilities {
                    p.fill(f64::NAN);
                }
                let bar = bars.start + index;
                skipped = Some(skipped.map_or((bar, 1), |(first, n)| (first, n + 1)));
                continue;
            }
            let prediction = predictor.decode(row)?;
            price[index] = prediction.price;
            confidence[index] = prediction.confidence;
            direction[index] = prediction.direction;
            if let (Some(p), Some(values)) = (probabilities, prediction.probabilities) {
                p.copy_from_slice(&values);
            }
        }
        Ok(skipped)
    }
}

/// The windows ending at the bars in `ranges`, cut on the batch grid that starts at `first` (the
/// first bar with a full window).
///
/// Ranges must be sorted, non-overlapping, and lie within `first..bars`.
pub fn batch_grid(
    first: usize,
    ranges: &[Range<usize>],
    bars: usize,
    batch_size: usize,
) -> Result<Vec<Range<usize>>> {
    if batch_size == 0 {
        return Err(Error::InvalidArgument(
            "batch_size must be at least 1".to_owned(),
        ));
    }
    let mut batches = Vec::new();
    let mut previous_end = first;
    for range in ranges {
        if range.start < previous_end || range.end > bars || range.start > range.end {
            return Err(Error::InvalidArgument(format!(
                "bar range {range:?} is out of order, overlaps another, or lies outside the bars {first}..{bars} that have a full window"
            )));
        }
        previous_end = range.end;
        let mut start = range.start;
        while start < range.end {
            let cell_end = first + ((start - first) / batch_size + 1) * batch_size;
            let end = cell_end.min(range.end);
            batches.push(start..end);
            start = end;
        }
    }
    Ok(batches)
}

/// `ranges` split into pieces of about `piece_windows` windows for remote workers, cut only on
/// the batch grid that starts at `first` (each cut a multiple of `batch_size` windows from it),
/// so that a piece runs exactly the batches a local run would. Each piece is the sub-ranges that
/// fall in one cell of `piece_windows` rounded down to whole batches (at least one).
pub fn pieces(
    first: usize,
    ranges: &[Range<usize>],
    bars: usize,
    batch_size: usize,
    piece_windows: usize,
) -> Result<Vec<Vec<Range<usize>>>> {
    if batch_size == 0 {
        return Err(Error::InvalidArgument(
            "batch_size must be at least 1".to_owned(),
        ));
    }
    let step = (piece_windows / batch_size)
        .max(1)
        .saturating_mul(batch_size);
    let mut pieces: Vec<Vec<Range<usize>>> = Vec::new();
    let mut last_cell = None;
    for cut in batch_grid(first, ranges, bars, step)? {
        let cell = (cut.start - first) / step;
        match pieces.last_mut() {
            Some(piece) if last_cell == Some(cell) => piece.push(cut),
            _ => pieces.push(vec![cut]),
        }
        last_cell = Some(cell);
    }
    Ok(pieces)
}

/// One batch's share of the outputs.
struct OutputChunk<'a> {
    bars: Range<usize>,
    price: &'a mut [f64],
    confidence: &'a mut [f64],
    direction: &'a mut [i8],
    probabilities: Option<&'a mut [f64]>,
}

/// Splits the output slices into one disjoint chunk per batch.
fn split_outputs<'a>(
    outputs: SweepOutputs<'a>,
    batches: &[Range<usize>],
    classes: Option<usize>,
) -> Result<Vec<OutputChunk<'a>>> {
    let SweepOutputs {
        offset,
        mut price,
        mut confidence,
        mut direction,
        mut probabilities,
    } = outputs;
    let needed = batches
        .last()
        .map_or(0, |last| last.end.saturating_sub(offset));
    let classes_len = classes.unwrap_or(0);
    let short = price.len() < needed
        || confidence.len() < needed
        || direction.len() < needed
        || batches.first().is_some_and(|first| first.start < offset)
        || match (&probabilities, classes) {
            (Some(p), Some(classes)) => p.len() < needed * classes,
            (None, None) => false,
            _ => true,
        };
    if short {
        return Err(Error::InvalidArgument(format!(
            "the output arrays do not cover bars {offset}..{} (with {classes_len} probabilities per bar for a classifier)",
            offset + needed
        )));
    }
    let mut position = offset;
    let mut chunks = alloc::try_with_capacity(batches.len(), || {
        format!("the output chunks of {} batches", batches.len())
    })?;
    for bars in batches {
        let skip = bars.start - position;
        let len = bars.len();
        let take = |slice: &mut &'a mut [f64], per: usize| -> &'a mut [f64] {
            let rest = std::mem::take(slice);
            let (chunk, rest) = rest[skip * per..].split_at_mut(len * per);
            *slice = rest;
            chunk
        };
        let price_chunk = take(&mut price, 1);
        let confidence_chunk = take(&mut confidence, 1);
        let probabilities_chunk = probabilities.as_mut().map(|p| take(p, classes_len));
        let rest = std::mem::take(&mut direction);
        let (direction_chunk, rest) = rest[skip..].split_at_mut(len);
        direction = rest;
        chunks.push(OutputChunk {
            bars: bars.clone(),
            price: price_chunk,
            confidence: confidence_chunk,
            direction: direction_chunk,
            probabilities: probabilities_chunk,
        });
        position = bars.end;
    }
    Ok(chunks)
}

/// Where a batch's windows lie in the row-major series: `count` windows of `len` values, the
/// first starting at value `start`, each one row (`stride` values) after the previous.
#[derive(Debug, Clone, Copy)]
struct Windows {
    start: usize,
    count: usize,
    stride: usize,
    len: usize,
}

impl Windows {
    /// Copies the windows into `buffer`; one flag per window: all its values finite. The buffer
    /// and the flags are sized by the caller's batch size, so they are reserved fallibly.
    fn copy<T: Copy>(
        self,
        source: &[T],
        buffer: &mut Vec<T>,
        finite: fn(T) -> bool,
    ) -> Result<Vec<bool>> {
        buffer.clear();
        let values = self.count.checked_mul(self.len);
        let what = || format!("a batch of {} windows of {} values", self.count, self.len);
        alloc::try_reserve(buffer, values.unwrap_or(usize::MAX), what)?;
        let mut flags = alloc::try_with_capacity(self.count, what)?;
        for index in 0..self.count {
            let start = self.start + index * self.stride;
            let values = &source[start..start + self.len];
            // alloc: within the room reserved above for the whole batch.
            buffer.extend_from_slice(values);
            flags.push(values.iter().all(|&v| finite(v)));
        }
        Ok(flags)
    }
}

/// A worker's reusable batch input buffer.
struct Batch<'s> {
    series: TensorView<'s>,
    sequence_length: usize,
    columns: usize,
    buffer: TensorData,
    len: usize,
}

impl<'s> Batch<'s> {
    fn new(series: TensorView<'s>, sequence_length: usize, columns: usize) -> Self {
        let buffer = match series.element_type() {
            ElementType::Float64 => TensorData::Float64(Vec::new()),
            _ => TensorData::Float32(Vec::new()),
        };
        Self {
            series,
            sequence_length,
            columns,
            buffer,
            len: 0,
        }
    }

    /// Copies the windows ending at `bars` into the buffer; one flag per window: all finite.
    fn fill(&mut self, bars: Range<usize>) -> Result<Vec<bool>> {
        let cut = Windows {
            start: (bars.start + 1 - self.sequence_length) * self.columns,
            count: bars.len(),
            stride: self.columns,
            len: self.sequence_length * self.columns,
        };
        self.len = cut.count * cut.len;
        match (&self.series, &mut self.buffer) {
            (TensorView::Float64(source), TensorData::Float64(buffer)) => {
                cut.copy(source, buffer, f64::is_finite)
            }
            (TensorView::Float32(source), TensorData::Float32(buffer)) => {
                cut.copy(source, buffer, f32::is_finite)
            }
            // `run` checked the dtype against the model's input before any batch.
            _ => alloc::try_filled(cut.count, false, || format!("{} flags", cut.count)),
        }
    }

    fn view(&self) -> TensorView<'_> {
        match &self.buffer {
            TensorData::Float64(buffer) => TensorView::Float64(&buffer[..self.len]),
            TensorData::Float32(buffer) => TensorView::Float32(&buffer[..self.len]),
            other => other.view(),
        }
    }
}

#[cfg(test)]
// Ranges of bars are the subject here: a one-range list is meant, not a list of numbers.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_cut_on_the_batch_grid() {
        // Grid from bar 4 in batches of 5; pieces of about 12 windows become cells of 10.
        let cut = pieces(4, &[4..30], 30, 5, 12).unwrap();
        assert_eq!(cut, vec![vec![4..14], vec![14..24], vec![24..30]]);
        // Gaps: sub-ranges of one cell stay together.
        let cut = pieces(4, &[5..8, 10..16, 20..21], 30, 5, 10).unwrap();
        assert_eq!(cut, vec![vec![5..8, 10..14], vec![14..16, 20..21]]);
        // Fewer windows than a batch per piece still cut whole batches.
        assert_eq!(
            pieces(0, &[0..7], 7, 3, 1).unwrap(),
            vec![vec![0..3], vec![3..6], vec![6..7]]
        );
        assert!(pieces(0, &[0..7], 7, 0, 1).is_err());
        assert!(pieces(4, &[2..7], 7, 2, 4).is_err());
        // Every piece's batches are batches of the whole run's grid.
        let whole = batch_grid(4, &[4..30], 30, 5).unwrap();
        for piece in pieces(4, &[4..30], 30, 5, 12).unwrap() {
            let batches = batch_grid(4, &piece, 30, 5).unwrap();
            assert!(batches.iter().all(|b| whole.contains(b)), "{batches:?}");
        }
    }

    #[test]
    fn batches_follow_one_grid_whatever_the_ranges() {
        let whole = batch_grid(4, &[4..20], 20, 5).unwrap();
        assert_eq!(whole, vec![4..9, 9..14, 14..19, 19..20]);
        let pieces = batch_grid(4, &[4..9, 9..12, 12..20], 20, 5).unwrap();
        assert_eq!(pieces, vec![4..9, 9..12, 12..14, 14..19, 19..20]);
        assert!(batch_grid(4, &[3..9], 20, 5).is_err());
        assert!(batch_grid(4, &[6..9, 5..7], 20, 5).is_err());
        assert!(batch_grid(4, &[4..9], 20, 0).is_err());
    }

    /// Output buffers of `bars` bars, for the splitting tests.
    struct Buffers {
        price: Vec<f64>,
        confidence: Vec<f64>,
        direction: Vec<i8>,
    }

    impl Buffers {
        fn new(bars: usize) -> Self {
            Self {
                price: vec![0.0; bars],
                confidence: vec![0.0; bars],
                direction: vec![0; bars],
            }
        }

        fn outputs(&mut self, offset: usize) -> SweepOutputs<'_> {
            SweepOutputs {
                offset,
                price: &mut self.price,
                confidence: &mut self.confidence,
                direction: &mut self.direction,
                probabilities: None,
            }
        }
    }

    #[test]
    fn outputs_split_on_batches_with_gaps() {
        let mut buffers = Buffers::new(10);
        let chunks = split_outputs(buffers.outputs(2), &[2..4, 4..5, 8..12], None).unwrap();
        let lens: Vec<usize> = chunks.iter().map(|c| c.price.len()).collect();
        assert_eq!(lens, vec![2, 1, 4]);
        for chunk in chunks {
            chunk.price.fill(chunk.bars.start as f64);
        }
        assert_eq!(
            buffers.price,
            vec![2.0, 2.0, 4.0, 0.0, 0.0, 0.0, 8.0, 8.0, 8.0, 8.0]
        );
    }

    #[test]
    fn short_outputs_are_refused() {
        let mut buffers = Buffers::new(3);
        assert!(split_outputs(buffers.outputs(0), &[0..4], None).is_err());
        assert!(split_outputs(buffers.outputs(1), &[0..2], None).is_err());
        assert!(split_outputs(buffers.outputs(0), &[0..3], Some(2)).is_err());
    }

    #[test]
    fn windows_are_cut_straight_from_the_series() {
        let series: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut with_nan = series.clone();
        with_nan[7] = f32::NAN;
        let mut batch = Batch::new(TensorView::Float32(&with_nan), 2, 2);
        // Windows of 2 rows × 2 columns ending at rows 1..4.
        let flags = batch.fill(1..4).unwrap();
        assert_eq!(flags, vec![true, true, false]);
        let mut batch = Batch::new(TensorView::Float32(&series), 2, 2);
        batch.fill(2..4).unwrap();
        let TensorView::Float32(values) = batch.view() else {
            panic!("float32 expected")
        };
        assert_eq!(values, &[2.0, 3.0, 4.0, 5.0, 4.0, 5.0, 6.0, 7.0]);
    }
}
