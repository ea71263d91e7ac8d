//! Hostile text through every command (CONTRACT 2.4 and 6): whatever Unicode a client sends, the
//! answer is a success or a 422 naming the field (never a 500), every projector reaches the
//! head afterwards, and every ticket's history still verifies.
//!
//! One engine serves every case (a property test over fresh engines would take minutes), so a
//! case that wedges the read side fails that case and every one after it.

use std::fmt;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp, TestUser};
use crate::ordering::wait_all_positioned;

/// The engine's body limit (CONTRACT 2.3): a generated body over it may answer 413.
const BODY_LIMIT: usize = 64 * 1024;

/// Characters that naive text handling gets wrong: NUL and other controls, line and paragraph
/// separators, noncharacters, combining marks, zero-width and bidirectional controls, a BOM,
/// private use, 4-byte characters, and the characters JSON and URLs escape.
const SPECIALS: &[char] = &[
    '\u{0}',
    '\u{1}',
    '\u{7}',
    '\u{8}',
    '\t',
    '\n',
    '\r',
    '\u{1b}',
    '\u{7f}',
    '\u{85}',
    '\u{a0}',
    '\u{ad}',
    '\u{300}',
    '\u{301}',
    '\u{36f}',
    '\u{200b}',
    '\u{200d}',
    '\u{200e}',
    '\u{202e}',
    '\u{2066}',
    '\u{2028}',
    '\u{feff}',
    '\u{fdd0}',
    '\u{fffe}',
    '\u{ffff}',
    '\u{fffd}',
    '\u{e000}',
    '\u{1f600}',
    '\u{1f468}',
    '\u{10ffff}',
    '"',
    '\\',
    '<',
    '%',
    '&',
    'a',
    ' ',
];

/// Units for strings at a length limit: each at most 3 bytes of UTF-8 and not escaped by JSON,
/// so that a 20,000-character field stays under the body limit.
const UNITS: &[char] = &[
    'x', 'é', '\u{301}', '\u{202e}', '\u{fdd0}', '\u{ffff}', '\u{200b}',
];

/// Text of any kind, for a field whose limit is `max` characters: mostly short strings of
/// special characters, some arbitrary strings, and strings of exactly `max` and `max + 1`
/// characters (which may carry one NUL).
fn text(max: usize) -> BoxedStrategy<String> {
    prop_oneof![
        4 => proptest::collection::vec(proptest::sample::select(SPECIALS), 0..24)
            .prop_map(|chars| chars.into_iter().collect::<String>()),
        2 => any::<String>(),
        1 => at_length(max),
        1 => at_length(max + 1),
    ]
    .boxed()
}

fn at_length(n: usize) -> impl Strategy<Value = String> {
    (proptest::sample::select(UNITS), proptest::option::of(0..n)).prop_map(move |(unit, nul_at)| {
        (0..n)
            .map(|i| if Some(i) == nul_at { '\0' } else { unit })
            .collect()
    })
}

/// The text of one case, one value per free-text field of every command.
#[derive(Clone)]
struct Case {
    title: String,
    description: String,
    comment: String,
    new_title: String,
    new_description: String,
    resolution: String,
    score: i64,
    rating_comment: String,
    reason: String,
    q: String,
}

/// Long strings shown by length and a prefix, so that a failure stays readable.
fn short(s: &str) -> String {
    let count = s.chars().count();
    if count <= 40 {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(12).collect();
        format!("{head:?}… ({count} chars, NUL: {})", s.contains('\0'))
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("title", &format_args!("{}", short(&self.title)))
            .field("description", &format_args!("{}", short(&self.description)))
            .field("comment", &format_args!("{}", short(&self.comment)))
            .field("new_title", &format_args!("{}", short(&self.new_title)))
            .field(
                "new_description",
                &format_args!("{}", short(&self.new_description)),
            )
            .field("resolution", &format_args!("{}", short(&self.resolution)))
            .field("score", &self.score)
            .field(
                "rating_comment",
                &format_args!("{}", short(&self.rating_comment)),
            )
            .field("reason", &format_args!("{}", short(&self.reason)))
            .field("q", &format_args!("{}", short(&self.q)))
            .finish()
    }
}

fn cases() -> impl Strategy<Value = Case> {
    (
        (
            text(200),
            text(20_000),
            text(20_000),
            text(200),
            text(20_000),
        ),
        (
            text(5_000),
            prop_oneof![4 => 1..=5i64, 1 => -2..9i64],
            text(2_000),
            text(5_000),
            text(200),
        ),
    )
        .prop_map(
            |(
                (title, description, comment, new_title, new_description),
                (resolution, score, rating_comment, reason, q),
            )| Case {
                title,
                description,
                comment,
                new_title,
                new_description,
                resolution,
                score,
                rating_comment,
                reason,
                q,
            },
        )
}

