//! Fitting a message with choices into one channel, and reading the customer's answer back.
//!
//! The ladder, per channel profile: buttons when they fit; more choices than fit become a
//! list where the channel has one, else pages of buttons with a "more" choice; labels longer
//! than allowed are shortened and kept unique (the payload is kept); a channel without
//! buttons gets a numbered text menu. Text longer than the channel allows is split at
//! paragraph, sentence or word boundaries. Both directions are derived from the same
//! [`Menu`], so whatever was shown can be answered: the button, the number, or the label
//! typed as text (shortened or not).

use serde::{Deserialize, Serialize};

use crate::{
    capabilities::{Capabilities, TextUnit},
    message::Choice,
    text::split,
};

/// A button as the channel is sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub payload: String,
}

/// A button as the choice it sends.
impl From<Button> for Choice {
    fn from(b: Button) -> Self {
        Choice {
            label: b.label,
            payload: b.payload,
        }
    }
}

/// How the buttons are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyboardKind {
    /// Attached to the message.
    Inline,
    /// In place of the customer's keyboard; a press comes back as text.
    Reply,
    /// A single-choice list behind one button (WhatsApp).
    List,
}

/// One message as a channel is sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    pub text: String,
    /// Rows of buttons.
    pub buttons: Option<Vec<Vec<Button>>>,
    pub keyboard: Option<KeyboardKind>,
}

/// Words the renderer adds itself, in the scenario's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuWords {
    /// The choice that shows the next page of a long menu.
    pub more: String,
}

impl Default for MenuWords {
    fn default() -> Self {
        Self {
            more: "Ещё…".into(),
        }
    }
}

/// The payload of the "more" choice that shows page `page`.
const MORE_PREFIX: &str = "__more:";

/// How a list of choices is shown in one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Menu {
    /// No choices: text only.
    Empty,
    /// Pages of buttons; every page of a paged menu ends with the "more" button.
    Buttons {
        pages: Vec<Vec<Button>>,
        keyboard: KeyboardKind,
        /// Buttons per row.
        per_row: usize,
    },
    /// A numbered text menu, appended to the text.
    Numbered { lines: Vec<String> },
}

/// Shortens `label` to `max` units, ending in "…".
fn shorten(label: &str, max: usize, unit: TextUnit) -> String {
    let label = label.trim();
    if unit.len(label) <= max {
        return label.to_string();
    }
    let ellipsis = '…';
    let budget = max.saturating_sub(unit.len_char(ellipsis));
    // Whole grapheme clusters only: half a flag or a family emoji is another picture.
    let cut = crate::text::fitting_prefix(label, budget, unit);
    let mut out = label[..cut].trim_end().to_string();
    out.push(ellipsis);
    out
}

