//! Running the bot: the imperative shell around the pure interpreter in `switchboard-bot`.
//!
//! A conversation routed to a scenario has a `bot` timer whenever the bot has something to
//! do. Whoever claims it (the webhook that just stored a message, or the timer worker after
//! a restart) loads the state and the unread messages, runs the interpreter, and applies
//! the result in one transaction (`Store::bot_apply`): the bot's messages rendered for the
//! channel and queued, the new state, the next due time. An HTTP call is made between two
//! turns, outside any transaction; a handoff or close is performed right after the turn
//! that decided it, and stays pending (and due) until it is done.

pub mod http;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_bot::{
    advance, load, start, BotState, Context, Env, HandoffTarget, HttpRequest, Input, Said,
    Scenario, Stop,
};
use switchboard_channels::{Keyboard, Outbound, OutboundLink, OutboundMessage};
use switchboard_core::{
    capabilities::Capabilities,
    ids::{AccountId, ConversationId, ScenarioId},
    message::{Attachment, Choice, Content},
    render::{compose, KeyboardKind},
};
use switchboard_store::{
    Applied, BotApply, BotLoad, BotMessage, BotNext, StoreError, TransferTarget,
};

use crate::Engine;

pub use http::{AllowList, BotHttp};

/// How long a runner owns a conversation's bot: above the longest HTTP call (30 s).
const LEASE: Duration = Duration::from_secs(60);
/// After a failure (database down), when to try again.
const RETRY: Duration = Duration::from_secs(5);
/// Turns one run may take (an HTTP call and what follows, a handoff) before it yields.
const MAX_TURNS: usize = 8;

/// What the bot left to do right after its turn, kept in `bot_states.pending`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum Pending {
    Http {
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<String>,
        timeout_ms: u64,
    },
    HandoffGroup {
        name: String,
    },
    HandoffOperator {
        email: String,
    },
    Close,
    Failed {
        reason: String,
    },
}

/// The bot's shared parts: the guarded HTTP client and parsed scenarios.
pub struct Bots {
    http: BotHttp,
    /// Parsed scenarios by id: the version parsed, when that version was last confirmed
    /// current, the scenario.
    parsed: Mutex<HashMap<ScenarioId, Parsed>>,
}

/// A parsed scenario: its version, when that version was last confirmed current, the tree.
type Parsed = (i64, std::time::Instant, Arc<Scenario>);

/// How long a parsed scenario is used before its version is checked again: an edit saved
/// through this node applies at once, one saved through another node within this (twice this
/// for answers inside ingest, see [`answerer`]).
const SCENARIO_FRESH: Duration = Duration::from_secs(1);

/// Why a turn did not complete.
#[derive(Debug, thiserror::Error)]
enum TurnError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

enum Outcome {
    /// Nothing more to do now.
    Done,
    /// More work is due now (an HTTP call, a handoff): claim it again.
    Again,
    /// Another runner changed the state first: load again, still holding the claim.
    Stale,
}

impl Bots {
    pub fn new(allow: AllowList) -> Result<Self, String> {
        Ok(Self {
            http: BotHttp::new(allow)?,
            parsed: Mutex::new(HashMap::new()),
        })
    }

    /// The parsed scenario when its version was confirmed lately, without asking the
    /// database: for the bot's answer inside the ingest transaction.
    fn fresh(&self, id: ScenarioId, within: Duration) -> Option<Arc<Scenario>> {
        let parsed = self.parsed.lock().ok()?;
        let (_, checked, scenario) = parsed.get(&id)?;
        (checked.elapsed() < within).then(|| scenario.clone())
    }

    /// Reads the scenario's version again when the parsed copy is no longer fresh, so that
    /// [`Bots::fresh`] finds it; a failure only means the runner takes the turn.
    pub async fn confirm(&self, state: &Engine, account: AccountId, id: ScenarioId) {
        if self.fresh(id, SCENARIO_FRESH).is_none() {
            if let Err(e) = self.scenario(state, account, id).await {
                tracing::debug!(error = %e, "cannot confirm the scenario; the runner answers");
            }
        }
    }

    /// Drops the parsed copy of a scenario this node just changed.
    pub fn forget(&self, id: ScenarioId) {
        if let Ok(mut p) = self.parsed.lock() {
            p.remove(&id);
        }
    }

