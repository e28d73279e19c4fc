//! Routing invariants under random sequences of arrivals, operator status changes, accepts,
//! replies, transfers, answer timeouts and closes, run against the real store on both
//! backends. After every step the database itself is checked: never more than one
//! assignee, never above capacity, nobody assigned while not online, nothing left waiting
//! while someone could take it, every open conversation in exactly one of bot / queue /
//! assigned.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use sqlx::Row;
use switchboard_core::{
    conversation::ConversationStatus,
    group::{Distribution, Strategy as Policy},
    ids::{AccountId, ConversationId, GroupId, OperatorId},
    message::Content,
    operator::{OperatorStatus, Role},
    routing::Start,
    timer::TimerKind,
};
use switchboard_store::{
    backends,
    testing::{self, Backend, TestDb},
    DueTimer, GroupInput, Ingest, IngestEvent, NewConnection, NewOperator, NewReply, Store,
    StoreError, TransferTarget,
};

backends!(routing_invariants_hold_under_random_operations);

const OPERATORS: usize = 4;
const CAPACITY: u32 = 2;

#[derive(Debug, Clone)]
enum Op {
    Arrive(usize),
    Status(usize, OperatorStatus),
    Accept(usize, usize),
    Reply(usize, usize),
    TransferToGroup(usize, usize),
    TransferToOperator(usize, usize),
    Timeout(usize),
    Close(usize),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    let status = prop_oneof![
        3 => Just(OperatorStatus::Online),
        1 => Just(OperatorStatus::Away),
        1 => Just(OperatorStatus::Offline),
    ];
    prop_oneof![
        4 => (0usize..8).prop_map(Op::Arrive),
        3 => (0..OPERATORS, status).prop_map(|(o, s)| Op::Status(o, s)),
        2 => (0..OPERATORS, 0usize..8).prop_map(|(o, c)| Op::Accept(o, c)),
        2 => (0..OPERATORS, 0usize..8).prop_map(|(o, c)| Op::Reply(o, c)),
        1 => (0usize..8, 0usize..2).prop_map(|(c, g)| Op::TransferToGroup(c, g)),
        1 => (0usize..8, 0..OPERATORS).prop_map(|(c, o)| Op::TransferToOperator(c, o)),
        2 => (0usize..8).prop_map(Op::Timeout),
        1 => (0usize..8).prop_map(Op::Close),
    ]
}

/// One generated case: the first group's strategy, whether it falls back, the steps.
#[derive(Debug, Clone)]
struct Case {
    strategy: Policy,
    fallback: bool,
    ops: Vec<Op>,
}

fn case() -> impl proptest::strategy::Strategy<Value = Case> {
    (0usize..4, any::<bool>(), prop::collection::vec(op(), 1..40)).prop_map(|(s, fallback, ops)| {
        Case {
            strategy: Policy::ALL[s],
            fallback,
            ops,
        }
    })
}

struct World {
    account: AccountId,
    connection: switchboard_core::ids::ConnectionId,
    operators: Vec<OperatorId>,
    groups: Vec<GroupId>,
    conversations: Vec<ConversationId>,
    events: u64,
}

async fn world(store: &Store, case: &Case) -> World {
    let (account, _) = testing::account(store).await;
    let mut operators = Vec::new();
    for i in 0..OPERATORS {
        let new = NewOperator {
            account_id: account,
            email: format!("op{i}-{}@x.ru", uuid::Uuid::new_v4()),
            name: format!("Op {i}"),
            role: Role::Operator,
            password_hash: "h".into(),
            instance_admin: false,
        };
        operators.push(store.create_operator(&new, None).await.unwrap().id);
    }
    // The fallback group shares one operator with the first group.
    let second = store
        .create_group(
            account,
            &GroupInput {
                name: "Second line".into(),
                operator_ids: operators[2..].to_vec(),
                distribution: Distribution {
                    strategy: Policy::LeastBusy,
                    capacity: CAPACITY,
                    max_offers: 2,
                    ..Distribution::default()
                },
            },
            None,
        )
        .await
        .unwrap();
    let first = store
        .create_group(
            account,
            &GroupInput {
                name: "First line".into(),
                operator_ids: operators[..3].to_vec(),
                distribution: Distribution {
                    strategy: case.strategy,
                    capacity: CAPACITY,
                    max_offers: 2,
                    fallback_group_id: case.fallback.then_some(second.id),
                    ..Distribution::default()
                },
            },
            None,
        )
        .await
        .unwrap();
    let connection = NewConnection {
        name: "Bot".into(),
        account_name: "Bot".into(),
        rate_limits: None,
        ..testing::telegram_connection(account, first.id)
    };
    let (connection, _) = store.create_connection(&connection, None).await.unwrap();
    World {
        account,
        connection: connection.id,
        operators,
        groups: vec![first.id, second.id],
        conversations: Vec::new(),
        events: 0,
    }
}

