//! `orator-api keys …`: manage API keys from the command line.

use clap::Subcommand;
use orator_core::db::api_keys;
use sqlx::PgPool;
use uuid::Uuid;

/// Key management commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (shown once).
    Create {
        /// A label for the key.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by id.
    Revoke {
        /// The key's id, from `keys list`.
        id: Uuid,
    },
}

/// Runs a key command, printing JSON to stdout.
pub async fn run(pool: &PgPool, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create { name } => {
            let (record, key) = api_keys::create(pool, &name).await?;
            println!(
                "{}",
                serde_json::json!({ "id": record.id, "name": record.name, "key": key })
            );
        }
        KeysCommand::List => {
            for key in api_keys::list(pool).await? {
                println!("{}", serde_json::to_string(&key)?);
            }
        }
        KeysCommand::Revoke { id } => {
            if !api_keys::revoke(pool, id).await? {
                anyhow::bail!("no active key with id {id}");
            }
            println!("{}", serde_json::json!({ "id": id, "revoked": true }));
        }
    }
    Ok(())
}
