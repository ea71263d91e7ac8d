//! The web app (CONTRACT 12) driven in headless Chromium through chromedriver, as people use
//! it: controls are found by role and accessible name, or by label text, never by markup.

mod accounts;
mod attachments;
mod automation;
mod board;
mod browser;
mod fields;
mod intake;
mod links;
mod merged;
mod pending;
mod people;
mod roles;
mod sla;
mod tags;
mod teams;
mod webhooks;
