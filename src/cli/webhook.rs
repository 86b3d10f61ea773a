//! `motcua webhook`: a client's webhook endpoints, through the same service functions as the
//! operator API.

use clap::Subcommand;

use super::{print, record};
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::webhooks::service;

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Register an endpoint; prints JSON with its `id` and `secret` (`whsec_…`, shown this
    /// once).
    Add {
        /// The client (service provider) the events are for.
        #[arg(long)]
        client: String,
        /// https, resolving only to public addresses (unless MOTCUA_WEBHOOK_ALLOW_PRIVATE=1).
        #[arg(long)]
        url: String,
        /// Event types: dossier.submitted, dossier.supplemented, dossier.withdrawn,
        /// dossier.status_changed. Repeatable, or several after one flag.
        #[arg(long = "event", num_args = 1.., required = true)]
        events: Vec<String>,
    },
    /// Print a client's endpoints as JSON.
    List {
        #[arg(long)]
        client: String,
    },
    /// Delete an endpoint and its pending deliveries.
    Remove {
        #[arg(long)]
        client: String,
        /// The endpoint id (`wh_…`).
        #[arg(long)]
        id: String,
    },
}

pub async fn run(config: Config, command: WebhookCommand) -> anyhow::Result<()> {
    crate::startup::install_crypto_provider();
    let pool = crate::db::prepare(config.database_url.expose()).await?;
    let output = match command {
        WebhookCommand::Add {
            client,
            url,
            events,
        } => {
            let master = MasterKey::new(*config.master_key.expose());
            let events: Vec<String> = events
                .iter()
                .flat_map(|e| e.split([' ', ',']))
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect();
            let done =
                service::create(&pool, &master, &config.webhooks, &client, &url, &events).await?;
            record(&pool, done.event).await;
            let mut out = serde_json::to_value(&done.value.endpoint)?;
            if let Some(object) = out.as_object_mut() {
                object.insert("secret".into(), done.value.secret.into());
            }
            out
        }
        WebhookCommand::List { client } => {
            serde_json::to_value(service::list(&pool, &client).await?)?
        }
        WebhookCommand::Remove { client, id } => {
            let done = service::delete(&pool, &client, &id).await?;
            record(&pool, done.event).await;
            serde_json::json!({ "id": id, "deleted": true })
        }
    };
    pool.close().await;
    print(&output.to_string());
    Ok(())
}
