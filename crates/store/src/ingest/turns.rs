//! The bot's side of a round's customer messages: turns decided inside the ingest
//! transaction (the state loaded in it, the pure answer), or the bot timer set due for the
//! runner; every turn of the round written set-wise.

use std::collections::HashSet;

use sqlx::AnyConnection;
use switchboard_core::{conversation::ConversationStatus, ids::ContactId, timer::TimerKind};

use super::messages::{Incoming, Place};
use crate::{
    bot::{load_in, write_turns, BotApply, BotLoad, BotNext, SameTx, Turn, TurnRows, Unread},
    rows::Rows,
    writes::Writes,
    StoreError,
};

/// Messages that reached the bot: the bot answers now, in this transaction, when `answer`
/// can decide the turn without I/O; otherwise the bot timer is set due (a `wait` further
/// away is pulled forward; the bot re-arms it) for the runner. Per message: (the runner
/// has work now, the bot answered here). `first` are the turns decided before anything was
/// written, with their turns and the rows of them still to write.
pub(super) async fn bot_turns<'a>(
    tx: &mut AnyConnection,
    writes: &mut Writes,
    items: &[Incoming<'_>],
    placed: &[Place],
    first: &[(usize, BotLoad, BotApply)],
    now: i64,
    (first_turns, first_rows): (Vec<Turn<'a>>, TurnRows),
) -> Result<Vec<(bool, bool)>, StoreError> {
    let decided: HashSet<usize> = first.iter().map(|(i, _, _)| *i).collect();
    let mut outcomes = vec![(false, false); items.len()];
    let mut wake = Rows::new(3);
    let mut turns = Vec::new();
    for (i, (item, place)) in items.iter().zip(placed).enumerate() {
        if place.status != ConversationStatus::Bot || decided.contains(&i) {
            continue;
        }
        if let Some(answer) = item.answer {
            // Nothing in flight (an HTTP call, a handoff): the turn needs only this state.
            writes.flush(tx).await?;
            let load = load_in(tx, place.conversation).await?;
            if let Some(load) = load.filter(|l| l.pending.is_none()) {
                if let Some(apply) = answer(&load) {
                    turns.push((i, load, apply));
                    continue;
                }
            }
        }
        wake.push([
            TimerKind::Bot.as_str().into(),
            place.conversation.to_string().into(),
            place.at(now).into(),
        ]);
        outcomes[i] = (true, false);
    }
    writes.execute(
        "INSERT INTO timers (kind, conversation_id, due_at) VALUES {rows}
         ON CONFLICT (kind, conversation_id) DO UPDATE
         SET due_at = CASE WHEN timers.due_at > excluded.due_at THEN excluded.due_at ELSE timers.due_at END",
        wake,
    );
    let mut all: Vec<Turn<'_>> = turns
        .iter()
        .map(|(i, load, apply)| Turn {
            load,
            apply,
            same_tx: Some(SameTx {
                opened: placed[*i].opened,
            }),
            // After the customer's message, in the listing's order.
            at: placed[*i].at(now) + 1,
        })
        .collect();
    let mut rows = TurnRows::of(&all);
    // The first turns' messages went in with the customers' and their states with the
    // conversations: what is left of them is their outbox rows and timers.
    rows.extend(first_rows.without_states());
    all.extend(first_turns);
    write_turns(tx, writes, &all, rows).await?;
    for (i, _, apply) in &turns {
        outcomes[*i] = (matches!(apply.next, BotNext::Effect(_)), true);
    }
    Ok(outcomes)
}

/// A new contact's new conversation: its bot state is the empty one and this message its
/// only one, so there is nothing to read, and nothing needs to be written first.
pub(super) fn known_load(
    item: &Incoming<'_>,
    (contact, new): (ContactId, bool),
    place: &Place,
    at: i64,
) -> Option<BotLoad> {
    let scenario_id = item.input.start.scenario_id?;
    (place.opened && new).then(|| BotLoad {
        account_id: item.input.account_id,
        conversation_id: place.conversation,
        connection_id: item.input.connection_id,
        contact_id: contact,
        contact_name: item.contact_name.to_owned(),
        chat_id: item.contact_external_id.to_owned(),
        client: item.client.copied(),
        scenario_id,
        state: None,
        version: 0,
        pending: None,
        wake_at: None,
        read_at: 0,
        read_id: String::new(),
        unread: vec![Unread {
            id: item.message,
            created_at: at,
            content: item.content.clone(),
        }],
    })
}
