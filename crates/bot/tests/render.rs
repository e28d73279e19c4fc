//! Rendering for every channel kind: golden files of a rich scenario, each message checked
//! against its channel's limits, and properties over random menus and texts (Cyrillic and
//! emoji included: limits count what each channel counts).
//!
//! `UPDATE_GOLDEN=1 cargo nextest run -p switchboard-bot` rewrites the golden files after an
//! intended change; review the diff.

use proptest::prelude::*;
use switchboard_bot::{load, preview::preview, Context};
use switchboard_core::{
    channel::ChannelKind,
    message::Choice,
    render::{limit_violations, render, select, MenuWords, Rendered, Selected},
};

#[test]
fn the_rich_scenario_in_every_channel_matches_its_golden_file_and_fits() {
    let source = std::fs::read_to_string("tests/fixtures/rich.yaml").unwrap();
    let scenario = load(&source, &Context::default()).unwrap();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut stale = Vec::new();
    for &kind in ChannelKind::ALL {
        let caps = switchboard_channels::profile::of(kind);
        let shown = preview(&scenario, kind, &caps);
        for (step, messages) in shown.steps.as_object().unwrap() {
            let messages: Vec<Rendered> = serde_json::from_value(messages.clone()).unwrap();
            for m in &messages {
                let broken = limit_violations(&caps, m);
                assert!(broken.is_empty(), "{kind} {step}: {broken:?}");
            }
        }
        let json = serde_json::to_string_pretty(&shown).unwrap() + "\n";
        let path = format!("tests/golden/{kind}.json");
        if update {
            std::fs::write(&path, &json).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(json.as_str()) {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "rendering changed for {stale:?}; rerun with UPDATE_GOLDEN=1 and review the diff"
    );
}

#[test]
fn the_golden_files_show_each_channels_adaptation() {
    let read = |kind: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(format!("tests/golden/{kind}.json")).unwrap())
            .unwrap()
    };
    let welcome = |kind: &str| read(kind)["steps"]["welcome"].clone();
    // Bitrix24: no buttons, a numbered menu.
    let b24 = welcome("bitrix24");
    assert_eq!(b24[0]["buttons"], serde_json::Value::Null);
    assert!(b24[0]["text"]
        .as_str()
        .unwrap()
        .contains("\n11. Закрыть диалог"));
    // VK: 6 choices and "more" on the first page, labels within 20 characters.
    let vk = welcome("vk");
    let buttons: Vec<&serde_json::Value> = vk[0]["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .collect();
    assert_eq!(buttons.len(), 7);
    assert_eq!(buttons[6]["label"], "Ещё варианты ▸");
    // WhatsApp: 11 choices do not fit 3 buttons nor a 10-row list: list pages.
    let wa = welcome("whatsapp");
    assert_eq!(wa[0]["keyboard"], "list");
    // Instagram counts bytes: the long delivery text is split.
    assert!(
        read("instagram")["steps"]["delivery"]
            .as_array()
            .unwrap()
            .len()
            > 1
    );
    assert_eq!(
        read("telegram")["steps"]["delivery"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

fn label() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("Доставка".to_string()),
            Just("заказ".to_string()),
            Just("😀".to_string()),
            Just("👨‍👩‍👧".to_string()),
            Just("Ёж".to_string()),
            Just("a".to_string()),
            Just(" ".to_string()),
            Just("№123".to_string()),
            "[a-zA-Zа-яА-Я0-9]{1,12}",
        ],
        1..12,
    )
    .prop_map(|parts| parts.concat())
    .prop_filter("a label has text", |l| !l.trim().is_empty())
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("Здравствуйте! ".to_string()),
            Just("Ваш заказ отправлен. ".to_string()),
            Just("🚚📦 ".to_string()),
            Just("\n\n".to_string()),
            Just("слово".repeat(30)),
            "[a-z ]{0,40}",
        ],
        0..200,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_rendered_message_exceeds_a_limit_and_every_choice_can_be_answered(
        labels in prop::collection::vec(label(), 0..30),
        body in text(),
    ) {
        let choices: Vec<Choice> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| Choice { label: l.clone(), payload: format!("step:{i}") })
            .collect();
        let words = MenuWords::default();
        for &kind in ChannelKind::ALL {
            let caps = switchboard_channels::profile::of(kind);
            let mut seen = vec![false; choices.len()];
            for page in 0..choices.len().max(1) {
                let messages = render(&caps, &body, &choices, page, &words);
                prop_assert!(!messages.is_empty());
                for m in &messages {
                    let broken = limit_violations(&caps, m);
                    prop_assert!(broken.is_empty(), "{} page {}: {:?}", kind, page, broken);
                }
                for button in messages.iter().filter_map(|m| m.buttons.as_ref()).flatten().flatten() {
                    // The button pressed, and its label typed, select the same thing.
                    let pressed = select(&caps, &choices, page, &words, &button.label, Some(&button.payload));
                    let typed = select(&caps, &choices, page, &words, &button.label, None);
                    prop_assert_eq!(pressed, typed, "{} {:?}", kind, button);
                    if let Selected::Choice(i) = pressed {
                        seen[i] = true;
                    }
                }
            }
            if caps.buttons.is_some() && !choices.is_empty() {
                prop_assert!(seen.iter().all(|s| *s), "{}: a choice is on no page", kind);
            }
            // Every choice is reachable by its number and by its full label.
            for (i, c) in choices.iter().enumerate() {
                let by_number = select(&caps, &choices, 0, &words, &format!(" {}. ", i + 1), None);
                prop_assert_eq!(by_number, Selected::Choice(i));
                let by_label = select(&caps, &choices, 0, &words, &c.label.to_uppercase(), None);
                if let Selected::Choice(j) = by_label {
                    // Labels equal but for case pick the first of them.
                    let (a, b) = (choices[j].label.to_lowercase(), c.label.to_lowercase());
                    prop_assert_eq!(a.split_whitespace().collect::<Vec<_>>(), b.split_whitespace().collect::<Vec<_>>());
                } else {
                    prop_assert!(false, "{}: label `{}` selects {:?}", kind, c.label, by_label);
                }
            }
        }
    }
}
