//! `channels!`: from one line per channel (`Kind => folder::Connector`), the folder's module
//! and the registry: which connector serves which kind, and (for tests) which kit runs its
//! contract suite.

/// Declares each channel's folder and the [`crate::registry`] module.
macro_rules! channels {
    ($($kind:ident => $folder:ident :: $connector:ident),+ $(,)?) => {
        $(pub mod $folder;)+

        /// Which connector serves which channel kind.
        pub mod registry {
            use std::sync::Arc;

            use switchboard_core::channel::ChannelKind;

            use crate::connector::Connector;

            /// The connector for `kind`, or `None` while that channel is not built yet.
            pub fn connector(kind: ChannelKind) -> Option<Arc<dyn Connector>> {
                match kind {
                    $(ChannelKind::$kind => Some(Arc::new(crate::$folder::$connector)),)+
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// The contract suite's kit of `kind` (see `testkit::contract`).
            #[cfg(feature = "testkit")]
            pub fn kit(kind: ChannelKind) -> Option<crate::testkit::contract::Start> {
                match kind {
                    $(ChannelKind::$kind => Some(crate::$folder::kit::start as crate::testkit::contract::Start),)+
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// The kinds that have a connector.
            pub fn supported() -> Vec<ChannelKind> {
                ChannelKind::ALL
                    .iter()
                    .copied()
                    .filter(|k| connector(*k).is_some())
                    .collect()
            }
        }
    };
}
