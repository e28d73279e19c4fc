//! `switchboard bench`: the whole path under load on this machine. It starts the server as a
//! child process (SQLite in a temporary directory unless `--database-url` says otherwise), a
//! fake Telegram Bot API on loopback that notes when each answer arrives, a Telegram
//! connection routed to a menu scenario with no rate limits, and a load generator that posts
//! updates from distinct chats to the webhook at full speed or at `--rate`. It measures end
//! to end, from sending an update to the fake API receiving the bot's answer, and prints one
//! JSON line (docs/performance.md) with the webhook acknowledgement times, the messages stored, and
//! how many answers were lost or duplicated.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use axum::{
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::DurationSpec;

const TOKEN: &str = "7000000001:AAH-bench";
const PASSWORD: &str = "bench-password-123";

/// What the load is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Each update starts a conversation with the bot, which answers with a 3-button menu.
    Menu,
    /// Conversations for people (routed to a group): only storing and routing, no answer.
    Operator,
    /// Every update is delivered twice, as channels do on retries: one answer each.
    Duplicates,
    /// Updates with 3,000-character texts.
    Long,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// How long to send updates.
    #[arg(long, default_value = "10s")]
    pub duration: DurationSpec,
    /// Send exactly this many updates instead (overrides --duration).
    #[arg(long)]
    pub messages: Option<u64>,
    /// Offered load in updates per second (default: as fast as the server answers).
    #[arg(long)]
    pub rate: Option<u64>,
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// The database to use (default: SQLite in a temporary directory).
    #[arg(long, env = "SWITCHBOARD_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    #[arg(long, value_enum, default_value_t = Profile::Menu)]
    pub profile: Profile,
    /// How long to wait for the last answers after sending stops.
    #[arg(long, default_value = "60s")]
    pub wait: DurationSpec,
}

const MENU: &str = r#"name: Bench menu
start: menu
steps:
  menu:
    say: "Здравствуйте! Чем помочь?"
    choices:
      - { label: "Статус заказа", goto: menu }
      - { label: "Доставка", goto: menu }
      - { label: "Оператор", goto: menu }
"#;

/// What the fake Bot API saw: when each chat's answers arrived.
#[derive(Default)]
struct Seen {
    answers: Mutex<HashMap<i64, Vec<Instant>>>,
    secret: Mutex<Option<String>>,
    next_id: AtomicU64,
}

