//! The `motcua` command line. Results go to stdout; logs and warnings to stderr.

mod webhook;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::clients::{ClientKind, NewClient};

use crate::config::Config;
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(name = "motcua", version, about = "The citizen mobile app gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and migrate the database, then serve HTTP until SIGTERM/SIGINT.
    Serve,
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Print the OpenAPI document (the one committed as openapi/openapi.json).
    Openapi,
    /// Manage registered clients (apps and service providers).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Grant roles to citizens.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Manage our signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage a client's webhook endpoints (signed per Standard Webhooks).
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Load the demo catalogue (agencies, communes, procedures, holidays), generated dossiers,
    /// demo merchants and listings; idempotent. Prints a JSON summary with the merchants' ids.
    SeedDemo {
        /// Generated dossiers to have in the database (added up to this many).
        #[arg(long, default_value_t = 0)]
        dossiers: usize,
        /// Generated listings to have in the database besides the curated ones (added up to
        /// this many).
        #[arg(long, default_value_t = 0)]
        listings: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain against the signed checkpoints. Prints a JSON report naming the first
    /// broken link; exits 1 when there is one.
    Verify {
        /// Checkpoints kept outside the database (a JSON array as served at
        /// /v1/audit/checkpoints); repeatable. They count even if the database lost them.
        #[arg(long = "checkpoints")]
        files: Vec<std::path::PathBuf>,
    },
    /// Sign the head of the chain now (servers do it every MOTCUA_AUDIT_CHECKPOINT_SECS).
    /// Prints the checkpoint as JSON, or `null` when the head is already signed.
    Checkpoint,
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Grant a role to a citizen (SUB is our `sub`, from `/v1/me`). Prints JSON.
    Grant {
        #[arg(long)]
        subject: uuid::Uuid,
        #[arg(long, value_parser = ["operator", "agency", "merchant"])]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish a new signing key now; it signs after MOTCUA_KEY_ROTATION_DELAY_SECS, and the
    /// current key stays published until its tokens have expired. Prints the new key as JSON.
    Rotate,
    /// Print every signing key and its phase as JSON.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints JSON with `client_id` and, for a confidential client without
    /// `--jwks-uri`, its `client_secret` (shown this once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["public", "confidential"])]
        kind: String,
        /// Repeatable. Apps: a private-use scheme (vn.gov.example.app:/cb), https, or loopback.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Repeatable. Default for public clients: openid profile offline_access.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Requests per minute allowed to this client.
        #[arg(long)]
        rate_limit: Option<i32>,
        /// For `private_key_jwt`: where the client publishes its public keys.
        #[arg(long)]
        jwks_uri: Option<String>,
        /// Repeatable. Binds a service provider to these agency codes: it acts for them only.
        #[arg(long = "agency")]
        agencies: Vec<String>,
        /// Binds a service provider to one merchant: it acts for that merchant only.
        #[arg(long = "merchant")]
        merchant_id: Option<String>,
        /// Repeatable: `authorization_code`, `refresh_token`, `client_credentials`. Default:
        /// the first two for public clients, `client_credentials` for confidential ones.
        #[arg(long = "grant-type", value_parser = ["authorization_code", "refresh_token", "client_credentials"])]
        grant_types: Vec<String>,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    if let Command::Openapi = cli.command {
        return print(&crate::startup::openapi_json());
    }
    let config = match Config::load() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("motcua: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init_logs(
        config.log_format,
        std::io::stderr,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    let result = match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Client(command) => client(config, command).await,
        Command::Role(command) => role(config, command).await,
        Command::Keys(command) => keys(config, command).await,
        Command::Webhook(command) => webhook::run(config, command).await,
        Command::SeedDemo { dossiers, listings } => seed_demo(config, dossiers, listings).await,
        Command::Audit(command) => match audit(config, command).await {
            Ok(code) => return code,
            Err(err) => Err(err),
        },
        Command::Openapi => unreachable_command(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("motcua: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    crate::startup::install_crypto_provider();
    let pool = crate::db::prepare(config.database_url.expose()).await?;
    let applied = crate::db::MIGRATOR.iter().count();
    pool.close().await;
    print(&serde_json::json!({ "migrations": applied, "status": "up-to-date" }).to_string());
    Ok(())
}

async fn client(config: Config, command: ClientCommand) -> anyhow::Result<()> {
    let ClientCommand::Create {
        name,
        kind,
        redirect_uris,
        scopes,
        rate_limit,
        jwks_uri,
        agencies,
        merchant_id,
        grant_types,
    } = command;
    let kind = ClientKind::parse(&kind).context("--kind must be public or confidential")?;
    let new = NewClient {
        name,
        kind,
        redirect_uris,
        scopes: scopes
            .iter()
            .flat_map(|s| s.split([' ', ',']))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        rate_limit_per_min: rate_limit,
        jwks_uri,
        agencies,
        merchant_id,
        grant_types,
    }
    .validate()?;
    crate::startup::install_crypto_provider();
    let pool = crate::db::prepare(config.database_url.expose()).await?;
    let done = crate::clients::service::create(&pool, new).await?;
    record(&pool, done.event).await;
    pool.close().await;
    let created = done.value;
    let mut out = serde_json::to_value(&created.client)?;
    if let Some(object) = out.as_object_mut() {
        object.insert(
            "token_endpoint_auth_method".into(),
            created.client.token_endpoint_auth_method().into(),
        );
        if let Some(secret) = created.secret {
            object.insert("client_secret".into(), secret.into());
        }
    }
    print(&out.to_string());
    Ok(())
}

async fn seed_demo(config: Config, dossiers: usize, listings: usize) -> anyhow::Result<()> {
    crate::startup::install_crypto_provider();
    let pool = crate::db::prepare(config.database_url.expose()).await?;
    let master = crate::crypto::MasterKey::new(*config.master_key.expose());
    let summary = crate::dossiers::seed::load(&pool, &master, dossiers).await?;
    // The listings' merchants live in the catalogue's communes, loaded just above.
    let products = crate::listings::seed::load(&pool, listings).await?;
    // Planner statistics for what was just loaded. Until autovacuum gets round to it, a freshly
    // filled table is planned as if it were empty: a search over 100k listings took a bitmap of
    // the wrong index and five times longer.
    sqlx::query("ANALYZE").execute(&pool).await?;
    pool.close().await;
    let mut out = serde_json::to_value(&summary)?;
    if let Some(object) = out.as_object_mut() {
        object.insert("listings".into(), serde_json::to_value(&products)?);
        object.insert(
            "merchants".into(),
            serde_json::to_value(&products.merchants)?,
        );
    }
    print(&out.to_string());
    Ok(())
}

async fn role(config: Config, command: RoleCommand) -> anyhow::Result<()> {
    let RoleCommand::Grant { subject, role } = command;
    crate::startup::install_crypto_provider();
    let pool = crate::db::prepare(config.database_url.expose()).await?;
    let event = crate::ops::roles::grant(&pool, subject, &role, CLI_ACTOR).await?;
    record(&pool, event).await;
    pool.close().await;
    print(&serde_json::json!({ "subject": subject, "role": role }).to_string());
    Ok(())
}

async fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    crate::startup::install_crypto_provider();
    let pool = crate::db::prepare(config.database_url.expose()).await?;
    let master = crate::crypto::MasterKey::new(*config.master_key.expose());
    let output = match command {
        KeysCommand::Rotate => {
            // The first key, if this deployment has none yet, so the rotation has something to
            // replace.
            crate::tokens::Keyring::load(pool.clone(), master.clone()).await?;
            let key = crate::tokens::keys::rotate(
                &pool,
                &master,
                config.key_rotation_delay,
                config.access_token_ttl,
            )
            .await?;
            record(
                &pool,
                crate::audit::Event::new("signing_key_rotated", crate::audit::Outcome::Success)
                    .target(key.kid.clone()),
            )
            .await;
            serde_json::to_string(&key)?
        }
        KeysCommand::List => serde_json::to_string(&crate::tokens::keys::list(&pool).await?)?,
    };
    pool.close().await;
    print(&output);
    Ok(())
}

async fn audit(config: Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    crate::startup::install_crypto_provider();
    let pool = crate::db::prepare(config.database_url.expose()).await?;
    let master = crate::crypto::MasterKey::new(*config.master_key.expose());
    let code = match command {
        AuditCommand::Verify { files } => {
            let mut kept = Vec::new();
            for file in files {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let page: Vec<crate::audit::chain::Checkpoint> = serde_json::from_str(&text)
                    .with_context(|| {
                        format!("{}: not a JSON array of checkpoints", file.display())
                    })?;
                kept.extend(page);
            }
            let report =
                crate::audit::chain::verify(&pool, &master, config.issuer(), &kept).await?;
            let printed = print(&serde_json::to_string(&report)?);
            if report.ok {
                printed
            } else {
                ExitCode::FAILURE
            }
        }
        AuditCommand::Checkpoint => {
            let keyring = crate::tokens::Keyring::load(pool.clone(), master).await?;
            let tokens =
                crate::tokens::Tokens::new(keyring, config.issuer(), config.access_token_ttl);
            let checkpoint = crate::audit::chain::checkpoint(&pool, &tokens).await?;
            print(&serde_json::to_string(&checkpoint)?)
        }
    };
    pool.close().await;
    Ok(code)
}

/// How the audit log and the roles table name the command line.
const CLI_ACTOR: &str = "cli";

/// Records what a command did: the same entry the operator API writes, with the command line as
/// its actor.
async fn record(pool: &sqlx::PgPool, event: crate::audit::Event) {
    crate::audit::record(pool, event.actor(CLI_ACTOR)).await;
}

fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let ok = out.write_all(text.as_bytes()).is_ok()
        && (text.ends_with('\n') || out.write_all(b"\n").is_ok())
        && out.flush().is_ok();
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `openapi` returns before configuration is read, so it never reaches the dispatch.
fn unreachable_command() -> anyhow::Result<()> {
    anyhow::bail!("command handled earlier")
}
