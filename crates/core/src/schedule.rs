//! Working hours ("рабочее / нерабочее время"): a time zone, intervals per weekday and dated
//! exceptions (holidays, short days). Whether a moment is inside working hours is a pure
//! function of the schedule and the moment; daylight-saving shifts are the tz database's job.

use std::{collections::BTreeMap, fmt, str::FromStr};

use jiff::{civil::Date, tz::TimeZone, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

use crate::{
    ids::{AccountId, ScheduleId},
    string_enum,
    validation::{self, FieldError, Validated},
};

string_enum! {
    /// A day of the week, as schedules name them.
    pub enum Weekday {
        Mon = "mon", Tue = "tue", Wed = "wed", Thu = "thu", Fri = "fri", Sat = "sat", Sun = "sun",
    }
}

impl Weekday {
    fn of(date: Date) -> Self {
        use jiff::civil::Weekday as W;
        match date.weekday() {
            W::Monday => Self::Mon,
            W::Tuesday => Self::Tue,
            W::Wednesday => Self::Wed,
            W::Thursday => Self::Thu,
            W::Friday => Self::Fri,
            W::Saturday => Self::Sat,
            W::Sunday => Self::Sun,
        }
    }
}

/// A wall-clock time of day in minutes after midnight; `24:00` ends a day that runs to
/// midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(u16);

impl ClockTime {
    pub const MIDNIGHT_END: ClockTime = ClockTime(24 * 60);

    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl FromStr for ClockTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a time of day like \"09:00\"");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(Self(h * 60 + m))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for ClockTime {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\d{1,2}:\d{2}$"))
            .examples([serde_json::json!("09:00")])
            .into()
    }
}
impl utoipa::ToSchema for ClockTime {}

/// Open from `start` (inclusive) to `end` (exclusive), wall-clock time in the schedule's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    pub start: ClockTime,
    pub end: ClockTime,
}

impl Interval {
    fn contains(&self, minute: u16) -> bool {
        self.start.minutes() <= minute && minute < self.end.minutes()
    }
}

/// A date whose hours differ from the weekly pattern: a holiday (no intervals) or a short day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleException {
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// Hours on that date; empty means closed all day.
    #[serde(default)]
    pub intervals: Vec<Interval>,
    /// What the day is, for people reading the schedule ("Новый год").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The working-hours definition shared by the API and storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// An IANA time zone name such as `Europe/Moscow`.
    pub time_zone: String,
    /// Intervals per weekday; a day left out is closed.
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, Vec<Interval>>)]
    pub weekly: BTreeMap<Weekday, Vec<Interval>>,
    #[serde(default)]
    pub exceptions: Vec<ScheduleException>,
}

/// A named schedule of one account.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Schedule {
    pub id: ScheduleId,
    pub account_id: AccountId,
    pub name: String,
    #[serde(flatten)]
    pub hours: Hours,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

pub const MAX_NAME: usize = 200;
const MAX_EXCEPTIONS: usize = 1000;

/// Reads weekly hours keyed by day names as people send them (`mon` ... `sun`), naming a
/// wrong key in the error.
pub fn parse_weekly(
    raw: BTreeMap<String, Vec<Interval>>,
) -> Validated<BTreeMap<Weekday, Vec<Interval>>> {
    raw.into_iter()
        .map(|(day, intervals)| {
            let weekday = day.parse::<Weekday>().map_err(|_| {
                FieldError::new(
                    format!("weekly.{day}"),
                    format!("not a day; expected one of: {}", Weekday::expected()),
                )
            })?;
            Ok((weekday, intervals))
        })
        .collect()
}

/// Parses a schedule name.
pub fn parse_name(value: &str) -> Validated<String> {
    validation::name("name", value, MAX_NAME)
}

fn check_intervals(intervals: &[Interval]) -> Validated<()> {
    let mut sorted: Vec<(usize, &Interval)> = intervals.iter().enumerate().collect();
    sorted.sort_by_key(|(_, i)| i.start);
    for (i, interval) in intervals.iter().enumerate() {
        if interval.start >= interval.end {
            return Err(FieldError::new(
                format!("[{i}]"),
                "start must be before end",
            ));
        }
    }
    for pair in sorted.windows(2) {
        if pair[1].1.start < pair[0].1.end {
            return Err(FieldError::new(
                format!("[{}]", pair[1].0),
                "overlaps another interval",
            ));
        }
    }
    Ok(())
}

