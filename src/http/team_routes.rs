//! `/teams` (CONTRACT 11): admins create teams and change their members; agents, admins and
//! auditors read them. A body holds at most [`MEMBERS_MAX`] ids (the 64 KiB body limit holds
//! about 1,600), so a large team is filled in batches and its members read in pages.

use std::borrow::Cow;

use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

use super::body::{BodyKind, JsonBody};
use super::error::{ApiError, Result};
use super::extract::TicketId;
use super::form::request_body;
use super::members::{Context, FromJson, MemberError, UserName};
use super::params::Params;
use super::state::AppState;
use crate::auth::Caller;
use crate::domain::Role;
use crate::teams::{self, Team, TeamError, TeamMember};

/// Ids one body may name.
pub const MEMBERS_MAX: usize = 1000;
/// Members one page may list.
pub const PAGE_MAX: i64 = 1000;

/// The team routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams", get(list_teams).post(create_team))
        .route("/teams/{id}", get(get_team).patch(rename_team))
        .route(
            "/teams/{id}/members",
            get(list_members).post(add_members).delete(remove_members),
        )
}

/// User ids, each once (repeats are dropped), at most [`MEMBERS_MAX`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIds(pub Vec<Uuid>);

impl FromJson for UserIds {
    fn from_json(value: &Value, _: &Context<'_>) -> Result<Self, MemberError> {
        let ids = value
            .as_array()
            .filter(|items| items.len() <= MEMBERS_MAX)
            .and_then(|items| {
                items
                    .iter()
                    .map(|item| item.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or(MemberError::Type("an array of at most 1000 UUID strings"))?;
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        Ok(UserIds(
            ids.into_iter().filter(|id| seen.insert(*id)).collect(),
        ))
    }
}

impl PartialSchema for UserIds {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String).format(Some(
                utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid),
            )))
            .max_items(Some(MEMBERS_MAX))
            .description(Some("user ids (repeats count once)"))
            .into()
    }
}

impl ToSchema for UserIds {
    fn name() -> Cow<'static, str> {
        "UserIds".into()
    }
}

request_body! {
    /// `POST /teams` body.
    pub struct CreateTeamRequest, read as CreateTeamDraft {
        /// 1–200 characters after trimming; unique whatever its case.
        pub name: UserName,
        /// Its first members (known users); more are added with `POST /teams/{id}/members`.
        pub members: Option<UserIds>,
    }
}

request_body! {
    /// `PATCH /teams/{id}` body.
    pub struct RenameTeamRequest, read as RenameTeamDraft {
        /// 1–200 characters after trimming; unique whatever its case.
        pub name: UserName,
    }
}

request_body! {
    /// `POST|DELETE /teams/{id}/members` body.
    pub struct TeamMembersRequest, read as TeamMembersDraft {
        /// The users to add (known users) or remove.
        pub members: UserIds,
    }
}

/// `GET /teams` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamList {
    /// The teams, by name.
    pub items: Vec<Team>,
}

/// `GET /teams/{id}/members` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    /// Members, by id.
    pub items: Vec<TeamMember>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<Uuid>,
}

/// `POST|DELETE /teams/{id}/members` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembersChanged {
    /// How many joined (or left): members named again count nothing.
    pub changed: u64,
    /// The team after the change.
    pub team: Team,
}

fn admin(caller: &Caller, verb: &str) -> Result<()> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("only admins may {verb} teams")))
    }
}

fn reader(caller: &Caller) -> Result<()> {
    if caller.role.reads_everything() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("requesters may not read teams".into()))
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such team".into())
}

fn team_id(path: TicketId) -> Result<Uuid> {
    path.id().map_err(|_| not_found())
}

fn refused(error: TeamError) -> ApiError {
    match error {
        TeamError::NameTaken => ApiError::Conflict("a team with this name exists".into()),
        TeamError::NotFound => not_found(),
        TeamError::UnknownUsers(ids) => {
            let shown: Vec<String> = ids.iter().take(10).map(Uuid::to_string).collect();
            let more = ids.len().saturating_sub(shown.len());
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            ApiError::invalid(
                "members",
                format!("names no known user: {}{tail}", shown.join(", ")),
            )
        }
        TeamError::Database(e) => ApiError::from(e),
    }
}

