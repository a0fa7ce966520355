//! Bar times, the one home: every way a series' times come in (integer or float epochs, numpy
//! `datetime64` of any unit) becomes UTC instants, `i64` nanoseconds since 1970-01-01T00:00:00Z,
//! through [`utc_nanos`]; then [`check_order`] refuses times that do not strictly increase, and
//! [`median_spacing`] and [`timeframe_nanos`] relate a series' spacing to a bundle's timeframe,
//! and [`bars_per_year`] counts the bars a year that annualise its scores.
//!
//! **Epochs carry no unit, so the unit follows from the magnitude**, by one rule everywhere
//! ([`EPOCH_UNITS`]): a count in `[1e8, 1e11)` is seconds, `[1e11, 1e14)` milliseconds,
//! `[1e14, 1e17)` microseconds, and `[1e17, 2^63)` nanoseconds. Each range starts at
//! 1973-03-03T09:46:40Z, so the four never overlap for any time from then on: Binance's
//! milliseconds (and its microseconds since 2025), ccxt's milliseconds and POSIX seconds are all
//! told apart. The instants themselves must fit 64-bit nanoseconds (numpy's `datetime64[ns]`), so
//! every unit ends at 2262-04-11T23:47:16Z. A count below 1e8 (1973 in seconds, or an index
//! 0, 1, 2, ...), a negative one, NaN or infinity is in no range: an error naming the bar.
//!
//! `datetime64` values carry their unit, so any unit is read as it says (`Y` and `M` are
//! calendar years and months); NaT is an error naming the bar.

use chrono::{DateTime, Months, NaiveDate, SecondsFormat};

use crate::core::alloc;
use crate::core::error::{Error, Result};

/// Nanoseconds in a second.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// The year scores are annualised with: 365 days, so that hourly bars make 8,760 a year.
pub const YEAR_NANOS: i64 = 365 * 86_400 * NANOS_PER_SECOND;

/// One unit an epoch may count in: epochs of at least `from` (and below the next unit's `from`)
/// count `nanos` nanoseconds each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochUnit {
    /// The unit's name, as messages print it.
    pub name: &'static str,
    /// The smallest count read in this unit.
    pub from: i64,
    /// Nanoseconds per count.
    pub nanos: i64,
}

/// The epoch units by magnitude, smallest counts first: a count belongs to the last unit whose
/// `from` it reaches (see the module's documentation).
pub const EPOCH_UNITS: [EpochUnit; 4] = [
    EpochUnit {
        name: "seconds",
        from: 100_000_000,
        nanos: NANOS_PER_SECOND,
    },
    EpochUnit {
        name: "milliseconds",
        from: 100_000_000_000,
        nanos: 1_000_000,
    },
    EpochUnit {
        name: "microseconds",
        from: 100_000_000_000_000,
        nanos: 1_000,
    },
    EpochUnit {
        name: "nanoseconds",
        from: 100_000_000_000_000_000,
        nanos: 1,
    },
];

/// The unit of a `datetime64` dtype: `datetime64[15m]` counts 15 minutes per tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatetimeUnit {
    /// The base unit.
    pub base: DatetimeBase,
    /// Base units per tick (1 unless the dtype says otherwise).
    pub count: i64,
}

/// numpy's `datetime64` base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatetimeBase {
    /// `Y`: calendar years since 1970.
    Years,
    /// `M`: calendar months since 1970-01.
    Months,
    /// `W`, `D`, `h`, `m`, `s`, `ms`, `us`, `ns`: this many nanoseconds.
    Nanos(i64),
    /// `ps`, `fs`, `as`: this many per nanosecond.
    PerNano(i64),
}

