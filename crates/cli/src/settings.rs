//! Settings from three places, in this order of precedence: command-line flags, then
//! `SWITCHBOARD_*` environment variables (clap reads both), then the TOML file given by
//! `--config`, then defaults. Every bad value is refused with the key and the reason.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;
use switchboard_core::{secret::Secret, DurationSpec};
use switchboard_server::{LogFormat, PasswordParams, ServerConfig};
use switchboard_store::{Dialect, StoreConfig, Synchronous};

/// Flags shared by every command that opens the database.
#[derive(Args, Debug, Default)]
pub struct StoreArgs {
    /// A TOML file with any of the settings below (flags and environment override it).
    #[arg(long, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `sqlite://PATH` (default `sqlite://DATA_DIR/switchboard.db`) or `postgres://...`.
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Where the server keeps its files (the default SQLite database, attachments, keys).
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// SQLite durability: `full` (default) keeps every acknowledged write through a power
    /// cut; `normal` is faster and may lose the last writes on a power cut.
    #[arg(long, env = "SWITCHBOARD_SQLITE_SYNCHRONOUS", value_name = "full|normal", value_parser = parse_synchronous)]
    pub sqlite_synchronous: Option<Synchronous>,
}

/// Logging flags.
#[derive(Args, Debug, Default)]
pub struct LogArgs {
    /// `human` (default) or `json` (one object per line).
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_name = "human|json", value_parser = parse_log_format)]
    pub log_format: Option<LogFormat>,
    /// A tracing filter such as `info` or `info,sqlx=warn` (default `info`).
    #[arg(long, env = "SWITCHBOARD_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
}

/// `switchboard serve` flags.
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// The address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "SWITCHBOARD_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The base URL channels reach this server at; webhooks are registered under it.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Seed the demo: a sample group (and, as they arrive, a demo channel and bot).
    #[arg(long, env = "SWITCHBOARD_DEMO", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub demo: Option<bool>,
    /// The first admin's login, used only when the install has no operator yet.
    #[arg(long, env = "SWITCHBOARD_ADMIN_EMAIL", value_name = "EMAIL")]
    pub admin_email: Option<String>,
    /// The first admin's password; generated and printed once when not given.
    #[arg(
        long,
        env = "SWITCHBOARD_ADMIN_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<Secret>,
    /// Argon2id memory cost in KiB (default 19456, OWASP's recommendation).
    #[arg(long, env = "SWITCHBOARD_PASSWORD_MEMORY_KIB", value_name = "KIB")]
    pub password_memory_kib: Option<u32>,
    /// Argon2id passes (default 2).
    #[arg(long, env = "SWITCHBOARD_PASSWORD_ITERATIONS", value_name = "N")]
    pub password_iterations: Option<u32>,
    /// Largest accepted request body in bytes (default 1048576).
    #[arg(long, env = "SWITCHBOARD_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Base64 of the 32-byte key sealing channel credentials (default: DATA_DIR/secret.key,
    /// created on first start).
    #[arg(
        long,
        env = "SWITCHBOARD_SECRET_KEY",
        value_name = "BASE64",
        hide_env_values = true
    )]
    pub secret_key: Option<Secret>,
    /// How long a sender owns a claimed outbox row (default 60s; keep it above the 30 s
    /// channel API timeout). On PostgreSQL a dead node's sends settle this long after.
    #[arg(long, env = "SWITCHBOARD_DELIVERY_LEASE", value_name = "DURATION")]
    pub delivery_lease: Option<DurationSpec>,
    /// Internal hosts a scenario's `http` step may call, comma-separated (names, addresses
    /// or CIDR ranges); other internal addresses are refused.
    #[arg(
        long,
        env = "SWITCHBOARD_BOT_HTTP_ALLOW",
        value_name = "HOSTS",
        value_delimiter = ','
    )]
    pub bot_http_allow: Option<Vec<String>>,
    /// Hosts (or host:port) a channel's `api_base_url` may point at besides the channel's
    /// own API, comma-separated: a local Bot API server, a proxy. None by default.
    #[arg(
        long,
        env = "SWITCHBOARD_API_BASE_ALLOW",
        value_name = "HOSTS",
        value_delimiter = ','
    )]
    pub api_base_allow: Option<Vec<String>>,
    /// Reverse proxies whose X-Forwarded-For names the client (addresses or CIDR ranges,
    /// comma-separated), so login throttling sees each client rather than the proxy.
    #[arg(
        long,
        env = "SWITCHBOARD_TRUSTED_PROXIES",
        value_name = "ADDRESSES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// A token `GET /metrics` requires (as `Authorization: Bearer`); open when unset.
    #[arg(
        long,
        env = "SWITCHBOARD_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<Secret>,
    /// A VK app's id, to connect VK communities by OAuth instead of pasting a token.
    #[arg(long, env = "SWITCHBOARD_VK_CLIENT_ID", value_name = "ID")]
    pub vk_client_id: Option<String>,
    /// The VK app's secret key.
    #[arg(
        long,
        env = "SWITCHBOARD_VK_CLIENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub vk_client_secret: Option<Secret>,
}

