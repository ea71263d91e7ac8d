//! Statistics in business time (CONTRACT 9): first response and resolution in wall-clock and
//! business seconds of each ticket's calendar, SLA percentages on the business-time due times.

use serde_json::{json, Value};

use crate::helpers::spawn_app;
use crate::queries::{assign, close, comment, event_time, read};
use crate::sla_policies::{closed_for_three_days, put};

fn seconds(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("seconds: {value}"))
}

#[tokio::test]
async fn time_the_desk_is_closed_counts_on_the_wall_clock_but_not_in_business_time() {
    // Arrange: urgent tickets on a calendar closed today and the next two days; medium ones on
    // the 24×7 clock.
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let agent = app.user("agent").await;
    let requester = app.user("requester").await;
    let (calendar, _) = closed_for_three_days(&app, &admin, "UTC").await;
    let response = put(
        &app,
        &admin,
        "urgent",
        json!({"first_response": "30m", "resolution": "1h", "calendar_id": calendar}),
    )
    .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let urgent = app
        .create_ticket_with(&requester, json!({"priority": "urgent"}))
        .await;
    let medium = app
        .create_ticket_with(&requester, json!({"priority": "medium"}))
        .await;
    for id in [urgent, medium] {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        comment(&app, id, &agent, false).await;
        assign(&app, id, &agent, &agent).await;
        close(&app, id, &agent).await;
    }
    let wall = |from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>| {
        (to - from).num_milliseconds() as f64 / 1000.0
    };
    let (medium_created, medium_answered, medium_closed) = (
        event_time(&app, medium, 1).await,
        event_time(&app, medium, 2).await,
        event_time(&app, medium, 4).await,
    );

    // Act
    let stats = read(&app, "/stats", &admin).await;

    // Assert: the urgent ticket adds zero business seconds, the medium one its wall-clock time.
    let first = &stats["first_response"];
    assert!(seconds(&first["avg_seconds"]) > seconds(&first["business_avg_seconds"]));
    let expected = wall(medium_created, medium_answered) / 2.0;
    assert!(
        (seconds(&first["business_avg_seconds"]) - expected).abs() < 0.0011,
        "{first}: expected {expected}"
    );
    let resolution = &stats["resolution"];
    let expected = wall(medium_created, medium_closed) / 2.0;
    assert!(
        (seconds(&resolution["business_avg_seconds"]) - expected).abs() < 0.0011,
        "{resolution}: expected {expected}"
    );
    // p50 of {0, x} interpolates halfway; the zero bucket is exact.
    assert!(seconds(&resolution["business_p50_seconds"]) <= expected * 1.01 + 0.0011);
    // Both met: the urgent targets lie after the closed days.
    assert_eq!(
        stats["sla"],
        json!({"first_response_met_pct": 100.0, "resolution_met_pct": 100.0, "open_breached": 0,
               "breaches_by_priority": {"low": 0, "medium": 0, "high": 0, "urgent": 0}})
    );
    assert_eq!(stats["agents"][0]["breaches"], 0);
}

#[tokio::test]
async fn the_openapi_document_names_the_business_time_figures() {
    let app = spawn_app().await;
    let doc: Value = app.root_json("/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    for member in [
        "avg_seconds",
        "business_avg_seconds",
        "business_p50_seconds",
        "business_p90_seconds",
    ] {
        assert!(
            schemas["Durations"]["properties"][member].is_object(),
            "{member}"
        );
    }
    assert!(schemas["SlaStats"]["properties"]["breaches_by_priority"].is_object());
    assert!(schemas["AgentStats"]["properties"]["breaches"].is_object());
    let body = &doc["paths"]["/api/v1/stats"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"]["$ref"];
    assert_eq!(body, "#/components/schemas/Stats");
}
