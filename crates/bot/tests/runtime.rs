//! Walking scenarios through the pure interpreter, with the state serialized between turns
//! as the server stores it.

use serde_json::json;
use switchboard_bot::{
    advance, load, start, BotState, Context, Env, HandoffTarget, HttpReply, Input, Scenario, Stop,
    Turn,
};
use switchboard_core::{capabilities::Capabilities, channel::ChannelKind};

fn scenario(file: &str) -> Scenario {
    let source = std::fs::read_to_string(format!("tests/fixtures/{file}")).unwrap();
    load(&source, &Context::default()).unwrap()
}

fn env(caps: &Capabilities) -> Env<'_> {
    Env {
        caps,
        contact: json!({"name": "Анна", "id": "c1"}),
        channel: json!({"kind": "telegram", "name": "Shop"}),
        conversation: json!({"id": "conv1"}),
    }
}

/// Stores and reloads the state, as a restart between turns would.
fn reload(state: &BotState) -> BotState {
    serde_json::from_str(&serde_json::to_string(state).unwrap()).unwrap()
}

fn say(scenario: &Scenario, env: &Env<'_>, state: &BotState, text: &str) -> Turn {
    advance(
        scenario,
        env,
        reload(state),
        Input::Message {
            text,
            pressed: None,
        },
    )
}

fn texts(turn: &Turn) -> Vec<&str> {
    turn.said.iter().map(|s| s.text.as_str()).collect()
}

#[test]
fn the_contract_example_walks_from_menu_to_close() {
    let shop = scenario("shop.yaml");
    let caps = switchboard_channels::profile::of(ChannelKind::Telegram);
    let env = env(&caps);
    let turn = start(&shop, &env);
    assert_eq!(texts(&turn), vec!["Здравствуйте, Анна! Чем помочь?"]);
    assert_eq!(turn.said[0].choices.len(), 2);
    assert_eq!(turn.stop, Stop::Answer);

    // A press on the first button, by its payload.
    let payload = turn.said[0].choices[0].payload.clone();
    let turn = advance(
        &shop,
        &env,
        reload(&turn.state),
        Input::Message {
            text: "Статус заказа",
            pressed: Some(&payload),
        },
    );
    assert_eq!(texts(&turn), vec!["Введите номер заказа"]);

    let turn = say(&shop, &env, &turn.state, "12");
    assert_eq!(
        texts(&turn),
        vec!["Номер заказа — от 4 до 10 цифр", "Введите номер заказа"]
    );
    let turn = say(&shop, &env, &turn.state, " 123456 ");
    let Stop::Http(request) = &turn.stop else {
        panic!("{:?}", turn.stop)
    };
    assert_eq!(request.method, "GET");
    assert_eq!(request.url, "https://shop.example/api/orders/123456");

    // A message while the call runs changes nothing.
    let idle = say(&shop, &env, &turn.state, "ну что там?");
    assert_eq!(idle.stop, Stop::Pending);
    assert_eq!(idle.state, reload(&turn.state));

    let turn = advance(
        &shop,
        &env,
        reload(&turn.state),
        Input::Http(Ok(HttpReply {
            status: 200,
            body: json!({"status": "shipped"}),
        })),
    );
    assert_eq!(texts(&turn), vec!["Заказ 123456 отправлен", "Спасибо!"]);
    assert_eq!(turn.stop, Stop::Close);
}

#[test]
fn failures_and_other_branches_hand_off() {
    let shop = scenario("shop.yaml");
    let caps = switchboard_channels::profile::of(ChannelKind::Bitrix24);
    let env = env(&caps);
    let turn = start(&shop, &env);
    // No buttons here: a numbered menu, answered by number.
    let turn = say(&shop, &env, &turn.state, "2.");
    assert_eq!(texts(&turn), vec!["Соединяю с оператором"]);
    assert_eq!(
        turn.stop,
        Stop::Handoff(HandoffTarget::Group("Support".into()))
    );

    let turn = start(&shop, &env);
    let turn = say(&shop, &env, &turn.state, "статус заказа");
    let turn = say(&shop, &env, &turn.state, "9999");
    for result in [
        Err("timed out".to_string()),
        Ok(HttpReply {
            status: 500,
            body: json!(null),
        }),
    ] {
        let failed = advance(&shop, &env, reload(&turn.state), Input::Http(result));
        assert_eq!(
            failed.stop,
            Stop::Handoff(HandoffTarget::Group("Support".into()))
        );
    }
    let not_shipped = advance(
        &shop,
        &env,
        reload(&turn.state),
        Input::Http(Ok(HttpReply {
            status: 200,
            body: json!({"status": "packing"}),
        })),
    );
    assert_eq!(texts(&not_shipped), vec!["Соединяю с оператором"]);
}

