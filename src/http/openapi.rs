//! The OpenAPI 3.1 document, generated from the handlers, and a browsable UI.

use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::state::AppState;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "ticketd", description = "Event-sourced helpdesk ticket engine"),
    modifiers(&BearerAuth),
    paths(
        super::ticket_commands::create_ticket,
        super::ticket_commands::comment_on_ticket,
        super::ticket_commands::assign_ticket,
        super::ticket_commands::update_ticket,
        super::ticket_commands::close_ticket,
        super::ticket_commands::reopen_ticket,
        super::ticket_commands::rate_ticket,
        super::ticket_queries::get_ticket,
        super::ticket_queries::list_tickets,
        super::ticket_queries::get_board,
        super::ticket_queries::get_me,
        super::ticket_queries::my_tickets,
        super::ticket_queries::mark_read,
        super::ticket_queries::get_stats,
        super::login::login,
        super::login::me,
        super::users::create_user,
        super::users::list_users,
        super::ws::connect,
        super::audit::history,
        super::audit::verify,
        super::audit::events,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
    ),
    components(schemas(
        super::error::Problem,
        super::error::FieldError,
        super::audit::History,
        super::audit::Verification,
        super::audit::EventPage,
        super::login::LoginRequest,
        super::login::TokenResponse,
        super::users::CreateUserRequest,
        super::users::UserList,
        crate::users::User,
    ))
)]
pub struct ApiDoc;

/// `/openapi.json` and `/docs`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
}

async fn openapi_json() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

async fn docs() -> impl IntoResponse {
    Html(utoipa_scalar::Scalar::new(ApiDoc::openapi()).to_html())
}
