//! Conversations: list and read them, and reply. A reply is stored with its outbox row in one
//! transaction; an `Idempotency-Key` header makes a retried request return the first reply.

use axum::response::IntoResponse;
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde::Deserialize;
use switchboard_channels::{registry, Keyboard, Outbound, OutboundFile, OutboundMessage};
use switchboard_core::{
    audit::AuditEntry,
    conversation::{Conversation, ConversationStatus},
    ids::{ConnectionId, ContactId, ConversationId, GroupId, MessageId, OperatorId},
    message::{Attachment, AttachmentKind, Choice, Content, Message, Note},
    render::{compose, menu, Menu, MenuWords},
};
use switchboard_store::{ConversationFilter, ListCursor, NewReply, StoreError, TransferTarget};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Caller,
    error::{ApiError, ErrorBody},
    extract::{Id, Json, Query},
    state::AppState,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(messages, reply))
        .routes(routes!(retry))
        .routes(routes!(assign))
        .routes(routes!(decline))
        .routes(routes!(transfer))
        .routes(routes!(close))
        .routes(routes!(notes, add_note))
        .routes(routes!(history))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub status: Option<ConversationStatus>,
    pub channel_id: Option<ConnectionId>,
    pub assignee_id: Option<OperatorId>,
    pub group_id: Option<GroupId>,
    /// `true`: only conversations that ran out of offers and wait for a supervisor.
    pub needs_attention: Option<bool>,
    /// Only conversations offered to this operator now (`all_at_once`).
    pub offered_to: Option<OperatorId>,
    /// Only this contact's conversations: their history across channels.
    pub contact_id: Option<ContactId>,
    /// At most this many, newest activity first (default 100; more than 1000 reads as 1000).
    #[param(minimum = 0, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
    /// The next page: the `X-Next-Cursor` of the page before (opaque).
    pub after: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Files uploaded with `POST /attachments`, by their `sha256`.
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
    /// How choices are shown where the channel offers both: `inline` (default), `reply_once`
    /// or `reply`.
    #[serde(default)]
    pub keyboard: Keyboard,
}

/// An uploaded file to send.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    pub sha256: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
}

const MAX_ATTACHMENTS: usize = 10;

/// What a file is, from its MIME type, among what the channel can send.
fn kind_of(mime: Option<&str>, supported: &[AttachmentKind]) -> Option<AttachmentKind> {
    let wanted = match mime.unwrap_or_default() {
        m if m.starts_with("image/") && m != "image/svg+xml" => AttachmentKind::Image,
        m if m.starts_with("video/") => AttachmentKind::Video,
        m if m.starts_with("audio/") => AttachmentKind::Audio,
        _ => AttachmentKind::File,
    };
    [wanted, AttachmentKind::File]
        .into_iter()
        .find(|k| supported.contains(k))
}

