//! The store contract: every test runs on SQLite and on PostgreSQL (see `testing`), so the
//! two backends can never drift apart.

use jiff::{SignedDuration, Timestamp};
use switchboard_core::{
    group::{Distribution, Strategy},
    ids::{AccountId, GroupId, OperatorId},
    operator::{OperatorStatus, Role},
    schedule::Hours,
    DurationSpec,
};
use switchboard_store::{
    backends,
    testing::{Backend, TestDb},
    GroupInput, NewAccount, NewOperator, NewToken, OperatorUpdate, ScheduleInput, Store,
    StoreError, TokenKind,
};

backends!(
    migrations_are_idempotent,
    accounts_come_with_their_first_admin,
    operators_are_scoped_by_account,
    logins_are_unique_and_reusable_after_retirement,
    the_last_admin_stays,
    tokens_authenticate_until_expiry_or_revocation,
    groups_keep_members_in_order_and_check_references,
    schedules_round_trip,
    changes_are_audited,
    inbound_events_are_unique_per_connection,
    one_open_conversation_per_contact_and_connection,
    assignee_and_status_agree,
);

async fn setup(backend: Backend) -> Option<(TestDb, Store)> {
    let db = TestDb::new(backend).await?;
    let store = db.store().await;
    Some((db, store))
}

fn admin(email: &str) -> NewOperator {
    NewOperator {
        account_id: AccountId::new(),
        email: email.to_string(),
        name: "Admin".into(),
        role: Role::Admin,
        password_hash: "hash".into(),
        instance_admin: false,
    }
}

async fn account(store: &Store, email: &str) -> (AccountId, OperatorId) {
    let (account, admin) = store
        .create_account(
            NewAccount {
                name: format!("Account of {email}"),
                admin: admin(email),
            },
            None,
        )
        .await
        .unwrap();
    (account.id, admin.id)
}

fn operator(account: AccountId, email: &str, role: Role) -> NewOperator {
    NewOperator {
        account_id: account,
        email: email.into(),
        name: email.into(),
        role,
        password_hash: "h".into(),
        instance_admin: false,
    }
}

async fn migrations_are_idempotent(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

async fn accounts_come_with_their_first_admin(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    assert_eq!(store.count_operators().await.unwrap(), 0);
    let (id, admin_id) = account(&store, "a@x.ru").await;
    let admin = store.get_operator(id, admin_id).await.unwrap();
    assert_eq!(
        (admin.role, admin.account_id, admin.status),
        (Role::Admin, id, OperatorStatus::Offline)
    );
    assert_eq!(store.list_accounts().await.unwrap().len(), 1);
    assert_eq!(
        store.get_account(id).await.unwrap().name,
        "Account of a@x.ru"
    );
    assert!(matches!(
        store.get_account(AccountId::new()).await,
        Err(StoreError::NotFound)
    ));
}

async fn operators_are_scoped_by_account(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let (a, _) = account(&store, "a@x.ru").await;
    let (b, _) = account(&store, "b@x.ru").await;
    let anna = store
        .create_operator(&operator(a, "anna@x.ru", Role::Operator), None)
        .await
        .unwrap();
    assert!(matches!(
        store.get_operator(b, anna.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_operator(
                b,
                anna.id,
                &OperatorUpdate {
                    name: Some("x".into()),
                    ..Default::default()
                },
                None
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_operator(b, anna.id, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .set_operator_status(b, anna.id, OperatorStatus::Online, None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.list_operators(a).await.unwrap().len(), 2);
    assert_eq!(store.list_operators(b).await.unwrap().len(), 1);

    let (online, _) = store
        .set_operator_status(a, anna.id, OperatorStatus::Online, None)
        .await
        .unwrap();
    assert_eq!(online.status, OperatorStatus::Online);
    let renamed = store
        .update_operator(
            a,
            anna.id,
            &OperatorUpdate {
                name: Some("Анна".into()),
                role: Some(Role::Supervisor),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.role, renamed.email.as_str()),
        ("Анна", Role::Supervisor, "anna@x.ru")
    );
}

async fn logins_are_unique_and_reusable_after_retirement(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let (a, _) = account(&store, "a@x.ru").await;
    let (b, _) = account(&store, "b@x.ru").await;
    let anna = store
        .create_operator(&operator(a, "anna@x.ru", Role::Operator), None)
        .await
        .unwrap();
    let taken = store
        .create_operator(&operator(b, "anna@x.ru", Role::Operator), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&taken, StoreError::Conflict { what } if what == "email"),
        "{taken:?}"
    );

    let found = store
        .credentials_by_email("anna@x.ru")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.operator.id, found.password_hash.as_str()),
        (anna.id, "h")
    );
    store.set_password_hash(anna.id, "h2").await.unwrap();
    assert_eq!(
        store
            .credentials_by_email("anna@x.ru")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "h2"
    );

    store.delete_operator(a, anna.id, None).await.unwrap();
    assert!(store
        .credentials_by_email("anna@x.ru")
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store.get_operator(a, anna.id).await,
        Err(StoreError::NotFound)
    ));
    store
        .create_operator(&operator(b, "anna@x.ru", Role::Operator), None)
        .await
        .unwrap();
}

async fn the_last_admin_stays(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let (a, first) = account(&store, "a@x.ru").await;
    let demote = OperatorUpdate {
        role: Some(Role::Operator),
        ..Default::default()
    };
    let err = store
        .update_operator(a, first, &demote, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { what } if what == "last_admin"),
        "{err:?}"
    );
    let err = store.delete_operator(a, first, None).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { what } if what == "last_admin"),
        "{err:?}"
    );

    let second = store
        .create_operator(&operator(a, "second@x.ru", Role::Admin), None)
        .await
        .unwrap();
    store
        .update_operator(a, first, &demote, None)
        .await
        .unwrap();
    assert!(store
        .delete_operator(a, second.id, None)
        .await
        .unwrap_err()
        .is_conflict());
}

