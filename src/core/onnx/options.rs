//! Parsing the options callers give as plain values (thread counts, provider and optimisation
//! names, timeouts in seconds) into the core's types, so every binding checks them the same way.

use std::time::Duration;

use crate::core::error::{Error, Result};
use crate::core::onnx::providers::Provider;
use crate::core::onnx::runtime::check_thread_counts;
use crate::core::onnx::session::{OptimizationLevel, SessionOptions};

/// Session options from plain values; a thread count of 0 and unknown names are refused.
pub fn session_options(
    intra_op_threads: Option<usize>,
    inter_op_threads: Option<usize>,
    optimization_level: &str,
    providers: Option<&[String]>,
    warmup: bool,
) -> Result<SessionOptions> {
    check_thread_counts(
        intra_op_threads,
        inter_op_threads,
        "to share the process's thread pools",
    )?;
    let providers = providers
        .map(|names| names.iter().map(|name| Provider::parse(name)).collect())
        .transpose()?;
    Ok(SessionOptions {
        intra_op_threads,
        inter_op_threads,
        optimization: OptimizationLevel::parse(optimization_level)?,
        providers,
        warmup,
        ..SessionOptions::default()
    })
}

/// The longest timeout accepted: a year. Longer ones are refused rather than overflowing the
/// deadline arithmetic further down (use `None` for no timeout).
pub const MAX_TIMEOUT_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// A timeout from a number of seconds: `None` stays `None`; it must be positive, finite and at
/// most [`MAX_TIMEOUT_SECONDS`] (an absurd timeout is refused, never turned into a panic).
pub fn timeout_from_seconds(seconds: Option<f64>) -> Result<Option<Duration>> {
    let Some(seconds) = seconds else {
        return Ok(None);
    };
    match Duration::try_from_secs_f64(seconds) {
        Ok(timeout) if seconds > 0.0 && seconds <= MAX_TIMEOUT_SECONDS => Ok(Some(timeout)),
        _ => Err(Error::InvalidArgument(format!(
            "timeout must be a positive number of seconds up to {MAX_TIMEOUT_SECONDS} (a year), \
             or None for no timeout; got {seconds}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_and_unknown_names_are_refused() {
        assert!(session_options(Some(0), None, "all", None, true).is_err());
        assert!(session_options(None, None, "fastest", None, true).is_err());
        let names = ["NoSuchProvider".to_owned()];
        assert!(session_options(None, None, "all", Some(&names), true).is_err());
        let options = session_options(Some(2), None, "basic", None, false).unwrap();
        assert_eq!(options.intra_op_threads, Some(2));
        assert!(!options.warmup);
    }

    #[test]
    fn timeouts_are_positive_finite_and_representable() {
        assert_eq!(timeout_from_seconds(None).unwrap(), None);
        assert_eq!(
            timeout_from_seconds(Some(0.5)).unwrap(),
            Some(Duration::from_millis(500))
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300, 1.8e19] {
            assert!(timeout_from_seconds(Some(bad)).is_err(), "{bad}");
        }
    }
}
