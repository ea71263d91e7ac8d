//! A help desk's two years: `N` tickets with comments, assignments, priority changes, closes,
//! reopenings and ratings, written as sealed events straight into a store and turned into read
//! models by the engine's own full rebuild. Made once per size in a database of its own
//! (`ticketd_bench_data_<N>`) and reused by later runs.

use std::time::Instant;

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use ticket_nats::envelope::{Actor, EnvelopeHeader};
use ticket_nats::events::{
    AuthorRef, FieldChange, RequesterRef, SlaBreached, SlaDue, SlaTarget, TicketAssigned,
    TicketChanges, TicketClosed, TicketCommented, TicketCreated, TicketRated, TicketReopened,
    TicketUpdated, UserRef,
};
use ticket_nats::{Channel, Envelope, Priority, TicketEvent, Timestamp, GENESIS_HASH};
use uuid::Uuid;

use super::db::with_database;
use super::Rng;

/// Agents working the desk.
pub const AGENTS: usize = 20;
const CATEGORIES: [&str; 8] = [
    "hardware", "software", "network", "email", "printer", "access", "backup", "other",
];
const CHANNELS: [(Channel, usize); 5] = [
    (Channel::Web, 40),
    (Channel::Email, 30),
    (Channel::Chat, 15),
    (Channel::Api, 10),
    (Channel::Phone, 5),
];
const PRIORITIES: [(Priority, usize); 4] = [
    (Priority::Low, 30),
    (Priority::Medium, 40),
    (Priority::High, 20),
    (Priority::Urgent, 10),
];
/// Words of titles and descriptions; earlier ones are more frequent.
const WORDS: [&str; 48] = [
    "cannot",
    "login",
    "printer",
    "vpn",
    "email",
    "slow",
    "laptop",
    "password",
    "reset",
    "error",
    "network",
    "outlook",
    "screen",
    "install",
    "access",
    "drive",
    "share",
    "wifi",
    "teams",
    "license",
    "update",
    "crash",
    "monitor",
    "keyboard",
    "mouse",
    "battery",
    "badge",
    "folder",
    "backup",
    "restore",
    "server",
    "database",
    "invoice",
    "payroll",
    "calendar",
    "meeting",
    "projector",
    "scanner",
    "toner",
    "jam",
    "firmware",
    "driver",
    "certificate",
    "token",
    "proxy",
    "firewall",
    "dock",
    "headset",
];

/// Who the data set's people are, for tokens and filters.
#[derive(Debug, Clone)]
pub struct People {
    pub agents: Vec<UserRef>,
    pub requesters: Vec<RequesterRef>,
}

/// Deterministic ids, so that a reused data set's people are known without reading them back.
fn person_id(kind: u128, n: usize) -> Uuid {
    Uuid::from_u128((kind << 64) | n as u128 | 0x7000_0000_0000_0000_0000_0000_0000_0000)
}

pub fn people(tickets: usize) -> People {
    People {
        agents: (0..AGENTS)
            .map(|n| UserRef {
                id: person_id(1, n),
                name: format!("Agent {n:02}"),
            })
            .collect(),
        requesters: (0..(tickets / 20).max(50))
            .map(|n| RequesterRef {
                id: person_id(2, n),
                name: format!("Requester {n}"),
                email: Some(format!("requester{n}@bench.test")),
            })
            .collect(),
    }
}

fn weighted<T: Copy>(rng: &mut Rng, choices: &[(T, usize)]) -> T {
    let total: usize = choices.iter().map(|c| c.1).sum();
    let mut pick = rng.below(total);
    for &(choice, weight) in choices {
        if pick < weight {
            return choice;
        }
        pick -= weight;
    }
    choices[0].0
}

/// A word, the first ones far more often (about Zipf's law).
fn word(rng: &mut Rng) -> &'static str {
    let a = rng.below(WORDS.len());
    WORDS[rng.below(a + 1)]
}

fn words(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| word(rng)).collect::<Vec<_>>().join(" ")
}

/// A ticket's title and description, in the words of the set's tickets. Tickets the runs open
/// on a reused set take them too: titled alike, thousands of them at the newest end of the
/// creation order changed how a search for a word finds its newest matches.
pub fn text(rng: &mut Rng) -> (String, String) {
    let title_words = 3 + rng.below(3);
    let title = words(rng, title_words);
    let description_words = 8 + rng.below(8);
    let description = format!("{}. {}", words(rng, description_words), words(rng, 6));
    (title, description)
}