async fn tokens_authenticate_until_expiry_or_revocation(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let (a, admin) = account(&store, "a@x.ru").await;
    let now = Timestamp::now();
    let new = |hash: &str, expires_at| NewToken {
        account_id: a,
        operator_id: admin,
        kind: TokenKind::Session,
        name: "browser".into(),
        secret_hash: hash.into(),
        expires_at,
    };
    let live = store
        .create_token(&new("live", Some(now + SignedDuration::from_hours(1))))
        .await
        .unwrap();
    store
        .create_token(&new("old", Some(now - SignedDuration::from_secs(1))))
        .await
        .unwrap();
    let api = store
        .create_token(&NewToken {
            kind: TokenKind::Api,
            ..new("api", None)
        })
        .await
        .unwrap();

    let owner = store.authenticate("live", now).await.unwrap().unwrap();
    assert_eq!(
        (owner.operator.id, owner.token.id, owner.token.kind),
        (admin, live.id, TokenKind::Session)
    );
    assert!(
        store.authenticate("old", now).await.unwrap().is_none(),
        "expired"
    );
    assert!(store.authenticate("nope", now).await.unwrap().is_none());
    assert_eq!(
        store
            .authenticate("api", now)
            .await
            .unwrap()
            .unwrap()
            .token
            .kind,
        TokenKind::Api
    );

    let later = now + SignedDuration::from_hours(2);
    store
        .touch_token(live.id, now, Some(later + SignedDuration::from_hours(1)))
        .await
        .unwrap();
    assert!(
        store.authenticate("live", later).await.unwrap().is_some(),
        "use extends a session"
    );

    assert_eq!(store.list_tokens(a, admin).await.unwrap().len(), 3);
    assert_eq!(store.delete_expired_tokens(now).await.unwrap(), 1);
    let (b, b_admin) = account(&store, "b@x.ru").await;
    assert!(matches!(
        store.delete_token(b, b_admin, api.id).await,
        Err(StoreError::NotFound)
    ));
    store.delete_token(a, admin, api.id).await.unwrap();
    assert!(
        store.authenticate("api", now).await.unwrap().is_none(),
        "revoked"
    );

    store
        .create_operator(&operator(a, "second@x.ru", Role::Admin), None)
        .await
        .unwrap();
    store.delete_operator(a, admin, None).await.unwrap();
    assert!(
        store.authenticate("live", now).await.unwrap().is_none(),
        "retired operators lose their tokens"
    );
}

fn distribution(strategy: Strategy, fallback: Option<GroupId>) -> Distribution {
    Distribution {
        strategy,
        capacity: 3,
        answer_timeout: "90s".parse::<DurationSpec>().unwrap(),
        max_offers: 2,
        fallback_group_id: fallback,
    }
}

