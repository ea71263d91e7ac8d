//! The OpenAPI 3.1 document, generated from the handlers, and a browsable UI.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::state::AppState;

mod document;
pub use document::document;

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
        super::commands::create_ticket,
        super::commands::comment_on_ticket,
        super::commands::assign_ticket,
        super::commands::update_ticket,
        super::commands::close_ticket,
        super::commands::reopen_ticket,
        super::commands::rate_ticket,
        super::queries::get_ticket,
        super::queries::list_tickets,
        super::queries::get_board,
        super::queries::get_me,
        super::queries::my_tickets,
        super::queries::mark_read,
        super::queries::get_stats,
        super::auth::login,
        super::auth::me,
        super::users::create_user,
        super::users::list_users,
        super::users::update_user,
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
        super::auth::LoginRequest,
        super::auth::TokenResponse,
        super::users::CreateUserRequest,
        super::users::UserList,
        super::users::UpdateUserRequest,
        crate::users::User,
    ))
)]
pub struct ApiDoc;

/// `/openapi.json` and `/docs`.
pub fn router() -> Router<AppState> {
    // Swagger UI's files are compiled into the binary (the crate ships them), and its validator
    // badge, the one thing it would fetch from elsewhere, is off: the page works offline and
    // loads nothing from another origin, which the policy below also tells browsers to enforce.
    let ui = SwaggerUi::new("/docs").config(Config::new(["/openapi.json"]).validator_url("none"));
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .merge(Router::from(ui).layer(axum::middleware::map_response(same_origin_only)))
}

async fn openapi_json(State(state): State<AppState>) -> impl IntoResponse {
    Json(document(&state.settings))
}

/// The Content-Security-Policy of `/docs`: scripts, styles, images and fetches from this origin
/// only (Swagger UI sets inline styles and uses `data:` icons).
async fn same_origin_only(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'",
        ),
    );
    response
}
