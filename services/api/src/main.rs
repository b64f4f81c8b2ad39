//! `orator-api`: serve the API, or manage keys and migrations.

use clap::{Parser, Subcommand};
use orator_api::{config::ApiConfig, keys, startup};

#[derive(Parser)]
#[command(
    version,
    about = "Orator's HTTP API. Configuration comes from the environment (see README)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create the database if missing and apply migrations, then exit.
    Migrate,
    /// Manage API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = match ApiConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("orator-api: configuration error: {e}");
            std::process::exit(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => startup::serve(config).await,
        Command::Migrate => {
            startup::database(&ApiConfig {
                migrate: true,
                ..config
            })
            .await?;
            Ok(())
        }
        Command::Keys(command) => {
            let pool = startup::database(&config).await?;
            keys::run(&pool, command).await
        }
    }
}