/// Compares labels the way a customer types them: case and spacing do not matter.
fn normalize(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Labels within `max` units that are still told apart: a shortened label that collides with
/// another gets the choice's number.
pub fn short_labels(labels: &[&str], max: usize, unit: TextUnit) -> Vec<String> {
    let mut out: Vec<String> = labels.iter().map(|l| shorten(l, max, unit)).collect();
    let keys: Vec<String> = out.iter().map(|l| normalize(l)).collect();
    for i in 0..out.len() {
        let clash = (0..keys.len()).any(|j| j != i && keys[j] == keys[i]);
        if clash {
            let suffix = format!(" ({})", i + 1);
            let room = max.saturating_sub(unit.len(&suffix));
            let mut head = shorten(labels[i], room, unit);
            if unit.len(&head) > room {
                head.clear();
            }
            out[i] = format!("{head}{suffix}");
        }
    }
    out
}

fn more_payload(page: usize) -> String {
    format!("{MORE_PREFIX}{page}")
}

/// Plans how `choices` are shown in a channel with `caps`.
pub fn menu(caps: &Capabilities, choices: &[Choice], words: &MenuWords) -> Menu {
    if choices.is_empty() {
        return Menu::Empty;
    }
    let Some(limits) = caps.buttons.as_ref() else {
        let lines = choices
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{}. {}", i + 1, c.label.trim()))
            .collect();
        return Menu::Numbered { lines };
    };
    let n = choices.len();
    // Too many for buttons: a list where the channel has one, with its own limits.
    let (keyboard, capacity, max_label, max_payload) = match &caps.list {
        Some(list) if n > limits.max_buttons => (
            KeyboardKind::List,
            list.max_rows,
            list.max_title,
            list.max_id_bytes,
        ),
        _ => (
            if limits.inline {
                KeyboardKind::Inline
            } else {
                KeyboardKind::Reply
            },
            limits.max_buttons,
            limits.max_label,
            limits.max_payload_bytes,
        ),
    };
    let labels: Vec<&str> = choices.iter().map(|c| c.label.as_str()).collect();
    let short = short_labels(&labels, max_label, caps.text_unit);
    let buttons: Vec<Button> = choices
        .iter()
        .zip(short)
        .enumerate()
        .map(|(i, (c, label))| Button {
            label,
            // A payload the channel cannot carry travels as the choice's position.
            payload: if c.payload.len() <= max_payload && !c.payload.is_empty() {
                c.payload.clone()
            } else {
                format!("#{i}")
            },
        })
        .collect();
    let pages = if n <= capacity {
        vec![buttons]
    } else {
        let per_page = capacity.saturating_sub(1).max(1);
        let chunks: Vec<Vec<Button>> = buttons.chunks(per_page).map(<[_]>::to_vec).collect();
        let count = chunks.len();
        let more = shorten(&words.more, max_label, caps.text_unit);
        chunks
            .into_iter()
            .enumerate()
            .map(|(p, mut page)| {
                page.push(Button {
                    label: more.clone(),
                    payload: more_payload((p + 1) % count),
                });
                page
            })
            .collect()
    };
    let per_row = if keyboard == KeyboardKind::List {
        1
    } else {
        let widest = pages.iter().map(Vec::len).max().unwrap_or(1);
        limits.per_row(widest)
    };
    Menu::Buttons {
        pages,
        keyboard,
        per_row,
    }
}

/// One message before it is split to the channel's text limit: the text (with a numbered
/// menu where the channel has no buttons) and the buttons of page `page`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub text: String,
    pub buttons: Vec<Button>,
    /// Buttons per row.
    pub per_row: usize,
    pub keyboard: Option<KeyboardKind>,
}

pub fn compose(
    caps: &Capabilities,
    text: &str,
    choices: &[Choice],
    page: usize,
    words: &MenuWords,
) -> Composed {
    match menu(caps, choices, words) {
        Menu::Empty => Composed {
            text: text.to_string(),
            buttons: Vec::new(),
            per_row: 1,
            keyboard: None,
        },
        Menu::Numbered { lines } => Composed {
            text: if text.trim().is_empty() {
                lines.join("\n")
            } else {
                format!("{}\n\n{}", text.trim_end(), lines.join("\n"))
            },
            buttons: Vec::new(),
            per_row: 1,
            keyboard: None,
        },
        Menu::Buttons {
            mut pages,
            keyboard,
            per_row,
        } => {
            let index = page % pages.len();
            Composed {
                text: text.to_string(),
                buttons: pages.swap_remove(index),
                per_row,
                keyboard: Some(keyboard),
            }
        }
    }
}

/// Renders a text with choices (page `page` of a paged menu) into the messages the channel
/// is sent: text pieces within the limit, the buttons on the last.
pub fn render(
    caps: &Capabilities,
    text: &str,
    choices: &[Choice],
    page: usize,
    words: &MenuWords,
) -> Vec<Rendered> {
    let plain = |pieces: Vec<String>| -> Vec<Rendered> {
        pieces
            .into_iter()
            .map(|text| Rendered {
                text,
                buttons: None,
                keyboard: None,
            })
            .collect()
    };
    let composed = compose(caps, text, choices, page, words);
    match composed.keyboard {
        None => plain(split(&composed.text, caps.max_text, caps.text_unit)),
        Some(keyboard) => {
            let mut pieces = split(&composed.text, caps.max_text, caps.text_unit);
            let with_buttons = caps.text_limit(true);
            let last = pieces.pop().unwrap_or_default();
            if caps.text_unit.len(&last) > with_buttons {
                pieces.extend(split(&last, with_buttons, caps.text_unit));
            } else {
                pieces.push(last);
            }
            let mut out = plain(pieces);
            let rows = composed
                .buttons
                .chunks(composed.per_row)
                .map(<[_]>::to_vec)
                .collect();
            if let Some(last) = out.last_mut() {
                last.buttons = Some(rows);
                last.keyboard = Some(keyboard);
            }
            out
        }
    }
}

