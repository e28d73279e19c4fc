//! The validator: the contract's example is valid, and a scenario with every kind of mistake
//! gets every problem at once, each at its line and column.

use switchboard_bot::{load, Context};

fn context() -> Context {
    Context {
        groups: Some(vec!["Support".into()]),
        operators: Some(vec!["anna@example.com".into()]),
    }
}

fn problems(source: &str) -> Vec<String> {
    match load(source, &context()) {
        Ok(_) => Vec::new(),
        Err(d) => d.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_contract_example_and_the_rich_fixture_are_valid() {
    for file in ["shop.yaml", "rich.yaml"] {
        let source = std::fs::read_to_string(format!("tests/fixtures/{file}")).unwrap();
        let scenario = load(&source, &context()).unwrap_or_else(|d| panic!("{}", d.report(file)));
        assert!(scenario.step("welcome").is_some());
    }
}

#[test]
fn every_problem_is_reported_at_its_place() {
    let source = r#"name: Broken
start: welcome
steps:
  welcome:
    say: "Hi {{nme}}, {{contact.nmae}}"
    choices:
      - { label: "Order", goto: order }
      - { label: "order", goto: nowhere }
  order:
    ask: "Number?"
    save: order_id
    validate: '(\d+'
    goto: spin
  spin:
    set: { tries: 1 }
    goto: spin2
  spin2:
    if: "tries = 3"
    then: spin
    else: spin
  orphan:
    sya: "typo"
    goto: welcome
  human:
    handoff: { group: "Sales" }
"#;
    let got = problems(source);
    let expected = [
        "5:14: variable `nme` is never set (save it with `ask`, `http` or `set`)",
        "5:23: `contact.nmae` is not something Switchboard knows; use one of: contact.name, contact.id, contact.phone, contact.email, contact.external_id",
        "8:9: two choices of step `welcome` are labelled `order`: the customer could not tell them apart",
        "8:33: step `welcome` goes to `nowhere`, which does not exist",
        "12:15: `validate` is not a valid regular expression: error: unclosed group",
        "18:16: in the condition: `=` assigns nothing here: compare with `==`",
        "21:3: step `orphan` is never reached from `start` (welcome)",
        "22:5: unknown step kind or key `sya` in step `orphan`",
        "24:3: step `human` is never reached from `start` (welcome)",
        "25:14: step `human` hands off to group `Sales`, which does not exist",
    ];
    for want in expected {
        assert!(
            got.iter().any(|g| g.starts_with(want)),
            "missing `{want}` in:\n{}",
            got.join("\n")
        );
    }
    let mut sorted = got.clone();
    sorted.sort_by_key(|line| {
        let mut parts = line.splitn(3, ':');
        let l: usize = parts.next().unwrap().parse().unwrap();
        let c: usize = parts.next().unwrap().parse().unwrap();
        (l, c)
    });
    assert_eq!(got, sorted, "problems come in source order");
}

#[test]
fn loops_that_never_wait_are_refused_and_waiting_ones_are_not() {
    let hot = "name: x\nstart: a\nsteps:\n  a:\n    say: hi\n    goto: b\n  b:\n    set: { n: 1 }\n    goto: a\n";
    let got = problems(hot);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("4:3: these steps loop without waiting for the customer: a → b → a"),
        "{got:?}"
    );
    let waits = "name: x\nstart: a\nsteps:\n  a:\n    say: hi\n    goto: b\n  b:\n    wait: 1d\n    goto: c\n  c:\n    ask: again?\n    save: x\n    goto: a\n";
    assert_eq!(problems(waits), Vec::<String>::new());
}

#[test]
fn yaml_syntax_errors_and_shape_errors() {
    let got = problems("name: x\nsteps:\n  a:\n    say: [unclosed\n");
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("YAML syntax error"), "{got:?}");

    let got = problems("name: x\nstart: a\nsteps:\n  a:\n    say: hi\n");
    assert_eq!(
        got,
        vec!["4:3: step `a` does not say where to go next: add `goto`, `choices`, `handoff` or `close`"]
    );
    let got = problems("name: x\nstart: a\nsteps:\n  a:\n    ask: hi\n    http: { url: 'https://x' }\n    goto: a\n");
    assert!(
        got.iter()
            .any(|g| g.starts_with("5:5: `ask` in step `a` needs `save`")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|g| g.starts_with("6:5: step `a` does more than one thing (ask, http)")),
        "{got:?}"
    );
    let got = problems(
        "name: x\nstart: a\nsteps:\n  a:\n    http: { url: 'ftp://x/{{y}}' }\n    goto: a\n",
    );
    assert!(
        got.iter().any(|g| g.contains("needs `on_error`")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|g| g.contains("must start with http:// or https://")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|g| g.starts_with("5:27: variable `y` is never set")),
        "{got:?}"
    );
    let got =
        problems("name: x\nstart: a\nsteps:\n  a:\n    say: hi\n    wait: forever\n    goto: a\n");
    assert!(got.iter().any(|g| g.starts_with("6:11: `wait`")), "{got:?}");
}

#[test]
fn the_report_names_the_file() {
    let err = load(
        "name: x\nstart: nope\nsteps:\n  a:\n    close: true\n",
        &Context::default(),
    )
    .unwrap_err();
    let report = err.report("bot.yaml");
    assert!(
        report.starts_with("bot.yaml:2:8: `start` names a step that does not exist: `nope`\n"),
        "{report}"
    );
}