#[test]
fn an_unmatched_answer_repeats_the_step_after_its_retry_text() {
    let rich = scenario("rich.yaml");
    let caps = switchboard_channels::profile::of(ChannelKind::Vk);
    let env = env(&caps);
    let turn = start(&rich, &env);
    let turn = say(&rich, &env, &turn.state, "хочу пиццу");
    assert_eq!(turn.said.len(), 2);
    assert_eq!(
        turn.said[0].text,
        "Выберите вариант из списка или напишите его номер."
    );
    assert!(turn.said[1].text.starts_with("Здравствуйте, Анна!"));
    assert_eq!(turn.stop, Stop::Answer);
    // A press on a stale menu of another step selects nothing either.
    let stale = advance(
        &rich,
        &env,
        reload(&turn.state),
        Input::Message {
            text: "",
            pressed: Some("more:1"),
        },
    );
    assert_eq!(stale.state.step, "welcome");
}

#[test]
fn long_menus_page_and_the_last_page_is_answerable() {
    let rich = scenario("rich.yaml");
    let caps = switchboard_channels::profile::of(ChannelKind::Vk);
    let env = env(&caps);
    let turn = start(&rich, &env);
    // VK shows 6 choices and "more" per page: 11 choices make two pages.
    let turn = say(&rich, &env, &turn.state, "Ещё варианты ▸");
    assert_eq!(turn.state.page, 1);
    assert_eq!(turn.said[0].page, 1);
    // Numbers keep counting across pages: 9 is "Позвать оператора".
    let turn = say(&rich, &env, &turn.state, "9");
    assert_eq!(texts(&turn), vec!["Соединяю с оператором…"]);
}

#[test]
fn set_if_and_wait_go_through_timers() {
    let rich = scenario("rich.yaml");
    let caps = switchboard_channels::profile::of(ChannelKind::Telegram);
    let env = env(&caps);
    let turn = start(&rich, &env);
    let turn = say(&rich, &env, &turn.state, "⭐ оставить   ОТЗЫВ");
    assert_eq!(texts(&turn), vec!["Оцените нас от 1 до 5"]);
    let turn = say(&rich, &env, &turn.state, "5");
    assert_eq!(texts(&turn), vec!["Спасибо за Оценка 5! 😊"]);
    assert_eq!(
        turn.stop,
        Stop::Wait(std::time::Duration::from_secs(86_400))
    );
    assert_eq!(turn.state.vars["rated"], json!(true));
    // A message during the wait is kept but does not move the bot; the timer does.
    assert_eq!(say(&rich, &env, &turn.state, "?").stop, Stop::Pending);
    let turn = advance(&rich, &env, reload(&turn.state), Input::Timer);
    assert_eq!(
        texts(&turn),
        vec!["Вчера вы поставили нам 5. Всё ли в порядке?"]
    );
    // A stale timer (the bot moved on) does nothing.
    let stale = advance(&rich, &env, reload(&turn.state), Input::Timer);
    assert_eq!(stale.stop, Stop::Pending);
}

#[test]
fn answers_in_urls_are_escaped() {
    let source = "name: x\nstart: a\nsteps:\n  a:\n    ask: id?\n    save: id\n    goto: b\n  b:\n    http: { url: 'https://api.example/orders/{{id}}?x=1' }\n    on_error: a\n    goto: a\n";
    let s = load(source, &Context::default()).unwrap();
    let caps = switchboard_channels::profile::of(ChannelKind::Telegram);
    let env = env(&caps);
    let turn = start(&s, &env);
    let turn = say(&s, &env, &turn.state, "../admin?drop=1#");
    let Stop::Http(request) = turn.stop else {
        panic!()
    };
    assert_eq!(
        request.url,
        "https://api.example/orders/..%2Fadmin%3Fdrop%3D1%23?x=1"
    );
}