/// The config file: the same keys as the flags, with underscores.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    sqlite_synchronous: Option<String>,
    log_format: Option<String>,
    log_level: Option<String>,
    listen: Option<String>,
    public_url: Option<String>,
    demo: Option<bool>,
    admin_email: Option<String>,
    admin_password: Option<Secret>,
    password_memory_kib: Option<u32>,
    password_iterations: Option<u32>,
    max_body_bytes: Option<usize>,
    secret_key: Option<Secret>,
    delivery_lease: Option<String>,
    bot_http_allow: Option<Vec<String>>,
    api_base_allow: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    metrics_token: Option<Secret>,
    vk_client_id: Option<String>,
    vk_client_secret: Option<Secret>,
}

fn parse_synchronous(s: &str) -> Result<Synchronous, String> {
    s.parse()
}

fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    match s.to_ascii_lowercase().as_str() {
        "human" => Ok(LogFormat::Human),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("unknown value {other:?}, expected human or json")),
    }
}

fn load_file(path: Option<&Path>) -> anyhow::Result<FileSettings> {
    let Some(path) = path else {
        return Ok(FileSettings::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

/// A value from the file, parsed, or an error naming the file key.
fn from_file<T>(
    key: &str,
    value: Option<String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<Option<T>> {
    value
        .map(|v| parse(&v).map_err(|e| anyhow::anyhow!("config file key `{key}`: {e}")))
        .transpose()
}

/// Resolved logging settings.
type Logging = (LogFormat, String);

fn resolve_log(args: LogArgs, file: &mut FileSettings) -> anyhow::Result<Logging> {
    let format = match args.log_format {
        Some(f) => f,
        None => {
            from_file("log_format", file.log_format.take(), parse_log_format)?.unwrap_or_default()
        }
    };
    let level = args
        .log_level
        .or(file.log_level.take())
        .unwrap_or_else(|| "info".into());
    Ok((format, level))
}

fn resolve_store_config(
    args: StoreArgs,
    file: &mut FileSettings,
) -> anyhow::Result<(StoreConfig, PathBuf)> {
    let data_dir = args
        .data_dir
        .or(file.data_dir.take())
        .unwrap_or_else(|| PathBuf::from("./data"));
    let url = args
        .database_url
        .or(file.database_url.take())
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("switchboard.db").display()));
    Dialect::of_url(&url).map_err(|e| anyhow::anyhow!("--database-url: {e}"))?;
    let synchronous = match args.sqlite_synchronous {
        Some(s) => s,
        None => from_file(
            "sqlite_synchronous",
            file.sqlite_synchronous.take(),
            parse_synchronous,
        )?
        .unwrap_or_default(),
    };
    let mut config = StoreConfig::new(url);
    config.synchronous = synchronous;
    Ok((config, data_dir))
}

/// Settings for `migrate`.
pub fn resolve_store(
    args: StoreArgs,
    log: LogArgs,
) -> anyhow::Result<(StoreConfig, LogFormat, String)> {
    let mut file = load_file(args.config.as_deref())?;
    let (format, level) = resolve_log(log, &mut file)?;
    let (config, _) = resolve_store_config(args, &mut file)?;
    Ok((config, format, level))
}

/// Settings for `serve`.
pub struct Serve {
    pub server: ServerConfig,
    pub log_format: LogFormat,
    pub log_level: String,
}

fn check_public_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(trimmed.to_string())
        }
        _ => Err(format!("{url:?} is not an http:// or https:// URL")),
    }
}

