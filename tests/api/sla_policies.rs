//! SLA policies per priority (CONTRACT 9) through HTTP: a policy's calendar decides new
//! tickets' due times; bad targets and unknown calendars are named.

use reqwest::StatusCode;
use serde_json::{json, Value};
use ticketd::settings::Settings;

use ticketd::startup::Application;

use crate::helpers::{failing_fields, problem, spawn_app, test_pool, TestApp, TestUser};

pub(crate) async fn put(
    app: &TestApp,
    user: &TestUser,
    priority: &str,
    body: Value,
) -> reqwest::Response {
    app.client
        .put(app.api(&format!("/sla-policies/{priority}")))
        .bearer_auth(&user.token)
        .json(&body)
        .send()
        .await
        .expect("send a request")
}

/// A calendar open around the clock but closed today and the next two days (UTC dates), and the
/// date on which it opens again. A ticket opened today, or tomorrow should the date change
/// during the test, has its clock start at that date's midnight.
pub(crate) async fn closed_for_three_days(
    app: &TestApp,
    admin: &TestUser,
    zone: &str,
) -> (String, String) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get(zone).expect("a zone"))
        .date();
    let day = |n: i64| {
        today
            .checked_add(jiff::Span::new().days(n))
            .expect("a date")
            .to_string()
    };
    let all_day = json!([["00:00", "24:00"]]);
    let response = app
        .post(
            "/calendars",
            admin,
            json!({
                "name": "closed for three days",
                "time_zone": zone,
                "hours": {"mon": all_day, "tue": all_day, "wed": all_day, "thu": all_day,
                          "fri": all_day, "sat": all_day, "sun": all_day},
                "holidays": [day(0), day(1), day(2)]
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let calendar: Value = response.json().await.expect("a calendar");
    (calendar["id"].as_str().expect("an id").to_string(), day(3))
}

async fn sla_of(app: &TestApp, user: &TestUser, ticket: uuid::Uuid) -> Value {
    let response = app
        .get(&format!("/tickets/{ticket}?min_version=1"), user)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let view: Value = response.json().await.expect("a ticket");
    view["sla"].clone()
}

#[tokio::test]
async fn a_policy_calendar_counts_business_time_from_the_next_open_day() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let (calendar, opens) = closed_for_three_days(&app, &admin, "UTC").await;
    let response = put(
        &app,
        &admin,
        "urgent",
        json!({"first_response": "30m", "resolution": "1h30m", "calendar_id": calendar}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let stored: Value = response.json().await.expect("a policy");
    assert_eq!(
        stored,
        json!({"priority": "urgent", "first_response": "30m", "next_response": null,
               "resolution": "1h30m", "calendar_id": calendar})
    );

    let urgent = app
        .create_ticket_with(&agent, json!({"priority": "urgent"}))
        .await;
    let sla = sla_of(&app, &agent, urgent).await;
    assert_eq!(sla["first_response_due"], format!("{opens}T00:30:00.000Z"));
    assert_eq!(sla["resolution_due"], format!("{opens}T01:30:00.000Z"));

    // A priority without a policy keeps the configured 24×7 targets.
    let medium = app.create_ticket(&agent).await;
    let due = sla_of(&app, &agent, medium).await["first_response_due"].clone();
    assert!(
        due.as_str().is_some_and(|d| d < opens.as_str()),
        "medium is due within 4 h, not after the holidays: {due}"
    );

    let list: Value = app
        .get("/sla-policies", &admin)
        .await
        .json()
        .await
        .expect("policies");
    assert_eq!(list["items"], json!([stored]));
}

#[tokio::test]
async fn the_default_calendar_applies_where_no_policy_names_one() {
    // The calendar gets its id when added, so a second engine on the same database names it.
    let first = spawn_app().await;
    let admin = first.user("admin").await;
    let agent = first.user("agent").await;
    let (calendar, opens) = closed_for_three_days(&first, &admin, "Pacific/Auckland").await;
    let mut settings: Settings = first.settings.clone();
    settings.sla_default_calendar = Some(calendar.parse().expect("a UUID"));
    let built = Application::build_with_pool(settings, test_pool(&first.database_url).await)
        .await
        .expect("build a second engine");
    let port = built.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(built.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let response = first
        .client
        .post(format!("http://127.0.0.1:{port}/api/v1/tickets"))
        .bearer_auth(&agent.token)
        .json(&json!({"title": "VPN", "description": "", "category": "network", "priority": "low"}))
        .send()
        .await
        .expect("send a request");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("an answer");
    let ticket: uuid::Uuid = body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    // Read through the engine configured with that calendar: an open ticket's due times are
    // computed by the engine that answers, with its configuration.
    let response = first
        .client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/tickets/{ticket}?min_version=1"
        ))
        .bearer_auth(&agent.token)
        .send()
        .await
        .expect("send a request");
    assert_eq!(response.status(), StatusCode::OK);
    let view: Value = response.json().await.expect("a ticket");
    let sla = view["sla"].clone();
    // Low: 24 h of first response from local midnight in Auckland, a zone with daylight saving.
    let local_midnight = opens
        .parse::<jiff::civil::Date>()
        .expect("a date")
        .to_zoned(jiff::tz::TimeZone::get("Pacific/Auckland").expect("a zone"))
        .expect("an instant")
        .timestamp();
    let expected = local_midnight + jiff::SignedDuration::from_hours(24);
    assert_eq!(
        sla["first_response_due"],
        expected.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string()
    );
    let _ = stop.send(());
    let _ = served.await;
}

#[tokio::test]
async fn bad_policies_are_refused_naming_each_field() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let cases = [
        (
            json!({"first_response": "0m", "resolution": "1h"}),
            vec!["first_response"],
        ),
        (
            json!({"first_response": "1h", "resolution": "10000d"}),
            vec!["resolution"],
        ),
        (
            json!({"first_response": "1h", "next_response": "90s", "resolution": "4h"}),
            vec!["next_response"],
        ),
        (
            json!({"first_response": "1h", "resolution": "4h",
                   "calendar_id": "01935b8e-0000-7000-8000-000000000000"}),
            vec!["calendar_id"],
        ),
        (json!({"resolution": "4h"}), vec!["first_response"]),
        (
            json!({"first_response": 60, "resolution": "4h"}),
            vec!["first_response"],
        ),
    ];
    for (body, fields) in cases {
        let refused = problem(
            put(&app, &admin, "high", body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(failing_fields(&refused), fields, "for {body}");
    }
    let ok = json!({"first_response": "1h", "resolution": "4h"});
    problem(
        put(&app, &admin, "critical", ok.clone()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let agent = app.user("agent").await;
    problem(put(&app, &agent, "high", ok).await, StatusCode::FORBIDDEN).await;
    let list: Value = app
        .get("/sla-policies", &admin)
        .await
        .json()
        .await
        .expect("policies");
    assert_eq!(list["items"], json!([]), "nothing refused was stored");
}