/// Checks the uploads exist and the channel can send them; returns what to store and send.
async fn files_for(
    state: &AppState,
    caller: &Caller,
    connection: ConnectionId,
    refs: Vec<AttachmentRef>,
) -> Result<Vec<(Attachment, OutboundFile)>, ApiError> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    if refs.len() > MAX_ATTACHMENTS {
        return Err(ApiError::validation(
            "attachments",
            format!("attachments: at most {MAX_ATTACHMENTS}"),
        ));
    }
    let kind = state
        .store
        .get_connection(caller.account(), connection)
        .await?
        .kind;
    let supported = registry::connector(kind)
        .map(|c| c.capabilities().media)
        .unwrap_or_default();
    let mut files = Vec::new();
    for (i, r) in refs.into_iter().enumerate() {
        let field = format!("attachments[{i}]");
        // Only the account's own uploads and received files; another account's file is "no
        // such upload" too, so the answer tells nothing about what others stored.
        let stored = match state.store.usable_file(caller.account(), &r.sha256).await {
            Ok(stored) if state.files.path(&stored.sha256).is_some() => stored,
            Ok(_) | Err(StoreError::NotFound) => {
                return Err(ApiError::validation(
                    format!("{field}.sha256"),
                    format!("{field}.sha256: no such upload"),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        // A reply citing the file by hash alone keeps the name and type it was uploaded with.
        let file_name = r.file_name.or(stored.file_name);
        let mime_type = r.mime_type.or(stored.mime_type);
        let kind = kind_of(mime_type.as_deref(), &supported).ok_or_else(|| {
            ApiError::validation(field.clone(), format!("{field}: {kind} cannot send files"))
        })?;
        let attachment = Attachment {
            kind,
            file_name: file_name.clone(),
            mime_type: mime_type.clone(),
            size: Some(stored.size),
            sha256: Some(stored.sha256.clone()),
            external_id: None,
        };
        let file = OutboundFile {
            kind,
            sha256: stored.sha256,
            file_name,
            mime_type,
            data: None,
            url: None,
        };
        files.push((attachment, file));
    }
    Ok(files)
}

/// The conversation, if the caller may open it: any of the account's for roles that read
/// every conversation, else only those `Conversation::visible_to` allows. Others are 404,
/// like another account's.
pub(crate) async fn visible(
    state: &AppState,
    caller: &Caller,
    id: ConversationId,
) -> Result<Conversation, ApiError> {
    let conversation = state.store.get_conversation(caller.account(), id).await?;
    if caller.role().reads_every_conversation() {
        return Ok(conversation);
    }
    let groups = state.store.groups_of(caller.account(), caller.id()).await?;
    if conversation.visible_to(caller.id(), caller.role(), &groups) {
        Ok(conversation)
    } else {
        Err(ApiError::not_found())
    }
}

const MAX_TEXT: usize = 20_000;
const MAX_CHOICES: usize = 100;

/// Conversations of the caller's account, newest activity first. A full page has an
/// `X-Next-Cursor` header: pass it as `after` for the next page.
#[utoipa::path(get, path = "/conversations", tag = "conversations", params(Filter),
    responses((status = 200, body = [Conversation],
        headers(("X-Next-Cursor" = String, description = "where the next page starts, when this one is full"))),
        (status = 422, body = ErrorBody)))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Query(filter): Query<Filter>,
) -> Result<axum::response::Response, ApiError> {
    let after = filter
        .after
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(str::parse::<ListCursor>)
        .transpose()
        .map_err(|e| ApiError::validation("after", e))?;
    let filter = ConversationFilter {
        status: filter.status,
        channel_id: filter.channel_id,
        assignee_id: filter.assignee_id,
        group_id: filter.group_id,
        needs_attention: filter.needs_attention,
        offered_to: filter.offered_to,
        contact_id: filter.contact_id,
        visible_to: (!caller.role().reads_every_conversation()).then_some(caller.id()),
        after,
        limit: filter.limit.unwrap_or(100).clamp(1, 1000),
    };
    let page = state
        .store
        .list_conversations(caller.account(), &filter)
        .await?;
    let next = (page.len() == filter.limit as usize)
        .then(|| page.last().map(|c| ListCursor::after(c).to_string()))
        .flatten();
    let mut response = axum::Json(page).into_response();
    if let Some(next) = next.and_then(|n| axum::http::HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert("x-next-cursor", next);
    }
    Ok(response)
}

/// One conversation.
#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody)))]
async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConversationId>,
) -> Result<axum::Json<Conversation>, ApiError> {
    Ok(axum::Json(visible(&state, &caller, id).await?))
}

/// A conversation's messages, oldest first, with their delivery status.
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = [Message]), (status = 404, body = ErrorBody)))]
async fn messages(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConversationId>,
) -> Result<axum::Json<Vec<Message>>, ApiError> {
    visible(&state, &caller, id).await?;
    Ok(axum::Json(
        state.store.list_messages(caller.account(), id).await?,
    ))
}