impl std::fmt::Display for DatetimeUnit {
    /// numpy's spelling: `datetime64[15m]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NANOS: [(i64, &str); 8] = [
            (7 * 86_400 * NANOS_PER_SECOND, "W"),
            (86_400 * NANOS_PER_SECOND, "D"),
            (3_600 * NANOS_PER_SECOND, "h"),
            (60 * NANOS_PER_SECOND, "m"),
            (NANOS_PER_SECOND, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
            (1, "ns"),
        ];
        let base = match self.base {
            DatetimeBase::Years => "Y",
            DatetimeBase::Months => "M",
            DatetimeBase::Nanos(n) => NANOS
                .iter()
                .find(|(size, _)| *size == n)
                .map_or("?", |p| p.1),
            DatetimeBase::PerNano(1_000) => "ps",
            DatetimeBase::PerNano(1_000_000) => "fs",
            DatetimeBase::PerNano(_) => "as",
        };
        match self.count {
            1 => write!(f, "datetime64[{base}]"),
            count => write!(f, "datetime64[{count}{base}]"),
        }
    }
}

impl DatetimeUnit {
    /// The unit of a numpy dtype string: `<M8[ns]`, `datetime64[15m]`, or just `ns`.
    pub fn parse(text: &str) -> Result<Self> {
        let inner = match (text.find('['), text.rfind(']')) {
            (Some(open), Some(close)) if open < close => &text[open + 1..close],
            _ => text,
        };
        let digits = inner.chars().take_while(char::is_ascii_digit).count();
        let count = if digits == 0 {
            1
        } else {
            inner[..digits]
                .parse::<i64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| Error::invalid_input(format!("unknown datetime64 unit {text:?}")))?
        };
        let base = match &inner[digits..] {
            "Y" => DatetimeBase::Years,
            "M" => DatetimeBase::Months,
            "W" => DatetimeBase::Nanos(7 * 86_400 * NANOS_PER_SECOND),
            "D" => DatetimeBase::Nanos(86_400 * NANOS_PER_SECOND),
            "h" => DatetimeBase::Nanos(3_600 * NANOS_PER_SECOND),
            "m" => DatetimeBase::Nanos(60 * NANOS_PER_SECOND),
            "s" => DatetimeBase::Nanos(NANOS_PER_SECOND),
            "ms" => DatetimeBase::Nanos(1_000_000),
            "us" => DatetimeBase::Nanos(1_000),
            "ns" => DatetimeBase::Nanos(1),
            "ps" => DatetimeBase::PerNano(1_000),
            "fs" => DatetimeBase::PerNano(1_000_000),
            "as" => DatetimeBase::PerNano(1_000_000_000),
            _ => {
                return Err(Error::invalid_input(format!(
                    "datetime64 values without a known unit ({text:?}) are not times"
                )))
            }
        };
        Ok(Self { base, count })
    }
}

/// Times as they come in, one per bar.
#[derive(Debug, Clone, Copy)]
pub enum Times<'a> {
    /// Signed integer epochs, unit by magnitude ([`EPOCH_UNITS`]).
    Epochs(&'a [i64]),
    /// Unsigned integer epochs, unit by magnitude.
    UnsignedEpochs(&'a [u64]),
    /// Float epochs (fractions allowed), unit by magnitude.
    FloatEpochs(&'a [f64]),
    /// `datetime64` ticks in their unit; `i64::MIN` is NaT.
    Datetimes(&'a [i64], DatetimeUnit),
}

impl Times<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Epochs(values) | Self::Datetimes(values, _) => values.len(),
            Self::UnsignedEpochs(values) => values.len(),
            Self::FloatEpochs(values) => values.len(),
        }
    }
}

/// The ranges of [`EPOCH_UNITS`] in words, for messages.
fn epoch_rule() -> &'static str {
    "epochs count seconds from 1e8, milliseconds from 1e11, microseconds from 1e14 and \
     nanoseconds from 1e17: each from 1973-03-03 on, up to 2262-04-11"
}

/// The unit of an epoch count of magnitude `count` (non-negative), or `None` below 1e8.
fn epoch_unit(count: f64) -> Option<EpochUnit> {
    EPOCH_UNITS
        .iter()
        .rev()
        .find(|unit| count >= unit.from as f64)
        .copied()
}

fn out_of_range(what: &str, bar: usize, value: &dyn std::fmt::Display) -> Error {
    Error::invalid_input(format!(
        "{what} at bar {bar}: {value} is not a time in a known unit ({})",
        epoch_rule()
    ))
}