    /// The parsed scenario, from cache while its version is current.
    async fn scenario(
        &self,
        state: &Engine,
        account: AccountId,
        id: ScenarioId,
    ) -> Result<Result<Arc<Scenario>, String>, StoreError> {
        let cached = self.parsed.lock().ok().and_then(|p| p.get(&id).cloned());
        if let Some((_, checked, s)) = &cached {
            if checked.elapsed() < SCENARIO_FRESH {
                return Ok(Ok(s.clone()));
            }
        }
        let version = state.store.scenario_version(id).await?;
        if let (Some(version), Some((v, _, s))) = (version, cached) {
            if v == version {
                if let Ok(mut p) = self.parsed.lock() {
                    p.insert(id, (v, std::time::Instant::now(), s.clone()));
                }
                return Ok(Ok(s));
            }
        }
        let record = match state.store.get_scenario(account, id).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Ok(Err("the scenario was deleted".into())),
            Err(e) => return Err(e),
        };
        match load(&record.source, &Context::default()) {
            Ok(scenario) => {
                let scenario = Arc::new(scenario);
                if let Ok(mut p) = self.parsed.lock() {
                    p.insert(
                        id,
                        (record.version, std::time::Instant::now(), scenario.clone()),
                    );
                }
                Ok(Ok(scenario))
            }
            Err(d) => Ok(Err(format!(
                "the scenario `{}` is invalid: {}",
                record.name,
                d.report("scenario").trim_end()
            ))),
        }
    }
}

/// The bot's answer to a customer message inside the transaction that stores it, when the
/// scenario is at hand: the message and the reply commit together, with no runner, timer
/// claim or second load. Anything else (no fresh scenario, a pending HTTP call or handoff)
/// is left to the runner.
pub fn answerer(
    state: &Engine,
    connection: &switchboard_core::channel::ChannelConnection,
) -> impl Fn(&BotLoad) -> Option<BotApply> + Send + Sync {
    let bots = state.bots.clone();
    let caps = switchboard_channels::profile::for_connection(
        connection.kind,
        connection.capabilities.as_ref(),
    );
    let kind = connection.kind;
    let name = connection.name.clone();
    move |load: &BotLoad| {
        // Confirmed by the webhook a moment ago (see `Bots::confirm`): the grace covers the
        // wait in the ingest lane, so a turn is not left to the runner for crossing the
        // one-second mark in between.
        let scenario = bots.fresh(load.scenario_id, SCENARIO_FRESH * 2)?;
        decide(
            load,
            &scenario,
            &caps,
            (kind.as_str(), &name),
            None,
            Timestamp::now(),
        )
    }
}

/// Runs the bot of `conversation` in the background, if it has work due.
pub fn kick(state: &Engine, conversation: ConversationId) {
    let state = state.clone();
    tokio::spawn(async move { run(&state, conversation, false).await });
}

/// Runs the bot of `conversation` until it waits. `claimed`: the caller (the timer worker)
/// already holds the bot timer's lease.
pub async fn run(state: &Engine, conversation: ConversationId, mut claimed: bool) {
    for _ in 0..MAX_TURNS {
        if !claimed {
            match state
                .store
                .claim_bot(conversation, Timestamp::now(), LEASE)
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::error!(error = %e, %conversation, "cannot claim the bot's work");
                    return;
                }
            }
        }
        claimed = false;
        match turn(state, conversation, None).await.map(|(o, _)| o) {
            Ok(Outcome::Done) => return,
            Ok(Outcome::Again) => continue,
            Ok(Outcome::Stale) => claimed = true,
            Err(e) => {
                tracing::error!(error = %e, %conversation, "a bot turn failed; it runs again");
                let at = Timestamp::now() + RETRY;
                let _ = state.store.release_bot(conversation, at).await;
                return;
            }
        }
    }
}

