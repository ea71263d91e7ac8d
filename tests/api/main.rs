//! Integration tests through HTTP against real Postgres (and NATS where a test needs it).

mod auth;
mod board;
mod commands;
mod helpers;
mod me;
mod outage;
mod queries;
mod stats;