/// Every way `message` breaks a limit of the channel, as text (empty when it fits).
pub fn limit_violations(caps: &Capabilities, message: &Rendered) -> Vec<String> {
    let unit = caps.text_unit;
    let mut out = Vec::new();
    let with_buttons = message.buttons.is_some();
    let limit = caps.text_limit(with_buttons);
    let len = unit.len(&message.text);
    if len > limit {
        out.push(format!("text of {len} over {limit}"));
    }
    let Some(rows) = &message.buttons else {
        return out;
    };
    let count: usize = rows.iter().map(Vec::len).sum();
    let (max_count, max_label, max_payload) = match (message.keyboard, &caps.list, &caps.buttons) {
        (Some(KeyboardKind::List), Some(list), _) => {
            (list.max_rows, list.max_title, list.max_id_bytes)
        }
        (Some(KeyboardKind::List), None, _) => {
            out.push("a list in a channel without lists".into());
            return out;
        }
        (_, _, Some(b)) => {
            if rows.len() > b.max_rows {
                out.push(format!("{} rows over {}", rows.len(), b.max_rows));
            }
            if let Some(row) = rows.iter().find(|r| r.len() > b.max_per_row) {
                out.push(format!("a row of {} over {}", row.len(), b.max_per_row));
            }
            let kind_ok = match message.keyboard {
                Some(KeyboardKind::Inline) => b.inline,
                Some(KeyboardKind::Reply) => b.reply,
                _ => false,
            };
            if !kind_ok {
                out.push(format!("keyboard {:?} not offered", message.keyboard));
            }
            (b.max_buttons, b.max_label, b.max_payload_bytes)
        }
        (_, _, None) => {
            out.push("buttons in a channel without buttons".into());
            return out;
        }
    };
    if count > max_count {
        out.push(format!("{count} buttons over {max_count}"));
    }
    for b in rows.iter().flatten() {
        let len = unit.len(&b.label);
        if len > max_label || b.label.trim().is_empty() {
            out.push(format!("label `{}` of {len} over {max_label}", b.label));
        }
        if b.payload.len() > max_payload || b.payload.is_empty() {
            out.push(format!("payload `{}` over {max_payload} bytes", b.payload));
        }
    }
    out
}

/// What an answer to a menu selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selected {
    /// The choice at this index of the choices offered.
    Choice(usize),
    /// The "more" choice: show this page.
    Page(usize),
    /// Nothing offered: repeat the question.
    Nothing,
}