fn check(body: &NewMessage) -> Result<(), ApiError> {
    if body.text.trim().is_empty() && body.choices.is_empty() && body.attachments.is_empty() {
        return Err(ApiError::validation(
            "text",
            "text: write something or offer choices",
        ));
    }
    if body.text.chars().count() > MAX_TEXT {
        return Err(ApiError::validation(
            "text",
            format!("text: at most {MAX_TEXT} characters"),
        ));
    }
    if body.choices.len() > MAX_CHOICES {
        return Err(ApiError::validation(
            "choices",
            format!("choices: at most {MAX_CHOICES}"),
        ));
    }
    for (i, choice) in body.choices.iter().enumerate() {
        if choice.label.trim().is_empty() {
            return Err(ApiError::validation(
                format!("choices[{i}].label"),
                format!("choices[{i}].label: must not be empty"),
            ));
        }
        if choice.payload.is_empty() {
            return Err(ApiError::validation(
                format!("choices[{i}].payload"),
                format!("choices[{i}].payload: must not be empty"),
            ));
        }
    }
    Ok(())
}

/// Sends a reply. With the same `Idempotency-Key` header a retried request returns the
/// first reply (200) instead of sending twice.
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = ConversationId, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries of this request safe")),
    request_body = NewMessage,
    responses((status = 201, body = Message), (status = 200, description = "A retry: the reply made the first time", body = Message),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reply(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConversationId>,
    headers: HeaderMap,
    Json(body): Json<NewMessage>,
) -> Result<(StatusCode, axum::Json<Message>), ApiError> {
    visible(&state, &caller, id).await?;
    let target = state.store.delivery_target(caller.account(), id).await?;
    check(&body)?;
    let client_key = match headers.get("idempotency-key") {
        Some(value) => {
            let key = value
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 200);
            Some(
                key.ok_or_else(|| {
                    ApiError::validation(
                        "Idempotency-Key",
                        "Idempotency-Key: 1 to 200 visible characters",
                    )
                })?
                .to_string(),
            )
        }
        None => None,
    };
    if target.status == ConversationStatus::Closed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conversation_closed",
            "the conversation is closed",
        ));
    }
    if !target.reachable {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "contact_unreachable",
            "the customer blocked this channel; the message cannot be delivered",
        ));
    }
    let (attachments, files): (Vec<Attachment>, Vec<OutboundFile>) =
        files_for(&state, &caller, target.connection_id, body.attachments)
            .await?
            .into_iter()
            .unzip();
    let (text, choices) = fit_menu(
        &state,
        &caller,
        target.connection_id,
        &body.text,
        &body.choices,
    )
    .await?;
    let outbound = Outbound::Message(OutboundMessage {
        chat_id: target.chat_id.clone(),
        text,
        choices,
        files,
        links: Vec::new(),
        keyboard: body.keyboard,
    });
    let action = serde_json::to_string(&outbound).map_err(|_| ApiError::internal())?;
    let new = NewReply {
        account_id: caller.account(),
        conversation_id: id,
        author_id: caller.id(),
        content: Content {
            text: body.text,
            choices: body.choices,
            attachments,
            ..Content::default()
        },
        client_key,
        action,
        target,
    };
    let (message, created) = state.store.create_reply(&new).await?;
    if created {
        for (position, attachment) in message.content.attachments.iter().enumerate() {
            if let Some(sha256) = &attachment.sha256 {
                state
                    .store
                    .attach_file(
                        message.id,
                        position,
                        sha256,
                        attachment.size.unwrap_or_default(),
                    )
                    .await?;
            }
        }
        state.outbox_ready.notify_one();
        state.conversations_changed(&[id]);
    }
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        axum::Json(message),
    ))
}

/// Sends a failed (or unknown) reply again. Refused for a message that is pending or was
/// sent, so a retry can never deliver a message twice by accident.
#[utoipa::path(post, path = "/conversations/{id}/messages/{message_id}/retry", tag = "conversations",
    params(("id" = ConversationId, Path), ("message_id" = MessageId, Path)),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn retry(
    caller: Caller,
    State(state): State<AppState>,
    axum::extract::Path((id, message_id)): axum::extract::Path<(String, String)>,
) -> Result<axum::Json<Message>, ApiError> {
    let id: ConversationId = id.parse().map_err(|_| ApiError::not_found())?;
    let message_id: MessageId = message_id.parse().map_err(|_| ApiError::not_found())?;
    visible(&state, &caller, id).await?;
    let message = state
        .store
        .retry_message(caller.account(), id, message_id)
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "not_retryable",
                "only a failed or unknown reply can be sent again",
            ),
            other => other.into(),
        })?;
    state.outbox_ready.notify_one();
    state.conversations_changed(&[id]);
    Ok(axum::Json(message))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// Who takes it; left out, the caller takes it (accepting an offer or picking it from
    /// the queue). Operators may only take conversations themselves.
    pub operator_id: Option<OperatorId>,
}

