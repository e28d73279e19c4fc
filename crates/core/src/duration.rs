//! Durations as people write them in forms and config: `90s`, `15m`, `12h`, `3d`.
//!
//! Used for auto-close, answer timeouts and bot waits. The API accepts any positive value;
//! the text form is kept so a value reads back the way it was written.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A positive duration written as a whole number and a unit (`s`, `m`, `h`, `d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationSpec {
    seconds: u64,
}

/// Why a duration text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("must be a number followed by a unit: s, m, h or d (e.g. \"12h\")")]
    Syntax,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("is too long")]
    TooLong,
}

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
/// Longer than any sensible timeout; keeps arithmetic on timestamps far from overflow.
const MAX_SECONDS: u64 = 10 * 365 * 86_400;

impl DurationSpec {
    pub fn from_secs(seconds: u64) -> Result<Self, DurationError> {
        match seconds {
            0 => Err(DurationError::NotPositive),
            s if s > MAX_SECONDS => Err(DurationError::TooLong),
            s => Ok(Self { seconds: s }),
        }
    }

    pub fn as_secs(self) -> u64 {
        self.seconds
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_secs(self.seconds)
    }

    pub fn as_millis(self) -> i64 {
        // MAX_SECONDS * 1000 fits easily in i64.
        (self.seconds * 1000) as i64
    }
}

impl FromStr for DurationSpec {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let negative = text.starts_with('-');
        let body = text.trim_start_matches(['-', '+']);
        let unit = body.chars().last().ok_or(DurationError::Syntax)?;
        let factor = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, f)| *f)
            .ok_or(DurationError::Syntax)?;
        let number = &body[..body.len() - unit.len_utf8()];
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DurationError::Syntax);
        }
        let value: u64 = number.parse().map_err(|_| DurationError::TooLong)?;
        if negative && value > 0 {
            return Err(DurationError::NotPositive);
        }
        Self::from_secs(value.checked_mul(factor).ok_or(DurationError::TooLong)?)
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The largest unit that divides evenly, so "86400s" reads back as "1d".
        let (unit, factor) = UNITS
            .iter()
            .find(|(_, factor)| self.seconds.is_multiple_of(*factor))
            .copied()
            .unwrap_or(('s', 1));
        write!(f, "{}{unit}", self.seconds / factor)
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for DurationSpec {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\d+[smhd]$"))
            .description(Some(
                "A positive duration: a whole number and a unit s, m, h or d",
            ))
            .examples([serde_json::json!("12h")])
            .into()
    }
}

impl utoipa::ToSchema for DurationSpec {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_people_write() {
        for (text, secs) in [
            ("90s", 90),
            ("15m", 900),
            ("12h", 43_200),
            ("3d", 259_200),
            (" 1h ", 3600),
        ] {
            assert_eq!(
                text.parse::<DurationSpec>().unwrap().as_secs(),
                secs,
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_zero_negative_and_nonsense() {
        assert_eq!(
            "0h".parse::<DurationSpec>(),
            Err(DurationError::NotPositive)
        );
        assert_eq!(
            "-3h".parse::<DurationSpec>(),
            Err(DurationError::NotPositive)
        );
        for bad in ["", "h", "12", "1.5h", "12 h", "3w", "abc", "1h30m"] {
            assert_eq!(
                bad.parse::<DurationSpec>(),
                Err(DurationError::Syntax),
                "{bad:?}"
            );
        }
        assert_eq!(
            "99999999999999999999d".parse::<DurationSpec>(),
            Err(DurationError::TooLong)
        );
        assert_eq!("5000d".parse::<DurationSpec>(), Err(DurationError::TooLong));
    }

    #[test]
    fn displays_in_the_largest_even_unit() {
        for (text, shown) in [
            ("86400s", "1d"),
            ("90s", "90s"),
            ("120m", "2h"),
            ("36h", "36h"),
        ] {
            assert_eq!(text.parse::<DurationSpec>().unwrap().to_string(), shown);
        }
    }

    proptest::proptest! {
        #[test]
        fn display_round_trips(secs in 1u64..MAX_SECONDS) {
            let d = DurationSpec::from_secs(secs).unwrap();
            proptest::prop_assert_eq!(d.to_string().parse::<DurationSpec>().unwrap(), d);
        }
    }
}
