//! `POST /users`, `GET /users` (CONTRACT 2.2) and `PATCH /users/{id}` (CONTRACT 7, the role
//! only so far): the user directory.

use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::body::{BodyKind, JsonBody};
use super::error::{ApiError, Result};
use super::extract::TicketId;
use super::form::request_body;
use super::members::{Context, Email, Password, UserName};
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::Role;
use crate::users::{self, CreateUserError, Origin, User};

/// The user routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", patch(update_user))
}

request_body! {
    /// `PATCH /users/{id}` body: the user's new role.
    pub struct UpdateUserRequest, read as UpdateUserDraft {
        /// `requester`, `agent`, `admin` or `auditor`.
        pub role: Role,
    }
}

/// Changes a user's role (admins only). Tokens already issued keep their role until they expire.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUserRequest,
    params(("id" = uuid::Uuid, Path, description = "the user")),
    responses(
        (status = 200, body = User),
        (status = 401, body = super::error::Problem),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such user", body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    request: Request,
) -> Result<Json<User>> {
    // As for POST /users: who may not manage users learns nothing, not even which ids exist.
    if caller.role != Role::Admin {
        return Err(ApiError::Forbidden("only admins may change users".into()));
    }
    // Any id that is not a UUID (even one that is not UTF-8) names no user.
    let id = path
        .id()
        .map_err(|_| ApiError::NotFound("no such user".into()))?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let role = UpdateUserRequest::parse(&body, &context(&state))?.role;
    let user = users::set_role(&state.pool, id, role)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    tracing::info!(user_id = %user.id, role = %user.role, by = %caller.id, "user role changed");
    Ok(Json(user))
}

request_body! {
    /// `POST /users` body: the e-mail is unique whatever its case.
    pub struct CreateUserRequest, read as CreateUserDraft {
        /// One `@` with text on both sides, at most 254 characters; unique whatever its case.
        pub email: Email,
        /// 1–200 characters after trimming.
        pub name: UserName,
        /// `requester`, `agent`, `admin` or `auditor`.
        pub role: Role,
        /// 8–1024 characters; without it the user can only arrive with a token.
        pub password: Option<Password>,
    }
}

/// What reading a member needs from the engine.
fn context(state: &AppState) -> Context<'_> {
    Context {
        settings: &state.settings,
    }
}

/// `GET /users` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// The users, by name.
    pub items: Vec<User>,
}

/// Adds a user (admins only).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses(
        (status = 201, body = User),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 409, description = "a user with this e-mail exists", body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<(StatusCode, Json<User>)> {
    // Decided before the body is read: whoever may not add users learns nothing from it.
    if caller.role != Role::Admin {
        return Err(ApiError::Forbidden("only admins may add users".into()));
    }
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let CreateUserRequest {
        email: Email(email),
        name: UserName(name),
        role,
        password,
    } = CreateUserRequest::parse(&body, &context(&state))?;
    let user = users::create(
        &state.pool,
        &email,
        &name,
        role,
        password.as_ref().map(|p| p.0.as_str()),
        Origin::Api,
    )
    .await
    .map_err(|e| match e {
        CreateUserError::EmailTaken => ApiError::Conflict("a user with this e-mail exists".into()),
        CreateUserError::Database(e) => ApiError::from(e),
        CreateUserError::Hash(e) => ApiError::Internal(e),
    })?;
    tracing::info!(user_id = %user.id, role = %user.role, by = %caller.id, "user added");
    Ok((StatusCode::CREATED, Json(user)))
}

/// Lists users, optionally of one role (agents, admins and auditors).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(("role" = Option<String>, Query, description = "only users with this role: requester, agent, admin or auditor")),
    responses(
        (status = 200, body = UserList),
        (status = 403, description = "requesters may not list users", body = super::error::Problem),
        (status = 422, description = "an invalid role", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<UserList>> {
    if !caller.role.reads_everything() {
        return Err(ApiError::Forbidden("requesters may not list users".into()));
    }
    let role = role_filter(&uri)?;
    let items = users::list(&state.pool, role).await?;
    Ok(Json(UserList { items }))
}

/// The `role` query parameter: absent or empty → every role; anything else must be a role.
fn role_filter(uri: &Uri) -> Result<Option<Role>> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| ApiError::invalid("query", "is not a valid query string"))?;
    match pairs.iter().rev().find(|(k, _)| k == "role") {
        None => Ok(None),
        // Blank counts as absent, as for every query parameter (see `params`).
        Some((_, v)) if v.trim().is_empty() => Ok(None),
        Some((_, v)) => v
            .trim()
            .parse::<Role>()
            .map(Some)
            .map_err(|message| ApiError::invalid("role", message.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(uri: &str) -> Result<Option<Role>> {
        role_filter(&uri.parse::<Uri>().unwrap())
    }

    #[test]
    fn the_role_filter_is_optional_and_checked() {
        assert_eq!(filter("/users").unwrap(), None);
        assert_eq!(filter("/users?role=").unwrap(), None);
        assert_eq!(filter("/users?role=agent").unwrap(), Some(Role::Agent));
        assert_eq!(
            filter("/users?other=1&role=auditor").unwrap(),
            Some(Role::Auditor)
        );
        let Err(ApiError::Unprocessable(errors)) = filter("/users?role=boss") else {
            panic!("expected a 422");
        };
        assert_eq!(errors[0].field, "role");
        assert!(matches!(
            filter("/users?role=Agent"),
            Err(ApiError::Unprocessable(_))
        ));
    }
}
