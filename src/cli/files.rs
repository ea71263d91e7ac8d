//! `ticketd verify --files`: every attachment the event log lists, read back from the store
//! and hashed again, against the size and SHA-256 its comment recorded.

use serde::Serialize;
use uuid::Uuid;

use crate::attachments::{records, Attachments};
use crate::settings::Settings;

/// One file's check, printed as a JSON line.
#[derive(Debug, Serialize)]
struct FileReport {
    ticket_id: Uuid,
    attachment_id: Uuid,
    valid: bool,
    expected_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    actual_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Checks the files of `ticket` (or of every ticket); an error when one is missing or differs.
pub async fn verify_files(
    pool: &sqlx::PgPool,
    settings: &Settings,
    ticket: Option<Uuid>,
) -> anyhow::Result<()> {
    let store = Attachments::open(&settings.attachments)?;
    let listed = records::listed(pool, ticket).await?;
    let mut broken = 0_usize;
    for (ticket_id, file) in &listed {
        let (actual, error) = match store.digest(file.id).await {
            Ok((sha, size)) if sha == file.sha256 && size == file.size => (Some(sha), None),
            Ok((sha, size)) => (
                Some(sha),
                Some(format!("{size} bytes stored, {} recorded", file.size)),
            ),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        let valid = actual.as_deref() == Some(file.sha256.as_str()) && error.is_none();
        if !valid {
            broken += 1;
        }
        let report = FileReport {
            ticket_id: *ticket_id,
            attachment_id: file.id,
            valid,
            expected_sha256: file.sha256.clone(),
            actual_sha256: actual,
            error,
        };
        println!("{}", serde_json::to_string(&report)?);
    }
    eprintln!(
        "{} file(s) checked, {broken} missing or altered",
        listed.len()
    );
    if broken > 0 {
        anyhow::bail!(
            "{broken} of {} attachments are missing or altered",
            listed.len()
        );
    }
    Ok(())
}