/// Records `fields` as taken by the engine when `answer` applied them.
fn took<'a>(
    accepted: &mut Vec<(&'a str, &'a str)>,
    answer: &Answer,
    fields: &[(&'a str, &'a str)],
) {
    if let Answer::Applied(_) = answer {
        accepted.extend(fields.iter().copied());
    }
}

/// Follows the ticket's version through the answers.
fn bump(version: &mut i64, answer: &Answer) {
    if let Answer::Applied(body) = answer {
        *version = (*version).max(body["version"].as_i64().unwrap_or(0));
    }
}

/// The engine and its users, shared by every case.
struct World {
    app: TestApp,
    requester: TestUser,
    agent: TestUser,
    auditor: TestUser,
}

/// What a command answered, once judged acceptable.
enum Answer {
    /// 200 or 201, with its body (`{id, number, version}`).
    Applied(Value),
    /// A 422 naming only fields that carried generated values, or a 413 for a body over the
    /// limit.
    Refused,
}

impl World {
    async fn new() -> Self {
        let app = spawn_app().await;
        let requester = app.user("requester").await;
        let agent = app.user("agent").await;
        let auditor = app.user("auditor").await;
        Self {
            app,
            requester,
            agent,
            auditor,
        }
    }

    /// Sends a command and judges its answer. `generated` names the body's fields that carry
    /// generated values: a 422 may name those only.
    async fn command(
        &self,
        method: Method,
        path: &str,
        user: &TestUser,
        body: Value,
        generated: &[&str],
    ) -> Result<Answer, String> {
        let raw = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let response = self
            .app
            .client
            .request(method.clone(), self.app.api(path))
            .bearer_auth(&user.token)
            .header("content-type", "application/json")
            .body(raw.clone())
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let fields: Vec<&str> = answer["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        match status {
            StatusCode::OK | StatusCode::CREATED if answer["version"].is_i64() => {
                Ok(Answer::Applied(answer))
            }
            StatusCode::UNPROCESSABLE_ENTITY
                if content_type == "application/problem+json"
                    && !fields.is_empty()
                    && fields.iter().all(|f| generated.contains(f)) =>
            {
                Ok(Answer::Refused)
            }
            StatusCode::PAYLOAD_TOO_LARGE if raw.len() > BODY_LIMIT => Ok(Answer::Refused),
            _ => Err(format!(
                "{method} {path} answered {status} ({content_type}): {answer}"
            )),
        }
    }

