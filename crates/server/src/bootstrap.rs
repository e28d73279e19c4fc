//! First start: with no operator at all, create the default account and its admin (who is
//! also the instance administrator) from the configured login, or with a generated password
//! printed once. `--demo` adds a sample group so a newcomer has something to look at.

use switchboard_core::{
    channel::{ChannelKind, Receive, Routing},
    group::{Distribution, Strategy},
    ids::{AccountId, ConnectionId, GroupId},
    operator::{self, Operator, Role},
};
use switchboard_store::{GroupInput, NewAccount, NewConnection, NewOperator, Store, StoreError};

use switchboard_engine::{
    channels::{new_webhook_secret, Secrets},
    secrets::Sealer,
};

use crate::auth::{password::Passwords, secret};

/// The login used when none is configured.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";
/// The demo's sample group.
pub const DEMO_GROUP: &str = "Support";

/// What the first start created, for the binary to tell the person who started it.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub operator: Operator,
    /// Present when the password was generated: shown once, stored only as a hash.
    pub generated_password: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("SWITCHBOARD_ADMIN_EMAIL: {0}")]
    Email(String),
    #[error("SWITCHBOARD_ADMIN_PASSWORD: {0}")]
    Password(String),
    #[error("hashing the admin password: {0}")]
    Hash(#[from] crate::auth::password::PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealing the demo chat's settings: {0}")]
    Secrets(#[from] switchboard_engine::secrets::SecretsError),
}

/// Creates the first account and admin when the install has no operator yet.
pub async fn ensure_first_admin(
    store: &Store,
    passwords: &Passwords,
    email: Option<&str>,
    password: Option<&str>,
) -> Result<Option<FirstAdmin>, BootstrapError> {
    if store.count_operators().await? > 0 {
        return Ok(None);
    }
    let email = operator::parse_email("email", email.unwrap_or(DEFAULT_ADMIN_EMAIL))
        .map_err(|e| BootstrapError::Email(e.message))?;
    let (password, generated) = match password {
        Some(p) => {
            // The installer's own choice: only the length is enforced; a guessable one is
            // accepted with a warning (the API refuses it for every later password).
            operator::check_password_length("password", p)
                .map_err(|e| BootstrapError::Password(e.message))?;
            if operator::is_guessable(p, &[&email]) {
                tracing::warn!(
                    "the first admin's password is easy to guess: change it after logging in"
                );
            }
            (p.to_string(), false)
        }
        None => (
            secret::generate().trim_start_matches(secret::PREFIX)[..20].to_string(),
            true,
        ),
    };
    let admin = NewOperator {
        account_id: AccountId::new(),
        email,
        name: "Administrator".into(),
        role: Role::Admin,
        password_hash: passwords.hash(&password)?,
        instance_admin: true,
    };
    let (_, operator) = store
        .create_account(
            NewAccount {
                name: "Default".into(),
                admin,
            },
            None,
        )
        .await?;
    Ok(Some(FirstAdmin {
        operator,
        generated_password: generated.then_some(password),
    }))
}

/// The demo's web chat connection.
pub const DEMO_CHAT: &str = "Demo chat";

/// The demo's bot scenario.
pub const DEMO_SCENARIO: &str = include_str!("../demo/scenario.yaml");

/// Seeds the demo into the first account: a "Support" group holding its admins, the demo bot
/// (a menu, a question with validation, a handoff to the group) and a web chat routed to the
/// bot. Returns the web chat connection, shown at `/demo`.
pub async fn seed_demo(
    store: &Store,
    sealer: &Sealer,
) -> Result<Option<ConnectionId>, BootstrapError> {
    let Some(account) = store.list_accounts().await?.into_iter().next() else {
        return Ok(None);
    };
    // The bot hands off to the demo group by name.
    let has_group = store
        .list_groups(account.id)
        .await?
        .iter()
        .any(|g| g.name == DEMO_GROUP);
    if !has_group {
        create_demo_group(store, account.id).await?;
    }
    let scenario = match store
        .list_scenarios(account.id)
        .await?
        .into_iter()
        .find(|s| s.name == "Demo bot")
    {
        Some(s) => s.id,
        None => {
            store
                .create_scenario(account.id, "Demo bot", DEMO_SCENARIO, None)
                .await?
                .id
        }
    };
    let existing = store
        .list_connections(account.id)
        .await?
        .into_iter()
        .find(|c| c.name == DEMO_CHAT && c.enabled);
    if let Some(chat) = existing {
        return Ok(Some(chat.id));
    }
    let id = ConnectionId::new();
    let secrets = Secrets {
        credentials: serde_json::json!({"allowed_origins": []}),
        webhook_secret: new_webhook_secret(),
    };
    let chat = NewConnection {
        id,
        account_id: account.id,
        kind: ChannelKind::Webchat,
        name: DEMO_CHAT.into(),
        account_name: "Web chat".into(),
        external_account_id: format!("webchat-{id}"),
        sealed_credentials: secrets.seal(sealer, id)?,
        routing: Routing::Bot {
            scenario_id: scenario,
        },
        schedule_id: None,
        auto_close_after: "1d"
            .parse()
            .unwrap_or_else(|_| unreachable!("a valid duration")),
        auto_close_message: None,
        out_of_hours: None,
        enabled: true,
        receive: Receive::Webhook,
        api_base_url: None,
        rate_limits: None,
        capabilities: None,
    };
    store.create_connection(&chat, None).await?;
    Ok(Some(id))
}

async fn create_demo_group(store: &Store, account: AccountId) -> Result<GroupId, StoreError> {
    let admins = store
        .list_operators(account)
        .await?
        .into_iter()
        .filter(|o| o.role == Role::Admin)
        .map(|o| o.id)
        .collect();
    let input = GroupInput {
        name: DEMO_GROUP.into(),
        operator_ids: admins,
        distribution: Distribution {
            strategy: Strategy::RoundRobin,
            ..Distribution::default()
        },
    };
    Ok(store.create_group(account, &input, None).await?.id)
}
