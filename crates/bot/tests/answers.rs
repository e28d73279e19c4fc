//! Reading answers back, as a table: by button payload, by number ("2", "2.", " 2 "), by
//! label typed as text (case and spacing aside, full or shortened), "more" for the next page,
//! and everything else selecting nothing (the step repeats).

use switchboard_core::{
    channel::ChannelKind,
    message::Choice,
    render::{select, short_labels, MenuWords, Selected},
};

fn menu(labels: &[&str]) -> Vec<Choice> {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| Choice {
            label: l.to_string(),
            payload: format!("step:{i}"),
        })
        .collect()
}

#[test]
fn answers_select_what_the_customer_meant() {
    let two = menu(&["Статус заказа", "Позвать оператора"]);
    let long = menu(&[
        "Доставка по Москве и Московской области",
        "Доставка по Москве и регионам России",
        "Оплата",
    ]);
    let nine: Vec<String> = (1..=9).map(|i| format!("Вариант {i}")).collect();
    let nine = menu(&nine.iter().map(String::as_str).collect::<Vec<_>>());
    let rating = menu(&["5", "4", "3", "2", "1"]);
    let vk_short = short_labels(
        &long.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(),
        20,
        switchboard_core::capabilities::TextUnit::Chars,
    );
    use ChannelKind::*;
    use Selected::{Choice, Nothing, Page};
    type Case<'a> = (
        ChannelKind,
        &'a Vec<switchboard_core::message::Choice>,
        usize,
        &'a str,
        Option<&'a str>,
        Selected,
    );
    let cases: Vec<Case> = vec![
        (Telegram, &two, 0, "", Some("step:1"), Choice(1)),
        (
            Telegram,
            &two,
            0,
            "Позвать оператора",
            Some("step:1"),
            Choice(1),
        ),
        (Telegram, &two, 0, "2", None, Choice(1)),
        (Telegram, &two, 0, "2.", None, Choice(1)),
        (Telegram, &two, 0, " 2 ", None, Choice(1)),
        (Telegram, &two, 0, "1)", None, Choice(0)),
        (Telegram, &two, 0, "  статус   ЗАКАЗА ", None, Choice(0)),
        (Telegram, &two, 0, "3", None, Nothing),
        (Telegram, &two, 0, "0", None, Nothing),
        (Telegram, &two, 0, "", None, Nothing),
        (Telegram, &two, 0, "хочу пиццу", None, Nothing),
        (Telegram, &two, 0, "", Some("other:1"), Nothing),
        (Bitrix24, &two, 0, "1", None, Choice(0)),
        (Bitrix24, &two, 0, "позвать оператора", None, Choice(1)),
        (Vk, &long, 0, &vk_short[0], None, Choice(0)),
        (Vk, &long, 0, &vk_short[1], None, Choice(1)),
        (Vk, &long, 0, "оплата", None, Choice(2)),
        (Vk, &nine, 0, "Ещё…", None, Page(1)),
        (Vk, &nine, 1, "ещё…", None, Page(0)),
        (Vk, &nine, 0, "", Some("__more:1"), Page(1)),
        (Vk, &nine, 1, "9", None, Choice(8)),
        (Whatsapp, &nine, 0, "", Some("step:7"), Choice(7)),
        // Viber's keyboard sends the button's ActionBody (our payload) as the text.
        (Viber, &two, 0, "step:1", None, Choice(1)),
        // Labels that are numbers mean what they say.
        (Telegram, &rating, 0, "5", None, Choice(0)),
        (Telegram, &rating, 0, "1", None, Choice(4)),
    ];
    let words = MenuWords::default();
    for (kind, choices, page, text, pressed, want) in cases {
        let caps = switchboard_channels::profile::of(kind);
        let got = select(&caps, choices, page, &words, text, pressed);
        assert_eq!(got, want, "{kind}: {text:?} {pressed:?}");
    }
}
