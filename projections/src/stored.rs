//! Stored events as every consumer sees them.
//!
//! An envelope is rebuilt from an `events` row: the fixed CloudEvents members the writer kept in
//! the `metadata` column, plus the columns (`id` = `<aggregate_id>:<sequence>`, `subject` =
//! aggregate id, `seq` = sequence, `type` = event type, `data` = payload) and the `position` the
//! sequencer assigned. Consumers follow `position`, never `insertion_id` or `recorded_at`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use ticket_nats::{Envelope, TicketEvent, Timestamp};
use uuid::Uuid;

/// One positioned event from the store.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Its global position.
    pub position: i64,
    /// The envelope, `position` filled in.
    pub envelope: Envelope,
    /// The typed event (the envelope's `type` and `data`).
    pub event: TicketEvent,
}

impl StoredEvent {
    /// Types an envelope's event. Fails for a type or a `data` shape this version does not know.
    pub fn from_envelope(envelope: Envelope) -> Result<Self, serde_json::Error> {
        let event = envelope.event()?;
        Ok(Self {
            position: envelope.position,
            envelope,
            event,
        })
    }
}

/// The `metadata` column as written: the envelope's members that have no column of their own,
/// borrowed from an envelope, in sorted order (as a JSON object of them always was).
#[derive(Serialize)]
struct MetadataOf<'a> {
    actorid: &'a str,
    actorname: &'a str,
    actorrole: &'a str,
    correlationid: &'a str,
    datacontenttype: &'a str,
    hash: &'a str,
    prevhash: &'a str,
    source: &'a str,
    specversion: &'a str,
    time: Timestamp,
}

impl<'a> MetadataOf<'a> {
    fn new(e: &'a Envelope) -> Self {
        Self {
            actorid: &e.actorid,
            actorname: &e.actorname,
            actorrole: &e.actorrole,
            correlationid: &e.correlationid,
            datacontenttype: &e.datacontenttype,
            hash: &e.hash,
            prevhash: &e.prevhash,
            source: &e.source,
            specversion: &e.specversion,
            time: e.time,
        }
    }
}

/// The `metadata` column as read back. Every member is required: a damaged row is an error,
/// never an envelope with made-up values.
#[derive(Deserialize)]
struct Metadata {
    actorid: String,
    actorname: String,
    actorrole: String,
    correlationid: String,
    datacontenttype: String,
    hash: String,
    prevhash: String,
    source: String,
    specversion: String,
    time: Timestamp,
}

impl Metadata {
    /// The envelope of a stored row: these members and the row's columns.
    fn into_envelope(
        self,
        aggregate_id: String,
        sequence: i64,
        event_type: String,
        data: Value,
        position: i64,
    ) -> Envelope {
        Envelope {
            specversion: self.specversion,
            id: format!("{aggregate_id}:{sequence}"),
            source: self.source,
            event_type,
            subject: aggregate_id,
            time: self.time,
            datacontenttype: self.datacontenttype,
            seq: sequence,
            position,
            actorid: self.actorid,
            actorname: self.actorname,
            actorrole: self.actorrole,
            correlationid: self.correlationid,
            hash: self.hash,
            prevhash: self.prevhash,
            data,
        }
    }
}

/// A stored event that does not decode, as a database error naming it.
fn unreadable(aggregate_id: &str, sequence: i64, error: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(
        format!("stored event {aggregate_id}:{sequence} cannot be read: {error}").into(),
    )
}

/// The `metadata` column of an event: the envelope's members that have no column of their own.
/// [`RawEvent::envelope`] is its inverse; every writer of the store uses this, so the layout lives
/// in one place.
pub fn stored_metadata(envelope: &Envelope) -> Value {
    serde_json::to_value(MetadataOf::new(envelope)).unwrap_or(Value::Null)
}

/// [`stored_metadata`] as JSON text, for writers.
pub fn stored_metadata_json(envelope: &Envelope) -> String {
    // Strings and a timestamp always serialize.
    serde_json::to_string(&MetadataOf::new(envelope)).unwrap_or_default()
}

/// The columns every read selects, in the order [`RawEvent::from_row`] expects.
const COLUMNS: &str = "aggregate_id, sequence, event_type, payload, metadata, position";

