//! Reading one window's output: price denormalisation, confidence and direction for regression,
//! probability checks and argmax for classifiers.

use crate::core::alloc;
use crate::core::predict::spec::{PredictionSpec, PriceScaling, Task};

const PROBABILITY_RANGE_TOLERANCE: f64 = 1e-3;
const PROBABILITY_SUM_TOLERANCE: f64 = 1e-2;

/// One prediction, upstream's `ModelPrediction` less the name and timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The predicted price (NaN for classifiers, deliberately).
    pub price: f64,
    /// In `[0, 1]`.
    pub confidence: f64,
    /// `1`, `0` or `-1`.
    pub direction: i8,
    /// Class probabilities for classifiers.
    pub probabilities: Option<Vec<f64>>,
}

/// Column-wise results of a batch prediction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchPrediction {
    /// One price per window.
    pub price: Vec<f64>,
    /// One confidence per window.
    pub confidence: Vec<f64>,
    /// One direction per window.
    pub direction: Vec<i8>,
    /// Row-major `[windows, classes]` probabilities for classifiers.
    pub probabilities: Option<(Vec<f64>, usize)>,
}

impl BatchPrediction {
    /// Room for the results of `windows` windows (allocated fallibly: the count is the
    /// caller's), every slot filled with an undefined prediction until a run writes it.
    pub fn empty(windows: usize, classes: Option<usize>) -> crate::core::Result<Self> {
        let results = |what: &'static str| move || format!("the {what} of {windows} windows");
        Ok(Self {
            price: alloc::try_filled(windows, f64::NAN, results("prices"))?,
            confidence: alloc::try_filled(windows, f64::NAN, results("confidences"))?,
            direction: alloc::try_filled(windows, 0, results("directions"))?,
            probabilities: classes
                .map(|classes| {
                    let values = windows.saturating_mul(classes);
                    alloc::try_filled(values, f64::NAN, results("class probabilities"))
                        .map(|values| (values, classes))
                })
                .transpose()?,
        })
    }

    /// Every slot, to be written by a run.
    pub fn outputs(&mut self) -> BatchOutputs<'_> {
        BatchOutputs {
            price: &mut self.price,
            confidence: &mut self.confidence,
            direction: &mut self.direction,
            probabilities: self.probabilities.as_mut().map(|(p, _)| p.as_mut_slice()),
        }
    }
}

/// Where a run writes the results of some windows: one slot per window (`classes` per window
/// for the probabilities).
#[derive(Debug)]
pub struct BatchOutputs<'a> {
    /// One price per window.
    pub price: &'a mut [f64],
    /// One confidence per window.
    pub confidence: &'a mut [f64],
    /// One direction per window.
    pub direction: &'a mut [i8],
    /// Row-major `[windows, classes]`, for classifiers.
    pub probabilities: Option<&'a mut [f64]>,
}

impl<'a> BatchOutputs<'a> {
    /// Splits off the slots of the first `windows` windows (`classes` probabilities each).
    pub fn split_off_front(&mut self, windows: usize, classes: usize) -> BatchOutputs<'a> {
        fn front<'a, T>(slice: &mut &'a mut [T], len: usize) -> &'a mut [T] {
            let (head, tail) = std::mem::take(slice).split_at_mut(len);
            *slice = tail;
            head
        }
        BatchOutputs {
            price: front(&mut self.price, windows),
            confidence: front(&mut self.confidence, windows),
            direction: front(&mut self.direction, windows),
            probabilities: self
                .probabilities
                .as_mut()
                .map(|p| front(p, windows * classes)),
        }
    }
}

/// Reads one window's output values; `Err` says why they cannot be read.
pub(super) fn decode(spec: &PredictionSpec, values: &[f64]) -> Result<Prediction, String> {
    match &spec.task {
        Task::Regression(scaling) => {
            let raw = values[0];
            let price = match *scaling {
                PriceScaling::Identity => raw,
                PriceScaling::MeanStd { mean, std } => raw * std + mean,
                PriceScaling::Constant(mean) => mean,
            };
            let (confidence, direction) = if price.is_finite() {
                let direction = if price > spec.direction_threshold {
                    1
                } else if price < -spec.direction_threshold {
                    -1
                } else {
                    0
                };
                (
                    (price.abs() * spec.confidence_scale_factor).min(1.0),
                    direction,
                )
            } else {
                (0.0, 0)
            };
            Ok(Prediction {
                price,
                confidence,
                direction,
                probabilities: None,
            })
        }
        Task::Binary { labels } => {
            if values.len() != 1 {
                return Err(format!(
                    "binary_classification expects a single sigmoid output value, got {}",
                    values.len()
                ));
            }
            let p_up = values[0];
            if !p_up.is_finite() {
                return Err(format!(
                    "binary_classification output is not finite: {p_up}"
                ));
            }
            let p_up = p_up.clamp(0.0, 1.0);
            Ok(classified(vec![1.0 - p_up, p_up], labels))
        }
        Task::Ternary { labels } => {
            if values.len() != labels.len() {
                return Err(format!(
                    "ternary_classification expects {} probabilities (one per class label), got {}",
                    labels.len(),
                    values.len()
                ));
            }
            if values.iter().any(|v| !v.is_finite()) {
                return Err(format!("classification output is not finite: {values:?}"));
            }
            let sum: f64 = values.iter().sum();
            let in_range = values.iter().all(|&v| {
                (-PROBABILITY_RANGE_TOLERANCE..=1.0 + PROBABILITY_RANGE_TOLERANCE).contains(&v)
            });
            if !in_range || (sum - 1.0).abs() > PROBABILITY_SUM_TOLERANCE {
                return Err(format!(
                        "classification output {values:?} (sum {sum}) does not look like softmax probabilities; the model may output raw logits"
                ));
            }
            Ok(classified(
                values.iter().map(|v| v.clamp(0.0, 1.0)).collect(),
                labels,
            ))
        }
    }
}

fn classified(probabilities: Vec<f64>, labels: &[i8]) -> Prediction {
    // The first maximum wins ties, as numpy's argmax does.
    let mut best = 0;
    for (index, &p) in probabilities.iter().enumerate() {
        if p > probabilities[best] {
            best = index;
        }
    }
    Prediction {
        price: f64::NAN,
        confidence: probabilities[best],
        direction: labels[best],
        probabilities: Some(probabilities),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum() {
        let prediction = classified(vec![0.4, 0.4, 0.2], &[-1, 0, 1]);
        assert_eq!(prediction.direction, -1);
        assert!(prediction.price.is_nan());
    }
}