/// Reads the customer's answer to a menu shown with [`render`]: the pressed button's payload,
/// the choice's number ("2", "2.", " 2 "), or its label typed as text, case and spacing
/// aside, full or as shortened for the channel.
pub fn select(
    caps: &Capabilities,
    choices: &[Choice],
    page: usize,
    words: &MenuWords,
    text: &str,
    pressed: Option<&str>,
) -> Selected {
    let shown = menu(caps, choices, words);
    let buttons: Vec<&Button> = match &shown {
        Menu::Buttons { pages, .. } => pages.iter().flatten().collect(),
        _ => Vec::new(),
    };
    let by_payload = |p: &str| -> Option<Selected> {
        if let Some(n) = p.strip_prefix(MORE_PREFIX) {
            return n.parse().ok().map(Selected::Page);
        }
        if let Some(i) = choices.iter().position(|c| c.payload == p) {
            return Some(Selected::Choice(i));
        }
        let i: usize = p.strip_prefix('#')?.parse().ok()?;
        (i < choices.len()).then_some(Selected::Choice(i))
    };
    if let Some(found) = pressed.and_then(by_payload) {
        return found;
    }
    let typed = text.trim();
    if typed.is_empty() {
        return Selected::Nothing;
    }
    // A label typed in full wins over a number, so labels that are numbers ("1" to "5" for
    // a rating) mean what they say.
    let wanted = normalize(typed);
    if let Some(i) = choices.iter().position(|c| normalize(&c.label) == wanted) {
        return Selected::Choice(i);
    }
    let number = typed.trim_end_matches(['.', ')']).trim();
    if let Ok(n) = number.parse::<usize>() {
        if (1..=choices.len()).contains(&n) {
            return Selected::Choice(n - 1);
        }
    }
    let pages = match &shown {
        Menu::Buttons { pages, .. } => pages.len(),
        _ => 1,
    };
    for button in &buttons {
        if normalize(&button.label) == wanted {
            if let Some(found) = by_payload(&button.payload) {
                return match found {
                    // A typed "more" goes on from the page the customer saw.
                    Selected::Page(_) => Selected::Page((page + 1) % pages),
                    other => other,
                };
            }
        }
    }
    // A reply keyboard may send the button's payload as the text (Viber's ActionBody).
    by_payload(typed).unwrap_or(Selected::Nothing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChannelKind;

    fn choices(labels: &[&str]) -> Vec<Choice> {
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| Choice {
                label: l.to_string(),
                payload: format!("p{i}"),
            })
            .collect()
    }

    /// A kind's provisional profile, or for a built one (whose profile lives in its folder,
    /// out of this crate's reach) one of its shape: Telegram's wide inline keyboards, VK's
    /// seven buttons of twenty characters.
    fn caps(kind: ChannelKind) -> Capabilities {
        use crate::capabilities::{buttons, plain, ButtonLimits};
        Capabilities::provisional(kind).unwrap_or_else(|| match kind {
            ChannelKind::Telegram => Capabilities {
                buttons: Some(ButtonLimits {
                    max_per_row: 8,
                    ..buttons(100, 64)
                }),
                ..plain(4096)
            },
            ChannelKind::Vk => Capabilities {
                buttons: Some(ButtonLimits {
                    max_per_row: 5,
                    max_rows: 6,
                    ..buttons(7, 20)
                }),
                ..plain(9000)
            },
            other => unreachable!("no test profile for {other}"),
        })
    }

    #[test]
    fn buttons_when_they_fit() {
        let out = render(
            &caps(ChannelKind::Telegram),
            "Чем помочь?",
            &choices(&["Заказ", "Оператор"]),
            0,
            &MenuWords::default(),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].keyboard, Some(KeyboardKind::Inline));
        let rows = out[0].buttons.as_ref().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1][0].payload, "p1");
    }

    #[test]
    fn no_buttons_gives_a_numbered_menu() {
        let out = render(
            &caps(ChannelKind::Bitrix24),
            "Чем помочь?",
            &choices(&["Заказ", "Оператор"]),
            0,
            &MenuWords::default(),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].text, "Чем помочь?\n\n1. Заказ\n2. Оператор");
        assert_eq!(out[0].buttons, None);
    }

    #[test]
    fn long_menus_page_with_more_and_whatsapp_uses_a_list() {
        let labels: Vec<String> = (1..=9).map(|i| format!("Вариант {i}")).collect();
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let words = MenuWords::default();
        let vk = caps(ChannelKind::Vk);
        let Menu::Buttons { pages, .. } = menu(&vk, &choices(&refs), &words) else {
            panic!()
        };
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].len(), 7);
        assert_eq!(pages[0][6].payload, "__more:1");
        assert_eq!(pages[1].last().unwrap().payload, "__more:0");
        let wa = render(
            &caps(ChannelKind::Whatsapp),
            "Выберите",
            &choices(&refs),
            0,
            &words,
        );
        assert_eq!(wa[0].keyboard, Some(KeyboardKind::List));
        assert_eq!(wa[0].buttons.as_ref().unwrap().len(), 9);
    }

    #[test]
    fn long_labels_are_shortened_and_unique() {
        let labels = [
            "Доставка по Москве и области",
            "Доставка по Москве и регионам",
            "Самовывоз",
        ];
        let short = short_labels(&labels, 20, TextUnit::Chars);
        assert!(short.iter().all(|l| l.chars().count() <= 20), "{short:?}");
        assert_eq!(short[2], "Самовывоз");
        assert_ne!(normalize(&short[0]), normalize(&short[1]));
    }

    #[test]
    fn answers_by_payload_number_or_label() {
        let vk = caps(ChannelKind::Vk);
        let words = MenuWords::default();
        let cs = choices(&["Статус заказа", "Позвать оператора очень длинная кнопка"]);
        let sel = |text: &str, pressed: Option<&str>| select(&vk, &cs, 0, &words, text, pressed);
        assert_eq!(sel("", Some("p1")), Selected::Choice(1));
        assert_eq!(sel("2", None), Selected::Choice(1));
        assert_eq!(sel(" 2. ", None), Selected::Choice(1));
        assert_eq!(sel("1)", None), Selected::Choice(0));
        assert_eq!(sel("  статус   ЗАКАЗА ", None), Selected::Choice(0));
        let short = short_labels(&[&cs[1].label], 20, TextUnit::Chars).remove(0);
        assert_eq!(sel(&short, None), Selected::Choice(1));
        assert_eq!(sel("3", None), Selected::Nothing);
        assert_eq!(sel("0", None), Selected::Nothing);
        assert_eq!(sel("что-то ещё", None), Selected::Nothing);
        assert_eq!(sel("", Some("stale")), Selected::Nothing);
    }
}