/// The routing-relevant state of every conversation and operator, read from the database.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    /// id -> (status, assignee, group, wanted, needs_attention, offered_to)
    conversations: HashMap<String, Row_>,
    status: HashMap<String, String>,
}

#[derive(Debug, Clone)]
struct Row_ {
    status: String,
    assignee: Option<String>,
    group: Option<String>,
    wanted: Option<String>,
    attention: bool,
    offers: Vec<String>,
    /// Who let it go already (declined, or let an offer run out).
    tried: Vec<String>,
}

async fn snapshot(store: &Store, account: AccountId) -> Snapshot {
    let pool = store.raw_pool();
    let mut snap = Snapshot::default();
    let rows = sqlx::query(
        "SELECT id, status, assignee_id, group_id, wanted_operator_id, needs_attention, tried FROM conversations WHERE account_id = $1",
    )
    .bind(account.to_string())
    .fetch_all(pool)
    .await
    .unwrap();
    for r in rows {
        snap.conversations.insert(
            r.get::<String, _>("id"),
            Row_ {
                status: r.get("status"),
                assignee: r.get("assignee_id"),
                group: r.get("group_id"),
                wanted: r.get("wanted_operator_id"),
                attention: r.get::<i64, _>("needs_attention") != 0,
                offers: Vec::new(),
                tried: serde_json::from_str(&r.get::<String, _>("tried")).unwrap(),
            },
        );
    }
    let offers = sqlx::query(
        "SELECT f.conversation_id, f.operator_id FROM offers f JOIN conversations v ON v.id = f.conversation_id WHERE v.account_id = $1",
    )
    .bind(account.to_string())
    .fetch_all(pool)
    .await
    .unwrap();
    for r in offers {
        let c: String = r.get("conversation_id");
        if let Some(row) = snap.conversations.get_mut(&c) {
            row.offers.push(r.get("operator_id"));
        }
    }
    let ops = sqlx::query("SELECT id, status FROM operators WHERE account_id = $1")
        .bind(account.to_string())
        .fetch_all(pool)
        .await
        .unwrap();
    for r in ops {
        snap.status.insert(r.get("id"), r.get("status"));
    }
    snap
}

async fn members(store: &Store, group: GroupId) -> Vec<String> {
    sqlx::query("SELECT operator_id FROM group_members WHERE group_id = $1")
        .bind(group.to_string())
        .fetch_all(store.raw_pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("operator_id"))
        .collect()
}

