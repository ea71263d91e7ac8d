//! # ticketd: an event-sourced helpdesk ticket engine
//!
//! Commands are decided by the [`domain::Ticket`] aggregate (cqrs-es) and stored as events in
//! Postgres with a per-ticket hash chain; read models, NATS and WebSockets follow the store.
//!
//! # Layout
//! Imports run one way: `main → cli → startup → http → email → application → {command_service, auth,
//! users, store, hub, views, policy, attachments} → domain` (`.ci/import-cycles.py` checks that no modules import each other in a
//! cycle).
//! - [`domain`]: the aggregate, its commands and checked values. Pure: no I/O.
//! - [`application`]: the use cases every way in calls (open a ticket, comment, …).
//! - [`attachments`]: files on comments, in a local directory or an S3-compatible store.
//! - [`store`]: the event store behind cqrs-es (hash chain, idempotency, aggregate cache).
//! - [`command_service`]: the command service: load, decide, commit, retry on conflict.
//! - [`business_clock`]: the SLA calendars the read models count business time with.
//! - [`auth`]: JWT verification, passwords, token minting, the [`auth::Caller`] a token names.
//! - [`users`]: the user directory.
//! - [`http`]: routes, `AppState`, the `Caller` and `TicketId` extractors, request parsing,
//!   problem documents, OpenAPI.
//! - [`policy`]: what a caller may read (tickets, internal comments, boards, channels).
//! - [`views`]: point-in-time ticket views, folded from stored events.
//! - [`hub`]: the WebSocket fan-out: one feed of positioned events per instance.
//! - [`relay`]: the NATS relay's Postgres side (the events table as outbox).
//! - [`checkpoints`]: where each consumer of the event log (relay, mail, rules) stands.
//! - [`email`]: mail in (SMTP listener, IMAP poller) and out (from the event log).
//! - [`supervisor`]: background tasks restarted when they die, reported in `/readyz`.
//! - [`webhooks`]: signed webhooks: endpoints, the SSRF policy, delivery from the event log.
//! - [`rules`]: automation rules, acting from the event log through the application layer.
//! - [`notify`]: notification channels (e-mail, Telegram, Slack) and their outbox.
//! - [`sla_timer`]: records `ticket.sla_breached` when a due time passes (single leader).
//! - [`cli`]: the command line (`ticketd --help`), and what only the command line does.
//! - [`startup`]: building and running the application; [`db`]: the pool, migrations and
//!   outages; [`settings`], [`telemetry`] (logs and metrics).

pub mod application;
pub mod attachments;
pub mod auth;
pub mod business_clock;
pub mod checkpoints;
pub mod cli;
pub mod command_service;
pub mod db;
pub mod domain;
pub mod email;
pub mod field_definitions;
pub mod http;
pub mod hub;
pub mod integrations;
pub mod notify;
pub mod policy;
pub mod relay;
pub mod rules;
pub mod settings;
pub mod sla_clocks;
pub mod sla_due_times;
pub mod sla_timer;
pub mod startup;
pub mod store;
pub mod supervisor;
pub mod teams;
pub mod telemetry;
pub mod users;
pub mod views;
pub mod webhooks;
