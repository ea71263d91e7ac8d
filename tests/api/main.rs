//! Integration tests through HTTP against real Postgres (and NATS where a test needs it).

mod appends;
mod audit;
mod auth;
mod board;
mod commands;
mod dashboard;
mod hardening;
mod helpers;
mod hostile;
mod me;
mod nats;
mod operations;
mod ordering;
mod outage;
mod poison;
mod positions;
mod queries;
mod rebuilt;
mod retries;
mod sla;
mod stats;
mod users;
mod web;
mod ws;