/// One `events` row, not yet decoded. Verification works on these, so that a row whose
/// metadata was damaged is reported as a broken chain rather than failing the whole read.
#[derive(Debug, Clone)]
pub struct RawEvent {
    /// The ticket id (text, as stored).
    pub aggregate_id: String,
    /// The ticket's version after this event.
    pub sequence: i64,
    /// The event type.
    pub event_type: String,
    /// The envelope's `data`.
    pub payload: Value,
    /// The envelope's other fixed members.
    pub metadata: Value,
    /// The global position; `None` until the sequencer has assigned it.
    pub position: Option<i64>,
}

impl RawEvent {
    pub(crate) fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            aggregate_id: row.try_get("aggregate_id")?,
            sequence: row.try_get("sequence")?,
            event_type: row.try_get("event_type")?,
            payload: row.try_get("payload")?,
            metadata: row.try_get("metadata")?,
            position: row.try_get("position")?,
        })
    }

    /// The envelope this row stands for (`position` 0 while it has none).
    pub fn envelope(&self) -> Result<Envelope, serde_json::Error> {
        self.clone().into_envelope()
    }

    /// [`RawEvent::into_envelope`] for readers of the store: a row that does not decode is a
    /// database error naming the event.
    fn decode(self) -> Result<Envelope, sqlx::Error> {
        let (id, sequence) = (self.aggregate_id.clone(), self.sequence);
        self.into_envelope()
            .map_err(|error| unreadable(&id, sequence, error))
    }

    /// Like [`RawEvent::envelope`], moving the row's values instead of copying them.
    pub fn into_envelope(self) -> Result<Envelope, serde_json::Error> {
        let meta = Metadata::deserialize(self.metadata)?;
        Ok(meta.into_envelope(
            self.aggregate_id,
            self.sequence,
            self.event_type,
            self.payload,
            self.position.unwrap_or(0),
        ))
    }
}

/// Positioned events after `after`, in position order, at most `limit`, as envelopes.
///
/// `types` keeps only those event types (`None` or an empty slice: every type). Because
/// positions are dense and a sequencer batch commits at once, every reader sees a prefix of the
/// global order: paging with the last position returned never skips an event.
pub async fn read_envelopes_after<'e, E: PgExecutor<'e>>(
    executor: E,
    after: i64,
    limit: i64,
    types: Option<&[String]>,
) -> Result<Vec<Envelope>, sqlx::Error> {
    let rows = rows_after(executor, after, limit, types).await?;
    rows.iter().map(positioned_envelope).collect()
}

/// The rows of [`read_envelopes_after`].
async fn rows_after<'e, E: PgExecutor<'e>>(
    executor: E,
    after: i64,
    limit: i64,
    types: Option<&[String]>,
) -> Result<Vec<PgRow>, sqlx::Error> {
    let types = types.filter(|t| !t.is_empty());
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM events
         WHERE position > $1 AND ($3::text[] IS NULL OR event_type = ANY($3))
         ORDER BY position
         LIMIT $2"
    ))
    .bind(after)
    .bind(limit.max(0))
    .bind(types)
    .fetch_all(executor)
    .await
}

/// The envelopes of the events at `positions` (those still in the log), in position order: one
/// query for a batch of deliveries instead of one each.
pub async fn read_envelopes_at<'e, E: PgExecutor<'e>>(
    executor: E,
    positions: &[i64],
) -> Result<Vec<Envelope>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM events WHERE position = ANY($1) ORDER BY position"
    ))
    .bind(positions)
    .fetch_all(executor)
    .await?;
    rows.iter().map(positioned_envelope).collect()
}

/// A row of a positioned event as its envelope, the metadata decoded straight into the
/// envelope's members (followers read every event; [`RawEvent`] keeps the row's values as they
/// are, for verification). A row that does not decode is a database error naming the event.
fn positioned_envelope(row: &PgRow) -> Result<Envelope, sqlx::Error> {
    let (aggregate_id, sequence, meta) = event_head(row)?;
    Ok(meta.into_envelope(
        aggregate_id,
        sequence,
        row.try_get("event_type")?,
        row.try_get("payload")?,
        row.try_get("position")?,
    ))
}

/// A batch of the global feed for read models: its ticket events, typed, and the last position
/// read (user streams' events included), which is where the next batch starts.
#[derive(Debug, Clone, Default)]
pub struct ReadBatch {
    /// The ticket events, in position order.
    pub events: Vec<StoredEvent>,
    /// The first position read; `None` for an empty read.
    pub first: Option<i64>,
    /// The last position read; `None` for an empty read.
    pub last: Option<i64>,
    /// How many events were read, skipped ones included (a full batch means: read on).
    pub read: usize,
}

