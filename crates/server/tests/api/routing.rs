//! Routing scenarios through the HTTP API on both backends: customers write through a fake
//! Telegram, operators go online, accept, answer, transfer and close; the server decides
//! who gets what (each strategy, capacity and the queue, the answer-timeout chain, offline
//! operators, working hours across a daylight-saving change, auto-close).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard_channels::testkit::FakeTelegram;
use switchboard_store::{backends, testing::Backend};

use crate::{
    helpers::{spawn_app, TestApp},
    telegram::{deliver, text_update},
};

backends!(
    round_robin_spreads_conversations_evenly,
    least_busy_and_in_order_follow_their_rules,
    all_at_once_goes_to_the_first_who_accepts,
    a_full_operator_leaves_the_rest_queued_oldest_first,
    unanswered_conversations_move_on_then_fall_back_or_get_flagged,
    going_offline_returns_only_unanswered_conversations,
    transfers_notes_and_history,
    working_hours_follow_the_time_zone_across_dst,
    out_of_hours_holds_notifies_once_and_releases,
    auto_close_says_goodbye_and_the_next_message_starts_afresh,
    a_shorter_auto_close_applies_to_open_conversations,
);

const WAIT: Duration = Duration::from_secs(20);

pub(crate) struct Center {
    pub(crate) fake: FakeTelegram,
    pub(crate) channel: String,
    pub(crate) secret: String,
    pub(crate) group: String,
    /// (id, token) of each operator, in the group's priority order.
    pub(crate) ops: Vec<(String, String)>,
    pub(crate) next_update: i64,
}

