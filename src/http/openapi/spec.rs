//! What the OpenAPI document lists: every operation and schema, and the bearer scheme.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
        components.add_security_scheme(
            "integration_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tdk_ integration key")
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
        crate::http::ticket_commands::create_ticket,
        crate::http::ticket_commands::comment_on_ticket,
        crate::http::ticket_commands::assign_ticket,
        crate::http::ticket_commands::update_ticket,
        crate::http::ticket_commands::close_ticket,
        crate::http::ticket_commands::reopen_ticket,
        crate::http::ticket_commands::rate_ticket,
        crate::http::attachments::upload,
        crate::http::attachments::download,
        crate::http::tags::put_tags,
        crate::http::tags::list_tags,
        crate::http::links::link_ticket,
        crate::http::links::unlink_ticket,
        crate::http::links::merge_ticket,
        crate::http::ticket_queries::get_ticket,
        crate::http::ticket_queries::list_tickets,
        crate::http::ticket_queries::get_board,
        crate::http::ticket_queries::get_me,
        crate::http::ticket_queries::my_tickets,
        crate::http::ticket_queries::mark_read,
        crate::http::ticket_queries::get_stats,
        crate::http::ticket_queries::list_categories,
        crate::http::login::login,
        crate::http::login::me,
        crate::http::user_routes::create_user,
        crate::http::user_routes::list_users,
        crate::http::user_routes::update_user,
        crate::http::user_routes::get_user,
        crate::http::user_routes::merge_user,
        crate::http::integrations::create_integration,
        crate::http::integrations::list_integrations,
        crate::http::integrations::revoke_integration,
        crate::http::intake::intake_ticket,
        crate::http::intake::intake_message,
        crate::http::webhooks::create_webhook,
        crate::http::webhooks::list_webhooks,
        crate::http::webhooks::get_webhook,
        crate::http::webhooks::update_webhook,
        crate::http::webhooks::delete_webhook,
        crate::http::webhooks::list_deliveries,
        crate::http::webhooks::replay,
        crate::http::ws::connect,
        crate::http::audit::history,
        crate::http::audit::verify,
        crate::http::audit::events,
        crate::http::health::healthz,
        crate::http::health::readyz,
        crate::http::health::metrics,
    ),
    components(schemas(
        crate::http::error::Problem,
        crate::http::error::FieldError,
        crate::http::audit::History,
        crate::http::audit::Verification,
        crate::http::audit::EventPage,
        crate::http::ticket_commands::CreateTicketRequest,
        crate::http::ticket_commands::CommentRequest,
        crate::http::ticket_commands::AssignRequest,
        crate::http::ticket_commands::UpdateRequest,
        crate::http::ticket_commands::CloseRequest,
        crate::http::ticket_commands::ReopenRequest,
        crate::http::ticket_commands::RatingRequest,
        crate::http::attachments::AttachmentInfo,
        crate::http::attachments::AttachmentIds,
        crate::http::tags::TagsRequest,
        crate::http::tags::TagList,
        crate::http::tags::TagCount,
        crate::http::links::LinkRequest,
        crate::http::links::MergeRequest,
        crate::http::login::LoginRequest,
        crate::http::login::TokenResponse,
        crate::http::user_routes::CreateUserRequest,
        crate::http::user_routes::UserList,
        crate::http::user_routes::UpdateUserRequest,
        crate::http::user_routes::MergeUserRequest,
        crate::http::user_routes::UserDetail,
        crate::http::login::Me,
        crate::http::integrations::CreateIntegrationRequest,
        crate::http::integrations::CreatedIntegration,
        crate::http::integrations::IntegrationList,
        crate::http::intake::IntakeTicketRequest,
        crate::http::intake::IntakeTicketResponse,
        crate::http::intake::IntakeMessageRequest,
        crate::integrations::Integration,
        crate::users::User,
        crate::http::webhooks::CreateWebhookRequest,
        crate::http::webhooks::UpdateWebhookRequest,
        crate::http::webhooks::ReplayRequest,
        crate::http::webhooks::CreatedWebhook,
        crate::http::webhooks::WebhookList,
        crate::http::webhooks::DeliveryList,
        crate::http::webhooks::Replayed,
        crate::webhooks::store::Webhook,
        crate::webhooks::store::Delivery,
    ))
)]
pub struct ApiDoc;