/// Like [`read_tickets_after`], for read models: every text holding U+0000 has it replaced by
/// U+FFFD (see [`holdable`]). Projectors and rebuilds read through this one function, so that no
/// read model has to think of it. The read models are ticket read models: user and field
/// streams' events (the directory and the field definitions are tables of their own) are
/// skipped, but counted in [`ReadBatch::last`], so that a checkpoint moves past them.
///
/// Their envelopes' `data` is left `Null`: the typed `event` holds it, decoded straight from the
/// stored text (parsing it into a `serde_json::Value` first, and dropping that, was about a
/// seventh of the engine's time in a rebuild's fill).
pub async fn read_for_read_models<'e, E: PgExecutor<'e>>(
    executor: E,
    after: i64,
    limit: i64,
) -> Result<ReadBatch, sqlx::Error> {
    read_batch(executor, after, limit, read_model_event).await
}

/// A row's event id (ticket, sequence) and metadata; metadata that does not decode is a
/// database error naming the event.
fn event_head(row: &PgRow) -> Result<(String, i64, Metadata), sqlx::Error> {
    let aggregate_id: String = row.try_get("aggregate_id")?;
    let sequence: i64 = row.try_get("sequence")?;
    let meta = row
        .try_get::<sqlx::types::Json<Metadata>, _>("metadata")
        .map_err(|error| unreadable(&aggregate_id, sequence, error))?
        .0;
    Ok((aggregate_id, sequence, meta))
}

/// A row of a positioned ticket event as read models take it (see [`read_for_read_models`]).
fn read_model_event(row: &PgRow) -> Result<StoredEvent, sqlx::Error> {
    let (aggregate_id, sequence, meta) = event_head(row)?;
    let position: i64 = row.try_get("position")?;
    let event_type: String = row.try_get("event_type")?;
    // A `json` column comes as its text.
    let payload: &str = row.try_get_unchecked("payload")?;
    let not_typed = |error| untyped(&format!("{aggregate_id}:{sequence}"), error);
    // Only an escaped U+0000 puts one in the data (JSON text holds no raw control character);
    // the rare event that may hold one is typed through `holdable`, the text replaced.
    let event = if payload.contains("\\u0000") {
        let mut data: Value = serde_json::from_str(payload).map_err(not_typed)?;
        holdable_value(&mut data);
        TicketEvent::from_data(&event_type, &data)
    } else {
        TicketEvent::from_json(&event_type, payload)
    }
    .map_err(not_typed)?;
    let mut envelope =
        meta.into_envelope(aggregate_id, sequence, event_type, Value::Null, position);
    holdable(&mut envelope);
    Ok(StoredEvent {
        position,
        envelope,
        event,
    })
}

/// Whether read models follow an event of this type: user and field streams' events are for
/// the directory and the field definitions, which keep their own tables.
fn is_ticket_event(event_type: &str) -> bool {
    !ticket_nats::user_events::is_user_event(event_type)
        && !ticket_nats::field_events::is_field_event(event_type)
}

/// The next `limit` positions after `after` as a [`ReadBatch`] of ticket events, as stored
/// (for followers of the whole feed that serve tickets only: the WebSocket hub and replays,
/// rules, mail out).
pub async fn read_tickets_after<'e, E: PgExecutor<'e>>(
    executor: E,
    after: i64,
    limit: i64,
) -> Result<ReadBatch, sqlx::Error> {
    read_batch(executor, after, limit, stored_event).await
}

/// The ticket events of the next `limit` positions after `after`, each decoded by `decode`.
///
/// The other streams' events are skipped here, not in the statement: with a filter on
/// `event_type` beside `position > $1 … LIMIT`, a generic plan that misjudged the filter (no
/// statistics yet, or few user events) scanned the whole table and sorted it, about 23 ms a
/// read on a young store, where the position index reads the next rows in microseconds.
async fn read_batch<'e, E: PgExecutor<'e>>(
    executor: E,
    after: i64,
    limit: i64,
    decode: fn(&PgRow) -> Result<StoredEvent, sqlx::Error>,
) -> Result<ReadBatch, sqlx::Error> {
    let rows = rows_after(executor, after, limit, None).await?;
    let first = rows.first().map(|r| r.try_get("position")).transpose()?;
    let last = rows.last().map(|r| r.try_get("position")).transpose()?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        if is_ticket_event(row.try_get("event_type")?) {
            events.push(decode(row)?);
        }
    }
    Ok(ReadBatch {
        events,
        first,
        last,
        read: rows.len(),
    })
}