/// A Telegram bot routed to a group of `n` operators with `distribution`.
pub(crate) async fn center(
    app: &TestApp,
    n: usize,
    distribution: Value,
    channel_extra: Value,
) -> Center {
    let mut ops = Vec::new();
    for i in 0..n {
        let email = format!("op{i}-{}@shop.ru", uuid::Uuid::new_v4().simple());
        ops.push(app.operator(&email, "operator").await);
    }
    let ids: Vec<&str> = ops.iter().map(|(id, _)| id.as_str()).collect();
    let group = app
        .post(
            "/api/v1/groups",
            &app.admin_token,
            json!({"name": format!("Support {}", uuid::Uuid::new_v4().simple()), "operator_ids": ids, "distribution": distribution}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{group:?}");
    let group = group.id();
    // A bot of its own: connecting one bot twice would displace the first connection.
    let bot_id = 7_100_000_000 + i64::from(next_bot());
    let token = format!("{bot_id}:AAH-routing");
    let fake = FakeTelegram::start().await;
    fake.add_bot(&token, bot_id, "Shop Bot");
    let mut body = json!({"kind": "telegram", "name": "Shop", "credentials": {"token": token}, "api_base_url": fake.url,
        "rate_limits": null, "routing": {"target": "group", "group_id": group}, "auto_close_after": "12h"});
    for (k, v) in channel_extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let reply = app.post("/api/v1/channels", &app.admin_token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let secret = fake.calls_of("setWebhook")[0].body["secret_token"]
        .as_str()
        .unwrap()
        .to_string();
    Center {
        fake,
        channel: reply.id(),
        secret,
        group,
        ops,
        next_update: 1,
    }
}

/// Each center's bot gets its own id within the test's database.
fn next_bot() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Center {
    pub(crate) fn op(&self, i: usize) -> &str {
        &self.ops[i].0
    }

    pub(crate) fn token(&self, i: usize) -> &str {
        &self.ops[i].1
    }

    pub(crate) async fn status(&self, app: &TestApp, i: usize, status: &str) {
        let r = app
            .post(
                &format!("/api/v1/operators/{}/status", self.op(i)),
                self.token(i),
                json!({"status": status}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }

    /// Customer `chat` writes; returns their open conversation.
    pub(crate) async fn write(&mut self, app: &TestApp, chat: i64, text: &str) -> Value {
        let update = self.next_update;
        self.next_update += 1;
        let r = deliver(
            app,
            &self.channel,
            &self.secret,
            &text_update(update, chat, text),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let list = app
            .get(
                &format!("/api/v1/conversations?channel_id={}", self.channel),
                &app.admin_token,
            )
            .await
            .body;
        let mine: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] != "closed")
            .collect();
        let messages_of = |c: &Value| c["id"].as_str().unwrap().to_string();
        // The conversation whose contact this chat is: the newest activity.
        for c in mine {
            let messages = app
                .get(
                    &format!("/api/v1/conversations/{}/messages", messages_of(c)),
                    &app.admin_token,
                )
                .await
                .body;
            if messages
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["content"]["text"] == text)
            {
                return c.clone();
            }
        }
        panic!("no conversation has {text:?}");
    }
}

async fn conversation(app: &TestApp, id: &Value) -> Value {
    app.get(
        &format!("/api/v1/conversations/{}", id.as_str().unwrap()),
        &app.admin_token,
    )
    .await
    .body
}

/// Polls a conversation until `done` holds.
async fn wait_until(app: &TestApp, id: &Value, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let c = conversation(app, id).await;
        if done(&c) {
            return c;
        }
        assert!(Instant::now() < deadline, "{what}: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn reply(app: &TestApp, token: &str, id: &Value, text: &str) {
    let r = app
        .post(
            &format!("/api/v1/conversations/{}/messages", id.as_str().unwrap()),
            token,
            json!({"text": text}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

async fn round_robin_spreads_conversations_evenly(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut c = center(
        &app,
        2,
        json!({"strategy": "round_robin", "capacity": 5}),
        json!({}),
    )
    .await;
    c.status(&app, 0, "online").await;
    c.status(&app, 1, "online").await;
    let mut holders = Vec::new();
    for chat in 0..4 {
        let conv = c.write(&app, 100 + chat, &format!("Вопрос {chat}")).await;
        assert_eq!(conv["status"], "assigned", "{conv}");
        holders.push(conv["assignee_id"].as_str().unwrap().to_string());
    }
    assert_ne!(holders[0], holders[1], "the idle one gets the next");
    assert_eq!(holders[0], holders[2]);
    assert_eq!(holders[1], holders[3]);
}

async fn least_busy_and_in_order_follow_their_rules(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut busy = center(
        &app,
        2,
        json!({"strategy": "least_busy", "capacity": 5}),
        json!({}),
    )
    .await;
    busy.status(&app, 0, "online").await;
    for chat in 0..2 {
        let conv = busy
            .write(&app, 200 + chat, &format!("Раньше {chat}"))
            .await;
        assert_eq!(conv["assignee_id"], busy.op(0));
    }
    busy.status(&app, 1, "online").await;
    for chat in 2..4 {
        let conv = busy.write(&app, 200 + chat, &format!("Позже {chat}")).await;
        assert_eq!(
            conv["assignee_id"],
            busy.op(1),
            "fewest open conversations first"
        );
    }

    let mut ordered = center(
        &app,
        2,
        json!({"strategy": "in_order", "capacity": 2}),
        json!({}),
    )
    .await;
    ordered.status(&app, 0, "online").await;
    ordered.status(&app, 1, "online").await;
    let mut holders = Vec::new();
    for chat in 0..3 {
        let conv = ordered
            .write(&app, 300 + chat, &format!("По порядку {chat}"))
            .await;
        holders.push(conv["assignee_id"].as_str().unwrap().to_string());
    }
    assert_eq!(holders, vec![ordered.op(0), ordered.op(0), ordered.op(1)]);
}

async fn all_at_once_goes_to_the_first_who_accepts(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut c = center(
        &app,
        3,
        json!({"strategy": "all_at_once", "capacity": 2}),
        json!({}),
    )
    .await;
    for i in 0..3 {
        c.status(&app, i, "online").await;
    }
    let conv = c.write(&app, 400, "Кто первый?").await;
    assert_eq!(conv["status"], "queued");
    let mut offered: Vec<String> = conv["offered_to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    offered.sort();
    let mut everyone: Vec<String> = (0..3).map(|i| c.op(i).to_string()).collect();
    everyone.sort();
    assert_eq!(offered, everyone, "offered to every available operator");
    let mine = app
        .get(
            &format!("/api/v1/conversations?offered_to={}", c.op(2)),
            c.token(2),
        )
        .await
        .body;
    assert_eq!(mine.as_array().unwrap().len(), 1);

    let id = conv["id"].as_str().unwrap();
    let won = app
        .post(
            &format!("/api/v1/conversations/{id}/assign"),
            c.token(1),
            json!({}),
        )
        .await;
    assert_eq!(won.status, StatusCode::OK, "{won:?}");
    assert_eq!(won.body["assignee_id"], c.op(1));
    assert_eq!(
        won.body["offered_to"],
        json!([]),
        "the offer disappears for the others"
    );
    // Accepting with no body at all works too, and loses the same way.
    let lost = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{id}/assign"),
            Some(c.token(0)),
            None,
        )
        .await;
    assert_eq!(
        (lost.status, lost.code()),
        (StatusCode::CONFLICT, "already_assigned")
    );
    // An operator cannot hand conversations to others.
    let pushy = app
        .post(
            &format!("/api/v1/conversations/{id}/assign"),
            c.token(0),
            json!({"operator_id": c.op(2)}),
        )
        .await;
    assert_eq!(pushy.status, StatusCode::FORBIDDEN);
}

async fn a_full_operator_leaves_the_rest_queued_oldest_first(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut c = center(
        &app,
        1,
        json!({"strategy": "in_order", "capacity": 1}),
        json!({}),
    )
    .await;
    let first = c.write(&app, 500, "Первый").await;
    assert_eq!(first["status"], "queued", "nobody online yet");
    let second = c.write(&app, 501, "Второй").await;
    let third = c.write(&app, 502, "Третий").await;
    c.status(&app, 0, "online").await;
    let first = wait_until(&app, &first["id"], "the oldest goes first", |v| {
        v["status"] == "assigned"
    })
    .await;
    assert_eq!(first["assignee_id"], c.op(0));
    assert_eq!(conversation(&app, &second["id"]).await["status"], "queued");
    assert_eq!(conversation(&app, &third["id"]).await["status"], "queued");
    // A full operator takes nothing more, not even from a supervisor.
    let id = second["id"].as_str().unwrap();
    let full = app
        .post(
            &format!("/api/v1/conversations/{id}/assign"),
            &app.admin_token,
            json!({"operator_id": c.op(0)}),
        )
        .await;
    assert_eq!(
        (full.status, full.code()),
        (StatusCode::CONFLICT, "at_capacity")
    );
    let closed = app
        .post(
            &format!(
                "/api/v1/conversations/{}/close",
                first["id"].as_str().unwrap()
            ),
            c.token(0),
            json!({}),
        )
        .await;
    assert_eq!(closed.body["status"], "closed", "{closed:?}");
    assert_eq!(closed.body["closed_reason"], "operator");
    let second = conversation(&app, &second["id"]).await;
    assert_eq!(
        (second["status"].as_str(), second["assignee_id"].as_str()),
        (Some("assigned"), Some(c.op(0))),
        "the place that came free went to the next oldest at once"
    );
    assert_eq!(conversation(&app, &third["id"]).await["status"], "queued");
    // Nor does an away operator, even with a free place.
    c.status(&app, 0, "away").await;
    let busy = app
        .post(
            &format!(
                "/api/v1/conversations/{}/assign",
                third["id"].as_str().unwrap()
            ),
            &app.admin_token,
            json!({"operator_id": c.op(0)}),
        )
        .await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
}

async fn unanswered_conversations_move_on_then_fall_back_or_get_flagged(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let second_line = center(&app, 1, json!({"strategy": "in_order"}), json!({})).await;
    second_line.status(&app, 0, "online").await;
    let distribution = json!({"strategy": "in_order", "answer_timeout": "1s", "max_offers": 2,
        "fallback_group_id": second_line.group});
    let mut c = center(&app, 2, distribution, json!({})).await;
    c.status(&app, 0, "online").await;
    c.status(&app, 1, "online").await;
    let conv = c.write(&app, 600, "Алло?").await;
    assert_eq!(conv["assignee_id"], c.op(0));
    let id = conv["id"].clone();
    let moved = wait_until(&app, &id, "moved to the next operator", |v| {
        v["assignee_id"] == c.op(1)
    })
    .await;
    assert_eq!(moved["status"], "assigned");
    let fell = wait_until(&app, &id, "fell back to the second line", |v| {
        v["assignee_id"] == second_line.op(0)
    })
    .await;
    assert_eq!(fell["group_id"], second_line.group.as_str());
    reply(&app, second_line.token(0), &id, "Слушаю").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let kept = conversation(&app, &id).await;
    assert_eq!(
        kept["assignee_id"],
        second_line.op(0),
        "an answer stops the clock"
    );
    assert_eq!(kept["answered"], true);
    let history = app
        .get(
            &format!("/api/v1/conversations/{}/history", id.as_str().unwrap()),
            &app.admin_token,
        )
        .await
        .body;
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "conversation.open",
            "conversation.assign",
            "conversation.unanswered",
            "conversation.assign",
            "conversation.unanswered",
            "conversation.assign"
        ]
    );
    assert_eq!(history[4]["details"]["outcome"], "fallback");

    // Without a fallback the conversation stays queued, flagged for supervisors.
    let lonely = json!({"strategy": "in_order", "answer_timeout": "1s", "max_offers": 1});
    let mut solo = center(&app, 1, lonely, json!({})).await;
    solo.status(&app, 0, "online").await;
    let conv = solo.write(&app, 601, "Есть кто?").await;
    let flagged = wait_until(&app, &conv["id"], "flagged", |v| {
        v["needs_attention"] == true
    })
    .await;
    assert_eq!(flagged["status"], "queued");
    assert_eq!(flagged["assignee_id"], Value::Null);
    let list = app
        .get(
            "/api/v1/conversations?needs_attention=true",
            &app.admin_token,
        )
        .await
        .body;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["id"] == conv["id"]));
    let taken = app
        .post(
            &format!(
                "/api/v1/conversations/{}/assign",
                conv["id"].as_str().unwrap()
            ),
            &app.admin_token,
            json!({"operator_id": solo.op(0)}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{taken:?}");
    assert_eq!(taken.body["needs_attention"], false);
}

async fn going_offline_returns_only_unanswered_conversations(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut c = center(
        &app,
        2,
        json!({"strategy": "in_order", "capacity": 2}),
        json!({}),
    )
    .await;
    c.status(&app, 0, "online").await;
    let answered = c.write(&app, 700, "Первый вопрос").await;
    let unanswered = c.write(&app, 701, "Второй вопрос").await;
    assert_eq!(answered["assignee_id"], c.op(0));
    assert_eq!(unanswered["assignee_id"], c.op(0));
    reply(&app, c.token(0), &answered["id"], "Отвечаю").await;
    c.status(&app, 1, "online").await;
    c.status(&app, 0, "offline").await;
    let back = conversation(&app, &unanswered["id"]).await;
    assert_eq!(
        back["assignee_id"],
        c.op(1),
        "returned and given to the one online"
    );
    let kept = conversation(&app, &answered["id"]).await;
    assert_eq!(
        kept["assignee_id"],
        c.op(0),
        "an answered conversation stays"
    );
}

async fn transfers_notes_and_history(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut c = center(&app, 2, json!({"strategy": "in_order"}), json!({})).await;
    let other = center(&app, 1, json!({}), json!({})).await;
    c.status(&app, 0, "online").await;
    other.status(&app, 0, "online").await;
    let conv = c.write(&app, 800, "Нужен специалист").await;
    let id = conv["id"].as_str().unwrap().to_string();
    let note = app
        .post(
            &format!("/api/v1/conversations/{id}/notes"),
            c.token(0),
            json!({"text": "Клиент VIP"}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{note:?}");
    let both = app
        .post(
            &format!("/api/v1/conversations/{id}/transfer"),
            c.token(0),
            json!({"group_id": other.group, "operator_id": other.op(0)}),
        )
        .await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
    let moved = app
        .post(
            &format!("/api/v1/conversations/{id}/transfer"),
            c.token(0),
            json!({"group_id": other.group, "reason": "вопрос по оплате"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{moved:?}");
    assert_eq!(moved.body["assignee_id"], other.op(0));
    // To an operator who is offline: it waits for them.
    let waiting = app
        .post(
            &format!("/api/v1/conversations/{id}/transfer"),
            &app.admin_token,
            json!({"operator_id": c.op(1), "reason": "знает этого клиента"}),
        )
        .await;
    assert_eq!(waiting.body["status"], "queued", "{waiting:?}");
    assert_eq!(waiting.body["wanted_operator_id"], c.op(1));
    c.status(&app, 1, "online").await;
    assert_eq!(conversation(&app, &json!(id)).await["assignee_id"], c.op(1));
    let not_mine = app
        .post(
            &format!("/api/v1/conversations/{id}/transfer"),
            c.token(0),
            json!({"group_id": c.group}),
        )
        .await;
    // Moved to another group and held by someone else: operator 0 may not even open it.
    assert_eq!(not_mine.status, StatusCode::NOT_FOUND);
    let notes = app
        .get(
            &format!("/api/v1/conversations/{id}/notes"),
            &app.admin_token,
        )
        .await
        .body;
    assert_eq!(notes[0]["text"], "Клиент VIP");
    let history = app
        .get(
            &format!("/api/v1/conversations/{id}/history"),
            &app.admin_token,
        )
        .await
        .body;
    let transfers: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "conversation.transfer")
        .collect();
    assert_eq!(transfers.len(), 2);
    assert_eq!(transfers[0]["details"]["reason"], "вопрос по оплате");
    assert_eq!(transfers[0]["actor_id"], c.op(0));
}

async fn working_hours_follow_the_time_zone_across_dst(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let weekdays: Value = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| (d.to_string(), json!([{"start": "09:00", "end": "18:00"}])))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let schedule = app
        .post(
            "/api/v1/schedules",
            &app.admin_token,
            json!({"name": "Berlin office", "time_zone": "Europe/Berlin", "weekly": weekdays}),
        )
        .await;
    assert_eq!(schedule.status, StatusCode::CREATED, "{schedule:?}");
    let id = schedule.id();
    let at = |t: &str| {
        let app = &app;
        let path = format!("/api/v1/schedules/{id}/status?at={t}");
        async move { app.get(&path, &app.admin_token).await }
    };
    // Friday 2026-03-27, winter time (UTC+1): 08:30 local is closed, it opens at 08:00Z.
    let before = at("2026-03-27T07:30:00Z").await;
    assert_eq!(before.status, StatusCode::OK, "{before:?}");
    assert_eq!(before.body["open"], false);
    assert_eq!(before.body["next_open"], "2026-03-27T08:00:00Z");
    // Friday evening: the weekend and the night of the change pass, and Monday opens at
    // 09:00 summer time, which is 07:00Z, an hour earlier in UTC than the week before.
    let weekend = at("2026-03-27T18:00:00Z").await;
    assert_eq!(weekend.body["next_open"], "2026-03-30T07:00:00Z");
    // Monday 07:30Z is 09:30 local now: open; the same UTC time was closed on Friday.
    assert_eq!(at("2026-03-30T07:30:00Z").await.body["open"], true);
    let bad = at("yesterday").await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "at")
    );
}

fn utc_date(offset_days: i64) -> String {
    let now = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * offset_days);
    now.to_zoned(jiff::tz::TimeZone::UTC).date().to_string()
}

async fn out_of_hours_holds_notifies_once_and_releases(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let all_day: Value = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| (d.to_string(), json!([{"start": "00:00", "end": "24:00"}])))
        .collect::<serde_json::Map<_, _>>()
        .into();
    // Closed yesterday, today and tomorrow (a run across midnight stays closed), open after.
    let holidays: Vec<Value> = (-1..=1).map(|d| json!({"date": utc_date(d)})).collect();
    let schedule = app
        .post(
            "/api/v1/schedules",
            &app.admin_token,
            json!({"name": "Holidays", "time_zone": "UTC", "weekly": all_day, "exceptions": holidays}),
        )
        .await
        .id();
    let extra = json!({"schedule_id": schedule, "out_of_hours": {"message": "Мы откроемся после праздников"}});
    let mut c = center(&app, 1, json!({}), extra).await;
    c.status(&app, 0, "online").await;
    let conv = c.write(&app, 900, "Вы работаете?").await;
    assert_eq!(
        conv["status"], "queued",
        "held although an operator is online"
    );
    assert!(conv["held_until"].is_string(), "{conv}");
    c.write(&app, 900, "Ау?").await;
    let sent = c.fake.wait_for("sendMessage", 1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        c.fake.calls_of("sendMessage").len(),
        1,
        "once per conversation"
    );
    assert_eq!(sent[0].body["text"], "Мы откроемся после праздников");

    // The holidays are cancelled: the held conversation is released at once.
    let open = app
        .patch(
            &format!("/api/v1/schedules/{schedule}"),
            &app.admin_token,
            json!({"exceptions": []}),
        )
        .await;
    assert_eq!(open.status, StatusCode::OK, "{open:?}");
    let released = wait_until(&app, &conv["id"], "released", |v| v["status"] == "assigned").await;
    assert_eq!(released["assignee_id"], c.op(0));
    assert_eq!(released["held_until"], Value::Null);

    // Out of hours to another group instead of waiting.
    let night_schedule = app
        .post(
            "/api/v1/schedules",
            &app.admin_token,
            json!({"name": "Never today", "time_zone": "UTC", "weekly": all_day,
                "exceptions": (-1..=1).map(|d| json!({"date": utc_date(d)})).collect::<Vec<_>>()}),
        )
        .await
        .id();
    let night = center(&app, 1, json!({}), json!({})).await;
    night.status(&app, 0, "online").await;
    let extra = json!({"schedule_id": night_schedule,
        "out_of_hours": {"routing": {"target": "group", "group_id": night.group}}});
    let mut day = center(&app, 1, json!({}), extra).await;
    let conv = day.write(&app, 901, "Ночью").await;
    assert_eq!(conv["assignee_id"], night.op(0), "{conv}");
    assert_eq!(conv["group_id"], night.group.as_str());
}

async fn auto_close_says_goodbye_and_the_next_message_starts_afresh(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Long enough for the reply below to land first on a slow machine.
    let extra = json!({"auto_close_after": "3s", "auto_close_message": "Диалог завершён"});
    let mut c = center(&app, 1, json!({}), extra).await;
    c.status(&app, 0, "online").await;
    let conv = c.write(&app, 950, "Вопрос").await;
    reply(&app, c.token(0), &conv["id"], "Ответ").await;
    let closed = wait_until(&app, &conv["id"], "auto-closed", |v| {
        v["status"] == "closed"
    })
    .await;
    assert_eq!(closed["closed_reason"], "customer_silent");
    let sent = c.fake.wait_for("sendMessage", 2, WAIT).await;
    assert_eq!(sent[1].body["text"], "Диалог завершён");
    let next = c.write(&app, 950, "Ещё вопрос").await;
    assert_ne!(next["id"], conv["id"]);
    assert_eq!(next["previous_id"], conv["id"]);
    assert_eq!(next["assignee_id"], c.op(0), "routed afresh");
}

async fn a_shorter_auto_close_applies_to_open_conversations(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut c = center(&app, 1, json!({}), json!({"auto_close_after": "12h"})).await;
    let conv = c.write(&app, 960, "Долгий вопрос").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let patched = app
        .patch(
            &format!("/api/v1/channels/{}", c.channel),
            &app.admin_token,
            json!({"auto_close_after": "1s"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    let closed = wait_until(&app, &conv["id"], "closed by the new setting", |v| {
        v["status"] == "closed"
    })
    .await;
    assert_eq!(closed["closed_reason"], "operator_silent");
}
