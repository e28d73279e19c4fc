//! Criterion benchmarks of the pure hot spots on every update's path: reading a channel's
//! webhook (Telegram, VK, Viber), rendering a rich menu for a channel, and the routing
//! decision over a busy group. `cargo bench -p switchboard-channels`; figures and what they
//! mean are in `docs/performance-history.md` (first round) and summed up in `docs/performance.md`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use jiff::Timestamp;
use serde_json::json;
use switchboard_channels::{registry, HookKeys, WebhookRequest};
use switchboard_core::{
    channel::ChannelKind,
    distribution::Candidate,
    group::Strategy,
    ids::{ConversationId, OperatorId},
    message::Choice,
    operator::OperatorStatus,
    render::{render, MenuWords},
    routing::{plan, Waiting},
};

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("webhook_parse");
    let telegram = registry::connector(ChannelKind::Telegram).unwrap();
    let body = include_bytes!("../src/telegram/fixtures/text_message.json");
    let headers = vec![(
        "x-telegram-bot-api-secret-token".to_string(),
        "s3cret-s3cret".to_string(),
    )];
    let credentials = json!({"token": "123:abc"});
    let keys = HookKeys {
        secret: "s3cret-s3cret",
        credentials: &credentials,
    };
    group.bench_function("telegram_text", |b| {
        b.iter(|| {
            let request = WebhookRequest {
                headers: &headers,
                body: black_box(body),
            };
            telegram.parse(&keys, &request).unwrap()
        })
    });
    let callback = include_bytes!("../src/telegram/fixtures/callback_query.json");
    group.bench_function("telegram_button_press", |b| {
        b.iter(|| {
            let request = WebhookRequest {
                headers: &headers,
                body: black_box(callback),
            };
            telegram.parse(&keys, &request).unwrap()
        })
    });
    group.finish();
}

fn rendering(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    let words = MenuWords::default();
    let three: Vec<Choice> = ["Статус заказа", "Доставка и оплата", "Позвать оператора"]
        .iter()
        .enumerate()
        .map(|(i, l)| Choice {
            label: l.to_string(),
            payload: format!("c{i}"),
        })
        .collect();
    let eleven: Vec<Choice> = (0..11)
        .map(|i| Choice {
            label: format!("Очень длинный вариант ответа номер {i} 🚚 с эмодзи и пояснением"),
            payload: format!("choice-{i}"),
        })
        .collect();
    let long_text = "Здравствуйте! Спасибо, что написали нам. ".repeat(30);
    for kind in [
        ChannelKind::Telegram,
        ChannelKind::Vk,
        ChannelKind::Whatsapp,
        ChannelKind::Bitrix24,
    ] {
        let caps = switchboard_channels::profile::of(kind);
        group.bench_function(format!("menu_3_{kind}"), |b| {
            b.iter(|| {
                render(
                    &caps,
                    black_box("Чем помочь?"),
                    black_box(&three),
                    0,
                    &words,
                )
            })
        });
        group.bench_function(format!("rich_11_{kind}"), |b| {
            b.iter(|| render(&caps, black_box(&long_text), black_box(&eleven), 0, &words))
        });
    }
    group.finish();
}

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing_plan");
    let now = Timestamp::from_second(1_790_000_000).unwrap();
    let candidates: Vec<Candidate> = (0..50)
        .map(|i| Candidate {
            id: OperatorId::new(),
            status: if i % 5 == 0 {
                OperatorStatus::Away
            } else {
                OperatorStatus::Online
            },
            open: (i % 4) as u32,
            capacity: 5,
            last_assigned_at: Timestamp::from_second(1_789_999_000 + i).ok(),
            position: i as usize,
        })
        .collect();
    let queue: Vec<Waiting> = (0..200)
        .map(|i| Waiting {
            declined: Vec::new(),
            id: ConversationId::new(),
            queued_at: Timestamp::from_second(1_789_990_000 + i).unwrap(),
            tried: if i % 3 == 0 {
                vec![candidates[1].id]
            } else {
                Vec::new()
            },
        })
        .collect();
    for strategy in [
        Strategy::RoundRobin,
        Strategy::LeastBusy,
        Strategy::InOrder,
        Strategy::AllAtOnce,
    ] {
        group.bench_function(format!("{strategy}_50_operators_200_waiting"), |b| {
            b.iter(|| plan(strategy, black_box(&candidates), black_box(&queue), now))
        });
        group.bench_function(format!("{strategy}_one_new_conversation"), |b| {
            b.iter(|| {
                plan(
                    strategy,
                    black_box(&candidates),
                    black_box(&queue[..1]),
                    now,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parsing, rendering, routing);
criterion_main!(benches);
