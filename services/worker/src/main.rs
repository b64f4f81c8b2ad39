//! `orator-worker`: consume speech jobs from RabbitMQ.

use clap::Parser;
use orator_worker::{config::WorkerConfig, startup};

#[derive(Parser)]
#[command(
    version,
    about = "Orator's queue worker. Configuration comes from the environment (see README)."
)]
struct Cli {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Cli::parse();
    let config = match WorkerConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("orator-worker: configuration error: {e}");
            std::process::exit(2);
        }
    };
    startup::run(config).await
}