/// A row of a positioned ticket event, its envelope as stored.
fn stored_event(row: &PgRow) -> Result<StoredEvent, sqlx::Error> {
    let envelope = positioned_envelope(row)?;
    let id = envelope.id.clone();
    StoredEvent::from_envelope(envelope).map_err(|error| untyped(&id, error))
}

/// A stored event whose type or data this version does not know, as a database error naming it.
fn untyped(id: &str, error: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored event {id} cannot be typed: {error}").into())
}

/// What replaces U+0000 in read models: U+FFFD, the replacement character.
pub const NUL_REPLACEMENT: char = '\u{FFFD}';

/// Makes an envelope's text storable in Postgres `text` (and `jsonb`), which cannot hold
/// U+0000: each U+0000 in its string members and anywhere in its `data` (member names
/// included) becomes U+FFFD. True when anything changed.
///
/// The engine refuses U+0000 at its door, but a store written before that refusal (or by
/// another writer) may hold such an event, and events never change: a projector that wrote
/// the text as it is would fail on it forever. The stored event and its hash stay as they
/// are; only the copy a read model is fed changes, so history and verification still show
/// and check the original.
pub fn holdable(envelope: &mut Envelope) -> bool {
    let Envelope {
        specversion,
        id,
        source,
        event_type,
        subject,
        datacontenttype,
        actorid,
        actorname,
        actorrole,
        correlationid,
        hash,
        prevhash,
        data,
        ..
    } = envelope;
    let mut changed = holdable_value(data);
    for text in [
        specversion,
        id,
        source,
        event_type,
        subject,
        datacontenttype,
        actorid,
        actorname,
        actorrole,
        correlationid,
        hash,
        prevhash,
    ] {
        changed |= holdable_text(text);
    }
    changed
}

fn holdable_text(text: &mut String) -> bool {
    if !text.contains('\0') {
        return false;
    }
    *text = text.replace('\0', &NUL_REPLACEMENT.to_string());
    true
}

fn holdable_value(value: &mut Value) -> bool {
    match value {
        Value::String(text) => holdable_text(text),
        Value::Array(items) => items.iter_mut().fold(false, |c, v| holdable_value(v) | c),
        Value::Object(map) => {
            let mut changed = false;
            if map.keys().any(|k| k.contains('\0')) {
                let members = std::mem::take(map);
                for (mut name, member) in members {
                    holdable_text(&mut name);
                    map.insert(name, member);
                }
                changed = true;
            }
            map.values_mut().fold(changed, |c, v| holdable_value(v) | c)
        }
        _ => false,
    }
}

/// Every stored row of a ticket, in sequence order, positioned or not, undecoded.
pub async fn read_ticket_rows<'e, E: PgExecutor<'e>>(
    executor: E,
    ticket_id: Uuid,
) -> Result<Vec<RawEvent>, sqlx::Error> {
    read_stream_rows(
        executor,
        &[ticket_nats::events::TICKET_AGGREGATE],
        ticket_id,
    )
    .await
}

/// Every stored row of the stream `id` (a ticket's, a user's or a field's, whichever
/// `aggregate_types` names), in sequence order, undecoded.
pub async fn read_stream_rows<'e, E: PgExecutor<'e>>(
    executor: E,
    aggregate_types: &[&str],
    id: Uuid,
) -> Result<Vec<RawEvent>, sqlx::Error> {
    // The type too: the primary key begins with it, and without it each read scanned the
    // whole key (22 ms at 555,000 events, against 0.05 ms).
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM events WHERE aggregate_type = ANY($1) AND aggregate_id = $2
         ORDER BY sequence"
    ))
    .bind(aggregate_types)
    .bind(id.to_string())
    .fetch_all(executor)
    .await?;
    rows.iter().map(RawEvent::from_row).collect()
}

