//! SLA targets by priority (CONTRACT 1), counted from a ticket's creation.

use std::sync::Arc;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use ticket_nats::events::SlaDue;
use ticket_nats::Timestamp;

use super::business_time::{due_ms, Pause, HORIZON_DAYS};
use super::calendar::Calendar;
use super::values::{Priority, UnknownName};

/// First-response and resolution targets of one priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaTargets {
    /// Seconds from creation until the first response is due.
    pub first_response_secs: i64,
    /// Seconds from creation until resolution is due.
    pub resolution_secs: i64,
    /// Seconds from a requester's comment until the next public staff reply is due; `None`:
    /// no next-response target.
    #[serde(default)]
    pub next_response_secs: Option<i64>,
}

/// The targets of every priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPolicy {
    /// `urgent`.
    pub urgent: SlaTargets,
    /// `high`.
    pub high: SlaTargets,
    /// `medium`.
    pub medium: SlaTargets,
    /// `low`.
    pub low: SlaTargets,
}

impl Default for SlaPolicy {
    /// The contract's defaults: 15 min / 1 h, 1 h / 4 h, 4 h / 24 h, 24 h / 72 h.
    fn default() -> Self {
        const H: i64 = 3600;
        Self {
            urgent: SlaTargets {
                first_response_secs: 15 * 60,
                resolution_secs: H,
                next_response_secs: None,
            },
            high: SlaTargets {
                first_response_secs: H,
                resolution_secs: 4 * H,
                next_response_secs: None,
            },
            medium: SlaTargets {
                first_response_secs: 4 * H,
                resolution_secs: 24 * H,
                next_response_secs: None,
            },
            low: SlaTargets {
                first_response_secs: 24 * H,
                resolution_secs: 72 * H,
                next_response_secs: None,
            },
        }
    }
}

impl SlaPolicy {
    /// The targets of `priority`.
    pub fn targets(&self, priority: Priority) -> SlaTargets {
        match priority {
            Priority::Urgent => self.urgent,
            Priority::High => self.high,
            Priority::Medium => self.medium,
            Priority::Low => self.low,
        }
    }

    /// The due times of a ticket of `priority` created at `created_at`, on the 24×7 clock
    /// without pauses.
    pub fn due(&self, created_at: Timestamp, priority: Priority) -> SlaDue {
        self.due_in(&Calendar::always(), created_at, priority, &[])
    }

    /// The due times of a ticket of `priority` created at `created_at`, counting business time
    /// of `calendar` and leaving out `pauses` (CONTRACT 9).
    pub fn due_in(
        &self,
        calendar: &Calendar,
        created_at: Timestamp,
        priority: Priority,
        pauses: &[Pause],
    ) -> SlaDue {
        let t = self.targets(priority);
        SlaDue {
            first_response_due: due_after(calendar, created_at, t.first_response_secs, pauses),
            resolution_due: due_after(calendar, created_at, t.resolution_secs, pauses),
        }
    }

    /// Replaces the targets of `priority`.
    pub fn set(&mut self, priority: Priority, targets: SlaTargets) {
        match priority {
            Priority::Urgent => self.urgent = targets,
            Priority::High => self.high = targets,
            Priority::Medium => self.medium = targets,
            Priority::Low => self.low = targets,
        }
    }

    /// Parses `urgent=900/3600,high=3600/14400/1800,…` (seconds: first response / resolution,
    /// and optionally / next response); priorities left out keep their defaults.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut policy = Self::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, targets) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not priority=first/resolution"))?;
            let priority: Priority = name
                .trim()
                .parse()
                .map_err(|e: UnknownName| e.to_string())?;
            let mut parts = targets.split('/');
            let (Some(first), Some(resolution), next, None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(format!(
                    "'{targets}' is not first/resolution[/next] seconds"
                ));
            };
            let secs = |s: &str| {
                s.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("'{s}' is not a positive number of seconds"))
            };
            let t = SlaTargets {
                first_response_secs: secs(first)?,
                resolution_secs: secs(resolution)?,
                next_response_secs: next.map(secs).transpose()?,
            };
            match priority {
                Priority::Urgent => policy.urgent = t,
                Priority::High => policy.high = t,
                Priority::Medium => policy.medium = t,
                Priority::Low => policy.low = t,
            }
        }
        Ok(policy)
    }
}

/// The calendar each priority's targets count (CONTRACT 9: its policy's, else the default).
#[derive(Debug, Clone, Default)]
pub struct PriorityCalendars([Arc<Calendar>; 4]);

impl PriorityCalendars {
    /// `calendar` for every priority.
    pub fn all(calendar: Arc<Calendar>) -> Self {
        Self([
            calendar.clone(),
            calendar.clone(),
            calendar.clone(),
            calendar,
        ])
    }

    fn index(priority: Priority) -> usize {
        match priority {
            Priority::Low => 0,
            Priority::Medium => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }

    /// The calendar of `priority`.
    pub fn get(&self, priority: Priority) -> &Calendar {
        &self.0[Self::index(priority)]
    }

    /// Sets the calendar of `priority`.
    pub fn set(&mut self, priority: Priority, calendar: Arc<Calendar>) {
        self.0[Self::index(priority)] = calendar;
    }
}

/// The instant `secs` of business time after `start`. A calendar open so rarely that this lies
/// beyond the clock's horizon gets the horizon: a due time decades ahead, never a wrong early one.
pub fn due_after(calendar: &Calendar, start: Timestamp, secs: i64, pauses: &[Pause]) -> Timestamp {
    let start_ms = start.as_datetime().timestamp_millis();
    let due = due_ms(start_ms, secs.saturating_mul(1000), calendar, pauses)
        .unwrap_or(start_ms.saturating_add(HORIZON_DAYS * 86_400_000));
    let by = TimeDelta::try_milliseconds(due - start_ms).unwrap_or(TimeDelta::zero());
    start.plus(by)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_follow_the_contract_defaults() {
        let created: Timestamp = "2026-11-23T10:00:00.000Z".parse().unwrap();
        let due = SlaPolicy::default().due(created, Priority::Urgent);
        assert_eq!(
            due.first_response_due.to_string(),
            "2026-11-23T10:15:00.000Z"
        );
        assert_eq!(due.resolution_due.to_string(), "2026-11-23T11:00:00.000Z");
        let low = SlaPolicy::default().due(created, Priority::Low);
        assert_eq!(low.resolution_due.to_string(), "2026-11-26T10:00:00.000Z");
    }

    #[test]
    fn a_policy_spec_overrides_only_what_it_names() {
        let policy = SlaPolicy::parse("urgent=2/4").unwrap();
        assert_eq!(policy.urgent.first_response_secs, 2);
        assert_eq!(policy.high, SlaPolicy::default().high);
        assert!(SlaPolicy::parse("urgent=0/4").is_err());
        assert!(SlaPolicy::parse("soon=1/2").is_err());
        assert_eq!(policy.urgent.next_response_secs, None);
        let with_next = SlaPolicy::parse("high=60/120/30").unwrap();
        assert_eq!(with_next.high.next_response_secs, Some(30));
        assert!(SlaPolicy::parse("high=60/120/0").is_err());
        assert!(SlaPolicy::parse("high=60/120/30/1").is_err());
    }
}
