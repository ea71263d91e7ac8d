//! Integration tests through HTTP against real Postgres (and NATS where a test needs it).

mod auth;
mod commands;
mod helpers;
mod outage;
