//! Every kind's capability profile, whatever is built: a channel's own from its folder
//! (`Connector::capabilities`), a kind still to come from core's provisional ones; and a
//! connection's profile, narrowed by the messenger behind a platform and overridden by its
//! admin.

use switchboard_core::{
    capabilities::{Capabilities, CapabilityOverrides},
    channel::ChannelKind,
};

/// The default profile of `kind`.
pub fn of(kind: ChannelKind) -> Capabilities {
    match crate::registry::connector(kind) {
        Some(connector) => connector.capabilities(),
        // Every kind has one or the other: `provisional` is `None` only for built kinds.
        None => Capabilities::provisional(kind).unwrap_or_else(|| {
            unreachable!("{kind} has neither a connector nor a provisional profile")
        }),
    }
}

/// A connection's profile: its kind's (narrowed by the messenger behind a platform), with
/// the admin's overrides.
pub fn for_connection(kind: ChannelKind, overrides: Option<&CapabilityOverrides>) -> Capabilities {
    let Some(o) = overrides else {
        return of(kind);
    };
    let caps = match o.via {
        Some(via) => of(kind).through(via, &of(via)),
        None => of(kind),
    };
    caps.with_overrides(o)
}

#[cfg(test)]
mod tests {
    use switchboard_core::capabilities::{ClientAbilities, TextUnit};

    use super::*;

    #[test]
    fn every_kind_has_a_sane_profile() {
        for kind in ChannelKind::ALL {
            let caps = of(*kind);
            assert!(caps.max_text >= 1000, "{kind}");
            if let Some(b) = &caps.buttons {
                assert!(b.max_buttons >= 3 && b.max_label >= 20, "{kind}");
                assert!(b.max_per_row >= 1 && b.max_rows >= 1, "{kind}");
                assert!(b.max_per_row * b.max_rows >= b.max_buttons, "{kind}");
                assert!(b.inline || b.reply, "{kind}");
                assert!(b.max_payload_bytes >= 64, "{kind}");
            }
        }
    }

    /// A built channel's profile is its folder's, never a provisional one as well.
    #[test]
    fn built_kinds_have_no_provisional_profile() {
        for kind in crate::registry::supported() {
            assert_eq!(Capabilities::provisional(kind), None, "{kind}");
        }
    }

    #[test]
    fn overrides_narrow_or_widen_a_profile() {
        let o = CapabilityOverrides {
            max_buttons: Some(12),
            max_label: Some(30),
            ..CapabilityOverrides::default()
        };
        let vk = for_connection(ChannelKind::Vk, Some(&o));
        let b = vk.buttons.unwrap();
        assert_eq!((b.max_buttons, b.max_label), (12, 30));
        assert!(b.max_rows * b.max_per_row >= 12);
        let off = CapabilityOverrides {
            buttons: Some(false),
            ..CapabilityOverrides::default()
        };
        assert!(for_connection(ChannelKind::Telegram, Some(&off))
            .buttons
            .is_none());
        let via = CapabilityOverrides {
            via: Some(ChannelKind::Whatsapp),
            ..CapabilityOverrides::default()
        };
        assert!(for_connection(ChannelKind::Jivo, Some(&via))
            .buttons
            .is_none());
    }

    #[test]
    fn the_seeds_numbers_are_the_defaults() {
        let vk = of(ChannelKind::Vk).buttons.unwrap();
        assert_eq!((vk.max_buttons, vk.max_label), (7, 20));
        let jivo = of(ChannelKind::Jivo).buttons.unwrap();
        assert_eq!(jivo.max_buttons, 7);
        assert!(of(ChannelKind::Bitrix24).buttons.is_none());
        assert!(of(ChannelKind::Umnico).buttons.is_none());
        let wa = of(ChannelKind::Whatsapp);
        assert_eq!(wa.buttons.as_ref().unwrap().max_buttons, 3);
        assert_eq!(wa.buttons.as_ref().unwrap().max_label, 20);
        assert_eq!(wa.list.as_ref().unwrap().max_rows, 10);
        assert_eq!(wa.list.as_ref().unwrap().max_title, 24);
        let through = |platform, kind| of(platform).through(kind, &of(kind));
        for kind in [
            ChannelKind::Whatsapp,
            ChannelKind::Instagram,
            ChannelKind::Messenger,
            ChannelKind::Ok,
        ] {
            assert!(through(ChannelKind::Jivo, kind).buttons.is_none());
        }
        let via = through(ChannelKind::Jivo, ChannelKind::Telegram);
        assert_eq!(via.buttons.unwrap().max_buttons, 7);
        let via = through(ChannelKind::Webim, ChannelKind::Instagram);
        assert_eq!((via.max_text, via.text_unit), (1000, TextUnit::Bytes));
    }

    /// An app without inline keyboards gets the numbered menu where the channel's menus are
    /// inline; one that has them, or no report at all, changes nothing.
    #[test]
    fn a_client_without_the_channels_buttons_gets_a_numbered_menu() {
        let vk = of(ChannelKind::Vk);
        let old = ClientAbilities {
            inline: false,
            keyboard: true,
        };
        let full = ClientAbilities {
            inline: true,
            keyboard: true,
        };
        assert_eq!(vk.clone().for_client(Some(&old)).buttons, None);
        assert_eq!(vk.clone().for_client(Some(&full)), vk);
        assert_eq!(vk.clone().for_client(None), vk);
        let viber = of(ChannelKind::Viber);
        assert_eq!(viber.clone().for_client(Some(&old)), viber);
        let bare = ClientAbilities {
            inline: false,
            keyboard: false,
        };
        assert_eq!(viber.for_client(Some(&bare)).buttons, None);
    }
}