    /// A ticket to run the later commands on when the case's own create was refused.
    async fn plain_ticket(&self) -> Result<Uuid, String> {
        let body =
            json!({"title": "plain", "description": "", "category": "other", "priority": "low"});
        let response = self.app.post("/tickets", &self.requester, body).await;
        if response.status() != StatusCode::CREATED {
            return Err(format!("a plain create answered {}", response.status()));
        }
        let answer: Value = response.json().await.map_err(|e| e.to_string())?;
        let id = answer["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or("a create answer without an id")?;
        Ok(id)
    }

    async fn run(&self, case: &Case) -> Result<(), String> {
        let (requester, agent) = (&self.requester, &self.agent);
        // The generated texts the engine took (U+0000 must never be among them).
        let mut accepted: Vec<(&str, &str)> = Vec::new();
        let mut version = 1;

        let created = self
            .command(
                Method::POST,
                "/tickets",
                requester,
                json!({"title": case.title, "description": case.description,
                       "category": "other", "priority": "low"}),
                &["title", "description"],
            )
            .await?;
        took(
            &mut accepted,
            &created,
            &[("title", &case.title), ("description", &case.description)],
        );
        let id = match created {
            Answer::Applied(answer) => answer["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or("a create answer without an id")?,
            Answer::Refused => self.plain_ticket().await?,
        };

        let listed = self
            .app
            .client
            .get(self.app.api("/tickets"))
            .bearer_auth(&agent.token)
            .query(&[("q", case.q.as_str())])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match listed.status() {
            StatusCode::OK => accepted.push(("q", &case.q)),
            StatusCode::UNPROCESSABLE_ENTITY => {}
            status => return Err(format!("GET /tickets?q= answered {status}")),
        }

        let path = |suffix: &str| format!("/tickets/{id}{suffix}");
        let answer = self
            .command(
                Method::POST,
                &path("/comments"),
                agent,
                json!({"body": case.comment}),
                &["body"],
            )
            .await?;
        bump(&mut version, &answer);
        took(&mut accepted, &answer, &[("body", &case.comment)]);
        let answer = self
            .command(
                Method::PATCH,
                &path(""),
                agent,
                json!({"title": case.new_title, "description": case.new_description}),
                &["title", "description"],
            )
            .await?;
        bump(&mut version, &answer);
        took(
            &mut accepted,
            &answer,
            &[
                ("title", &case.new_title),
                ("description", &case.new_description),
            ],
        );
        let answer = self
            .command(
                Method::POST,
                &path("/assign"),
                agent,
                json!({"assignee_id": agent.id}),
                &[],
            )
            .await?;
        bump(&mut version, &answer);
        let answer = self
            .command(
                Method::POST,
                &path("/close"),
                requester,
                json!({"resolution": case.resolution}),
                &["resolution"],
            )
            .await?;
        bump(&mut version, &answer);
        took(&mut accepted, &answer, &[("resolution", &case.resolution)]);
        if let Answer::Refused = answer {
            let answer = self
                .command(Method::POST, &path("/close"), requester, json!({}), &[])
                .await?;
            bump(&mut version, &answer);
        }
        let answer = self
            .command(
                Method::POST,
                &path("/rating"),
                requester,
                json!({"score": case.score, "comment": case.rating_comment}),
                &["score", "comment"],
            )
            .await?;
        bump(&mut version, &answer);
        took(&mut accepted, &answer, &[("comment", &case.rating_comment)]);
        let answer = self
            .command(
                Method::POST,
                &path("/reopen"),
                requester,
                json!({"reason": case.reason}),
                &["reason"],
            )
            .await?;
        bump(&mut version, &answer);
        took(&mut accepted, &answer, &[("reason", &case.reason)]);

        self.projectors_at_head().await?;
        self.still_verifies(id, version).await?;
        // Postgres cannot hold U+0000: the contract refuses it at the door (checked last, so
        // that the read side's own failure shows first where it would happen).
        if let Some((field, _)) = accepted.iter().find(|(_, text)| text.contains('\0')) {
            return Err(format!("{field} with U+0000 was accepted"));
        }
        Ok(())
    }

    /// Every projector of the engine applies every stored event within a few seconds.
    async fn projectors_at_head(&self) -> Result<(), String> {
        wait_all_positioned(&self.app.pool).await;
        let head: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
            .fetch_one(&self.app.pool)
            .await
            .map_err(|e| e.to_string())?;
        let names: Vec<&str> = crate::helpers::read_models()
            .iter()
            .map(|p| p.name())
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let at: Vec<(String, i64)> = sqlx::query_as(
                "SELECT name, position FROM projection_checkpoints WHERE name = ANY($1)",
            )
            .bind(&names)
            .fetch_all(&self.app.pool)
            .await
            .map_err(|e| e.to_string())?;
            if at.len() == names.len() && at.iter().all(|(_, p)| *p >= head) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "the projectors stand at {at:?}, short of the head {head}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The ticket reads back at its version, and its hash chain and history hold.
    async fn still_verifies(&self, id: Uuid, version: i64) -> Result<(), String> {
        let view = self
            .app
            .get(&format!("/tickets/{id}?min_version={version}"), &self.agent)
            .await;
        if view.status() != StatusCode::OK {
            return Err(format!("the ticket reads back {}", view.status()));
        }
        let verified: Value = self
            .app
            .get(&format!("/tickets/{id}/verify"), &self.auditor)
            .await
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if verified["valid"] != true {
            return Err(format!("the chain does not verify: {verified}"));
        }
        let history = self
            .app
            .get(&format!("/tickets/{id}/history"), &self.auditor)
            .await;
        if history.status() != StatusCode::OK {
            return Err(format!("the history answers {}", history.status()));
        }
        Ok(())
    }
}

#[test]
fn arbitrary_unicode_through_every_command_never_answers_500_nor_wedges_the_read_side() {
    // Arrange: one engine for every case, on a runtime that outlives them.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let world = runtime.block_on(World::new());
    let mut runner = TestRunner::new(Config {
        cases: 16,
        // A wedged read side fails every later case alike: shrinking would only hide the input
        // that wedged it.
        max_shrink_iters: 0,
        failure_persistence: None,
        ..Config::default()
    });
    // Act + Assert
    let result = runner.run(&cases(), |case| {
        runtime
            .block_on(world.run(&case))
            .map_err(TestCaseError::fail)
    });
    drop(world);
    if let Err(error) = result {
        panic!("{error}");
    }
}
