//! `PATCH /users/{id}`: an admin changes a user's role (the web app's Users page uses it).

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{failing_fields, problem, spawn_app};

#[tokio::test]
async fn an_admin_changes_a_users_role() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let pat = app.user("requester").await;
    // Act
    let response = app
        .patch(
            &format!("/users/{}", pat.id),
            &admin,
            json!({"role": "agent"}),
        )
        .await;
    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], pat.id.to_string());
    assert_eq!(body["role"], "agent");
    let agents: Value = app
        .get("/users?role=agent", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["id"] == pat.id.to_string()));
}

#[tokio::test]
async fn only_admins_change_roles_whatever_they_send() {
    let app = spawn_app().await;
    let pat = app.user("requester").await;
    for role in ["requester", "agent", "auditor"] {
        let caller = app.user(role).await;
        for (path, body) in [
            (format!("/users/{}", pat.id), json!({"role": "admin"})),
            (format!("/users/{}", Uuid::now_v7()), json!({"nope": 1})),
            ("/users/not-a-uuid".to_string(), json!({})),
        ] {
            let response = app.patch(&path, &caller, body).await;
            problem(response, StatusCode::FORBIDDEN).await;
        }
    }
    let stored: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(pat.id)
        .fetch_optional(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("requester"), "nothing changed");
}

#[tokio::test]
async fn a_role_change_names_what_is_wrong() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    let pat = app.user("requester").await;
    let cases = [
        (json!({"role": "boss"}), vec!["role"], "an unknown role"),
        (
            json!({"email": "nope"}),
            vec!["email"],
            "an email without @",
        ),
        (
            json!({"role": "agent", "mood": "happy"}),
            vec!["mood"],
            "an unknown field",
        ),
        (
            json!({"role": 7}),
            vec!["role"],
            "a role that is not a string",
        ),
    ];
    for (body, fields, case) in cases {
        let response = app.patch(&format!("/users/{}", pat.id), &admin, body).await;
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(failing_fields(&problem), fields, "{case}");
    }
    for path in [format!("/users/{}", Uuid::now_v7()), "/users/42".into()] {
        let response = app.patch(&path, &admin, json!({"role": "agent"})).await;
        problem(response, StatusCode::NOT_FOUND).await;
    }
}