/// How a channel that greets in the answer to its webhook renders the greeting
/// (`Connector::welcome`).
pub type Welcome = dyn Fn(
        OutboundMessage,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send>>
    + Send
    + Sync;

/// Runs the bot of a conversation a customer just opened, before the webhook that reported
/// it is answered: its first messages, as far as `welcome` takes them, become the answer's
/// body (returned) and are stored as sent instead of queued. Anything it cannot do now is
/// left to the runner, as [`run`] would.
pub async fn greet(
    state: &Engine,
    conversation: ConversationId,
    welcome: &Welcome,
) -> Option<String> {
    match state
        .store
        .claim_bot(conversation, Timestamp::now(), LEASE)
        .await
    {
        Ok(true) => {}
        // Another runner has it; it greets through the outbox.
        Ok(false) => return None,
        Err(e) => {
            tracing::error!(error = %e, %conversation, "cannot claim the bot's work; the timer runs it");
            return None;
        }
    }
    match turn(state, conversation, Some(welcome)).await {
        Ok((Outcome::Done, body)) => body,
        Ok((outcome, body)) => {
            let state = state.clone();
            let claimed = matches!(outcome, Outcome::Stale);
            tokio::spawn(async move { run(&state, conversation, claimed).await });
            body
        }
        Err(e) => {
            tracing::error!(error = %e, %conversation, "a bot turn failed; it runs again");
            let _ = state
                .store
                .release_bot(conversation, Timestamp::now() + RETRY)
                .await;
            None
        }
    }
}

/// Takes the first messages of `apply` into the channel's welcome answer, when the channel
/// has one and they fit it: they are marked sent (no outbox row) and the answer's body is
/// returned.
async fn welcome_from(apply: &mut BotApply, max_text: usize, welcome: &Welcome) -> Option<String> {
    let said: Vec<OutboundMessage> = apply
        .messages
        .iter()
        .map_while(|m| match serde_json::from_str::<Outbound>(&m.action) {
            Ok(Outbound::Message(message)) => Some(message),
            _ => None,
        })
        .collect();
    let (taken, greeting) = OutboundMessage::greeting(&said, max_text);
    if taken == 0 {
        return None;
    }
    let body = welcome(greeting).await?;
    for message in &mut apply.messages[..taken] {
        message.sent = true;
    }
    Some(body)
}

fn env_for<'a>(load: &BotLoad, caps: &'a Capabilities, kind: &str, name: &str) -> Env<'a> {
    Env {
        caps,
        contact: json!({
            "name": load.contact_name,
            "id": load.contact_id,
            "external_id": load.chat_id,
        }),
        channel: json!({"kind": kind, "name": name, "id": load.connection_id}),
        conversation: json!({"id": load.conversation_id}),
    }
}

/// The channel action and stored content of one thing the bot said.
fn message(caps: &Capabilities, chat_id: &str, said: &Said, scenario: &Scenario) -> BotMessage {
    let composed = compose(caps, &said.text, &said.choices, said.page, &scenario.words);
    let keyboard = match composed.keyboard {
        Some(KeyboardKind::Reply) => match &caps.buttons {
            Some(b) if b.one_time => Keyboard::ReplyOnce,
            _ => Keyboard::Reply,
        },
        Some(KeyboardKind::List) => Keyboard::List,
        Some(KeyboardKind::Inline) | None => Keyboard::Inline,
    };
    let links: Vec<OutboundLink> = said
        .media
        .iter()
        .map(|(kind, url)| OutboundLink {
            kind: *kind,
            url: url.clone(),
        })
        .collect();
    let outbound = Outbound::Message(OutboundMessage {
        chat_id: chat_id.to_string(),
        text: composed.text,
        choices: composed.buttons.into_iter().map(Choice::from).collect(),
        files: Vec::new(),
        links,
        keyboard,
    });
    BotMessage {
        // Operators see what the bot meant: the full menu, whatever the channel showed.
        content: Content {
            text: said.text.clone(),
            choices: said.choices.clone(),
            attachments: said
                .media
                .iter()
                .map(|(kind, url)| Attachment {
                    kind: *kind,
                    file_name: None,
                    mime_type: None,
                    size: None,
                    sha256: None,
                    external_id: Some(url.clone()),
                })
                .collect(),
            ..Content::default()
        },
        action: serde_json::to_string(&outbound).unwrap_or_default(),
        sent: false,
    }
}

fn pending_for(stop: &Stop) -> Option<Pending> {
    Some(match stop {
        Stop::Http(r) => Pending::Http {
            method: r.method.clone(),
            url: r.url.clone(),
            headers: r.headers.clone(),
            body: r.body.clone(),
            timeout_ms: r.timeout.as_millis() as u64,
        },
        Stop::Handoff(HandoffTarget::Group(name)) => Pending::HandoffGroup { name: name.clone() },
        Stop::Handoff(HandoffTarget::Operator(email)) => Pending::HandoffOperator {
            email: email.clone(),
        },
        Stop::Close => Pending::Close,
        Stop::Failed(reason) => Pending::Failed {
            reason: reason.clone(),
        },
        Stop::Answer | Stop::Pending | Stop::Wait(_) => return None,
    })
}

