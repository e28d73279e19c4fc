//! Splitting text that is longer than a channel allows, at the most natural boundary that
//! fits: a paragraph, then a line, then a sentence, then a word, and only then mid-word.
//! Never inside a grapheme cluster: a flag, a family emoji joined with ZWJ or a letter with
//! its combining accent stays whole (cut, each half would show as something else).

use unicode_segmentation::UnicodeSegmentation;

use crate::capabilities::TextUnit;

/// The byte length of the longest prefix of `text` made of whole grapheme clusters that
/// fits in `max` units. Zero when not even the first cluster fits.
pub fn fitting_prefix(text: &str, max: usize, unit: TextUnit) -> usize {
    let mut used = 0;
    let mut end = 0;
    for (i, grapheme) in text.grapheme_indices(true) {
        let w = unit.len(grapheme);
        if used + w > max {
            break;
        }
        used += w;
        end = i + grapheme.len();
    }
    end
}

/// Splits `text` into pieces of at most `max` units each, never breaking a grapheme
/// cluster unless one alone is longer than `max` (then never a character).
pub fn split(text: &str, max: usize, unit: TextUnit) -> Vec<String> {
    let max = max.max(1);
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while unit.len(rest) > max {
        let cut = best_cut(rest, max, unit);
        let (head, tail) = rest.split_at(cut);
        let head = head.trim_end();
        if !head.is_empty() {
            pieces.push(head.to_string());
        }
        rest = tail.trim_start();
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest.to_string());
    }
    pieces
}

/// The byte index to cut at: the end of the longest prefix within `max` units, moved back to
/// the best boundary inside it.
fn best_cut(text: &str, max: usize, unit: TextUnit) -> usize {
    let limit = fitting_prefix(text, max, unit);
    if limit == 0 {
        // One cluster alone is longer than the channel allows: cut it between characters,
        // taking at least one.
        let mut used = 0;
        let mut end = 0;
        for (i, c) in text.char_indices() {
            used += unit.len_char(c);
            if used > max && end > 0 {
                break;
            }
            end = i + c.len_utf8();
        }
        return end;
    }
    let window = &text[..limit];
    // A boundary in the first quarter would leave a tiny piece; prefer a worse kind of
    // boundary further on.
    let floor = limit / 4;
    for separators in [
        &["\n\n"][..],
        &["\n"],
        &[". ", "! ", "? ", "… ", "; "],
        &[" "],
    ] {
        let found = separators
            .iter()
            .filter_map(|sep| window.rfind(sep).map(|i| i + sep.len()))
            .max();
        if let Some(cut) = found.filter(|&cut| cut > floor) {
            return cut;
        }
    }
    limit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_stays_whole() {
        assert_eq!(split("Привет", 10, TextUnit::Chars), vec!["Привет"]);
        assert_eq!(split("", 10, TextUnit::Chars), vec![""]);
    }

    #[test]
    fn prefers_paragraphs_then_sentences_then_words() {
        let text = "First paragraph here.\n\nSecond one is longer than that.";
        assert_eq!(
            split(text, 40, TextUnit::Chars),
            vec!["First paragraph here.", "Second one is longer than that."]
        );
        let text = "One sentence here. Another sentence follows it.";
        assert_eq!(
            split(text, 30, TextUnit::Chars),
            vec!["One sentence here.", "Another sentence follows it."]
        );
        assert_eq!(
            split("aaa bbb ccc ddd", 8, TextUnit::Chars),
            vec!["aaa bbb", "ccc ddd"]
        );
        assert_eq!(
            split("abcdefghij", 4, TextUnit::Chars),
            vec!["abcd", "efgh", "ij"]
        );
    }

    #[test]
    fn counts_what_the_channel_counts() {
        let emoji = "😀".repeat(5);
        let pieces = split(&emoji, 4, TextUnit::Utf16);
        assert_eq!(pieces, vec!["😀😀", "😀😀", "😀"]);
        let pieces = split("ёёё", 4, TextUnit::Bytes);
        assert_eq!(pieces, vec!["ёё", "ё"]);
    }

    #[test]
    fn grapheme_clusters_stay_whole() {
        // A family (four people joined by ZWJ: 11 UTF-16 units), flags and a combining accent.
        let family = "👨\u{200D}👩\u{200D}👧\u{200D}👦";
        let text = format!("{family}{family}🇷🇺🇷🇺e\u{301}e\u{301}");
        let boundaries: Vec<usize> = text
            .grapheme_indices(true)
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
        for unit in [TextUnit::Chars, TextUnit::Utf16, TextUnit::Bytes] {
            let biggest = text.graphemes(true).map(|g| unit.len(g)).max().unwrap();
            for max in [1, 4, 7, 12, 25, 44] {
                let pieces = split(&text, max, unit);
                assert_eq!(pieces.concat(), text, "{unit:?} {max}");
                let mut at = 0;
                for piece in &pieces {
                    at += piece.len();
                    if biggest <= max {
                        assert!(boundaries.contains(&at), "{unit:?} {max}: cut in a cluster");
                        assert!(unit.len(piece) <= max, "{unit:?} {max}: {piece:?}");
                    } else {
                        assert!(unit.len(piece) <= max || piece.chars().count() == 1);
                    }
                }
            }
        }
        assert_eq!(
            split(&format!("{family}{family}"), 11, TextUnit::Utf16),
            [family, family]
        );
        assert_eq!(split("🇷🇺🇷🇺🇷🇺", 5, TextUnit::Utf16), ["🇷🇺", "🇷🇺", "🇷🇺"]);
        assert_eq!(
            split("e\u{301}e\u{301}e\u{301}", 3, TextUnit::Chars),
            ["e\u{301}", "e\u{301}", "e\u{301}"]
        );
        assert_eq!(fitting_prefix("🇷🇺x", 3, TextUnit::Utf16), 0);
    }

    #[test]
    fn every_piece_fits_and_nothing_is_lost() {
        let text = "Здравствуйте! Ваш заказ №123 отправлен. 🚚 Ожидайте доставку завтра.\nСпасибо, что выбрали нас. ".repeat(40);
        for unit in [TextUnit::Chars, TextUnit::Utf16, TextUnit::Bytes] {
            for max in [7, 64, 333, 4096] {
                let pieces = split(&text, max, unit);
                assert!(pieces.iter().all(|p| unit.len(p) <= max), "{unit:?} {max}");
                let joined: String = pieces.concat().split_whitespace().collect();
                let original: String = text.split_whitespace().collect();
                assert_eq!(joined, original, "{unit:?} {max}");
            }
        }
    }
}
