//! The kinds of durable timer: what a conversation waits for, stored in `timers.kind`. A
//! timer is due at a time and fired by whichever node claims it first.

use crate::string_enum;

string_enum! {
    /// What a due timer does.
    pub enum TimerKind {
        /// The bot has work: a message to read, an HTTP call to make, a wait that ended, a
        /// handoff to perform.
        Bot = "bot",
        /// An operator given a conversation has not answered in time: it moves on; for
        /// `all_at_once`, an offer round nobody accepted ends.
        AnswerTimeout = "answer_timeout",
        /// A conversation held out of hours is released when the schedule opens.
        Hold = "hold",
        /// A conversation quiet for its connection's `auto_close_after` is closed.
        AutoClose = "auto_close",
    }
}
