//! A projector step whose transaction rolls back after the projection wrote its rows is applied
//! again in full: nothing the projection keeps in memory from the failed step skips an event.

use serde_json::json;

use crate::helpers::spawn_app;
use crate::queries::{comment, done, read};

#[tokio::test]
async fn a_step_rolled_back_after_its_rows_were_written_is_applied_again() {
    // Arrange: the ticket view has applied a ticket, and its next checkpoint save will fail
    // once (after the rows of that step are written, so the step rolls back as a whole).
    let app = spawn_app().await;
    let agent = app.user("agent").await;
    let id = app.create_ticket(&agent).await;
    let before = read(&app, &format!("/tickets/{id}"), &agent).await;
    assert_eq!(before["version"], 1);
    sqlx::raw_sql(
        "CREATE SEQUENCE test_checkpoint_failures;
         CREATE FUNCTION test_fail_first_save() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             -- A sequence, since it does not roll back with the failing transaction.
             IF NEW.name = 'ticket_view' AND nextval('test_checkpoint_failures') = 1 THEN
                 RAISE EXCEPTION 'injected checkpoint failure';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER test_fail_first_save BEFORE UPDATE ON projection_checkpoints
             FOR EACH ROW EXECUTE FUNCTION test_fail_first_save();",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    // Act: two changes, applied by the step that fails and then by its retry.
    comment(&app, id, &agent, false).await;
    done(
        app.patch(
            &format!("/tickets/{id}"),
            &agent,
            json!({"priority": "urgent"}),
        )
        .await,
    )
    .await;

    // Assert
    let after = read(&app, &format!("/tickets/{id}"), &agent).await;
    let failures: i64 = sqlx::query_scalar("SELECT last_value FROM test_checkpoint_failures")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        failures >= 2,
        "the injected failure happened, then a save succeeded"
    );
    assert_eq!(after["version"], 3);
    assert_eq!(after["priority"], "urgent");
    assert_eq!(after["comments"].as_array().map(Vec::len), Some(1));
}