fn check(
    before: &Snapshot,
    after: &Snapshot,
    groups: &[(GroupId, Policy, Vec<String>)],
) -> Result<(), String> {
    let open_of = |op: &str| {
        after
            .conversations
            .values()
            .filter(|c| c.status == "assigned" && c.assignee.as_deref() == Some(op))
            .count() as u32
    };
    let online = |op: &str| after.status.get(op).map(String::as_str) == Some("online");
    let available = |op: &str| online(op) && open_of(op) < CAPACITY;
    for (id, c) in &after.conversations {
        // Exactly one of bot / queue / assigned while open; one assignee at most.
        match c.status.as_str() {
            "assigned" => {
                if c.assignee.is_none() || !c.offers.is_empty() {
                    return Err(format!("{id}: assigned without assignee or with offers"));
                }
            }
            "queued" | "bot" | "closed" => {
                if c.assignee.is_some() {
                    return Err(format!("{id}: {} with an assignee", c.status));
                }
            }
            other => return Err(format!("{id}: unknown status {other}")),
        }
        if c.status != "queued" && !c.offers.is_empty() {
            return Err(format!("{id}: offers on a {} conversation", c.status));
        }
        // Newly assigned: only to someone online at that moment.
        let was = before
            .conversations
            .get(id)
            .and_then(|b| b.assignee.clone());
        if let Some(now) = &c.assignee {
            if was.as_ref() != Some(now) && !online(now) {
                return Err(format!("{id}: assigned to {now}, who is not online"));
            }
        }
        for offered in &c.offers {
            if !available(offered) {
                return Err(format!("{id}: offered to {offered}, who cannot take it"));
            }
        }
    }
    for op in after.status.keys() {
        if open_of(op) > CAPACITY {
            return Err(format!("{op} holds {} > {CAPACITY}", open_of(op)));
        }
    }
    // Nothing waits while someone could take it.
    for (group, strategy, members) in groups {
        let g = group.to_string();
        let waiting: Vec<&Row_> = after
            .conversations
            .values()
            .filter(|c| {
                c.status == "queued"
                    && c.group.as_deref() == Some(g.as_str())
                    && c.wanted.is_none()
                    && !c.attention
            })
            .collect();
        let free: Vec<&String> = members.iter().filter(|m| available(m)).collect();
        let places: u32 = free.iter().map(|m| CAPACITY - open_of(m)).sum();
        if *strategy == Policy::AllAtOnce {
            let offered = waiting.iter().filter(|c| !c.offers.is_empty()).count();
            if offered != waiting.len().min(places as usize) {
                return Err(format!(
                    "all_at_once {g}: {offered} of {} waiting offered, {places} places",
                    waiting.len()
                ));
            }
            for c in waiting.iter().filter(|c| !c.offers.is_empty()) {
                let mut offers = c.offers.clone();
                offers.sort();
                // Everyone available, but who let it go already while anyone else is free.
                let mut expected: Vec<String> = free
                    .iter()
                    .filter(|m| !c.tried.contains(m))
                    .map(|m| m.to_string())
                    .collect();
                if expected.is_empty() {
                    expected = free.iter().map(|m| m.to_string()).collect();
                }
                expected.sort();
                if offers != expected {
                    return Err(format!(
                        "all_at_once {g}: offered to {offers:?}, available {expected:?}"
                    ));
                }
            }
        } else if !waiting.is_empty() && !free.is_empty() {
            return Err(format!(
                "{strategy} {g}: {} waiting while {free:?} could take them",
                waiting.len()
            ));
        }
    }
    for (id, c) in &after.conversations {
        if let (Some(wanted), "queued", false) = (&c.wanted, c.status.as_str(), c.attention) {
            if available(wanted) && open_of(wanted) < CAPACITY {
                return Err(format!("{id} waits for {wanted}, who is free"));
            }
        }
    }
    Ok(())
}

