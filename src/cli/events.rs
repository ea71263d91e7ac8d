//! Subcommands that read the event store: `history`, `verify`, `projections rebuild`.

use anyhow::Context;
use ticket_projections::Projection;

use super::args::VerifyArgs;

fn parse_ticket(raw: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(raw.trim()).with_context(|| format!("'{raw}' is not a ticket id"))
}

/// `ticketd history <ticket>`.
pub async fn print_history(pool: &sqlx::PgPool, ticket: &str) -> anyhow::Result<()> {
    let id = parse_ticket(ticket)?;
    let events = ticket_projections::stored::read_ticket(pool, id, None, true).await?;
    if events.is_empty() {
        anyhow::bail!("no ticket {id}");
    }
    for envelope in events {
        println!("{}", serde_json::to_string(&envelope)?);
    }
    Ok(())
}

/// `ticketd verify [<ticket> | --all]`: one JSON line per stream (`--all` checks the users'
/// and field definitions' streams too); an error (exit status 1) when a chain is broken.
pub async fn verify(pool: &sqlx::PgPool, args: VerifyArgs) -> anyhow::Result<()> {
    use ticket_projections::verify;
    let print = |report: &verify::ChainReport| {
        println!(
            "{}",
            // A struct of plain members always serializes.
            serde_json::to_string(report).unwrap_or_default()
        );
    };
    match args.ticket {
        Some(ticket) if !args.all => {
            let id = parse_ticket(&ticket)?;
            let report = verify::verify_stream(pool, id)
                .await?
                .with_context(|| format!("no ticket {id}"))?;
            print(&report);
            if !report.valid {
                anyhow::bail!("the hash chain of ticket {id} is broken");
            }
        }
        _ => {
            let mut checked = 0_usize;
            let invalid = verify::verify_all(pool, |report| {
                checked += 1;
                print(&report);
            })
            .await?;
            eprintln!("{checked} stream(s) checked, {invalid} broken");
            if invalid > 0 {
                anyhow::bail!("{invalid} of {checked} hash chains are broken");
            }
        }
    }
    Ok(())
}

/// `ticketd projections rebuild [NAME]`: every read model, and the field definitions (the
/// projection of the field streams), or the one named; business time is counted on the SLA
/// calendars in force now.
pub async fn rebuild(
    pool: &sqlx::PgPool,
    settings: &crate::settings::Settings,
    name: Option<&str>,
    batch_size: i64,
) -> anyhow::Result<()> {
    let calendars = crate::business_clock::LoadedCalendars::load(
        pool,
        &settings.sla,
        settings.sla_default_calendar,
    )
    .await
    .context("cannot read the SLA policies and calendars")?;
    let calendars = std::sync::Arc::new(calendars);
    let all = ticket_projections::read_models::all(calendars.clone());
    let definitions = name.is_none_or(|n| n == FIELD_DEFINITIONS);
    let chosen: Vec<_> = match name {
        Some(FIELD_DEFINITIONS) => Vec::new(),
        Some(name) => {
            let found: Vec<_> = all.iter().filter(|p| p.name() == name).cloned().collect();
            if found.is_empty() {
                let known: Vec<_> = all
                    .iter()
                    .map(|p| p.name())
                    .chain([FIELD_DEFINITIONS])
                    .collect();
                anyhow::bail!("no read model named '{name}' (known: {})", known.join(", "));
            }
            found
        }
        None => all,
    };
    if definitions {
        let events = crate::field_definitions::rebuild(pool)
            .await
            .context("rebuilding field_definitions failed")?;
        // Stdout carries the read models' reports, one JSON line each, as before.
        eprintln!("{FIELD_DEFINITIONS}: rebuilt from {events} field event(s)");
    }
    if chosen.is_empty() {
        return Ok(());
    }
    let chosen: Vec<&dyn Projection> = chosen.iter().map(|p| p.as_ref()).collect();
    let names: Vec<_> = chosen.iter().map(|p| p.name()).collect();
    let reports = ticket_projections::rebuild::rebuild_all_with(pool, &chosen, batch_size)
        .await
        .with_context(|| format!("rebuilding {} failed", names.join(", ")))?;
    for report in reports {
        println!("{}", serde_json::to_string(&report)?);
    }
    if names.contains(&ticket_projections::read_models::tickets::NAME) {
        // The events recorded the due times of their day; open tickets follow the policies and
        // calendars in force, as the live read model does after an edit (and an edit made
        // during the rebuild reaches the business figures it counted).
        let changed = crate::sla_due_times::refresh(pool, calendars.services(), None)
            .await
            .context("bringing the tickets' SLA figures to the SLA configuration failed")?;
        eprintln!("ticket_view: {changed} ticket(s) given the SLA figures in force");
    }
    Ok(())
}

/// The name `projections rebuild` knows the field definitions' table by.
const FIELD_DEFINITIONS: &str = "field_definitions";