pub fn resolve_serve(args: ServeArgs) -> anyhow::Result<Serve> {
    let mut file = load_file(args.store.config.as_deref())?;
    let (log_format, log_level) = resolve_log(args.log, &mut file)?;
    let (database, data_dir) = resolve_store_config(args.store, &mut file)?;
    let mut server = ServerConfig::new(database);
    server.data_dir = data_dir;
    if let Some(listen) = args.listen.map(Ok).or_else(|| {
        file.listen.take().map(|l| {
            l.parse::<SocketAddr>()
                .map_err(|e| anyhow::anyhow!("config file key `listen`: {l:?}: {e}"))
        })
    }) {
        server.listen = listen?;
    }
    server.public_url = match args.public_url {
        Some(url) => {
            Some(check_public_url(&url).map_err(|e| anyhow::anyhow!("--public-url: {e}"))?)
        }
        None => from_file("public_url", file.public_url.take(), check_public_url)?,
    };
    server.demo = args.demo.or(file.demo).unwrap_or(false);
    server.admin_email = args.admin_email.or(file.admin_email.take());
    server.admin_password = args.admin_password.or(file.admin_password.take());
    let defaults = PasswordParams::default();
    server.password_params = PasswordParams {
        memory_kib: args
            .password_memory_kib
            .or(file.password_memory_kib)
            .unwrap_or(defaults.memory_kib),
        iterations: args
            .password_iterations
            .or(file.password_iterations)
            .unwrap_or(defaults.iterations),
        parallelism: defaults.parallelism,
    };
    if server.password_params.memory_kib < 8 * 1024 || server.password_params.iterations == 0 {
        bail!("password hashing: memory must be at least 8192 KiB and iterations at least 1");
    }
    server.max_body_bytes = args
        .max_body_bytes
        .or(file.max_body_bytes)
        .unwrap_or(server.max_body_bytes);
    if server.max_body_bytes < 1024 {
        bail!("max_body_bytes must be at least 1024");
    }
    server.secret_key = args.secret_key.or(file.secret_key.take());
    let lease = match args.delivery_lease {
        Some(lease) => Some(lease),
        None => from_file("delivery_lease", file.delivery_lease.take(), |s| {
            s.parse::<DurationSpec>().map_err(|e| e.to_string())
        })?,
    };
    if let Some(lease) = lease {
        server.delivery_lease = lease.as_duration();
    }
    server.bot_http_allow = args
        .bot_http_allow
        .or(file.bot_http_allow.take())
        .unwrap_or_default();
    server.api_base_allow = args
        .api_base_allow
        .or(file.api_base_allow.take())
        .unwrap_or_default();
    server.trusted_proxies = args
        .trusted_proxies
        .or(file.trusted_proxies.take())
        .unwrap_or_default();
    server.metrics_token = args
        .metrics_token
        .or(file.metrics_token.take())
        .filter(|t| !t.is_empty());
    let vk_id = args.vk_client_id.or(file.vk_client_id.take());
    let vk_secret = args.vk_client_secret.or(file.vk_client_secret.take());
    match (vk_id, vk_secret) {
        (Some(client_id), Some(client_secret)) => {
            server.oauth_apps.insert(
                switchboard_core::channel::ChannelKind::Vk,
                switchboard_server::OAuthApp {
                    client_id,
                    client_secret,
                    oauth_url: None,
                    api_url: None,
                },
            );
        }
        (None, None) => {}
        _ => bail!("--vk-client-id and --vk-client-secret go together: set both or neither"),
    }
    Ok(Serve {
        server,
        log_format,
        log_level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_must_be_http() {
        assert_eq!(
            check_public_url("https://hub.example.com/").unwrap(),
            "https://hub.example.com"
        );
        assert!(check_public_url("ftp://x").is_err());
        assert!(check_public_url("https://").is_err());
    }

    #[test]
    fn file_keys_are_checked() {
        let err = toml::from_str::<FileSettings>("listen = \"x\"\ncolour = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }
}