fn too_late(what: &str, bar: usize, value: &dyn std::fmt::Display, unit: &str) -> Error {
    Error::invalid_input(format!(
        "{what} at bar {bar}: {value} ({unit}) is after 2262-04-11T23:47:16Z, the last time \
         64-bit nanoseconds (datetime64[ns]) hold"
    ))
}

fn integer_epoch(what: &str, bar: usize, value: i128) -> Result<i64> {
    // i128: a u64 or i64 count times its unit never overflows it.
    let unit = (value >= 0)
        .then(|| {
            EPOCH_UNITS
                .iter()
                .rev()
                .find(|unit| value >= i128::from(unit.from))
        })
        .flatten()
        .ok_or_else(|| out_of_range(what, bar, &value))?;
    i64::try_from(value * i128::from(unit.nanos))
        .map_err(|_| too_late(what, bar, &value, unit.name))
}

fn float_epoch(what: &str, bar: usize, value: f64) -> Result<i64> {
    let unit = (value.is_finite() && value >= 0.0)
        .then(|| epoch_unit(value))
        .flatten()
        .ok_or_else(|| out_of_range(what, bar, &value))?;
    // Whole units and the fraction apart: an integral float converts exactly, as an integer does.
    let whole = value.trunc();
    let fraction = ((value - whole) * unit.nanos as f64).round();
    let nanos = whole * unit.nanos as f64 + fraction;
    if nanos >= i64::MAX as f64 {
        return Err(too_late(what, bar, &value, unit.name));
    }
    // `whole` is below 2^63 / nanos here, so the integer product cannot overflow.
    (whole as i64)
        .checked_mul(unit.nanos)
        .and_then(|n| n.checked_add(fraction as i64))
        .ok_or_else(|| too_late(what, bar, &value, unit.name))
}

fn datetime(what: &str, bar: usize, ticks: i64, unit: DatetimeUnit) -> Result<i64> {
    if ticks == i64::MIN {
        return Err(Error::invalid_input(format!(
            "{what} at bar {bar} is NaT (not a time)"
        )));
    }
    let outside = || {
        Error::invalid_input(format!(
            "{what} at bar {bar}: {unit} {ticks} is outside the times \
             64-bit nanoseconds (datetime64[ns]) hold, 1677-09-21 to 2262-04-11"
        ))
    };
    let ticks = ticks.checked_mul(unit.count).ok_or_else(outside)?;
    match unit.base {
        DatetimeBase::Nanos(nanos) => ticks.checked_mul(nanos).ok_or_else(outside),
        DatetimeBase::PerNano(per) => Ok(ticks.div_euclid(per)),
        DatetimeBase::Years | DatetimeBase::Months => {
            let months = if unit.base == DatetimeBase::Years {
                ticks.checked_mul(12).ok_or_else(outside)?
            } else {
                ticks
            };
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or_else(outside)?;
            let magnitude = u32::try_from(months.unsigned_abs()).map_err(|_| outside())?;
            let date = if months >= 0 {
                epoch.checked_add_months(Months::new(magnitude))
            } else {
                epoch.checked_sub_months(Months::new(magnitude))
            }
            .ok_or_else(outside)?;
            date.and_hms_opt(0, 0, 0)
                .and_then(|moment| moment.and_utc().timestamp_nanos_opt())
                .ok_or_else(outside)
        }
    }
}

/// Every time of `times` as UTC nanoseconds since the epoch; `what` names them in errors
/// ("timestamps", "column 'open_time'"), which name the first bad bar: its position and value.
pub fn utc_nanos(times: Times<'_>, what: &str) -> Result<Vec<i64>> {
    utc_nanos_from(times, what, 0)
}