async fn groups_keep_members_in_order_and_check_references(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let (a, admin) = account(&store, "a@x.ru").await;
    let (b, b_admin) = account(&store, "b@x.ru").await;
    let anna = store
        .create_operator(&operator(a, "anna@x.ru", Role::Operator), None)
        .await
        .unwrap();
    let night = store
        .create_group(
            a,
            &GroupInput {
                name: "Night".into(),
                operator_ids: vec![],
                distribution: Distribution::default(),
            },
            None,
        )
        .await
        .unwrap();
    let input = GroupInput {
        name: "Support".into(),
        operator_ids: vec![anna.id, admin],
        distribution: distribution(Strategy::InOrder, Some(night.id)),
    };
    let support = store.create_group(a, &input, None).await.unwrap();
    assert_eq!(support.operator_ids, vec![anna.id, admin]);
    assert_eq!(store.get_group(a, support.id).await.unwrap(), support);
    let listed = store.list_groups(a).await.unwrap();
    assert_eq!(
        listed.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["Night", "Support"]
    );
    assert_eq!(listed[1].operator_ids, vec![anna.id, admin]);

    let reordered = GroupInput {
        operator_ids: vec![admin, anna.id],
        ..input.clone()
    };
    assert_eq!(
        store
            .update_group(a, support.id, &reordered, None)
            .await
            .unwrap()
            .operator_ids,
        vec![admin, anna.id]
    );

    let duplicate = store.create_group(a, &input, None).await.unwrap_err();
    assert!(
        matches!(&duplicate, StoreError::Conflict { what } if what == "name"),
        "{duplicate:?}"
    );
    store
        .create_group(
            b,
            &GroupInput {
                operator_ids: vec![b_admin],
                distribution: Distribution::default(),
                ..input.clone()
            },
            None,
        )
        .await
        .expect("names are unique per account only");

    let foreign = GroupInput {
        name: "X".into(),
        operator_ids: vec![b_admin],
        ..input.clone()
    };
    let err = store.create_group(a, &foreign, None).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidReference { what } if what == "operator_ids[0]"),
        "{err:?}"
    );
    let foreign_fallback = GroupInput {
        name: "Y".into(),
        operator_ids: vec![],
        distribution: distribution(
            Strategy::RoundRobin,
            Some(store.list_groups(b).await.unwrap()[0].id),
        ),
    };
    let err = store
        .create_group(a, &foreign_fallback, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidReference { what } if what == "distribution.fallback_group_id"),
        "{err:?}"
    );

    assert!(matches!(
        store.get_group(b, support.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.update_group(b, support.id, &input, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_group(b, support.id, None).await,
        Err(StoreError::NotFound)
    ));

    store.delete_group(a, night.id, None).await.unwrap();
    assert_eq!(
        store
            .get_group(a, support.id)
            .await
            .unwrap()
            .distribution
            .fallback_group_id,
        None
    );
    store
        .create_operator(&operator(a, "second@x.ru", Role::Admin), None)
        .await
        .unwrap();
    store.delete_operator(a, anna.id, None).await.unwrap();
    assert_eq!(
        store.get_group(a, support.id).await.unwrap().operator_ids,
        vec![admin]
    );
}

async fn schedules_round_trip(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let (a, _) = account(&store, "a@x.ru").await;
    let (b, _) = account(&store, "b@x.ru").await;
    let hours: Hours = serde_json::from_value(serde_json::json!({
        "time_zone": "Asia/Yekaterinburg",
        "weekly": {"mon": [{"start": "09:00", "end": "18:00"}]},
        "exceptions": [{"date": "2027-01-01", "note": "Новый год"}]
    }))
    .unwrap();
    let input = ScheduleInput {
        name: "Office".into(),
        hours,
    };
    let created = store.create_schedule(a, &input, None).await.unwrap();
    assert_eq!(created.hours, input.hours);
    assert_eq!(store.get_schedule(a, created.id).await.unwrap(), created);
    let updated = store
        .update_schedule(
            a,
            created.id,
            &ScheduleInput {
                name: "Night".into(),
                ..input.clone()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "Night");
    assert_eq!(store.list_schedules(a).await.unwrap().len(), 1);
    assert!(store.list_schedules(b).await.unwrap().is_empty());
    assert!(matches!(
        store.get_schedule(b, created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_schedule(b, created.id, None).await,
        Err(StoreError::NotFound)
    ));
    store.delete_schedule(a, created.id, None).await.unwrap();
    assert!(matches!(
        store.get_schedule(a, created.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn changes_are_audited(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let (a, admin) = account(&store, "a@x.ru").await;
    let anna = store
        .create_operator(&operator(a, "anna@x.ru", Role::Operator), Some(admin))
        .await
        .unwrap();
    store
        .set_operator_status(a, anna.id, OperatorStatus::Away, Some(anna.id))
        .await
        .unwrap();
    let entries = store.list_audit(a, None, 10).await.unwrap();
    let actions: Vec<_> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["operator.status", "operator.create", "account.create"]
    );
    assert_eq!(entries[1].actor_id, Some(admin));
    assert_eq!(entries[1].details["email"], "anna@x.ru");
    let older = store.list_audit(a, Some(entries[0].id), 10).await.unwrap();
    assert_eq!(older.len(), 2);
    let (b, _) = account(&store, "b@x.ru").await;
    assert_eq!(store.list_audit(b, None, 10).await.unwrap().len(), 1);
}

/// Inserts a connection and a contact with plain SQL: the constraint tests below must show
/// the database itself refuses bad rows, whatever code writes them.
async fn raw_connection_and_contact(store: &Store, account: AccountId) -> (String, String) {
    let pool = store.raw_pool();
    let connection = uuid::Uuid::new_v4().to_string();
    let contact = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO channel_connections (id, account_id, kind, name, account_name, external_account_id, credentials,
             routing, auto_close_after_secs, enabled, created_at, updated_at)
         VALUES ($1, $2, 'telegram', 'Bot', 'bot', $3, $4, '{}', 3600, 1, 0, 0)",
    )
    .bind(&connection)
    .bind(account.to_string())
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(vec![0u8; 4])
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO contacts (id, account_id, name, created_at) VALUES ($1, $2, 'Иван', 0)",
    )
    .bind(&contact)
    .bind(account.to_string())
    .execute(pool)
    .await
    .unwrap();
    (connection, contact)
}

async fn inbound_events_are_unique_per_connection(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let (a, _) = account(&store, "a@x.ru").await;
    let (first, _) = raw_connection_and_contact(&store, a).await;
    let (second, _) = raw_connection_and_contact(&store, a).await;
    let pool = store.raw_pool();
    let insert = |connection: String| async move {
        sqlx::query("INSERT INTO inbound_events (connection_id, external_event_id, received_at) VALUES ($1, '42', 0)")
            .bind(connection)
            .execute(pool)
            .await
            .map_err(StoreError::from)
    };
    insert(first.clone()).await.unwrap();
    assert!(insert(first).await.unwrap_err().is_conflict());
    insert(second)
        .await
        .expect("the same event id on another connection is another event");
}

async fn insert_conversation(
    store: &Store,
    account: AccountId,
    connection: &str,
    contact: &str,
    status: &str,
    assignee: Option<String>,
    closed: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO conversations (id, account_id, connection_id, contact_id, status, assignee_id, closed_reason,
             opened_at, last_message_at, closed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, $8)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(account.to_string())
    .bind(connection)
    .bind(contact)
    .bind(status)
    .bind(assignee)
    .bind(closed.then_some("operator"))
    .bind(closed.then_some(1i64))
    .execute(store.raw_pool())
    .await?;
    Ok(())
}

async fn one_open_conversation_per_contact_and_connection(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let (a, _) = account(&store, "a@x.ru").await;
    let (connection, contact) = raw_connection_and_contact(&store, a).await;
    insert_conversation(&store, a, &connection, &contact, "closed", None, true)
        .await
        .unwrap();
    insert_conversation(&store, a, &connection, &contact, "closed", None, true)
        .await
        .expect("closed ones may pile up");
    insert_conversation(&store, a, &connection, &contact, "queued", None, false)
        .await
        .unwrap();
    let second = insert_conversation(&store, a, &connection, &contact, "bot", None, false)
        .await
        .unwrap_err();
    assert!(second.is_conflict(), "{second:?}");
    let (other_connection, _) = raw_connection_and_contact(&store, a).await;
    insert_conversation(&store, a, &other_connection, &contact, "bot", None, false)
        .await
        .expect("another connection");
}

async fn assignee_and_status_agree(backend: Backend) {
    let Some((_db, store)) = setup(backend).await else {
        return;
    };
    let (a, admin) = account(&store, "a@x.ru").await;
    let (connection, contact) = raw_connection_and_contact(&store, a).await;
    let assigned_without_assignee =
        insert_conversation(&store, a, &connection, &contact, "assigned", None, false).await;
    assert!(
        matches!(assigned_without_assignee, Err(StoreError::Database(_))),
        "{assigned_without_assignee:?}"
    );
    let queued_with_assignee = insert_conversation(
        &store,
        a,
        &connection,
        &contact,
        "queued",
        Some(admin.to_string()),
        false,
    )
    .await;
    assert!(
        matches!(queued_with_assignee, Err(StoreError::Database(_))),
        "{queued_with_assignee:?}"
    );
    let unknown_status =
        insert_conversation(&store, a, &connection, &contact, "lost", None, false).await;
    assert!(unknown_status.is_err());
    let unknown_operator = insert_conversation(
        &store,
        a,
        &connection,
        &contact,
        "assigned",
        Some(uuid::Uuid::new_v4().to_string()),
        false,
    )
    .await;
    assert!(
        matches!(unknown_operator, Err(StoreError::InvalidReference { .. })),
        "{unknown_operator:?}"
    );
    insert_conversation(
        &store,
        a,
        &connection,
        &contact,
        "assigned",
        Some(admin.to_string()),
        false,
    )
    .await
    .unwrap();
}