/// Gives a waiting conversation to an operator, who must be online with a free place. The
/// first of several operators accepting one `all_at_once` offer takes it; the others get
/// 409 `already_assigned`.
#[utoipa::path(post, path = "/conversations/{id}/assign", tag = "conversations", params(("id" = ConversationId, Path)),
    request_body = Assign,
    responses((status = 200, body = Conversation), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "already_assigned, operator_not_online, at_capacity or conversation_closed")))]
async fn assign(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConversationId>,
    body: axum::body::Bytes,
) -> Result<axum::Json<Conversation>, ApiError> {
    visible(&state, &caller, id).await?;
    // The body is optional: an operator accepting sends nothing.
    let body: Assign = if body.trim_ascii().is_empty() {
        Assign::default()
    } else {
        crate::extract::parse(&body)?
    };
    let operator = body.operator_id.unwrap_or(caller.id());
    caller.require(
        operator == caller.id() || caller.role().manages_routing(),
        "assign conversations to others",
    )?;
    let changed = state
        .store
        .assign_conversation(
            caller.account(),
            id,
            operator,
            caller.id(),
            jiff::Timestamp::now(),
        )
        .await?;
    state.conversations_changed(&changed);
    Ok(axum::Json(
        state.store.get_conversation(caller.account(), id).await?,
    ))
}