/// Performs a handoff, close or failure the bot decided.
async fn perform(state: &Engine, load: &BotLoad, pending: Pending) -> Result<(), StoreError> {
    let (account, conversation, now) = (load.account_id, load.conversation_id, Timestamp::now());
    let target = match &pending {
        Pending::HandoffGroup { name } => match state.store.group_by_name(account, name).await? {
            Some(g) => Ok(TransferTarget::Group(g)),
            None => Err(format!(
                "the scenario hands off to group `{name}`, which does not exist"
            )),
        },
        Pending::HandoffOperator { email } => {
            match state.store.operator_by_email(account, email).await? {
                Some(o) => Ok(TransferTarget::Operator(o)),
                None => Err(format!(
                    "the scenario hands off to operator `{email}`, who does not exist"
                )),
            }
        }
        Pending::Close => {
            let changed = state.store.bot_close(account, conversation, now).await?;
            state.conversations_changed(&changed);
            state.outbox_ready.notify_one();
            return Ok(());
        }
        Pending::Failed { reason } => Err(reason.clone()),
        Pending::Http { .. } => return Ok(()),
    };
    match target {
        Ok(target) => {
            match state
                .store
                .transfer_conversation(
                    account,
                    conversation,
                    target,
                    Some("bot handoff"),
                    None,
                    now,
                )
                .await
            {
                Ok(changed) => state.conversations_changed(&changed),
                // Closed or moved meanwhile: nothing left to hand off.
                Err(StoreError::Refused { .. }) => {}
                Err(e) => return Err(e),
            }
            state.store.bot_finished(conversation).await?;
        }
        Err(reason) => {
            tracing::warn!(%conversation, %reason, "the bot gave up; the conversation waits for people");
            state
                .store
                .bot_failed(account, conversation, &reason, now)
                .await?;
            state.conversations_changed(&[conversation]);
        }
    }
    Ok(())
}

/// The bot's turn, decided without I/O: from the loaded state, the customer messages after
/// the cursor and (after an HTTP step) the call's result, what it says and where it stops.
/// `None` when there is nothing to decide (no state and nothing to start).
fn decide(
    load: &BotLoad,
    scenario: &Scenario,
    caps: &Capabilities,
    channel: (&str, &str),
    http_result: Option<Result<switchboard_bot::HttpReply, String>>,
    now: Timestamp,
) -> Option<BotApply> {
    // Menus fitted to the customer's own app where the channel says what it shows (VK).
    let narrowed;
    let caps = match &load.client {
        Some(client) => {
            narrowed = caps.clone().for_client(Some(client));
            &narrowed
        }
        None => caps,
    };
    let env = env_for(load, caps, channel.0, channel.1);
    let mut said: Vec<Said> = Vec::new();
    let mut stop = Stop::Answer;
    let mut bot: Option<BotState> = load
        .state
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let mut wake_at = load
        .wake_at
        .and_then(|ms| Timestamp::from_millisecond(ms).ok());
    let mut read = None;
    let mut absorb = |turn: switchboard_bot::Turn, bot: &mut Option<BotState>, stop: &mut Stop| {
        said.extend(turn.said);
        *bot = Some(turn.state);
        *stop = turn.stop;
    };
    match (bot.clone(), http_result) {
        (Some(current), Some(result)) => {
            absorb(
                advance(scenario, &env, current, Input::Http(result)),
                &mut bot,
                &mut stop,
            );
        }
        (None, _) => {
            absorb(start(scenario, &env), &mut bot, &mut stop);
            // The messages that opened the conversation started the bot; they answer
            // nothing it asked.
            if let Some(last) = load.unread.last() {
                read = Some((last.created_at, last.id));
            }
        }
        (Some(current), None) => {
            if current.waiting == switchboard_bot::runtime::Waiting::Timer {
                if wake_at.is_some_and(|at| at <= now) {
                    absorb(
                        advance(scenario, &env, current, Input::Timer),
                        &mut bot,
                        &mut stop,
                    );
                } else {
                    stop = Stop::Pending;
                }
            }
        }
    }
    if let Stop::Wait(d) = stop {
        wake_at = Some(now + d);
    }
    // Customer messages, in order, while the bot is waiting for them.
    let unread = if read.is_some() {
        &[][..]
    } else {
        &load.unread[..]
    };
    for message in unread {
        if pending_for(&stop).is_some() {
            break;
        }
        let Some(current) = bot.clone() else { break };
        let turn = advance(
            scenario,
            &env,
            current,
            Input::Message {
                text: &message.content.text,
                pressed: message.content.pressed.as_deref(),
            },
        );
        read = Some((message.created_at, message.id));
        if turn.stop == Stop::Pending {
            continue;
        }
        absorb(turn, &mut bot, &mut stop);
        if let Stop::Wait(d) = stop {
            wake_at = Some(now + d);
        }
    }
    let bot = bot?;
    let next = match pending_for(&stop) {
        Some(p) => BotNext::Effect(serde_json::to_string(&p).unwrap_or_default()),
        None if bot.waiting == switchboard_bot::runtime::Waiting::Timer => {
            BotNext::At(wake_at.unwrap_or(now))
        }
        None => BotNext::Idle,
    };
    let apply = BotApply {
        state: serde_json::to_string(&bot).unwrap_or_else(|_| "null".into()),
        read,
        messages: said
            .iter()
            .map(|s| message(caps, &load.chat_id, s, scenario))
            .collect(),
        wake_at: wake_at.filter(|_| bot.waiting == switchboard_bot::runtime::Waiting::Timer),
        next,
    };
    Some(apply)
}

