//! The ticket view and list: `ticket_view` (one row per ticket), `ticket_recency` (its
//! `updated_at`, indexed), `ticket_comments` and `ticket_search`.
//!
//! - [`business`]: how the projection counts business time (the engine's calendars).
//! - [`dto`]: the answers (`TicketView`, `TicketListItem`, `TicketPage`, …).
//! - [`due_times`]: open tickets' stored due times and every ticket's business figures brought
//!   to the SLA configuration in force.
//! - [`projector`]: the projection that keeps the tables, with its row cache; `row`: a
//!   ticket's row and how each event changes it; `batch`: a batch folded into rows; `writes`:
//!   what that writes, table by table; `bulk`: how a rebuild writes them side by side;
//!   [`fold`](mod@fold): the same fold of one ticket's events, for point-in-time views.
//! - [`mine`]: each user's rows of their tickets and their counts (`my_tickets`, `my_counts`).
//! - [`tag_counts`](mod@tag_counts): how many tickets carry each tag (`GET /tags`).
//! - [`requester_chain`]: each ticket's earlier tickets of its requester, for the requester
//!   statistics of a window (`requester_tickets`, `requester_gaps`).
//! - [`tally`]: what a ticket adds to the statistics of its creation day (`ticket_stats`).
//! - [`get`](mod@get): one ticket; [`list`](mod@list): lists, their filters and sort orders;
//!   [`search`]: free-text search and how a search finds its page.

mod batch;
mod bulk;
pub mod business;
mod copied;
pub mod dto;
pub mod due_times;
pub mod fold;
pub mod get;
pub mod list;
pub mod mine;
pub mod projector;
pub mod requester_chain;
mod row;
mod search;
pub mod tag_counts;
pub mod tally;
mod writes;

pub use business::{BusinessClock, BusinessTime, PauseMs};
pub use dto::{
    Author, Comment, Link, Person, Rating, Sla, SlaClockFacts, SlaFacts, TicketListItem,
    TicketPage, TicketView,
};
pub use due_times::{
    brought_to, lock_ticket_view, mark_brought_to, store_recounted, DueTimes, Recount,
};
pub use fold::fold;
pub use get::{get, hide_fields, hide_others_tickets, id_by_number, version};
pub use list::{list, After, Involvement, ListFilter, ListQuery, Sort};
pub use projector::TicketViewProjection;
pub use row::{filter_text, NAME};
pub use tag_counts::{tag_counts, TagCount};
