//! `__SERVICE__`: serve until SIGTERM/SIGINT. Configuration comes from the environment.

use __CRATE__::{config::Config, startup};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("__SERVICE__: configuration error: {e}");
            std::process::exit(2);
        }
    };
    startup::serve(config).await
}
