//! `TestApp`: the server on a random port, its fresh database, a logged-in instance admin,
//! and small helpers to send JSON and read the answer.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_server::{Application, PasswordParams, ServerConfig};
use switchboard_store::{
    testing::{Backend, TestDb},
    StoreConfig,
};
use tokio::sync::oneshot;

pub const ADMIN_EMAIL: &str = "admin@test.local";
pub const ADMIN_PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The bootstrap admin of the default account (also instance administrator).
    pub admin_token: String,
    pub admin_id: String,
    pub account_id: String,
    pub db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// A reply: status and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The error code of an error reply.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or_default()
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .expect("reply has an id")
            .to_string()
    }
}

pub fn config(db: &TestDb, params: PasswordParams) -> ServerConfig {
    let mut config = ServerConfig::new(StoreConfig::new(&db.url));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_email = Some(ADMIN_EMAIL.into());
    config.admin_password = Some(ADMIN_PASSWORD.into());
    config.password_params = params;
    config.max_body_bytes = 64 * 1024;
    // A fixed key: tests must not leave key files behind.
    config.secret_key = Some("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into());
    // The fake channel APIs listen on loopback.
    config.api_base_allow = vec!["127.0.0.1".into()];
    config
}

/// A server on a fresh database, or `None` when the backend is unavailable (see `testing`).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    Some(spawn_on(db, PasswordParams::default()).await)
}

/// A server on an existing test database.
pub async fn spawn_on(db: TestDb, params: PasswordParams) -> TestApp {
    spawn_configured(db, params, |_| {}).await
}

/// Another node on the same database as `app` (PostgreSQL), with its own workers; it stops
/// when the returned sender is dropped.
pub async fn second_node(app: &TestApp) -> (String, oneshot::Sender<()>) {
    let node = Application::build(config(&app.db, PasswordParams::default()))
        .await
        .expect("the second node starts");
    let base = format!("http://{}", node.address());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = node
            .run_until_stopped(async {
                let _ = stopped.await;
            })
            .await;
    });
    (base, stop)
}

/// A server on a fresh database with settings changed by `adjust`.
pub async fn spawn_with(
    backend: Backend,
    adjust: impl FnOnce(&mut ServerConfig),
) -> Option<TestApp> {
    let db = TestDb::new(backend).await?;
    Some(spawn_configured(db, PasswordParams::default(), adjust).await)
}

async fn spawn_configured(
    db: TestDb,
    params: PasswordParams,
    adjust: impl FnOnce(&mut ServerConfig),
) -> TestApp {
    let mut config = config(&db, params);
    adjust(&mut config);
    let app = Application::build(config).await.expect("the server starts");
    let base = format!("http://{}", app.address());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .expect("the server runs");
    });
    let mut test = TestApp {
        base,
        client: reqwest::Client::new(),
        admin_token: String::new(),
        admin_id: String::new(),
        account_id: String::new(),
        db,
        stop: Some(stop),
        server: Some(server),
    };
    let login = test.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    test.admin_token = login.body["token"].as_str().unwrap().to_string();
    test.admin_id = login.body["operator"]["id"].as_str().unwrap().to_string();
    test.account_id = login.body["operator"]["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    test
}

impl TestApp {
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// One unlabelled value of `/metrics`.
    pub async fn metric(&self, name: &str) -> i64 {
        let metrics = self.metrics().await;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} missing: {metrics}"))
            .parse()
            .unwrap()
    }

    /// The conversations the admin sees (up to 1,000).
    pub async fn conversations(&self) -> Vec<Value> {
        self.get("/api/v1/conversations?limit=1000", &self.admin_token)
            .await
            .body
            .as_array()
            .expect("a list of conversations")
            .clone()
    }

    /// A conversation's messages, as the admin sees them.
    pub async fn messages(&self, conversation: &str) -> Vec<Value> {
        self.get(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &self.admin_token,
        )
        .await
        .body
        .as_array()
        .expect("a list of messages")
        .clone()
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    /// Uploads a file as the admin; `query` is the upload's query string (`?name=...`).
    pub async fn upload(&self, query: &str, content_type: &str, bytes: &[u8]) -> Reply {
        let response = self
            .client
            .post(format!("{}/api/v1/attachments{query}", self.base))
            .bearer_auth(&self.admin_token)
            .header("content-type", content_type)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    /// Creates an operator in the admin's account and logs them in: (id, token).
    pub async fn operator(&self, email: &str, role: &str) -> (String, String) {
        self.operator_as(&self.admin_token, email, role).await
    }

    /// Creates an operator with `admin_token`'s account and logs them in: (id, token).
    pub async fn operator_as(
        &self,
        admin_token: &str,
        email: &str,
        role: &str,
    ) -> (String, String) {
        let created = self
            .post(
                "/api/v1/operators",
                admin_token,
                json!({"email": email, "name": email, "role": role, "password": "password-123"}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        let login = self.login(email, "password-123").await;
        assert_eq!(login.status, StatusCode::OK, "{login:?}");
        (
            created.id(),
            login.body["token"].as_str().unwrap().to_string(),
        )
    }

    /// Stops the server and waits until it has let go of the database.
    pub async fn stop(mut self) -> TestDb {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("the server stops cleanly");
        }
        std::mem::replace(&mut self.db, TestDb::sqlite())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Waits until `check` finds something, for at most twenty seconds; panics with `what`.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
