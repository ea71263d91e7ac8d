use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn open() -> TicketFacts {
    TicketFacts {
        created_at: t("2026-11-23T10:00:00Z"),
        status: Status::Open,
        priority: Priority::High,
        category: "network".into(),
        channel: Channel::Web,
        assignee_id: None,
        first_response_at: None,
        closed_at: None,
        rating_score: None,
        first_response_due: t("2026-11-23T12:00:00Z"),
        resolution_due: t("2026-11-24T10:00:00Z"),
        first_response_breach_recorded: false,
        resolution_breach_recorded: false,
        pending_since: None,
        paused_seconds: 0,
        requester_id: Uuid::from_u128(3),
        first_response_business_ms: None,
        resolution_business_ms: None,
        team_id: None,
    }
}

fn net(delta: &Delta, grain: Grain, metric: &str, key: &str) -> (i64, i64) {
    delta
        .changes
        .iter()
        .filter(|((g, _, m, k), _)| *g == grain && *m == metric && k == key)
        .map(|(_, v)| *v)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

#[test]
fn a_close_moves_a_count_and_adds_a_resolution_to_the_day_and_the_month() {
    let before = open();
    let agent = Uuid::from_u128(7);
    let after = TicketFacts {
        status: Status::Closed,
        assignee_id: Some(agent),
        first_response_at: Some(t("2026-11-23T10:30:00Z")),
        closed_at: Some(t("2026-11-23T11:00:00Z")),
        ..open()
    };
    let mut delta = Delta::default();
    delta.replace(Some(&before), Some(&after));
    for grain in [Grain::Day, Grain::Week, Grain::Month] {
        assert_eq!(net(&delta, grain, STATUS, "open"), (-1, 0));
        assert_eq!(net(&delta, grain, STATUS, "closed"), (1, 0));
        assert_eq!(net(&delta, grain, PRIORITY, "high"), (0, 0));
        assert_eq!(net(&delta, grain, RESOLUTION, ""), (1, 3_600_000_000));
        assert_eq!(net(&delta, grain, FIRST_RESPONSE, ""), (1, 1_800_000_000));
        assert_eq!(net(&delta, grain, FIRST_RESPONSE_MET, ""), (1, 0));
        assert_eq!(net(&delta, grain, RESOLUTION_DECIDED, ""), (1, 0));
        assert_eq!(
            net(&delta, grain, AGENT_CLOSED, &agent.to_string()),
            (1, 3_600_000_000)
        );
        assert_eq!(net(&delta, grain, CHANNEL_CLOSED, "web"), (1, 0));
        let bucket = histogram::bucket(3_600_000_000);
        assert_eq!(
            net(
                &delta,
                grain,
                CHANNEL_RESOLUTION_HISTOGRAM,
                &histogram_key("web", bucket)
            ),
            (1, 0)
        );
        assert_eq!(
            net(&delta, grain, REQUESTER, &Uuid::from_u128(3).to_string()),
            (0, 0),
            "the requester's count stays as the ticket changes"
        );
    }
    assert_eq!(
        parse_histogram_key(&histogram_key("chat", -1)),
        Some(("chat", -1))
    );
    assert_eq!(parse_histogram_key(&histogram_key("", 7)), Some(("", 7)));
    assert_eq!(
        kept(CHANNEL_RESOLUTION_HISTOGRAM, "web|12"),
        Some(Kept::Bucket("web", 12))
    );
    assert_eq!(kept(STATUS, "open"), Some(Kept::Figure));
    assert_eq!(kept(RESOLUTION_BUSINESS_HISTOGRAM, "12"), None);
    let mut created = Delta::default();
    created.replace(None, Some(&before));
    assert_eq!(
        net(
            &created,
            Grain::All,
            REQUESTER,
            &Uuid::from_u128(3).to_string()
        ),
        (1, 0)
    );
    assert!(delta
        .changes
        .keys()
        .any(|(g, p, _, _)| *g == Grain::Month
            && *p == NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()));
}

#[test]
fn weeks_start_on_mondays_or_the_first_and_tile_each_month() {
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    // 2026-12-01 is a Tuesday; 2026-11-30 a Monday.
    assert_eq!(week_of(d("2026-12-01")), d("2026-12-01"));
    assert_eq!(week_of(d("2026-12-06")), d("2026-12-01"));
    assert_eq!(week_of(d("2026-12-07")), d("2026-12-07"));
    assert_eq!(week_of(d("2026-11-30")), d("2026-11-30"));
    assert_eq!(week_end(d("2026-11-30")), d("2026-12-01"));
    assert_eq!(week_end(d("2026-12-01")), d("2026-12-07"));
    assert_eq!(week_end(d("2026-12-28")), d("2027-01-01"));
    for month in ["2026-02-01", "2026-11-01", "2027-03-01"] {
        let (mut at, end) = (d(month), month_of(d(month)) + chrono::Months::new(1));
        while at < end {
            assert_eq!(week_of(at), at, "{at} starts a piece");
            let next = week_end(at);
            for day in at.iter_days().take_while(|x| *x < next) {
                assert_eq!(week_of(day), at);
            }
            at = next;
        }
        assert_eq!(at, end);
    }
}

#[test]
fn board_keys_split_whole_whatever_the_category_holds() {
    let agent = Uuid::from_u128(9);
    let key = board_key(Some(agent), "in_progress", "a|b");
    assert_eq!(
        parse_board_key(&key),
        Some((Some(agent), "in_progress", "a|b"))
    );
    assert_eq!(
        parse_board_key(&board_key(None, "open", "network")),
        Some((None, "open", "network"))
    );
    let mut delta = Delta::default();
    delta.replace(None, Some(&open()));
    assert_eq!(
        net(
            &delta,
            Grain::All,
            BOARD,
            &board_key(None, "open", "network")
        ),
        (1, 0)
    );
    assert_eq!(net(&delta, Grain::All, STATUS, "open"), (1, 0));
}

#[test]
fn an_unchanged_ticket_changes_nothing_and_a_late_response_is_decided_but_not_met() {
    let mut delta = Delta::default();
    delta.replace(Some(&open()), Some(&open()));
    assert!(delta.changes.is_empty());
    let late = TicketFacts {
        first_response_at: Some(t("2026-11-23T13:00:00Z")),
        ..open()
    };
    let entries = late.entries();
    assert!(entries.iter().any(|e| e.0 == FIRST_RESPONSE_DECIDED));
    assert!(!entries.iter().any(|e| e.0 == FIRST_RESPONSE_MET));
    assert!(
        !open().entries().iter().any(|e| e.0 == RESOLUTION_DECIDED),
        "an open ticket's resolution is decided only once its due time passes (at query time)"
    );
}

#[test]
fn business_times_are_summed_beside_the_wall_clock_ones() {
    // Answered after 30 minutes of which 10 were business time, closed after 1 h (20 min).
    let after = TicketFacts {
        status: Status::Closed,
        first_response_at: Some(t("2026-11-23T10:30:00Z")),
        closed_at: Some(t("2026-11-23T11:00:00Z")),
        first_response_business_ms: Some(600_000),
        resolution_business_ms: Some(1_200_000),
        ..open()
    };
    let mut delta = Delta::default();
    delta.replace(Some(&open()), Some(&after));
    for grain in [Grain::Day, Grain::Week, Grain::Month, Grain::All] {
        assert_eq!(net(&delta, grain, FIRST_RESPONSE, ""), (1, 1_800_000_000));
        assert_eq!(
            net(&delta, grain, FIRST_RESPONSE_BUSINESS, ""),
            (1, 600_000_000)
        );
        assert_eq!(
            net(
                &delta,
                grain,
                FIRST_RESPONSE_BUSINESS_HISTOGRAM,
                &histogram_key("", histogram::bucket(600_000_000))
            ),
            (1, 0)
        );
        assert_eq!(
            net(&delta, grain, RESOLUTION_BUSINESS, ""),
            (1, 1_200_000_000)
        );
    }
}

#[test]
fn breaches_count_each_missed_target_by_priority_and_by_agent() {
    let agent = Uuid::from_u128(7);
    // The first response came late and the resolution breach was recorded: two breaches.
    let missed = TicketFacts {
        assignee_id: Some(agent),
        first_response_at: Some(t("2026-11-23T13:00:00Z")),
        resolution_breach_recorded: true,
        ..open()
    };
    let entries = missed.entries();
    assert!(entries.contains(&(BREACHES, "high".to_string(), 2, 0)));
    assert!(entries.contains(&(AGENT_BREACHES, agent.to_string(), 2, 0)));
    // A first response in time breaches nothing.
    let met = TicketFacts {
        assignee_id: Some(agent),
        first_response_at: Some(t("2026-11-23T11:00:00Z")),
        ..open()
    };
    assert!(!met
        .entries()
        .iter()
        .any(|e| e.0 == BREACHES || e.0 == AGENT_BREACHES));
}

#[test]
fn a_teams_tickets_count_for_it_open_then_closed_with_their_resolution_and_rating() {
    let team = Uuid::from_u128(11);
    let given = TicketFacts {
        team_id: Some(team),
        ..open()
    };
    let mut delta = Delta::default();
    delta.replace(Some(&open()), Some(&given));
    assert_eq!(
        net(&delta, Grain::Day, TEAM_OPEN, &team.to_string()),
        (1, 0)
    );
    let closed = TicketFacts {
        status: Status::Closed,
        closed_at: Some(t("2026-11-23T12:00:00Z")),
        rating_score: Some(4),
        ..given.clone()
    };
    let mut delta = Delta::default();
    delta.replace(Some(&given), Some(&closed));
    let key = team.to_string();
    for grain in [Grain::Day, Grain::Week, Grain::Month, Grain::All] {
        assert_eq!(net(&delta, grain, TEAM_OPEN, &key), (-1, 0));
        assert_eq!(net(&delta, grain, TEAM_CLOSED, &key), (1, 7_200_000_000));
        assert_eq!(net(&delta, grain, TEAM_RATED, &key), (1, 4));
    }
    assert!(
        !open().entries().iter().any(|e| e.0.starts_with("team_")),
        "a ticket without a team counts for none"
    );
}

mod replace {
    use super::*;
    use proptest::prelude::*;

    /// What `replace` must give: every entry of `before` taken out and every entry of `after`
    /// put in, in each period of its creation day, nothing cancelled beforehand.
    fn entry_by_entry(before: Option<&TicketFacts>, after: Option<&TicketFacts>) -> Delta {
        let mut delta = Delta::default();
        for (facts, sign) in [(before, -1), (after, 1)] {
            let Some(facts) = facts else { continue };
            let day = facts.created_at.date_naive();
            let board = board_key(facts.assignee_id, facts.status.as_str(), &facts.category);
            delta
                .changes
                .entry((Grain::All, ALL_TIME, BOARD, board))
                .or_default()
                .0 += sign;
            for (metric, key, n, total) in facts.entries() {
                for (grain, period) in [
                    (Grain::Day, day),
                    (Grain::Week, week_of(day)),
                    (Grain::Month, month_of(day)),
                    (Grain::All, ALL_TIME),
                ] {
                    let entry = delta
                        .changes
                        .entry((grain, period, metric, key.clone()))
                        .or_default();
                    entry.0 += sign * n;
                    entry.1 += sign * total;
                }
            }
        }
        delta
    }

    fn nonzero(delta: Delta) -> std::collections::HashMap<Key, (i64, i64)> {
        delta
            .changes
            .into_iter()
            .filter(|(_, v)| *v != (0, 0))
            .collect()
    }

    fn facts() -> impl Strategy<Value = TicketFacts> {
        let minutes = |m: i64| t("2026-11-23T10:00:00Z") + chrono::TimeDelta::minutes(m);
        (
            (0..2usize, 0..4usize, 0..4usize, 0..2usize, 0..5usize),
            (0..3u128, 0..3u128, proptest::option::of(1..600i64)),
            (
                proptest::option::of(1..3000i64),
                proptest::option::of(1..=5i16),
            ),
            (any::<bool>(), any::<bool>(), 0..2u128),
            (
                proptest::option::of(0..10_000_000i64),
                proptest::option::of(0..10_000_000i64),
            ),
        )
            .prop_map(
                move |(
                    (day, status, priority, category, channel),
                    (assignee, team, first_response),
                    (closed, rating),
                    (first_breach, resolution_breach, requester),
                    (first_business, resolution_business),
                )| TicketFacts {
                    created_at: minutes(day as i64 * 24 * 60),
                    status: Status::ALL[status],
                    priority: Priority::ALL[priority],
                    category: ["network", "hardware"][category].into(),
                    channel: Channel::ALL[channel],
                    assignee_id: (assignee > 0).then(|| Uuid::from_u128(assignee)),
                    first_response_at: first_response.map(minutes),
                    closed_at: closed.map(minutes),
                    rating_score: rating,
                    first_response_due: minutes(120),
                    resolution_due: minutes(24 * 60),
                    first_response_breach_recorded: first_breach,
                    resolution_breach_recorded: resolution_breach,
                    pending_since: None,
                    paused_seconds: 0,
                    requester_id: Uuid::from_u128(requester + 10),
                    first_response_business_ms: first_business,
                    resolution_business_ms: resolution_business,
                    team_id: (team > 0).then(|| Uuid::from_u128(team + 20)),
                },
            )
    }

    proptest! {
        /// Entries the two sides share cancel before they are spread over the periods; the
        /// change is the same as taking out and putting in every entry.
        #[test]
        fn cancelling_shared_entries_changes_nothing(
            before in proptest::option::of(facts()),
            after in proptest::option::of(facts()),
        ) {
            let mut delta = Delta::default();
            delta.replace(before.as_ref(), after.as_ref());
            prop_assert_eq!(
                nonzero(delta),
                nonzero(entry_by_entry(before.as_ref(), after.as_ref()))
            );
        }
    }
}