/// Minutes from a log-uniform spread between `lo` and `hi`.
fn minutes(rng: &mut Rng, lo: f64, hi: f64) -> i64 {
    let u = rng.below(1_000_000) as f64 / 1_000_000.0;
    (lo.ln() + u * (hi.ln() - lo.ln())).exp() as i64
}

/// An event with its time and actor.
type Timed = (TicketEvent, Timestamp, Actor);

/// Minutes to the first response and to the resolution, by priority.
fn targets(priority: Priority) -> (i64, i64) {
    match priority {
        Priority::Urgent => (60, 8 * 60),
        Priority::High => (4 * 60, 24 * 60),
        Priority::Medium => (8 * 60, 3 * 24 * 60),
        Priority::Low => (24 * 60, 5 * 24 * 60),
    }
}

/// One ticket's events with their times and actors, in order, with the SLA breaches the
/// engine's timer records (so that it finds none to record when the engine starts).
fn ticket(
    n: i64,
    created: Timestamp,
    now: Timestamp,
    people: &People,
    rng: &mut Rng,
) -> Vec<Timed> {
    let age = (now.as_datetime() - created.as_datetime()).num_minutes();
    let (mut events, priority) = ticket_life(n, created, age, people, rng);
    let (first_response, resolution) = targets(priority);
    let minute = |e: &Timed| (e.1.as_datetime() - created.as_datetime()).num_minutes();
    let responded = events
        .iter()
        .find(|e| matches!(&e.0, TicketEvent::Commented(c) if c.author.role == "agent"))
        .map(minute);
    let closed = events
        .iter()
        .find(|e| matches!(e.0, TicketEvent::Closed(_)))
        .map(minute);
    for (target, due, done) in [
        (
            SlaTarget::FirstResponse,
            first_response,
            responded.or(closed),
        ),
        (SlaTarget::Resolution, resolution, closed),
    ] {
        // Recorded when the target passes while still awaited (a first response is not
        // awaited once the ticket is closed).
        if due < age && done.is_none_or(|at| at > due) {
            let due_at = created.plus(TimeDelta::minutes(due));
            events.push((
                TicketEvent::SlaBreached(SlaBreached { target, due_at }),
                due_at.plus(TimeDelta::seconds(1)),
                Actor::system(),
            ));
        }
    }
    // Creation first, then by time (stable: same-minute events keep their order).
    events[1..].sort_by_key(|e| e.1.as_datetime());
    events
}

