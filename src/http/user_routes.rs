//! `POST /users`, `GET /users` (CONTRACT 2.2), `GET|PATCH /users/{id}` and
//! `POST /users/{id}/merge` (CONTRACT 7): the user directory.

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use ticket_projections::read_models::requesters::{self, RequesterTickets};
use tokio::time::Instant;
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{BodyKind, JsonBody};
use super::error::{ApiError, Result};
use super::extract::TicketId;
use super::form::request_body;
use super::members::{ContactEmail, Context, Email, Password, Phone, UserName};
use super::params::Params;
use super::response::answer;
use super::state::AppState;
use super::ticket_queries::{caught_up, TICKET_MODELS};
use crate::auth::Caller;
use crate::domain::Role;
use crate::store::user_stream::Recorder;
use crate::users::changes::{self, MergeError, UserChanges};
use crate::users::{self, CreateUserError, NewUser, Origin, User};

/// The user routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user).patch(update_user))
        .route("/users/{id}/merge", post(merge_user))
}

/// Who records a change made through the API: the caller, with the request's correlation id.
pub(crate) fn recorder(state: &AppState, caller: &Caller, headers: &HeaderMap) -> Recorder {
    Recorder {
        source: state.settings.source.clone(),
        actor: ticket_nats::Actor {
            id: caller.id.to_string(),
            name: caller.name.clone(),
            role: caller.role.as_str().to_string(),
        },
        correlation_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| Uuid::now_v7().to_string()),
    }
}

/// The user an admin's change names. As for POST /users, who may not manage users learns
/// nothing, not even which ids exist (403 before the id is read); any id that is not a UUID
/// (even one that is not UTF-8) names no user.
fn admin_on_user(caller: &Caller, path: &TicketId, verb: &str) -> Result<Uuid> {
    if caller.role != Role::Admin {
        return Err(ApiError::Forbidden(format!("only admins may {verb} users")));
    }
    path.id()
        .map_err(|_| ApiError::NotFound("no such user".into()))
}

/// A contact change refused by the directory's unique indexes, as a 409.
fn contact_taken(error: CreateUserError) -> ApiError {
    match error {
        CreateUserError::EmailTaken => ApiError::Conflict("a user with this e-mail exists".into()),
        CreateUserError::PhoneTaken => {
            ApiError::Conflict("a user with this phone number exists".into())
        }
        CreateUserError::Database(e) => ApiError::from(e),
        CreateUserError::Hash(e) => ApiError::Internal(e),
    }
}

request_body! {
    /// `PATCH /users/{id}` body: any of the members; e-mail and phone unique among users.
    pub struct UpdateUserRequest, read as UpdateUserDraft {
        /// 1–200 characters after trimming.
        pub name: Option<UserName>,
        /// `local@domain`; stored trimmed and in lower case.
        pub email: Option<ContactEmail>,
        /// A phone number, national ones in `DEFAULT_PHONE_REGION`; stored in E.164.
        pub phone: Option<Phone>,
        /// `requester`, `agent`, `admin` or `auditor`.
        pub role: Option<Role>,
        /// False refuses sign-in and the user's tokens.
        pub active: Option<bool>,
        /// 12–1024 characters, not a common password; gives `login: true`.
        pub password: Option<Password>,
    }
}

/// Changes a user (admins only): name, contacts, role, state, password. Tokens already issued
/// keep their role until they expire; a deactivated user's tokens are refused.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUserRequest,
    params(("id" = uuid::Uuid, Path, description = "the user")),
    responses(
        (status = 200, body = User),
        (status = 401, body = super::error::Problem),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such user", body = super::error::Problem),
        (status = 409, description = "another user has this e-mail or phone number", body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    request: Request,
) -> Result<Json<User>> {
    let id = admin_on_user(&caller, &path, "change")?;
    let recorder = recorder(&state, &caller, request.headers());
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let UpdateUserRequest {
        name,
        email,
        phone,
        role,
        active,
        password,
    } = UpdateUserRequest::parse(&body, &Context::from(&state))?;
    let wanted = UserChanges {
        name: name.map(|n| n.0),
        email: email.map(|e| e.0),
        phone: phone.map(|p| p.0),
        role,
        active,
        password: password.map(|p| p.0),
    };
    let deactivated = wanted.active == Some(false);
    let user = changes::update(&state.pool, &recorder, id, wanted)
        .await
        .map_err(contact_taken)?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    if deactivated {
        state.auth.forget(id);
    }
    tracing::info!(user_id = %user.id, by = %caller.id, "user changed");
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
        /// 12–1024 characters, not a common password; without it the user can only arrive with a token.
        pub password: Option<Password>,
    }
}