/// Creates a team (admins only).
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = CreateTeamRequest,
    responses(
        (status = 201, body = Team),
        (status = 401, body = super::error::Problem),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 409, description = "a team with this name exists", body = super::error::Problem),
        (status = 413, body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, description = "a bad name, or members that are not known users", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_team(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<(StatusCode, Json<Team>)> {
    admin(&caller, "create")?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let CreateTeamRequest { name, members } =
        CreateTeamRequest::parse(&body, &Context::from(&state))?;
    let members = members.map(|m| m.0).unwrap_or_default();
    let team = teams::create(&state.pool, &name.0, &members)
        .await
        .map_err(refused)?;
    tracing::info!(team_id = %team.id, members = team.member_count, by = %caller.id, "team created");
    Ok((StatusCode::CREATED, Json(team)))
}

/// Lists every team (agents, admins and auditors).
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams",
    responses(
        (status = 200, body = TeamList),
        (status = 401, body = super::error::Problem),
        (status = 403, description = "requesters may not read teams", body = super::error::Problem),
        (status = 422, description = "an unknown query parameter", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_teams(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<TeamList>> {
    reader(&caller)?;
    Params::new(&uri, &[])?.finish()?;
    Ok(Json(TeamList {
        items: teams::list(&state.pool).await?,
    }))
}

/// A team (agents, admins and auditors).
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "teams",
    params(("id" = uuid::Uuid, Path, description = "the team")),
    responses(
        (status = 200, body = Team),
        (status = 401, body = super::error::Problem),
        (status = 403, description = "requesters may not read teams", body = super::error::Problem),
        (status = 404, description = "no such team", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn get_team(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
) -> Result<Json<Team>> {
    reader(&caller)?;
    let id = team_id(path)?;
    let team = teams::find(&state.pool, id).await?.ok_or_else(not_found)?;
    Ok(Json(team))
}

/// Renames a team (admins only).
#[utoipa::path(patch, path = "/api/v1/teams/{id}", tag = "teams", request_body = RenameTeamRequest,
    params(("id" = uuid::Uuid, Path, description = "the team")),
    responses(
        (status = 200, body = Team),
        (status = 401, body = super::error::Problem),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such team", body = super::error::Problem),
        (status = 409, description = "a team with this name exists", body = super::error::Problem),
        (status = 413, body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn rename_team(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    request: Request,
) -> Result<Json<Team>> {
    admin(&caller, "rename")?;
    let id = team_id(path)?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let RenameTeamRequest { name } = RenameTeamRequest::parse(&body, &Context::from(&state))?;
    let team = teams::rename(&state.pool, id, &name.0)
        .await
        .map_err(refused)?;
    tracing::info!(team_id = %id, by = %caller.id, "team renamed");
    Ok(Json(team))
}

/// A page of a team's members, by user id (agents, admins and auditors).
#[utoipa::path(get, path = "/api/v1/teams/{id}/members", tag = "teams",
    params(("id" = uuid::Uuid, Path, description = "the team"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "members per page (default 100)"),
        ("cursor" = Option<uuid::Uuid>, Query, description = "the `next_cursor` of the page before")),
    responses(
        (status = 200, body = MemberPage),
        (status = 401, body = super::error::Problem),
        (status = 403, description = "requesters may not read teams", body = super::error::Problem),
        (status = 404, description = "no such team", body = super::error::Problem),
        (status = 422, description = "an invalid limit or cursor", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    uri: Uri,
) -> Result<Json<MemberPage>> {
    reader(&caller)?;
    let id = team_id(path)?;
    let mut p = Params::new(&uri, &["limit", "cursor"])?;
    let limit = p.integer("limit", 1, PAGE_MAX).unwrap_or(100);
    let after = p.uuid("cursor");
    p.finish()?;
    // One more than asked tells whether another page follows.
    let mut items = teams::members(&state.pool, id, after, limit + 1)
        .await?
        .ok_or_else(not_found)?;
    let more = items.len() as i64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more.then(|| items.last().map(|m| m.id)).flatten();
    Ok(Json(MemberPage { items, next_cursor }))
}

/// Adds members to a team, all or none (admins only).
#[utoipa::path(post, path = "/api/v1/teams/{id}/members", tag = "teams", request_body = TeamMembersRequest,
    params(("id" = uuid::Uuid, Path, description = "the team")),
    responses(
        (status = 200, body = MembersChanged),
        (status = 401, body = super::error::Problem),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such team", body = super::error::Problem),
        (status = 413, body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, description = "members that are not known users", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn add_members(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    request: Request,
) -> Result<Json<MembersChanged>> {
    admin(&caller, "change")?;
    let id = team_id(path)?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let TeamMembersRequest { members } = TeamMembersRequest::parse(&body, &Context::from(&state))?;
    let (changed, team) = teams::add_members(&state.pool, id, &members.0)
        .await
        .map_err(refused)?;
    tracing::info!(team_id = %id, added = changed, by = %caller.id, "team members added");
    Ok(Json(MembersChanged { changed, team }))
}

/// Removes members from a team (admins only); ids that are not members count nothing.
#[utoipa::path(delete, path = "/api/v1/teams/{id}/members", tag = "teams", request_body = TeamMembersRequest,
    params(("id" = uuid::Uuid, Path, description = "the team")),
    responses(
        (status = 200, body = MembersChanged),
        (status = 401, body = super::error::Problem),
        (status = 403, description = "the caller is not an admin", body = super::error::Problem),
        (status = 404, description = "no such team", body = super::error::Problem),
        (status = 413, body = super::error::Problem),
        (status = 415, body = super::error::Problem),
        (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn remove_members(
    State(state): State<AppState>,
    caller: Caller,
    path: TicketId,
    request: Request,
) -> Result<Json<MembersChanged>> {
    admin(&caller, "change")?;
    let id = team_id(path)?;
    let body = JsonBody::read(request, BodyKind::Required).await?;
    let TeamMembersRequest { members } = TeamMembersRequest::parse(&body, &Context::from(&state))?;
    let changed = teams::remove_members(&state.pool, id, &members.0)
        .await
        .map_err(refused)?;
    let team = teams::find(&state.pool, id).await?.ok_or_else(not_found)?;
    tracing::info!(team_id = %id, removed = changed, by = %caller.id, "team members removed");
    Ok(Json(MembersChanged { changed, team }))
}
