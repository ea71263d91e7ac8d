//! Integration tests through HTTP against real Postgres (and NATS where a test needs it).

mod appends;
mod audit;
mod auth;
mod board;
mod commands;
mod dashboard;
mod email;
mod hardening;
mod helpers;
mod hostile;
mod me;
mod nats;
mod operations;
mod ordering;
mod outage;
mod people;
mod poison;
mod positions;
mod queries;
mod retries;
mod sla;
mod stats;
mod users;
mod web;
mod ws;