/// A ticket's events in sequence order.
///
/// Only positioned events unless `include_unpositioned`: consumers see an event once it has its
/// position. The answer is always a prefix of the ticket's sequence (it stops at the first event
/// without a position, or recorded after `up_to_time`), so replaying it gives a state the ticket
/// really had.
pub async fn read_ticket<'e, E: PgExecutor<'e>>(
    executor: E,
    ticket_id: Uuid,
    up_to_time: Option<Timestamp>,
    include_unpositioned: bool,
) -> Result<Vec<Envelope>, sqlx::Error> {
    let rows = read_ticket_rows(executor, ticket_id).await?;
    let mut envelopes = Vec::with_capacity(rows.len());
    for raw in rows {
        if raw.position.is_none() && !include_unpositioned {
            break;
        }
        let envelope = raw.decode()?;
        if up_to_time.is_some_and(|t| envelope.time > t) {
            break;
        }
        envelopes.push(envelope);
    }
    Ok(envelopes)
}

/// The highest assigned position (0 for an empty store).
pub async fn head_position<'e, E: PgExecutor<'e>>(executor: E) -> Result<i64, sqlx::Error> {
    // max() over the unique index on `position` is a single index probe.
    sqlx::query_scalar("SELECT coalesce(max(position), 0)::bigint FROM events")
        .fetch_one(executor)
        .await
}

#[cfg(test)]
mod tests {
    use ticket_nats::envelope::{Actor, EnvelopeHeader};
    use ticket_nats::events::TicketClosed;
    use ticket_nats::GENESIS_HASH;

    use super::*;

    /// The envelope members that the `metadata` column keeps.
    const METADATA_MEMBERS: [&str; 10] = [
        "specversion",
        "source",
        "time",
        "datacontenttype",
        "actorid",
        "actorname",
        "actorrole",
        "correlationid",
        "hash",
        "prevhash",
    ];

    #[test]
    fn read_models_get_u_fffd_where_an_event_holds_u_0000_and_nothing_else_changes() {
        let actor = Actor {
            id: "a\u{0}".into(),
            name: "Ann\u{0}".into(),
            role: "agent".into(),
        };
        let mut envelope = Envelope::seal(
            EnvelopeHeader {
                source: "ticketd",
                ticket_id: Uuid::nil(),
                seq: 2,
                time: Timestamp::now(),
                actor: &actor,
                correlation_id: "c",
            },
            &TicketEvent::Closed(TicketClosed {
                resolution: Some("done\u{0}\u{0}, é 😀".into()),
            }),
            GENESIS_HASH,
        );
        envelope.data["extra"] = serde_json::json!({"k\u{0}": ["\u{0}", 1, null]});
        let original = envelope.clone();
        assert!(holdable(&mut envelope));
        assert_eq!(envelope.actorname, "Ann\u{fffd}");
        assert_eq!(envelope.actorid, "a\u{fffd}");
        assert_eq!(envelope.data["resolution"], "done\u{fffd}\u{fffd}, é 😀");
        assert_eq!(
            envelope.data["extra"],
            serde_json::json!({"k\u{fffd}": ["\u{fffd}", 1, null]})
        );
        assert_eq!(envelope.hash, original.hash, "the hash is the stored one");
        let mut clean = original.clone();
        clean.data = serde_json::json!({"resolution": "fine"});
        clean.actorname = "Ann".into();
        clean.actorid = "a".into();
        let before = clean.clone();
        assert!(!holdable(&mut clean));
        assert_eq!(clean, before);
    }

    #[test]
    fn the_metadata_written_is_what_both_readers_take_back() {
        let envelope = Envelope::seal(
            EnvelopeHeader {
                source: "ticketd",
                ticket_id: Uuid::nil(),
                seq: 1,
                time: Timestamp::now(),
                actor: &Actor::system(),
                correlation_id: "req \"1\"",
            },
            &TicketEvent::Closed(TicketClosed { resolution: None }),
            GENESIS_HASH,
        );
        let text = stored_metadata_json(&envelope);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value, stored_metadata(&envelope));
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut members = METADATA_MEMBERS.to_vec();
        keys.sort_unstable();
        members.sort_unstable();
        assert_eq!(keys, members);
        let raw = RawEvent {
            aggregate_id: envelope.subject.clone(),
            sequence: 1,
            event_type: envelope.event_type.clone(),
            payload: envelope.data.clone(),
            metadata: value,
            position: Some(0),
        };
        assert_eq!(raw.into_envelope().unwrap(), envelope);
        let meta: Metadata = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (meta.hash, meta.correlationid, meta.time),
            (
                envelope.hash.clone(),
                envelope.correlationid.clone(),
                envelope.time
            )
        );
    }
}