/// Declines what was offered to the caller: a conversation assigned to them and not yet
/// answered, or their part of an `all_at_once` offer. It goes on as if the answer timeout had
/// run out: to the next operator, or the fallback group after `max_offers`.
#[utoipa::path(post, path = "/conversations/{id}/decline", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not_offered")))]
async fn decline(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConversationId>,
) -> Result<axum::Json<Conversation>, ApiError> {
    let changed = state
        .store
        .decline_conversation(caller.account(), id, caller.id(), jiff::Timestamp::now())
        .await?;
    state.conversations_changed(&changed);
    Ok(axum::Json(
        state.store.get_conversation(caller.account(), id).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// To one operator: it waits for them until they are online with a free place.
    pub operator_id: Option<OperatorId>,
    /// To a group: its queue and distribution take over.
    pub group_id: Option<GroupId>,
    /// Why, for the history and the next operator.
    pub reason: Option<String>,
}

const MAX_REASON: usize = 1000;

/// Hands a conversation (from the bot, a queue or an operator) to another operator or group.
/// This is also how a bot scenario's `handoff` reaches people.
#[utoipa::path(post, path = "/conversations/{id}/transfer", tag = "conversations", params(("id" = ConversationId, Path)),
    request_body = Transfer,
    responses((status = 200, body = Conversation), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn transfer(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConversationId>,
    Json(body): Json<Transfer>,
) -> Result<axum::Json<Conversation>, ApiError> {
    let current = visible(&state, &caller, id).await?;
    caller.require(
        current.assignee_id == Some(caller.id()) || caller.role().manages_routing(),
        "transfer conversations you do not hold",
    )?;
    let target = match (body.operator_id, body.group_id) {
        (Some(o), None) => TransferTarget::Operator(o),
        (None, Some(g)) => TransferTarget::Group(g),
        _ => {
            return Err(ApiError::validation(
                "operator_id",
                "operator_id: give exactly one of operator_id and group_id",
            ))
        }
    };
    let reason = body
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON)
    {
        return Err(ApiError::validation(
            "reason",
            format!("reason: at most {MAX_REASON} characters"),
        ));
    }
    let changed = state
        .store
        .transfer_conversation(
            caller.account(),
            id,
            target,
            reason.as_deref(),
            Some(caller.id()),
            jiff::Timestamp::now(),
        )
        .await?;
    state.conversations_changed(&changed);
    Ok(axum::Json(
        state.store.get_conversation(caller.account(), id).await?,
    ))
}

/// Closes a conversation. Closing a closed conversation changes nothing.
#[utoipa::path(post, path = "/conversations/{id}/close", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Conversation), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn close(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConversationId>,
) -> Result<axum::Json<Conversation>, ApiError> {
    let current = visible(&state, &caller, id).await?;
    caller.require(
        current.assignee_id == Some(caller.id()) || caller.role().manages_routing(),
        "close conversations you do not hold",
    )?;
    let changed = state
        .store
        .close_conversation(
            caller.account(),
            id,
            Some(caller.id()),
            jiff::Timestamp::now(),
        )
        .await?;
    state.conversations_changed(&changed);
    Ok(axum::Json(
        state.store.get_conversation(caller.account(), id).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    pub text: String,
}

const MAX_NOTE: usize = 10_000;

/// A conversation's internal notes, oldest first.
#[utoipa::path(get, path = "/conversations/{id}/notes", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = [Note]), (status = 404, body = ErrorBody)))]
async fn notes(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConversationId>,
) -> Result<axum::Json<Vec<Note>>, ApiError> {
    visible(&state, &caller, id).await?;
    Ok(axum::Json(
        state.store.list_notes(caller.account(), id).await?,
    ))
}

/// Adds an internal note: seen by operators, never sent to the customer.
#[utoipa::path(post, path = "/conversations/{id}/notes", tag = "conversations", params(("id" = ConversationId, Path)),
    request_body = NewNote,
    responses((status = 201, body = Note), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_note(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConversationId>,
    Json(body): Json<NewNote>,
) -> Result<(StatusCode, axum::Json<Note>), ApiError> {
    visible(&state, &caller, id).await?;
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE {
        return Err(ApiError::validation(
            "text",
            format!("text: 1 to {MAX_NOTE} characters"),
        ));
    }
    let note = state
        .store
        .add_note(caller.account(), id, caller.id(), text)
        .await?;
    state.conversations_changed(&[id]);
    Ok((StatusCode::CREATED, axum::Json(note)))
}

/// The conversation's routing history from the audit log, oldest first: opened, offered,
/// assigned, unanswered, returned, transferred, closed, with who and why.
#[utoipa::path(get, path = "/conversations/{id}/history", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = [AuditEntry]), (status = 404, body = ErrorBody)))]
async fn history(
    caller: Caller,
    State(state): State<AppState>,
    Id(id): Id<ConversationId>,
) -> Result<axum::Json<Vec<AuditEntry>>, ApiError> {
    visible(&state, &caller, id).await?;
    Ok(axum::Json(
        state
            .store
            .object_history(caller.account(), "conversation", &id.to_string())
            .await?,
    ))
}

/// An operator's menu fitted to the channel, as the bot's are: buttons within its limits
/// (labels shortened, payloads kept), a numbered text menu where it has no buttons. A menu
/// too long for one page of buttons becomes a numbered menu too: no bot turns the pages.
async fn fit_menu(
    state: &AppState,
    caller: &Caller,
    connection: ConnectionId,
    text: &str,
    choices: &[Choice],
) -> Result<(String, Vec<Choice>), ApiError> {
    if choices.is_empty() {
        return Ok((text.to_string(), Vec::new()));
    }
    let connection = state
        .store
        .get_connection(caller.account(), connection)
        .await?;
    let mut caps = switchboard_channels::profile::for_connection(
        connection.kind,
        connection.capabilities.as_ref(),
    );
    let words = MenuWords::default();
    if matches!(menu(&caps, choices, &words), Menu::Buttons { ref pages, .. } if pages.len() > 1) {
        caps.buttons = None;
        caps.list = None;
    }
    let composed = compose(&caps, text, choices, 0, &words);
    let choices = composed
        .buttons
        .into_iter()
        .map(|b| Choice {
            label: b.label,
            payload: b.payload,
        })
        .collect();
    Ok((composed.text, choices))
}