/// The fields of a Bot API call the fake reads; the rest of the body is skipped unparsed
/// into values (the fake shares the cores with the server it measures).
#[derive(Deserialize)]
struct Call {
    #[serde(default)]
    chat_id: Option<ChatId>,
    #[serde(default)]
    secret_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ChatId {
    Number(i64),
    Text(String),
}

async fn bot_api(
    State(seen): State<Arc<Seen>>,
    Path((_bot, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let call: Option<Call> = serde_json::from_slice(&body).ok();
    let answer = match method.as_str() {
        "getMe" => r#"{"ok":true,"result":{"id":7000000001,"is_bot":true,"first_name":"Bench Bot","username":"bench_bot"}}"#.to_string(),
        "setWebhook" => {
            if let Ok(mut s) = seen.secret.lock() {
                *s = call.and_then(|c| c.secret_token);
            }
            r#"{"ok":true,"result":true}"#.to_string()
        }
        "sendMessage" => {
            let now = Instant::now();
            let chat = match call.and_then(|c| c.chat_id) {
                Some(ChatId::Number(n)) => n,
                Some(ChatId::Text(t)) => t.parse().unwrap_or_default(),
                None => 0,
            };
            if let Ok(mut answers) = seen.answers.lock() {
                answers.entry(chat).or_default().push(now);
            }
            let id = seen.next_id.fetch_add(1, Ordering::Relaxed);
            format!(
                r#"{{"ok":true,"result":{{"message_id":{id},"date":0,"chat":{{"id":{chat},"type":"private"}}}}}}"#
            )
        }
        _ => r#"{"ok":true,"result":true}"#.to_string(),
    };
    ([(header::CONTENT_TYPE, "application/json")], answer).into_response()
}

async fn start_fake() -> anyhow::Result<(SocketAddr, Arc<Seen>)> {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/{bot}/{method}", post(bot_api))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, seen))
}

/// One simulated client of the webhook: a keep-alive HTTP/1.1 connection used for one
/// request at a time (as wrk's are), opened again when it breaks.
struct Poster {
    server: SocketAddr,
    host: String,
    path: String,
    secret: String,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

impl Poster {
    fn new(server: SocketAddr, path: String, secret: String) -> Self {
        Self {
            server,
            host: server.to_string(),
            path,
            secret,
            sender: None,
        }
    }

    async fn connect(
        &self,
    ) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(self.server).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// Posts `body` as a Telegram update; whether the webhook answered 2xx (within 30 s).
    async fn post(&mut self, body: Bytes) -> bool {
        tokio::time::timeout(Duration::from_secs(30), self.try_post(body))
            .await
            .unwrap_or_else(|_| {
                self.sender = None;
                false
            })
    }

    async fn try_post(&mut self, body: Bytes) -> bool {
        let mut sender = match self.sender.take().filter(|s| !s.is_closed()) {
            Some(sender) => sender,
            None => match self.connect().await {
                Ok(sender) => sender,
                Err(_) => return false,
            },
        };
        if sender.ready().await.is_err() {
            return false;
        }
        let request = hyper::Request::post(self.path.as_str())
            .header(hyper::header::HOST, self.host.as_str())
            .header("x-telegram-bot-api-secret-token", self.secret.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body));
        let Ok(request) = request else {
            return false;
        };
        let Ok(response) = sender.send_request(request).await else {
            return false;
        };
        let ok = response.status().is_success();
        // Read to the end, so the connection can carry the next request.
        let read = response.into_body().collect().await.is_ok();
        if read {
            self.sender = Some(sender);
        }
        ok && read
    }
}

/// The server under test, killed when dropped.
struct Server {
    child: Child,
    dir: PathBuf,
}

impl Drop for Server {
    /// Stops the server with SIGTERM (so a profiler wrapping it writes its data), and kills
    /// it if it has not stopped within a minute.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// CPU time the server has used (user + system), from `/proc/PID/stat` (clock ticks of
    /// 1/100 s, the Linux default).
    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }

    /// Peak resident memory of the server process, from the kernel's high-water mark.
    fn peak_rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }
}

fn start_server(database_url: &str, dir: &std::path::Path) -> anyhow::Result<(Server, String)> {
    let exe = std::env::current_exe().context("finding the switchboard binary")?;
    // A profiler to run the server under, e.g. `valgrind --tool=callgrind`.
    let wrapper = std::env::var("SWITCHBOARD_BENCH_SERVER_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(["--database-url", database_url])
        .env("SWITCHBOARD_ADMIN_EMAIL", "bench@localhost")
        .env("SWITCHBOARD_ADMIN_PASSWORD", PASSWORD)
        // The fake channel API the bench sends to.
        .env("SWITCHBOARD_API_BASE_ALLOW", "127.0.0.1")
        // `SWITCHBOARD_BENCH_SERVER_LOG=sqlx::query=debug` lists every statement the path runs.
        .env(
            "SWITCHBOARD_LOG_LEVEL",
            std::env::var("SWITCHBOARD_BENCH_SERVER_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the server")?;
    let stdout = child.stdout.take().context("the server's output")?;
    let mut base = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("Switchboard is listening on ") {
            base = Some(rest.to_string());
        }
        if line.starts_with("Admin login") {
            break;
        }
    }
    let server = Server {
        child,
        dir: dir.to_path_buf(),
    };
    let base = base.context("the server did not print its address")?;
    Ok((server, base))
}

async fn api(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let mut request = http.post(format!("{base}{path}")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{path}: {status} {body}");
    }
    Ok(body)
}

/// Sets up the account: the scenario (or a group) and the Telegram connection.
async fn set_up(
    http: &reqwest::Client,
    base: &str,
    fake: SocketAddr,
    profile: Profile,
) -> anyhow::Result<String> {
    let login = api(
        http,
        base,
        None,
        "/api/v1/auth/login",
        json!({"email": "bench@localhost", "password": PASSWORD}),
    )
    .await?;
    let token = login["token"]
        .as_str()
        .context("no login token")?
        .to_string();
    let routing = if profile == Profile::Operator {
        let group = api(
            http,
            base,
            Some(&token),
            "/api/v1/groups",
            json!({"name": "Bench"}),
        )
        .await?;
        json!({"target": "group", "group_id": group["id"]})
    } else {
        let scenario = api(
            http,
            base,
            Some(&token),
            "/api/v1/scenarios",
            json!({"name": "Bench menu", "source": MENU}),
        )
        .await?;
        json!({"target": "bot", "scenario_id": scenario["id"]})
    };
    let channel = api(
        http,
        base,
        Some(&token),
        "/api/v1/channels",
        json!({"kind": "telegram", "name": "Bench", "credentials": {"token": TOKEN},
            "api_base_url": format!("http://{fake}"), "rate_limits": null, "routing": routing,
            "auto_close_after": "1d"}),
    )
    .await?;
    Ok(channel["id"].as_str().context("no channel id")?.to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One sent update: its chat, when it went, how long the webhook took to answer.
struct Sent {
    chat: i64,
    at: Instant,
    ack: Duration,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(bench(args))
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("switchboard-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let (fake, seen) = start_fake().await?;
    let (server, base) = start_server(&database_url, &dir)?;
    // Setting up and reading metrics; the load goes through `Poster`s.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let channel = set_up(&http, &base, fake, args.profile).await?;
    let secret = seen
        .secret
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .context("the server registered no webhook")?;
    let hook = format!("/hooks/{channel}");
    let server_addr: SocketAddr = base
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("the server's address {base} is not http://host:port"))?;

    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + args.duration.as_duration();
    let limit = args.messages;
    let text = match args.profile {
        Profile::Long => "Здравствуйте! Хочу узнать о заказе. ".repeat(85),
        _ => "Здравствуйте!".to_string(),
    };
    let copies = if args.profile == Profile::Duplicates {
        2
    } else {
        1
    };
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (hook, secret, next, text) = (hook.clone(), secret.clone(), next.clone(), text.clone());
        let rate = args.rate;
        workers.push(tokio::spawn(async move {
            let mut poster = Poster::new(server_addr, hook, secret);
            let mut sent: Vec<Sent> = Vec::new();
            let mut errors = 0u64;
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|n| seq >= n) || (limit.is_none() && Instant::now() >= deadline)
                {
                    break;
                }
                if let Some(rate) = rate.filter(|r| *r > 0) {
                    let due = started + Duration::from_secs_f64(seq as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let chat = 1_000_000_i64 + seq as i64;
                let update = json!({"update_id": seq + 1, "message": {"message_id": seq + 1, "date": 1,
                    "from": {"id": chat, "is_bot": false, "first_name": "Клиент"},
                    "chat": {"id": chat, "type": "private", "first_name": "Клиент"}, "text": text}});
                let body = Bytes::from(serde_json::to_vec(&update).unwrap_or_default());
                let at = Instant::now();
                let mut ok = true;
                for _ in 0..copies {
                    ok &= poster.post(body.clone()).await;
                }
                if ok {
                    sent.push(Sent {
                        chat,
                        at,
                        ack: at.elapsed(),
                    });
                } else {
                    errors += 1;
                }
            }
            (sent, errors)
        }));
    }
    let mut sent = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (mine, failed) = worker.await?;
        sent.extend(mine);
        errors += failed;
    }
    let sending_ended = Instant::now();
    let expect_answers = args.profile != Profile::Operator;
    // Wait for the answers still on their way.
    let wait_until = sending_ended + args.wait.as_duration();
    if expect_answers {
        while Instant::now() < wait_until {
            let answered = seen.answers.lock().map(|a| a.len()).unwrap_or(0);
            if answered >= sent.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    } else {
        // Acknowledged on the journal under load: stored a moment later.
        while Instant::now() < wait_until {
            let waiting = metric(&http, &base, "switchboard_journal_waiting_events").await;
            if waiting.map_or(true, |w| w == 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let peak_rss_mb = server.peak_rss_mb();
    let cpu_seconds = server.cpu_seconds();
    let answers = seen.answers.lock().map(|a| a.clone()).unwrap_or_default();
    let mut latencies: Vec<f64> = Vec::new();
    let mut last_answer = started;
    let (mut lost, mut duplicated) = (0u64, 0u64);
    for s in &sent {
        match answers.get(&s.chat) {
            Some(times) if !times.is_empty() => {
                latencies.push(times[0].duration_since(s.at).as_secs_f64() * 1000.0);
                last_answer = last_answer.max(*times.iter().max().unwrap_or(&times[0]));
                duplicated += times.len() as u64 - 1;
            }
            _ => lost += u64::from(expect_answers),
        }
    }
    latencies.sort_by(f64::total_cmp);
    if std::env::var_os("SWITCHBOARD_BENCH_TIMELINE").is_some() {
        eprintln!("{}", timeline(started, &sent, &answers));
    }
    let mut acks: Vec<f64> = sent.iter().map(|s| s.ack.as_secs_f64() * 1000.0).collect();
    acks.sort_by(f64::total_cmp);
    let elapsed = if expect_answers {
        last_answer.duration_since(started)
    } else {
        sending_ended.duration_since(started)
    }
    .as_secs_f64()
    .max(1e-6);
    let done = if expect_answers {
        latencies.len()
    } else {
        sent.len()
    };
    let stored = count_messages(&database_url).await.ok();
    let commits = ingest_commits(&http, &base).await.ok();
    drop(server);
    let line = json!({
        "messages": sent.len(),
        "messages_per_sec": round(done as f64 / elapsed),
        "p50_ms": round(percentile(if expect_answers { &latencies } else { &acks }, 50.0)),
        "p99_ms": round(percentile(if expect_answers { &latencies } else { &acks }, 99.0)),
        "peak_rss_mb": peak_rss_mb.map(round),
        "ack_p50_ms": round(percentile(&acks, 50.0)),
        "ack_p99_ms": round(percentile(&acks, 99.0)),
        "answered": latencies.len(),
        "lost": lost,
        "duplicated": duplicated,
        "stored": stored,
        "send_errors": errors,
        // Where the time goes: the server's CPU per update (the machine's other core runs
        // the load generator and the fake API).
        "server_cpu_ms_per_message": cpu_seconds.map(|s| round(s * 1000.0 / (sent.len().max(1) as f64))),
        // Group commit at work: a commit's cost is mostly fixed, so throughput follows
        // the events each one holds.
        "commits": commits.map(|(c, _)| c),
        "events_per_commit": commits.map(|(c, e)| round(e as f64 / c.max(1) as f64)),
        "profile": format!("{:?}", args.profile).to_lowercase(),
        "rate": args.rate,
        "concurrency": args.concurrency,
        "database": if database_url.starts_with("postgres") { "postgres" } else { "sqlite" },
    });
    println!("{line}");
    Ok(())
}

/// Webhooks acknowledged and answers received in each second of the run (which stage kept
/// up when), for `SWITCHBOARD_BENCH_TIMELINE=1`.
fn timeline(started: Instant, sent: &[Sent], answers: &HashMap<i64, Vec<Instant>>) -> String {
    let second = |t: Instant| t.duration_since(started).as_secs() as usize;
    let mut acked: Vec<u32> = Vec::new();
    let mut answered: Vec<u32> = Vec::new();
    let count = |counts: &mut Vec<u32>, i: usize| {
        if counts.len() <= i {
            counts.resize(i + 1, 0);
        }
        counts[i] += 1;
    };
    for s in sent {
        count(&mut acked, second(s.at + s.ack));
    }
    for t in answers.values().flatten() {
        count(&mut answered, second(*t));
    }
    format!("acknowledged per second: {acked:?}\nanswered per second:     {answered:?}")
}

/// The ingest lanes' commits and the events they stored, from the server's `/metrics`.
async fn ingest_commits(http: &reqwest::Client, base: &str) -> anyhow::Result<(u64, u64)> {
    Ok((
        metric(http, base, "switchboard_ingest_commits_total").await?,
        metric(http, base, "switchboard_ingest_events_total").await?,
    ))
}

/// One value from the server's `/metrics`.
async fn metric(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .with_context(|| format!("{name} is not in /metrics"))?
        .trim()
        .parse::<f64>()
        .map(|v| v as u64)
        .with_context(|| format!("{name} is not a number"))
}

/// Messages stored, read from the database after the run.
async fn count_messages(url: &str) -> anyhow::Result<i64> {
    let store =
        switchboard_store::Store::connect(&switchboard_store::StoreConfig::new(url)).await?;
    let count = store.count_messages().await?;
    store.close().await;
    Ok(count)
}