impl Hours {
    /// Checks the time zone, every interval and the exceptions.
    pub fn check(&self) -> Validated<TimeZone> {
        let tz = TimeZone::get(&self.time_zone).map_err(|_| {
            FieldError::new(
                "time_zone",
                format!(
                    "{:?} is not an IANA time zone such as Europe/Moscow",
                    self.time_zone
                ),
            )
        })?;
        for (day, intervals) in &self.weekly {
            check_intervals(intervals).map_err(|e| e.within(&format!("weekly.{day}")))?;
        }
        if self.exceptions.len() > MAX_EXCEPTIONS {
            return Err(FieldError::new(
                "exceptions",
                format!("at most {MAX_EXCEPTIONS} dates"),
            ));
        }
        for (i, exception) in self.exceptions.iter().enumerate() {
            let field = format!("exceptions[{i}]");
            if self.exceptions[..i]
                .iter()
                .any(|e| e.date == exception.date)
            {
                return Err(FieldError::new(
                    format!("{field}.date"),
                    "the date is listed twice",
                ));
            }
            check_intervals(&exception.intervals)
                .map_err(|e| e.within(&format!("{field}.intervals")))?;
        }
        Ok(tz)
    }

    /// The schedule's zone. The tz database is built into the binary, so a zone that passed
    /// `check` is always found; one that did not (written around the API) is read as UTC:
    /// the hours still open and close, rather than the channel being open around the clock.
    fn zone(&self) -> TimeZone {
        TimeZone::get(&self.time_zone).unwrap_or(TimeZone::UTC)
    }