/// One turn; with `welcome`, its first messages may go in the webhook's answer (see
/// [`greet`]), whose body is returned once the turn is stored.
async fn turn(
    state: &Engine,
    conversation: ConversationId,
    welcome: Option<&Welcome>,
) -> Result<(Outcome, Option<String>), TurnError> {
    let Some(load) = state.store.bot_load(conversation).await? else {
        return Ok((Outcome::Done, None));
    };
    let pending: Option<Pending> = load
        .pending
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    let http_request = match pending {
        Some(Pending::Http {
            method,
            url,
            headers,
            body,
            timeout_ms,
        }) => Some(HttpRequest {
            method,
            url,
            headers,
            body,
            timeout: Duration::from_millis(timeout_ms),
        }),
        Some(other) => {
            perform(state, &load, other).await?;
            return Ok((Outcome::Done, None));
        }
        None => None,
    };
    let connection = match state.opened(load.connection_id).await {
        Ok(Some(opened)) => opened.connection.clone(),
        Ok(None) => return Err(StoreError::NotFound.into()),
        Err(crate::channels::CachedError::Store(e)) => return Err(e.into()),
        // Unsealing is not needed to render: read the connection itself.
        Err(crate::channels::CachedError::Open(_)) => {
            state
                .store
                .get_connection(load.account_id, load.connection_id)
                .await?
        }
    };
    let caps = switchboard_channels::profile::for_connection(
        connection.kind,
        connection.capabilities.as_ref(),
    );
    let scenario = match state
        .bots
        .scenario(state, load.account_id, load.scenario_id)
        .await?
    {
        Ok(s) => s,
        Err(reason) => {
            perform(state, &load, Pending::Failed { reason }).await?;
            return Ok((Outcome::Done, None));
        }
    };
    let http_result = match http_request {
        Some(request) => {
            let result = state.bots.http.call(&request).await;
            if let Err(e) = &result {
                tracing::info!(%conversation, url = %request.url, error = %e, "a scenario's HTTP call failed");
            }
            Some(result)
        }
        None => None,
    };
    let Some(mut apply) = decide(
        &load,
        &scenario,
        &caps,
        (connection.kind.as_str(), &connection.name),
        http_result,
        Timestamp::now(),
    ) else {
        return Ok((Outcome::Done, None));
    };
    let answer = match welcome {
        Some(w) => welcome_from(&mut apply, caps.max_text, w).await,
        None => None,
    };
    let next = apply.next.clone();
    match state.store.bot_apply(&load, &apply).await? {
        Applied::Stale => Ok((Outcome::Stale, None)),
        Applied::Done { messages } => {
            if !messages.is_empty() {
                state.outbox_ready.notify_one();
            }
            state.conversations_changed(&[conversation]);
            let outcome = match next {
                BotNext::Effect(_) => Outcome::Again,
                _ => Outcome::Done,
            };
            Ok((outcome, answer))
        }
    }
}
