//! The `switchboard` binary: parses the command line, the environment and the config file
//! into settings, sets up logging, and runs the chosen command.

mod bench;
mod bot;
mod settings;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use settings::{LogArgs, ServeArgs, StoreArgs};
use switchboard_server::{Application, LogFormat};

/// mimalloc instead of glibc's allocator: the ingest lane allocates the rows of a batch and
/// SQLite's writer thread frees them, and glibc's arenas made those cross-thread frees and
/// their locks about a tenth of the server's CPU (perf, `malloc`, `_int_malloc`,
/// `malloc_consolidate`, `lock_contended`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use switchboard_store::Store;

/// Prints a line for the person who started the server. A closed stdout (a supervisor that
/// stopped reading) must not take the server down, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Switchboard: a self-hosted omnichannel contact-center hub.
#[derive(Parser)]
#[command(name = "switchboard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Bring the database schema up to date, then exit.
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Work with channel credentials without a server.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Work with bot scenario files without a server.
    #[command(subcommand)]
    Bot(BotCommand),
    /// Measure the whole path under load: webhook in, stored, bot answer delivered to a fake
    /// channel API. Prints one JSON line.
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum BotCommand {
    /// Check a scenario: prints `FILE:LINE:COL: message` per problem and exits 1 if any.
    Validate { file: String },
    /// Print what each step becomes in a channel, as JSON.
    Render {
        file: String,
        /// The channel kind, e.g. `telegram`, `vk`, `bitrix24`.
        #[arg(long)]
        channel: switchboard_core::channel::ChannelKind,
    },
    /// Talk to a scenario in the terminal, shown as a channel would show it.
    Chat {
        file: String,
        #[arg(long)]
        channel: switchboard_core::channel::ChannelKind,
        /// Internal hosts the scenario's `http` steps may call (comma-separated).
        #[arg(long, env = "SWITCHBOARD_BOT_HTTP_ALLOW", value_delimiter = ',')]
        allow: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ChannelCommand {
    /// Check a bot token with the channel: prints the bot's name, or `Bot not found` and exits 1.
    Verify {
        /// The channel kind, e.g. `telegram`.
        kind: switchboard_core::channel::ChannelKind,
        /// The bot token.
        #[arg(long, env = "SWITCHBOARD_CHANNEL_TOKEN", hide_env_values = true)]
        token: String,
        /// Another API server for the channel (a local Bot API server, a proxy, a test fake).
        #[arg(long)]
        api_base_url: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Channel(ChannelCommand::Verify {
        kind,
        token,
        api_base_url,
    }) = &cli.command
    {
        return verify(*kind, token, api_base_url.clone());
    }
    if let Command::Bench(_) = &cli.command {
        let Command::Bench(args) = cli.command else {
            unreachable!()
        };
        return match bench::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Bot(command) = &cli.command {
        return match command {
            BotCommand::Validate { file } => bot::validate(file),
            BotCommand::Render { file, channel } => bot::render_file(file, *channel),
            BotCommand::Chat {
                file,
                channel,
                allow,
            } => bot::chat(file, *channel, allow),
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let resolved = settings::resolve_serve(*args)?;
            init_logging(resolved.log_format, &resolved.log_level)?;
            serve(resolved.server).await
        }
        Command::Channel(_) | Command::Bot(_) | Command::Bench(_) => {
            unreachable!("handled before the runtime starts")
        }
        Command::Migrate { store, log } => {
            let (config, log_format, log_level) = settings::resolve_store(store, log)?;
            init_logging(log_format, &log_level)?;
            let store = Store::connect(&config)
                .await
                .context("opening the database")?;
            store.migrate().await.context("migrating")?;
            store.close().await;
            say!("database is up to date");
            Ok(())
        }
    }
}

/// `switchboard channel verify`: exit 0 with the name, 1 for unknown credentials, 2 when the
/// channel could not be asked.
fn verify(
    kind: switchboard_core::channel::ChannelKind,
    token: &str,
    api_base_url: Option<String>,
) -> ExitCode {
    use switchboard_channels::{registry, ApiContext, ConnectError};
    let Some(connector) = registry::connector(kind) else {
        eprintln!("error: {kind} channels are not available yet");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let api = ApiContext {
        http: reqwest_client(),
        api_base_url,
        send_key: None,
    };
    let credentials = serde_json::json!({"token": token});
    match runtime.block_on(connector.verify(&api, &credentials)) {
        Ok(account) => {
            say!("{}", account.name);
            ExitCode::SUCCESS
        }
        Err(ConnectError::BotNotFound(_)) | Err(ConnectError::InvalidCredentials { .. }) => {
            say!("Bot not found");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn reqwest_client() -> switchboard_channels::reqwest::Client {
    switchboard_channels::reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

async fn serve(config: switchboard_server::ServerConfig) -> anyhow::Result<()> {
    let demo = config.demo;
    let app = Application::build(config).await?;
    let base = format!("http://{}", app.address());
    say!("Switchboard is listening on {base}");
    if let Some(first) = app.first_admin() {
        match &first.generated_password {
            Some(password) => say!(
                "Admin login: {} / password: {password} (generated and shown only now; set SWITCHBOARD_ADMIN_PASSWORD to choose one)",
                first.operator.email
            ),
            None => say!("Admin login: {} (the password from SWITCHBOARD_ADMIN_PASSWORD)", first.operator.email),
        }
    } else {
        say!("Admin login: the admin created on the first start");
    }
    if let Some(page) = app.demo_page() {
        say!("Demo chat: {page}");
    }
    if demo {
        say!("API: {base}/api/openapi.json, log in with POST {base}/api/v1/auth/login");
    }
    app.run_until_stopped(shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

fn init_logging(format: LogFormat, level: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(level).with_context(|| {
        format!("log level {level:?} is not a valid filter such as \"info\" or \"info,sqlx=warn\"")
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