/// [`utc_nanos`] of times whose first is bar `first` of the caller's series (the last bars of a
/// history, or one bar of a stream), so that an error names the bar the caller knows.
pub fn utc_nanos_from(times: Times<'_>, what: &str, first: usize) -> Result<Vec<i64>> {
    let bars = times.len();
    let mut out = alloc::try_with_capacity(bars, || format!("{bars} bar times"))?;
    match times {
        Times::Epochs(values) => {
            for (bar, &value) in values.iter().enumerate() {
                out.push(integer_epoch(what, first + bar, i128::from(value))?);
            }
        }
        Times::UnsignedEpochs(values) => {
            for (bar, &value) in values.iter().enumerate() {
                out.push(integer_epoch(what, first + bar, i128::from(value))?);
            }
        }
        Times::FloatEpochs(values) => {
            for (bar, &value) in values.iter().enumerate() {
                out.push(float_epoch(what, first + bar, value)?);
            }
        }
        Times::Datetimes(values, unit) => {
            // The units pandas and numpy use (`ns`, `us`, `ms`, `s`, ...): one product per time,
            // the first that is NaT or overflows left to `datetime` to name.
            let factor = match unit.base {
                DatetimeBase::Nanos(nanos) => unit.count.checked_mul(nanos),
                _ => None,
            };
            match factor {
                Some(factor) => {
                    for (bar, &ticks) in values.iter().enumerate() {
                        match ticks.checked_mul(factor).filter(|_| ticks != i64::MIN) {
                            Some(nanos) => out.push(nanos),
                            None => {
                                return Err(datetime(what, first + bar, ticks, unit)
                                    .err()
                                    .unwrap_or_else(|| {
                                        Error::invalid_input(format!(
                                            "{what} at bar {}: {unit} {ticks} is not a time",
                                            first + bar
                                        ))
                                    }))
                            }
                        }
                    }
                }
                None => {
                    for (bar, &ticks) in values.iter().enumerate() {
                        out.push(datetime(what, first + bar, ticks, unit)?);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// `nanos` as ISO 8601 UTC text: `2024-03-01T13:00:00Z` (with a fraction only when there is
/// one).
pub fn format_utc(nanos: i64) -> String {
    DateTime::from_timestamp_nanos(nanos).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Refuses times that do not strictly increase, naming the first offending bar: its position,
/// its time and the time of the bar before it. No time is ever sorted: backwards, unsorted or
/// repeated bars are a mistake upstream of the caller that a sorted copy would hide.
pub fn check_order(times: &[i64]) -> Result<()> {
    check_order_from(times, 0)
}

/// [`check_order`] of times whose first is bar `first` of the caller's series (the bars a live
/// call reads at the end of a history, or a stream's last bar and the one pushed after it).
pub fn check_order_from(times: &[i64], first: usize) -> Result<()> {
    let Some(bar) = times.windows(2).position(|pair| pair[1] <= pair[0]) else {
        return Ok(());
    };
    let (before, at) = (times[bar], times[bar + 1]);
    let how = if at == before {
        "repeats the time of"
    } else {
        "is earlier than"
    };
    Err(Error::invalid_input(format!(
        "times must strictly increase: bar {} ({}) {how} bar {} ({}); sort the bars \
         oldest first and drop repeated ones",
        first + bar + 1,
        format_utc(at),
        first + bar,
        format_utc(before),
    )))
}

/// The median of the spacings between consecutive times (nanoseconds; the mean of the two
/// middle ones for an even count), or `None` for fewer than two times. A median, so that a few
/// gaps (a weekend, an exchange outage) do not change a series' spacing.
pub fn median_spacing(times: &[i64]) -> Result<Option<i64>> {
    let count = times.len().saturating_sub(1);
    if count == 0 {
        return Ok(None);
    }
    let mut spacings = alloc::try_collect(
        times
            .windows(2)
            .map(|pair| i128::from(pair[1]) - i128::from(pair[0])),
        || format!("{count} spacings between bar times"),
    )?;
    let middle = count / 2;
    let (lower, &mut upper, _) = spacings.select_nth_unstable(middle);
    let median = if count % 2 == 1 {
        upper
    } else {
        let below = lower.iter().copied().max().unwrap_or(upper);
        (below + upper) / 2
    };
    Ok(Some(i64::try_from(median).unwrap_or(i64::MAX)))
}

/// The bar duration of a timeframe such as `15m`, `1h`, `4h`, `1d` or `1w`, in nanoseconds: the
/// one timeframe rule, which the spacing check and
/// [`crate::core::backtest::score::timeframe_periods_per_year`] use.
pub fn timeframe_nanos(timeframe: &str) -> Result<i64> {
    let text = timeframe.trim();
    let invalid = || {
        Error::InvalidArgument(format!(
            "cannot tell the bar duration of timeframe {timeframe:?}: expected a number and \
             m, h, d or w (15m, 1h, 4h, 1d, 1w); pass periods_per_year"
        ))
    };
    let unit = text.chars().last().ok_or_else(invalid)?;
    let count = text[..text.len() - unit.len_utf8()]
        .parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .map(i64::from)
        .ok_or_else(invalid)?;
    let seconds = match unit {
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(invalid()),
    };
    // u32 counts of at most a week in nanoseconds stay far below i64::MAX.
    Ok(count * seconds * NANOS_PER_SECOND)
}

/// Bars a year of a series whose bars are `spacing` nanoseconds apart: a 365-day year over the
/// spacing (`1h`: 8,760; `4h`: 2,190; `1d`: 365; `15m`: 35,040).
pub fn periods_per_year(spacing: i64) -> Result<f64> {
    if spacing <= 0 {
        return Err(Error::invalid_input(format!(
            "cannot annualise bars {spacing} ns apart: the spacing must be positive"
        )));
    }
    Ok(YEAR_NANOS as f64 / spacing as f64)
}

/// The bars a year a series itself shows: its bars over its span, in 365-day years, for `times`
/// that strictly increase (`None` for fewer than two). This is what annualises its scores, not
/// the median spacing: a market that closes shows it. Daily equity bars (weekends and holidays
/// closed) make about 252 a year, daily crypto bars 365, hourly FX bars (five-day weeks) about
/// 6,240, continuous hourly bars exactly 8,760. The ratio is reduced as integers first, so a
/// regular series gets the timeframe's exact figure.
pub fn bars_per_year(times: &[i64]) -> Result<Option<f64>> {
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return Ok(None);
    };
    let intervals = times.len() - 1;
    if intervals == 0 {
        return Ok(None);
    }
    let span = i128::from(last) - i128::from(first);
    if span <= 0 {
        return Err(Error::invalid_input(format!(
            "cannot annualise bars from {} to {}: the last time must be later than the first",
            format_utc(first),
            format_utc(last)
        )));
    }
    // At most 2^64 intervals times a year (< 2^55 ns) fits an i128.
    let year = i128::try_from(intervals).unwrap_or(i128::MAX / 2) * i128::from(YEAR_NANOS);
    let common = gcd(year, span);
    Ok(Some((year / common) as f64 / (span / common) as f64))
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// A duration in words as timeframes write them: `1h`, `15m`, `1d`, `1d 12h`, `90s`, `250ms`.
pub fn format_duration(nanos: i64) -> String {
    const PARTS: [(i64, &str); 8] = [
        (7 * 86_400 * NANOS_PER_SECOND, "w"),
        (86_400 * NANOS_PER_SECOND, "d"),
        (3_600 * NANOS_PER_SECOND, "h"),
        (60 * NANOS_PER_SECOND, "m"),
        (NANOS_PER_SECOND, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    if nanos <= 0 {
        return format!("{nanos}ns");
    }
    let mut left = nanos;
    let mut words = Vec::new();
    for (size, name) in PARTS {
        if left >= size {
            words.push(format!("{}{name}", left / size));
            left %= size;
        }
        if words.len() == 2 {
            break; // two parts say enough: `1d 2h`, not `1d 2h 3m 4s`
        }
    }
    words.join(" ")
}

/// Whether bars `spacing` apart are the bars of a `timeframe` of `timeframe_nanos`: equal
/// within 1%, so clock jitter in recorded times does not count as a mismatch.
pub fn spacing_matches(spacing: i64, timeframe_nanos: i64) -> bool {
    (i128::from(spacing) - i128::from(timeframe_nanos)).abs() * 100 <= i128::from(timeframe_nanos)
}

/// Why bars `spacing` apart are not the bars of `timeframe`, or `None` when they are
/// ([`spacing_matches`]): "bars 1d apart (the series' median spacing), not 1h".
pub fn spacing_mismatch(spacing: i64, timeframe: &str) -> Result<Option<String>> {
    if spacing_matches(spacing, timeframe_nanos(timeframe)?) {
        return Ok(None);
    }
    Ok(Some(format!(
        "bars {} apart (the series' median spacing), not {}",
        format_duration(spacing),
        timeframe.trim()
    )))
}

/// The names a series' time column goes by, matched without regard to case.
pub const TIME_COLUMNS: [&str; 5] = ["open_time", "timestamp", "time", "date", "datetime"];

/// The position of a series' time column among `columns`: the first whose name is one of
/// [`TIME_COLUMNS`], in any case.
pub fn time_column(columns: &[Option<String>]) -> Option<usize> {
    columns.iter().position(|column| {
        column.as_deref().is_some_and(|name| {
            TIME_COLUMNS
                .iter()
                .any(|time| name.trim().eq_ignore_ascii_case(time))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600 * NANOS_PER_SECOND;
    /// 2024-01-01T00:00:00Z.
    const NEW_YEAR_2024: i64 = 1_704_067_200;

    fn epochs(values: &[i64]) -> Result<Vec<i64>> {
        utc_nanos(Times::Epochs(values), "t")
    }

    #[test]
    fn integer_epochs_take_their_unit_from_their_magnitude() {
        let nanos = NEW_YEAR_2024 * NANOS_PER_SECOND;
        let every_unit = [
            NEW_YEAR_2024,
            NEW_YEAR_2024 * 1_000,
            NEW_YEAR_2024 * 1_000_000,
            nanos,
        ];
        assert_eq!(epochs(&every_unit).unwrap(), [nanos; 4]);
        // Each range starts at 1973-03-03T09:46:40Z.
        let starts = [
            100_000_000,
            100_000_000_000,
            100_000_000_000_000,
            100_000_000_000_000_000,
        ];
        for start in epochs(&starts).unwrap() {
            assert_eq!(format_utc(start), "1973-03-03T09:46:40Z");
        }
        // Just below a range's start is the previous unit, far in the future: refused past 2262.
        let error = epochs(&[99_999_999_999]).unwrap_err().to_string();
        assert!(
            error.contains("bar 0: 99999999999 (seconds) is after 2262"),
            "{error}"
        );
        let unsigned = utc_nanos(Times::UnsignedEpochs(&[u64::MAX]), "t").unwrap_err();
        assert!(unsigned.to_string().contains("(nanoseconds) is after 2262"));
    }

    #[test]
    fn epochs_in_no_range_name_the_bar_and_the_value() {
        for bad in [0, 1, 99_999_999, -1_704_067_200] {
            let error = epochs(&[NEW_YEAR_2024, bad]).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("t at bar 1: {bad} is not a time in a known unit")),
                "{error}"
            );
            assert!(error.contains("seconds from 1e8"), "{error}");
        }
        for bad in [f64::NAN, f64::INFINITY, -1.5e9, 12.0] {
            let error = utc_nanos(Times::FloatEpochs(&[1.7e9, 1.7e9, bad]), "column 'x'")
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("column 'x' at bar 2: "), "{error}");
        }
    }

    #[test]
    fn float_epochs_keep_whole_units_exact_and_round_fractions() {
        let seconds = NEW_YEAR_2024 as f64;
        let out = utc_nanos(
            Times::FloatEpochs(&[seconds, seconds + 0.5, 1_704_067_200_123.0, 1.7e18]),
            "t",
        )
        .unwrap();
        let base = NEW_YEAR_2024 * NANOS_PER_SECOND;
        assert_eq!(out[0], base);
        assert_eq!(out[1], base + 500_000_000);
        assert_eq!(out[2], base + 123_000_000);
        assert_eq!(out[3], 1_700_000_000_000_000_000);
        let late = utc_nanos(Times::FloatEpochs(&[9.3e18]), "t").unwrap_err();
        assert!(late.to_string().contains("after 2262"), "{late}");
    }

    #[test]
    fn datetimes_read_their_own_unit_and_nat_is_an_error() {
        let unit = |text| DatetimeUnit::parse(text).unwrap();
        let base = NEW_YEAR_2024 * NANOS_PER_SECOND;
        let days = NEW_YEAR_2024 / 86_400;
        let cases = [
            (NEW_YEAR_2024, "<M8[s]"),
            (NEW_YEAR_2024 * 1_000, "datetime64[ms]"),
            (days, "M8[D]"),
            (days * 24 * 4, "<M8[15m]"),
            (base, "ns"),
            (54, "Y"),
            (54 * 12, "M"),
        ];
        for (ticks, dtype) in cases {
            let out = utc_nanos(Times::Datetimes(&[ticks], unit(dtype)), "t").unwrap();
            assert_eq!(out, [base], "{dtype}");
        }
        let picos = utc_nanos(Times::Datetimes(&[-1_500], unit("ps")), "t").unwrap();
        assert_eq!(picos, [-2]);
        let before_1970 = utc_nanos(Times::Datetimes(&[-1], unit("M")), "t").unwrap();
        assert_eq!(format_utc(before_1970[0]), "1969-12-01T00:00:00Z");
        let error = utc_nanos(Times::Datetimes(&[0, i64::MIN], unit("ns")), "timestamps")
            .unwrap_err()
            .to_string();
        assert_eq!(error, "timestamps at bar 1 is NaT (not a time)");
        let far = utc_nanos(Times::Datetimes(&[0, 10_000_000_000], unit("s")), "t");
        assert!(far
            .unwrap_err()
            .to_string()
            .contains("at bar 1: datetime64"));
        for bad in ["", "[generic]", "M8[0s]", "M8[q]", "xs"] {
            assert!(DatetimeUnit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn order_names_the_first_offending_bar_and_both_times() {
        let start = NEW_YEAR_2024 * NANOS_PER_SECOND;
        assert!(check_order(&[]).is_ok() && check_order(&[start]).is_ok());
        assert!(check_order(&[start, start + HOUR, start + 2 * HOUR]).is_ok());
        let backwards = check_order(&[start, start + HOUR, start + 3 * HOUR, start + 2 * HOUR])
            .unwrap_err()
            .to_string();
        assert!(
            backwards.contains(
                "bar 3 (2024-01-01T02:00:00Z) is earlier than bar 2 (2024-01-01T03:00:00Z)"
            ),
            "{backwards}"
        );
        let repeated = check_order(&[start, start + HOUR, start + HOUR])
            .unwrap_err()
            .to_string();
        assert!(
            repeated.contains("bar 2 (2024-01-01T01:00:00Z) repeats the time of bar 1"),
            "{repeated}"
        );
        assert!(matches!(
            check_order(&[start + 1, start]),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn an_offset_names_the_callers_bars() {
        let start = NEW_YEAR_2024 * NANOS_PER_SECOND;
        let error = check_order_from(&[start, start + HOUR, start], 760).unwrap_err();
        assert_eq!(
            error.to_string(),
            "times must strictly increase: bar 762 (2024-01-01T00:00:00Z) is earlier than bar \
             761 (2024-01-01T01:00:00Z); sort the bars oldest first and drop repeated ones"
        );
        let error = utc_nanos_from(Times::Epochs(&[NEW_YEAR_2024, 5]), "t", 40).unwrap_err();
        assert!(error.to_string().contains("bar 41"), "{error}");
        assert_eq!(
            utc_nanos_from(Times::Epochs(&[NEW_YEAR_2024]), "t", 9).unwrap(),
            utc_nanos(Times::Epochs(&[NEW_YEAR_2024]), "t").unwrap()
        );
    }

    #[test]
    fn median_spacing_ignores_a_few_gaps() {
        assert_eq!(median_spacing(&[]).unwrap(), None);
        assert_eq!(median_spacing(&[5]).unwrap(), None);
        let hourly_with_a_weekend = [0, HOUR, 2 * HOUR, 50 * HOUR, 51 * HOUR];
        assert_eq!(median_spacing(&hourly_with_a_weekend).unwrap(), Some(HOUR));
        // An even count: the mean of the two middle spacings.
        assert_eq!(
            median_spacing(&[0, HOUR, 4 * HOUR]).unwrap(),
            Some(2 * HOUR)
        );
        assert_eq!(
            median_spacing(&[0, 10, 20, 25, 100]).unwrap(),
            Some(10) // spacings 10, 10, 5, 75
        );
        assert_eq!(
            median_spacing(&[i64::MIN + 1, i64::MAX]).unwrap(),
            Some(i64::MAX)
        );
    }

    #[test]
    fn timeframes_are_durations_and_set_the_bars_a_year() {
        assert_eq!(timeframe_nanos("1h").unwrap(), HOUR);
        assert_eq!(timeframe_nanos(" 15m ").unwrap(), HOUR / 4);
        assert_eq!(timeframe_nanos("1d").unwrap(), 24 * HOUR);
        assert_eq!(timeframe_nanos("1w").unwrap(), 7 * 24 * HOUR);
        for bad in ["", "h", "0h", "1y", "unknown", "-1h", "1é"] {
            assert!(timeframe_nanos(bad).is_err(), "{bad}");
        }
        assert_eq!(periods_per_year(HOUR).unwrap(), 8_760.0);
        assert_eq!(periods_per_year(4 * HOUR).unwrap(), 2_190.0);
        assert_eq!(periods_per_year(24 * HOUR).unwrap(), 365.0);
        assert_eq!(periods_per_year(HOUR / 4).unwrap(), 35_040.0);
        assert!(periods_per_year(0).is_err() && periods_per_year(-HOUR).is_err());
    }

    #[test]
    fn bars_a_year_count_the_bars_over_the_span() {
        assert_eq!(bars_per_year(&[]).unwrap(), None);
        assert_eq!(bars_per_year(&[7]).unwrap(), None);
        let hourly: Vec<i64> = (0..10_000)
            .map(|i| 1_600_000_000 * 1_000_000_000 + i * HOUR)
            .collect();
        assert_eq!(bars_per_year(&hourly).unwrap(), Some(8_760.0));
        let quarter: Vec<i64> = (0..97).map(|i| i * HOUR / 4).collect();
        assert_eq!(bars_per_year(&quarter).unwrap(), Some(35_040.0));
        // Weekdays only: five bars a week, 52 weeks and a day a year.
        let day = 24 * HOUR;
        let weekdays: Vec<i64> = (0..5 * 520)
            .map(|i| (i / 5) * 7 * day + (i % 5) * day)
            .collect();
        let per_year = bars_per_year(&weekdays).unwrap().unwrap();
        assert!((per_year - 260.7).abs() < 0.2, "{per_year}");
        assert!(bars_per_year(&[5, 5]).is_err() && bars_per_year(&[6, 5]).is_err());
        assert!(bars_per_year(&[i64::MIN, i64::MAX]).unwrap().unwrap() > 0.0);
    }

    #[test]
    fn spacings_match_within_one_percent() {
        assert!(spacing_matches(HOUR, HOUR));
        assert!(spacing_matches(HOUR + HOUR / 100, HOUR));
        assert!(spacing_matches(HOUR - HOUR / 100, HOUR));
        assert!(!spacing_matches(HOUR + HOUR / 50, HOUR));
        assert!(!spacing_matches(24 * HOUR, HOUR));
        assert_eq!(format_duration(HOUR), "1h");
        assert_eq!(format_duration(36 * HOUR), "1d 12h");
        assert_eq!(format_duration(HOUR / 4), "15m");
        assert_eq!(format_duration(7 * 24 * HOUR), "1w");
        assert_eq!(format_duration(1_500_000), "1ms 500us");
        assert_eq!(format_duration(0), "0ns");
        assert_eq!(spacing_mismatch(HOUR, "1h").unwrap(), None);
        assert_eq!(
            spacing_mismatch(24 * HOUR, "1h").unwrap().unwrap(),
            "bars 1d apart (the series' median spacing), not 1h"
        );
        assert!(spacing_mismatch(HOUR, "1y").is_err());
    }

    #[test]
    fn the_time_column_goes_by_name_in_any_case() {
        let named = |names: &[&str]| -> Vec<Option<String>> {
            names.iter().map(|n| Some((*n).to_owned())).collect()
        };
        assert_eq!(time_column(&named(&["open", "Date", "close"])), Some(1));
        assert_eq!(time_column(&named(&["OPEN_TIME", "timestamp"])), Some(0));
        assert_eq!(time_column(&named(&["close_time", "open"])), None);
        assert_eq!(time_column(&[None, Some("Datetime".into())]), Some(1));
        assert_eq!(time_column(&named(&["timestamps"])), None);
    }
}
