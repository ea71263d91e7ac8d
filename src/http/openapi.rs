//! The OpenAPI 3.1 document, generated from the handlers, and a browsable UI.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::state::AppState;

mod document;
mod spec;

pub use document::document;
pub use spec::ApiDoc;

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