request_body! {
    /// `POST /users/{id}/merge` body.
    pub struct MergeUserRequest, read as MergeUserDraft {
        /// The user that stays and stands for this one from now on.
        pub into: Uuid,
    }
}

/// Merges a duplicate user into another (admins only): `user.merged` on the duplicate's stream;
/// lookups of its e-mail or phone find `into`, its tickets are listed under `into`, and it can
/// no longer sign in. Answers the user that stays.
#[utoipa::path(post, path = "/api/v1/users/{id}/merge", tag = "users", request_body = MergeUserRequest,
    params(("id" = uuid::Uuid, Path, description = "the duplicate user")),
    responses(
        (status = 200, body = User),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such user to merge", body = super::error::Problem),
        (status = 409, description = "the same user, or one already merged", body = super::error::Problem),
        (status = 422, description = "a bad body, or `into` names no user", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn merge_user(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    request: Request,
) -> Result<Json<User>> {
    let id = admin_on_user(&caller, &path, "merge")?;
    let recorder = recorder(&state, &caller, request.headers());
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let MergeUserRequest { into } = MergeUserRequest::parse(&body, &Context::from(&state))?;
    let user = changes::merge(&state.pool, &recorder, id, into)
        .await
        .map_err(|e| match e {
            MergeError::NotFound => ApiError::NotFound("no such user".into()),
            // A body naming nobody, as an unknown requester or assignee is (CONTRACT 2.3).
            MergeError::UnknownTarget => ApiError::invalid("into", "names no user"),
            MergeError::Conflict(why) => ApiError::Conflict(why.into()),
            MergeError::Database(e) => ApiError::from(e),
        })?;
    state.auth.forget(id);
    tracing::info!(user_id = %id, into = %into, by = %caller.id, "user merged");
    Ok(Json(user))
}

/// `GET /users/{id}`: the user, their tickets by status and the channels they used.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// Their tickets (and those of users merged into them), by status.
    #[schema(value_type = Object)]
    pub tickets: RequesterTickets,
    /// The channels their tickets came through.
    pub channels: Vec<String>,
}

/// A user with their ticket counts and channels (agents, admins and auditors; a requester:
/// only themself).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "the user"),
        ("min_position" = Option<i64>, Query, description = "wait until the read models have applied this position")),
    responses(
        (status = 200, body = UserDetail),
        (status = 404, description = "no such user, or another user asked by a requester", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    uri: Uri,
) -> Result<Response> {
    let not_found = || ApiError::NotFound("no such user".into());
    let id = path.id().map_err(|_| not_found())?;
    let mut p = Params::new(&uri, &["min_position"])?;
    let min_position = p.min_position();
    p.finish()?;
    // A requester learns nothing about other users, not even whether they exist.
    if !caller.role.reads_everything() && caller.id != id {
        return Err(not_found());
    }
    let deadline = Instant::now() + state.settings.read_wait;
    let position = caught_up(&state, TICKET_MODELS, min_position, deadline).await?;
    let user = users::find(&state.pool, id).await?.ok_or_else(not_found)?;
    let (tickets, channels) = requesters::requester_tickets(&state.pool, id).await?;
    Ok(answer(
        position,
        UserDetail {
            user,
            tickets,
            channels,
        },
    ))
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
    let recorder = recorder(&state, &caller, request.headers());
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let CreateUserRequest {
        email: Email(email),
        name: UserName(name),
        role,
        password,
    } = CreateUserRequest::parse(&body, &Context::from(&state))?;
    let new = NewUser {
        email: Some(&email),
        phone: None,
        name: &name,
        role,
        password: password.as_ref().map(|p| p.0.as_str()),
        origin: Origin::Api,
    };
    let user = users::create(&state.pool, &recorder, new)
        .await
        .map_err(contact_taken)?;
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