/// One ticket's life without SLA breaches, and its priority at creation.
fn ticket_life(
    n: i64,
    created: Timestamp,
    age: i64,
    people: &People,
    rng: &mut Rng,
) -> (Vec<Timed>, Priority) {
    let requester = &people.requesters[rng.below(people.requesters.len())];
    let agent = &people.agents[rng.below(people.agents.len())];
    let as_requester = Actor {
        id: requester.id.to_string(),
        name: requester.name.clone(),
        role: "requester".into(),
    };
    let as_agent = Actor {
        id: agent.id.to_string(),
        name: agent.name.clone(),
        role: "agent".into(),
    };
    let at = |m: i64| created.plus(TimeDelta::minutes(m));
    let priority = weighted(rng, &PRIORITIES);
    let (due_response, due_resolution) = targets(priority);
    let (title, description) = text(rng);
    let mut events = vec![(
        TicketEvent::Created(TicketCreated {
            number: n,
            title: title.clone(),
            description,
            category: CATEGORIES[rng.below(CATEGORIES.len())].into(),
            priority,
            channel: weighted(rng, &CHANNELS),
            requester: requester.clone(),
            integration: None,
            metadata: None,
            fields: None,
            sla: SlaDue {
                first_response_due: at(due_response),
                resolution_due: at(due_resolution),
            },
        }),
        created,
        as_requester.clone(),
    )];
    let comment = |by_agent: bool, i: usize| {
        TicketEvent::Commented(TicketCommented {
            comment_id: Uuid::now_v7(),
            author: AuthorRef {
                id: if by_agent { agent.id } else { requester.id },
                name: if by_agent {
                    agent.name.clone()
                } else {
                    requester.name.clone()
                },
                role: if by_agent { "agent" } else { "requester" }.into(),
            },
            body: format!("comment {i}: {}", "details ".repeat(4)),
            via: None,
            internal: by_agent && i % 4 == 3,
            attachments: Vec::new(),
        })
    };
    // Young tickets may still wait for a response; every other one had it.
    let response = minutes(rng, 2.0, 24.0 * 60.0);
    if response >= age {
        return (events, priority);
    }
    events.push((
        TicketEvent::Assigned(TicketAssigned {
            assignee: Some(agent.clone()),
            previous_assignee: None,
            team: None,
        }),
        at(response),
        as_agent.clone(),
    ));
    events.push((comment(true, 0), at(response + 1), as_agent.clone()));
    if rng.below(2) == 0 {
        events.push((comment(false, 1), at(response + 30), as_requester.clone()));
    }
    if rng.below(20) == 0 {
        let to = if priority == Priority::Urgent {
            Priority::High
        } else {
            Priority::Urgent
        };
        events.push((
            TicketEvent::Updated(TicketUpdated {
                changes: TicketChanges {
                    priority: Some(FieldChange { from: priority, to }),
                    ..Default::default()
                },
                sla: None,
            }),
            at(response + 40),
            as_agent.clone(),
        ));
    }
    let resolution = response + 60 + minutes(rng, 10.0, 5.0 * 24.0 * 60.0);
    // Tickets younger than a day and a half may be open; older ones are closed.
    if resolution >= age && age < 36 * 60 {
        return (events, priority);
    }
    let closed = resolution.min(age.saturating_sub(1).max(response + 61));
    let close = |resolution: &str| {
        TicketEvent::Closed(TicketClosed {
            resolution: Some(resolution.into()),
        })
    };
    events.push((close("Fixed"), at(closed), as_agent.clone()));
    let mut last = closed;
    if rng.below(30) == 0 && closed + 120 < age {
        events.push((
            TicketEvent::Reopened(TicketReopened {
                reason: Some("It came back".into()),
            }),
            at(closed + 60),
            as_requester.clone(),
        ));
        events.push((close("Fixed again"), at(closed + 120), as_agent.clone()));
        last = closed + 120;
    }
    if rng.below(5) < 3 && last + 60 < age {
        events.push((
            TicketEvent::Rated(TicketRated {
                score: [5, 5, 4, 4, 4, 3, 2, 1][rng.below(8)],
                comment: None,
                assignee: Some(agent.clone()),
            }),
            at(last + 60),
            as_requester,
        ));
    }
    (events, priority)
}

/// The data set of `tickets` tickets: its database URL, made if it is not there yet.
pub async fn ensure(admin_url: &str, tickets: usize) -> anyhow::Result<String> {
    let name = format!("ticketd_bench_data_{tickets}");
    let url = with_database(admin_url, &name);
    let mut admin = PgConnection::connect(admin_url)
        .await
        .context("connect to Postgres (--database-url)")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if exists {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await?;
        let complete: Option<bool> =
            sqlx::query_scalar("SELECT complete FROM bench_dataset WHERE tickets = $1")
                .bind(tickets as i64)
                .fetch_optional(&pool)
                .await
                .ok()
                .flatten();
        if complete == Some(true) {
            settle_followers(&pool).await?;
            // The parts that measure commands write tickets (and close them): they sit at the
            // newest end of every order, where the planner expects the set's own mix. 7,867 of
            // them (one afternoon's runs) made `/tickets?category=backup` walk 8,333 rows.
            let added: i64 =
                sqlx::query_scalar("SELECT count(*) FROM ticket_view WHERE number > $1")
                    .bind(tickets as i64)
                    .fetch_one(&pool)
                    .await?;
            pool.close().await;
            // Migrations added since it was made apply as the engine starts.
            if added > (tickets / 1000) as i64 {
                println!(
                    "data set   {name}: reused, with {added} tickets earlier runs added \
                     (over 0.1 %: drop the database for figures of the set as generated)"
                );
            } else {
                println!("data set   {name}: reused ({added} tickets added by earlier runs)");
            }
            return Ok(url);
        }
        pool.close().await;
        sqlx::query(&format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#))
            .execute(&mut admin)
            .await?;
    }
    sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
        .execute(&mut admin)
        .await
        .with_context(|| format!("create database {name}"))?;
    // As many connections as the engine's own pool: a rebuild writes its tables on several
    // connections side by side, and with 4 its writers waited for one another (the read models
    // of 1,000,000 tickets took 323 s to rebuild here, 275 to 290 s through the engine's CLI).
    let pool = PgPoolOptions::new()
        .max_connections(32)
        .connect(&url)
        .await?;
    ticketd::startup::migrate(&pool).await?;
    let started = Instant::now();
    let events = generate(&pool, tickets).await?;
    let generated = started.elapsed();
    let rebuilt = super::rebuild::rebuild_all(&pool).await?;
    sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
    settle_followers(&pool).await?;
    sqlx::query("CREATE TABLE bench_dataset (tickets bigint PRIMARY KEY, complete boolean)")
        .execute(&pool)
        .await?;
    sqlx::query("INSERT INTO bench_dataset VALUES ($1, true)")
        .bind(tickets as i64)
        .execute(&pool)
        .await?;
    pool.close().await;
    println!(
        "data set   {name}: {tickets} tickets, {events} events written in {:.1} s, read models \
         rebuilt in {:.1} s ({:.0} events/s)",
        generated.as_secs_f64(),
        rebuilt.as_secs_f64(),
        events as f64 / rebuilt.as_secs_f64()
    );
    Ok(url)
}

/// Puts the rules' checkpoint at the end of the history, as on a desk whose engine followed
/// it as it happened. The store is written after the migrations seed the default rules, so
/// they would otherwise answer every event of the two years, in the background of every run
/// (at 1,000,000 tickets, 170,000 failures recorded and 27,000 notifications queued while
/// reads were being timed), and take their mail-out queue with it.
async fn settle_followers(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE relay_checkpoints
            SET position = (SELECT coalesce(max(position), 0) FROM events)
          WHERE name = 'rules'",
    )
    .execute(pool)
    .await
    .context("put the rules' checkpoint at the end of the history")?;
    sqlx::query("DELETE FROM notifications WHERE status = 'pending'")
        .execute(pool)
        .await
        .context("drop the notifications queued by replaying the history")?;
    Ok(())
}

