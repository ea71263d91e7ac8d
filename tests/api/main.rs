//! Integration tests through HTTP against real Postgres (and NATS where a test needs it).

mod appends;
mod audit;
mod auth;
mod board;
mod commands;
mod dashboard;
mod helpers;
mod me;
mod nats;
mod operations;
mod ordering;
mod outage;
mod queries;
mod retries;
mod sla;
mod stats;
mod ws;
