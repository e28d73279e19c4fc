//! What every step of a scenario becomes in one channel, for `switchboard bot render` and the
//! scenario editor's preview. Templates are shown as written (`{{order_id}}`), since no
//! conversation fills them.

use serde::Serialize;
use serde_json::{Map, Value};
use switchboard_core::{
    capabilities::Capabilities,
    channel::ChannelKind,
    message::Choice,
    render::{render, Rendered},
};

use crate::{
    runtime::choice_payload,
    scenario::{Action, Scenario, Step},
};

/// The messages a step sends on entry, rendered for `caps`.
pub fn step_messages(scenario: &Scenario, step: &Step, caps: &Capabilities) -> Vec<Rendered> {
    let mut out = Vec::new();
    if let Some(say) = &step.say {
        let choices: Vec<Choice> = say
            .choices
            .iter()
            .enumerate()
            .map(|(i, c)| Choice {
                label: c.label.template.source.clone(),
                payload: choice_payload(&step.name, i),
            })
            .collect();
        let text = &say.text.template.source;
        if !text.is_empty() || !choices.is_empty() {
            out.extend(render(caps, text, &choices, 0, &scenario.words));
        }
    }
    if let Action::Ask(ask) = &step.action {
        out.extend(render(
            caps,
            &ask.text.template.source,
            &[],
            0,
            &scenario.words,
        ));
    }
    out
}

/// `{"channel": KIND, "steps": {STEP: [MESSAGE, ...]}}`, steps in file order.
#[derive(Debug, Serialize)]
pub struct Preview {
    pub channel: ChannelKind,
    pub steps: Value,
}

pub fn preview(scenario: &Scenario, kind: ChannelKind, caps: &Capabilities) -> Preview {
    let steps: Map<String, Value> = scenario
        .steps
        .iter()
        .map(|step| {
            let messages = step_messages(scenario, step, caps);
            (
                step.name.clone(),
                serde_json::to_value(messages).unwrap_or(Value::Null),
            )
        })
        .collect();
    Preview {
        channel: kind,
        steps: Value::Object(steps),
    }
}