    /// Whether `at` falls inside working hours.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let local = at.to_zoned(self.zone());
        let date = local.date();
        let minute = (local.hour() as u16) * 60 + local.minute() as u16;
        let intervals = match self.exceptions.iter().find(|e| e.date == date) {
            Some(exception) => exception.intervals.as_slice(),
            None => self
                .weekly
                .get(&Weekday::of(date))
                .map_or(&[][..], Vec::as_slice),
        };
        intervals.iter().any(|i| i.contains(minute))
    }

    fn intervals_on(&self, date: Date) -> &[Interval] {
        match self.exceptions.iter().find(|e| e.date == date) {
            Some(exception) => exception.intervals.as_slice(),
            None => self
                .weekly
                .get(&Weekday::of(date))
                .map_or(&[][..], Vec::as_slice),
        }
    }

    /// The first moment at or after `at` inside working hours; `None` when the schedule does
    /// not open within a year. An interval that starts inside a daylight-saving gap opens
    /// when the clocks jump past it.
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        if self.is_open(at) {
            return Some(at);
        }
        let tz = self.zone();
        let mut date = at.to_zoned(tz.clone()).date();
        for _ in 0..=NEXT_OPEN_HORIZON_DAYS {
            let mut starts: Vec<Timestamp> = self
                .intervals_on(date)
                .iter()
                .filter_map(|i| {
                    let minutes = i.start.minutes();
                    let time = jiff::civil::time((minutes / 60) as i8, (minutes % 60) as i8, 0, 0);
                    date.to_datetime(time).to_zoned(tz.clone()).ok()
                })
                .map(|z| self.open_since(z.timestamp(), at))
                .filter(|t| *t > at && self.is_open(*t))
                .collect();
            starts.sort();
            if let Some(first) = starts.first() {
                return Some(*first);
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

const NEXT_OPEN_HORIZON_DAYS: usize = 400;
/// The longest daylight-saving jump in the tz database is two hours; an interval starting
/// inside one is really open from the jump on.
const LONGEST_GAP_MINUTES: usize = 180;

impl Hours {
    /// Steps back from an interval's computed start while still open, but not to `at`: finds
    /// the jump when the start fell into a daylight-saving gap.
    fn open_since(&self, start: Timestamp, at: Timestamp) -> Timestamp {
        let minute = jiff::SignedDuration::from_mins(1);
        let mut since = start;
        for _ in 0..LONGEST_GAP_MINUTES {
            match since.checked_sub(minute) {
                Ok(earlier) if earlier > at && self.is_open(earlier) => since = earlier,
                _ => break,
            }
        }
        since
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(json: serde_json::Value) -> Hours {
        serde_json::from_value(json).unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn open_inside_weekly_intervals_in_the_local_zone() {
        let h = hours(serde_json::json!({
            "time_zone": "Europe/Moscow",
            "weekly": {"mon": [{"start": "09:00", "end": "13:00"}, {"start": "14:00", "end": "18:00"}]}
        }));
        h.check().unwrap();
        // 2026-11-23 is a Monday; Moscow is UTC+3.
        assert!(h.is_open(at("2026-11-23T06:00:00Z")), "09:00 local");
        assert!(!h.is_open(at("2026-11-23T05:59:59Z")), "08:59 local");
        assert!(!h.is_open(at("2026-11-23T10:30:00Z")), "lunch");
        assert!(
            !h.is_open(at("2026-11-23T15:00:00Z")),
            "18:00 local is closed"
        );
        assert!(
            !h.is_open(at("2026-11-24T08:00:00Z")),
            "tuesday is not listed"
        );
    }

    #[test]
    fn exceptions_override_the_week() {
        let h = hours(serde_json::json!({
            "time_zone": "UTC",
            "weekly": {"thu": [{"start": "09:00", "end": "18:00"}], "fri": [{"start": "09:00", "end": "18:00"}]},
            "exceptions": [
                {"date": "2026-12-31", "intervals": [{"start": "09:00", "end": "12:00"}], "note": "short day"},
                {"date": "2027-01-01"}
            ]
        }));
        h.check().unwrap();
        assert!(h.is_open(at("2026-12-31T11:00:00Z")));
        assert!(
            !h.is_open(at("2026-12-31T13:00:00Z")),
            "short day ends at noon"
        );
        assert!(!h.is_open(at("2027-01-01T10:00:00Z")), "holiday");
    }

    #[test]
    fn daylight_saving_moves_the_utc_hours() {
        let h = hours(serde_json::json!({
            "time_zone": "Europe/Berlin",
            "weekly": {"fri": [{"start": "09:00", "end": "17:00"}], "mon": [{"start": "09:00", "end": "17:00"}]}
        }));
        // Friday before the change (CEST, UTC+2) and Monday after it (CET, UTC+1), 2026-10-25.
        assert!(h.is_open(at("2026-10-23T07:00:00Z")), "09:00 CEST");
        assert!(!h.is_open(at("2026-10-26T07:00:00Z")), "08:00 CET");
        assert!(h.is_open(at("2026-10-26T08:00:00Z")), "09:00 CET");
    }

    #[test]
    fn the_night_of_a_dst_change_has_no_missing_or_doubled_hour_for_us() {
        let h = hours(serde_json::json!({
            "time_zone": "Europe/Berlin",
            "weekly": {"sun": [{"start": "02:00", "end": "04:00"}]}
        }));
        // 2026-03-29: 02:00 local does not exist; 01:30Z is 03:30 CEST, inside.
        assert!(h.is_open(at("2026-03-29T01:30:00Z")));
        // 2026-10-25: 02:00-03:00 local happens twice; both are inside.
        assert!(h.is_open(at("2026-10-25T00:30:00Z")));
        assert!(h.is_open(at("2026-10-25T01:30:00Z")));
    }

    #[test]
    fn next_open_crosses_nights_holidays_and_dst() {
        let h = hours(serde_json::json!({
            "time_zone": "Europe/Berlin",
            "weekly": {"sat": [{"start": "09:00", "end": "17:00"}], "mon": [{"start": "09:00", "end": "17:00"}]},
            "exceptions": [{"date": "2026-03-30"}]
        }));
        // Saturday 2026-03-28 20:00 CET; Sunday the clocks go forward; Monday is a holiday:
        // the next opening is Saturday 2026-04-04 09:00 CEST = 07:00Z (not 08:00Z as in winter).
        assert_eq!(
            h.next_open(at("2026-03-28T19:00:00Z")),
            Some(at("2026-04-04T07:00:00Z"))
        );
        // Before the change the same local hour is 08:00Z.
        assert_eq!(
            h.next_open(at("2026-03-28T05:00:00Z")),
            Some(at("2026-03-28T08:00:00Z"))
        );
        assert_eq!(
            h.next_open(at("2026-03-28T10:00:00Z")),
            Some(at("2026-03-28T10:00:00Z")),
            "open now"
        );
        let never = hours(serde_json::json!({"time_zone": "UTC"}));
        assert_eq!(never.next_open(at("2026-03-28T10:00:00Z")), None);
    }

    #[test]
    fn an_interval_starting_in_the_dst_gap_opens_after_the_jump() {
        let h = hours(serde_json::json!({
            "time_zone": "Europe/Berlin",
            "weekly": {"sun": [{"start": "02:30", "end": "05:00"}]}
        }));
        // 2026-03-29 02:30 does not exist in Berlin; 03:00 CEST (01:00Z) is the first moment
        // inside the interval.
        let opens = h.next_open(at("2026-03-28T23:00:00Z")).unwrap();
        assert_eq!(opens, at("2026-03-29T01:00:00Z"));
    }

    /// A zone that never passed `check` does not open the channel around the clock: the
    /// hours are read in UTC. Zones come from the database built into the binary, not the
    /// host's (a host without tzdata knows no zones at all).
    #[test]
    fn an_unknown_zone_is_not_always_open() {
        let h = hours(serde_json::json!({
            "time_zone": "Mars/Base",
            "weekly": {"mon": [{"start": "09:00", "end": "18:00"}]}
        }));
        assert!(!h.is_open(at("2026-03-02T03:00:00Z")), "a Monday night");
        assert!(h.is_open(at("2026-03-02T10:00:00Z")));
        assert_eq!(
            h.next_open(at("2026-03-02T03:00:00Z")),
            Some(at("2026-03-02T09:00:00Z"))
        );
        assert!(TimeZone::get("Asia/Vladivostok").is_ok());
    }

    #[test]
    fn checks_name_the_bad_field() {
        let bad_tz = hours(serde_json::json!({"time_zone": "Mars/Base"}));
        assert_eq!(bad_tz.check().unwrap_err().field, "time_zone");
        let backwards = hours(
            serde_json::json!({"time_zone": "UTC", "weekly": {"tue": [{"start": "18:00", "end": "09:00"}]}}),
        );
        assert_eq!(backwards.check().unwrap_err().field, "weekly.tue[0]");
        let overlap = hours(serde_json::json!({"time_zone": "UTC", "weekly": {"wed": [
            {"start": "09:00", "end": "13:00"}, {"start": "12:00", "end": "18:00"}]}}));
        assert_eq!(overlap.check().unwrap_err().field, "weekly.wed[1]");
        let twice = hours(
            serde_json::json!({"time_zone": "UTC", "exceptions": [{"date": "2027-01-01"}, {"date": "2027-01-01"}]}),
        );
        assert_eq!(twice.check().unwrap_err().field, "exceptions[1].date");
    }

    #[test]
    fn weekly_keys_are_day_names() {
        let mut raw = BTreeMap::new();
        raw.insert("mon".to_string(), vec![]);
        assert!(parse_weekly(raw.clone())
            .unwrap()
            .contains_key(&Weekday::Mon));
        raw.insert("funday".to_string(), vec![]);
        assert_eq!(parse_weekly(raw).unwrap_err().field, "weekly.funday");
    }

    #[test]
    fn clock_times_parse_strictly() {
        assert_eq!("9:05".parse::<ClockTime>().unwrap().to_string(), "09:05");
        assert_eq!(
            "24:00".parse::<ClockTime>().unwrap(),
            ClockTime::MIDNIGHT_END
        );
        for bad in ["24:01", "25:00", "09:60", "0900", "9:5", "", ":00"] {
            assert!(bad.parse::<ClockTime>().is_err(), "{bad}");
        }
    }
}
