//! A large `predict_batch` run the way a sweep runs: cut into chunks of windows, the chunks run
//! in parallel on single-threaded sessions of the same model (one per core), each chunk's
//! results written in place into the one set of output arrays.
//!
//! One session's own threads parallelise inside each operator, which pays little on a small
//! recurrent model and costs a wake-up per operator; several single-threaded sessions each run
//! whole chunks with no coordination between operators.

use std::time::Duration;

use parking_lot::Mutex;

use super::decode::BatchPrediction;
use super::prepare::{window_shape, Features};
use super::spec::PredictionSpec;
use super::Predictor;
use crate::core::alloc;
use crate::core::error::{Error, Result};
use crate::core::onnx::session::InferenceSession;
use crate::core::parallel::Failure;

/// Predictions for every window of `features` (`[windows, seq, features]`), in chunks of
/// `chunk` windows run in parallel on `sessions` (all of one model), with `spec`'s rules; the
/// same values as one session's `predict_batch`, up to ONNX Runtime's batch-size-dependent
/// rounding.
pub fn predict_batch_parallel(
    sessions: &[&InferenceSession],
    spec: &PredictionSpec,
    features: &Features<'_>,
    chunk: usize,
    timeout: Option<Duration>,
) -> Result<BatchPrediction> {
    let [windows, seq, columns] = window_shape(features.shape, true)?;
    let mut batch = BatchPrediction::empty(windows, spec.class_count())?;
    let Some(&first) = sessions.first() else {
        return Err(Error::InvalidArgument(
            "a parallel batch needs at least one session".to_owned(),
        ));
    };
    if sessions.len() == 1 || windows <= chunk {
        let predictor = Predictor {
            session: first,
            spec,
        };
        predictor.predict_batch_into(features, 0, timeout, batch.outputs())?;
        return Ok(batch);
    }
    let chunk = chunk.max(1);
    let per_window = seq.saturating_mul(columns);
    if Some(features.data.len()) != windows.checked_mul(per_window) {
        return Err(Error::invalid_input(format!(
            "features hold {} values, but their shape needs {windows} x {seq} x {columns}",
            features.data.len()
        )));
    }
    let classes = spec.class_count().unwrap_or(0);
    // Each chunk's windows, where they start, and the slots they write.
    let mut outputs = batch.outputs();
    let count = windows.div_ceil(chunk);
    let mut work = alloc::try_with_capacity(count, || format!("{count} chunks of a batch"))?;
    for first_window in (0..windows).step_by(chunk) {
        let len = chunk.min(windows - first_window);
        work.push((first_window, len, outputs.split_off_front(len, classes)));
    }
    let work = Mutex::new(work.into_iter());
    // Chunks are handed out in order, so every chunk before a failing one runs too, and the
    // earliest failure is the one a serial run reports.
    let failure = Failure::default();
    std::thread::scope(|scope| {
        for &session in sessions {
            let (work, failure) = (&work, &failure);
            scope.spawn(move || {
                let predictor = Predictor { session, spec };
                failure.guard(session.origin(), "batch worker", |rank| {
                    while !failure.is_cancelled() {
                        let Some((first_window, len, out)) = work.lock().next() else {
                            return Ok(());
                        };
                        *rank = first_window;
                        let range = first_window * per_window..(first_window + len) * per_window;
                        let data = features.data.get(range).ok_or_else(|| {
                            Error::invalid_input("the batch's windows lie outside its data")
                        })?;
                        let shape = [len, seq, columns];
                        let part = Features {
                            shape: &shape,
                            data,
                        };
                        predictor.predict_batch_into(&part, first_window, timeout, out)?;
                    }
                    Ok(())
                });
            });
        }
    });
    match failure.into_error() {
        Some(error) => Err(error),
        None => Ok(batch),
    }
}