/// Writes the tickets' sealed events with their positions, in chunks of consecutive tickets,
/// round by round within a chunk as live traffic interleaves them.
async fn generate(pool: &PgPool, tickets: usize) -> anyhow::Result<usize> {
    let people = people(tickets);
    let now = Timestamp::from(Utc::now());
    let span = TimeDelta::days(730).num_seconds();
    let mut rng = Rng::new(2026);
    let mut position = 0_i64;
    const CHUNK: usize = 2000;
    for chunk_start in (0..tickets).step_by(CHUNK) {
        let chunk_end = (chunk_start + CHUNK).min(tickets);
        let all: Vec<(Uuid, Vec<Timed>)> = (chunk_start..chunk_end)
            .map(|i| {
                let offset = span - (i as i64 * span / tickets as i64);
                let created = now.plus(TimeDelta::seconds(-offset));
                (
                    Uuid::now_v7(),
                    ticket(i as i64 + 1, created, now, &people, &mut rng),
                )
            })
            .collect();
        let mut hashes = vec![GENESIS_HASH.to_string(); all.len()];
        let (mut ids, mut seqs, mut types, mut payloads, mut metas, mut positions, mut actors) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        let rounds = all.iter().map(|t| t.1.len()).max().unwrap_or(0);
        for round in 0..rounds {
            for ((id, events), prevhash) in all.iter().zip(hashes.iter_mut()) {
                let Some((event, time, actor)) = events.get(round) else {
                    continue;
                };
                let envelope = Envelope::seal(
                    EnvelopeHeader {
                        source: "ticketd",
                        ticket_id: *id,
                        seq: round as i64 + 1,
                        time: *time,
                        actor,
                        correlation_id: "bench-data",
                    },
                    event,
                    prevhash,
                );
                *prevhash = envelope.hash.clone();
                position += 1;
                ids.push(id.to_string());
                seqs.push(envelope.seq);
                types.push(envelope.event_type.clone());
                payloads.push(envelope.data.to_string());
                metas.push(ticket_projections::stored::stored_metadata_json(&envelope));
                positions.push(position);
                actors.push(actor.id.clone());
            }
        }
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                 payload, metadata, position, actor_id)
             SELECT 'ticket', i, s, t, '1.0', p::json, m::json, pos, a
             FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                         $6::bigint[], $7::text[]) AS x(i, s, t, p, m, pos, a)",
        )
        .bind(&ids)
        .bind(&seqs)
        .bind(&types)
        .bind(&payloads)
        .bind(&metas)
        .bind(&positions)
        .bind(&actors)
        .execute(pool)
        .await
        .context("insert generated events")?;
    }
    // Tickets opened during the measurements take the numbers after these.
    sqlx::query("SELECT setval('ticket_numbers', $1)")
        .bind(tickets as i64)
        .execute(pool)
        .await?;
    Ok(position as usize)
}
