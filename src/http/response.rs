//! Answers of the query routes: JSON with the position the answer reflects.

/// Header of every query: the global position its read models (or the store) have applied.
const POSITION_HEADER: &str = "x-projection-position";

/// A JSON answer with `X-Projection-Position: position`.
pub fn answer(position: i64, body: impl serde::Serialize) -> axum::response::Response {
    use axum::response::IntoResponse;
    with_position(position, axum::Json(body).into_response())
}

/// Adds `X-Projection-Position: position` to `response`.
pub fn with_position(
    position: i64,
    mut response: axum::response::Response,
) -> axum::response::Response {
    response
        .headers_mut()
        .insert(POSITION_HEADER, axum::http::HeaderValue::from(position));
    response
}