async fn apply(store: &Store, w: &mut World, op: &Op) {
    let now = Timestamp::now();
    let conversation = |i: usize| {
        w.conversations
            .get(i % w.conversations.len().max(1))
            .copied()
    };
    match *op {
        Op::Arrive(contact) => {
            w.events += 1;
            let ingest = Ingest {
                account_id: w.account,
                connection_id: w.connection,
                external_event_id: format!("e{}", w.events),
                event: IngestEvent::Message {
                    contact_external_id: format!("c{contact}"),
                    contact_name: "Клиент".into(),
                    external_message_id: None,
                    content: Content::text("Здравствуйте"),
                    client: None,
                },
                start: Start {
                    status: ConversationStatus::Queued,
                    group_id: Some(w.groups[0]),
                    wanted_operator_id: None,
                    held_until: None,
                    scenario_id: None,
                },
                out_of_hours: None,
                follow_ups: Vec::new(),
            };
            if let switchboard_store::Ingested::Stored {
                conversation_id: Some(id),
                opened: true,
                ..
            } = store.ingest(&ingest).await.unwrap()
            {
                w.conversations.push(id);
            }
        }
        Op::Status(o, status) => {
            store
                .set_operator_status(w.account, w.operators[o], status, None)
                .await
                .unwrap();
        }
        Op::Accept(o, c) => {
            if let Some(c) = conversation(c) {
                let operator = w.operators[o];
                // Refusals (busy, offline, taken) are part of the game; only errors of
                // another kind fail the case.
                if let Err(e) = store
                    .assign_conversation(w.account, c, operator, operator, now)
                    .await
                {
                    assert!(
                        matches!(e, switchboard_store::StoreError::Refused { .. }),
                        "{e:?}"
                    );
                }
            }
        }
        Op::Reply(o, c) => {
            if let Some(c) = conversation(c) {
                let target = store.delivery_target(w.account, c).await.unwrap();
                if target.status != ConversationStatus::Closed {
                    let reply = NewReply {
                        account_id: w.account,
                        conversation_id: c,
                        author_id: w.operators[o],
                        content: Content::text("Отвечаю"),
                        client_key: None,
                        action: "{}".into(),
                        target,
                    };
                    store.create_reply(&reply).await.unwrap();
                }
            }
        }
        Op::TransferToGroup(c, g) => {
            if let Some(c) = conversation(c) {
                let done = store
                    .transfer_conversation(
                        w.account,
                        c,
                        TransferTarget::Group(w.groups[g]),
                        Some("test"),
                        None,
                        now,
                    )
                    .await;
                refused_only_when_closed(done);
            }
        }
        Op::TransferToOperator(c, o) => {
            if let Some(c) = conversation(c) {
                let done = store
                    .transfer_conversation(
                        w.account,
                        c,
                        TransferTarget::Operator(w.operators[o]),
                        None,
                        None,
                        now,
                    )
                    .await;
                refused_only_when_closed(done);
            }
        }
        Op::Timeout(c) => {
            if let Some(c) = conversation(c) {
                let timer =
                    sqlx::query("SELECT id FROM timers WHERE kind = $1 AND conversation_id = $2")
                        .bind(TimerKind::AnswerTimeout.as_str())
                        .bind(c.to_string())
                        .fetch_optional(store.raw_pool())
                        .await
                        .unwrap();
                if let Some(timer) = timer {
                    let due = DueTimer {
                        id: timer.get("id"),
                        kind: TimerKind::AnswerTimeout,
                        conversation_id: c,
                    };
                    let later = now + SignedDuration::from_hours(1);
                    store.fire_answer_timeout(&due, later).await.unwrap();
                }
            }
        }
        Op::Close(c) => {
            if let Some(c) = conversation(c) {
                store
                    .close_conversation(w.account, c, None, now)
                    .await
                    .unwrap();
            }
        }
    }
}

async fn run_case(store: &Store, case: &Case) -> Result<(), String> {
    let mut w = world(store, case).await;
    let groups = vec![
        (
            w.groups[0],
            case.strategy,
            members(store, w.groups[0]).await,
        ),
        (
            w.groups[1],
            Policy::LeastBusy,
            members(store, w.groups[1]).await,
        ),
    ];
    let mut before = snapshot(store, w.account).await;
    for (step, op) in case.ops.iter().enumerate() {
        apply(store, &mut w, op).await;
        let after = snapshot(store, w.account).await;
        check(&before, &after, &groups).map_err(|e| format!("after step {step} {op:?}: {e}"))?;
        before = after;
    }
    Ok(())
}

async fn routing_invariants_hold_under_random_operations(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let cases = match backend {
        Backend::Sqlite => 128,
        Backend::Postgres => 32,
    };
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new(Config {
            cases,
            max_shrink_iters: 200,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&case(), |case| {
            handle
                .block_on(run_case(&store, &case))
                .map_err(TestCaseError::fail)
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    });
}

/// A transfer may be refused only because the conversation closed meanwhile: any other
/// failure is a bug the property test must show, not swallow.
fn refused_only_when_closed(done: Result<Vec<ConversationId>, StoreError>) {
    match done {
        Ok(_) => {}
        Err(StoreError::Refused {
            code: "conversation_closed",
            ..
        }) => {}
        Err(e) => panic!("a transfer failed: {e:?}"),
    }
}
