//! Integration tests through HTTP against real Postgres (and NATS where a test needs it).

mod commands;
mod helpers;
