//! The business clock the read models count with (CONTRACT 9: statistics in business time):
//! the SLA calendars in force and the one pure business-time function the aggregate decides
//! due times with, so that a statistic and a due time cannot disagree.

use std::sync::Arc;

use sqlx::PgPool;
use ticket_projections::read_models::tickets::{BusinessClock, BusinessTime, PauseMs};

use crate::command_service::CommandService;
use crate::domain::business_time::{elapsed_ms, Pause};
use crate::domain::{Priority, SlaPolicy, TicketServices};
use crate::store::sla_policies;

/// Business time on the calendars of one SLA configuration.
impl BusinessTime for TicketServices {
    fn elapsed_ms(
        &self,
        priority: Priority,
        start_ms: i64,
        end_ms: i64,
        pauses: &[PauseMs],
    ) -> i64 {
        let pauses: Vec<Pause> = pauses
            .iter()
            .map(|&[start_ms, end_ms]| Pause { start_ms, end_ms })
            .collect();
        elapsed_ms(start_ms, end_ms, self.calendars.get(priority), &pauses)
    }
}

/// The calendars of one SLA configuration, shared.
struct Calendars(Arc<TicketServices>);

impl BusinessTime for Calendars {
    fn elapsed_ms(
        &self,
        priority: Priority,
        start_ms: i64,
        end_ms: i64,
        pauses: &[PauseMs],
    ) -> i64 {
        self.0.elapsed_ms(priority, start_ms, end_ms, pauses)
    }
}

/// The live projectors count with the configuration commands are decided with (read again
/// when a second old, see [`CommandService::services`]).
#[async_trait::async_trait]
impl BusinessClock for CommandService {
    async fn current(&self) -> Arc<dyn BusinessTime> {
        Arc::new(Calendars(self.services().await))
    }
}

/// The configuration in force when it was loaded: a rebuild counts every ticket with the
/// current calendars (CONTRACT 9: recomputation applies the current calendar and policy).
/// The default is the contract's targets on the 24×7 clock.
#[derive(Default)]
pub struct LoadedCalendars(Arc<TicketServices>);

impl LoadedCalendars {
    /// The stored policies over `base` (`TICKETD_SLA`) and the default calendar.
    pub async fn load(
        pool: &PgPool,
        base: &SlaPolicy,
        default_calendar: Option<uuid::Uuid>,
    ) -> Result<Self, sqlx::Error> {
        Ok(Self(Arc::new(
            sla_policies::load(pool, base, default_calendar).await?,
        )))
    }

    /// The policies and calendars loaded.
    pub fn services(&self) -> &TicketServices {
        &self.0
    }
}

#[async_trait::async_trait]
impl BusinessClock for LoadedCalendars {
    async fn current(&self) -> Arc<dyn BusinessTime> {
        Arc::new(Calendars(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::Calendar;
    use crate::domain::sla::PriorityCalendars;
    use std::collections::BTreeMap;

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn business_time_counts_the_priority_calendar_and_leaves_pauses_out() {
        let mut hours = BTreeMap::new();
        for day in ["mon", "tue", "wed", "thu", "fri"] {
            hours.insert(
                day.to_string(),
                vec![["08:00".to_string(), "18:00".to_string()]],
            );
        }
        let office = Arc::new(Calendar::new("Europe/Berlin", &hours, &[]).unwrap());
        let mut calendars = PriorityCalendars::default();
        calendars.set(Priority::High, office);
        let clock = Calendars(Arc::new(TicketServices {
            sla: SlaPolicy::default(),
            calendars,
        }));
        // Friday 17:00 to Monday 09:00 in Berlin (UTC+1): one hour on Friday, one on Monday.
        let (start, end) = (at("2026-12-04T16:00:00Z"), at("2026-12-07T08:00:00Z"));
        assert_eq!(clock.elapsed_ms(Priority::High, start, end, &[]), 7_200_000);
        // A pause over Monday's first half hour leaves it out.
        let pause = [at("2026-12-07T07:00:00Z"), at("2026-12-07T07:30:00Z")];
        assert_eq!(
            clock.elapsed_ms(Priority::High, start, end, &[pause]),
            5_400_000
        );
        // Other priorities stay on the 24x7 clock.
        assert_eq!(
            clock.elapsed_ms(Priority::Low, start, end, &[]),
            end - start
        );
    }
}
