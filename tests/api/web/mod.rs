//! The web app (CONTRACT 12) driven in headless Chromium through chromedriver, as people use
//! it: controls are found by role and accessible name, or by label text, never by markup.

mod attachments;
mod board;
mod browser;
mod intake;
mod links;
mod people;
mod roles;
mod tags;
mod webhooks;
