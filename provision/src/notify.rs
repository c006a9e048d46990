//! `sdw-admin notify`: the reminder that SecureDrop Workstation has not been
//! updated for a while (upstream's `sdw-notify`, run by a user timer every 2 h).
//!
//! Owns the record of the last successful update (dom0's feature
//! [`LAST_UPDATE_FEATURE`], `YYYY-MM-DD HH:MM:SS` in UTC, written by
//! `sdw-admin update` when dom0 and every template updated, as upstream writes
//! `sdw-last-updated`), the decision (upstream's thresholds: warn when the last
//! update is more than 5 days old, or unknown, and the machine has been up for
//! more than 30 minutes) and the user timer's unit files.

use serde::Serialize;

use crate::check::days_from_date;

/// dom0's feature holding the time of the last successful `sdw-admin update` (UTC).
pub const LAST_UPDATE_FEATURE: &str = "sdw-last-update";
/// Upstream's `WARNING_THRESHOLD`: 5 days.
pub const WARNING_THRESHOLD_SECS: u64 = 5 * 86_400;
/// Upstream's `UPTIME_GRACE_PERIOD`: 30 minutes.
pub const UPTIME_GRACE_SECS: u64 = 1_800;

/// The user units (for every user, `systemctl --global enable sdw-notify.timer`).
pub const SERVICE_PATH: &str = "/etc/systemd/user/sdw-notify.service";
pub const TIMER_PATH: &str = "/etc/systemd/user/sdw-notify.timer";
pub const TIMER: &str = "sdw-notify.timer";
pub const SERVICE_UNIT: &str = "[Unit]\nDescription=SecureDrop Workstation update reminder\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/sdw-admin notify\n";
pub const TIMER_UNIT: &str = "[Unit]\nDescription=SecureDrop Workstation update reminder\n\n[Timer]\nOnStartupSec=2h\nOnUnitActiveSec=2h\n\n[Install]\nWantedBy=default.target\n";

/// Seconds since 1970-01-01 UTC as `YYYY-MM-DD HH:MM:SS`.
pub fn format_utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let rem = secs % 86_400;
    // civil_from_days (H. Hinnant), proleptic Gregorian
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) as seconds since 1970-01-01.
pub fn parse_utc(text: &str) -> Option<u64> {
    let (date, time) = text.trim().split_once(' ')?;
    let days = u64::try_from(days_from_date(date)?).ok()?;
    let mut hms = time.splitn(3, ':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    (h < 24 && m < 60 && s < 60).then_some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// What `sdw-admin notify` concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Show the reminder.
    Warn { message: String },
    /// Updated recently enough.
    Recent { hours_ago: u64 },
    /// Too long ago, but the machine was just started: the updater runs at login.
    GracePeriod { uptime_minutes: u64 },
}

/// Upstream's `is_update_check_necessary`: `last_update` is the feature's value (if any).
pub fn decide(last_update: Option<&str>, now: u64, uptime: u64) -> Decision {
    let reminder = |why: String| {
        Decision::Warn {
        message: format!(
            "{why} Update it now: double-click \"Update SecureDrop Workstation\" on the desktop (sdw-admin update)."
        ),
    }
    };
    let Some(text) = last_update else {
        return reminder("SecureDrop Workstation has never been updated.".into());
    };
    let Some(when) = parse_utc(text) else {
        return reminder(format!(
            "The time of the last SecureDrop Workstation update ({text:?}) cannot be read."
        ));
    };
    let ago = now.saturating_sub(when);
    if ago <= WARNING_THRESHOLD_SECS {
        return Decision::Recent {
            hours_ago: ago / 3600,
        };
    }
    if uptime <= UPTIME_GRACE_SECS {
        return Decision::GracePeriod {
            uptime_minutes: uptime / 60,
        };
    }
    reminder(format!(
        "SecureDrop Workstation was last updated {} days ago ({text} UTC).",
        ago / 86_400
    ))
}

/// Seconds of uptime from the text of `/proc/uptime`.
pub fn parse_uptime(text: &str) -> Option<u64> {
    let first = text.split_whitespace().next()?;
    let whole = first.split('.').next()?;
    whole.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_round_trip_in_upstream_s_format() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_utc(1_795_957_199), "2026-11-29 12:59:59");
        for secs in [0, 951_782_400, 1_795_957_199, 4_102_444_799] {
            assert_eq!(parse_utc(&format_utc(secs)), Some(secs));
        }
        assert_eq!(parse_utc("2026-11-29"), None);
        assert_eq!(parse_utc("2026-11-29 24:00:00"), None);
        assert_eq!(parse_utc("yesterday"), None);
    }

    #[test]
    fn warns_after_five_days_once_the_machine_has_been_up_half_an_hour() {
        let now = 1_795_957_199;
        let at = |secs_ago: u64| format_utc(now - secs_ago);
        assert_eq!(
            decide(Some(&at(2 * 3600)), now, 99_999),
            Decision::Recent { hours_ago: 2 }
        );
        assert_eq!(
            decide(Some(&at(WARNING_THRESHOLD_SECS)), now, 99_999),
            Decision::Recent { hours_ago: 120 }
        );
        assert_eq!(
            decide(Some(&at(6 * 86_400)), now, 1_200),
            Decision::GracePeriod { uptime_minutes: 20 }
        );
        let Decision::Warn { message } = decide(Some(&at(6 * 86_400)), now, 3_600) else {
            panic!("no warning")
        };
        assert!(
            message.starts_with(
                "SecureDrop Workstation was last updated 6 days ago (2026-11-23 12:59:59 UTC)."
            ),
            "{message}"
        );
        assert!(
            matches!(decide(None, now, 60), Decision::Warn { message } if message.starts_with("SecureDrop Workstation has never been updated."))
        );
        assert!(matches!(
            decide(Some("garbage"), now, 60),
            Decision::Warn { .. }
        ));
        assert_eq!(parse_uptime("12345.67 2345.00\n"), Some(12_345));
        assert_eq!(parse_uptime(""), None);
    }
}
