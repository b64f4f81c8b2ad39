//! A lazily (re)connecting RabbitMQ handle with publisher confirms.

use std::time::Duration;

use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties,
    options::{BasicPublishOptions, ConfirmSelectOptions},
};
use tokio::sync::Mutex;

use super::Topology;

/// A broker operation that failed; the message is not known to be stored.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Connection, channel or protocol error.
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker refused the message.
    #[error("broker did not confirm the message")]
    Nacked,
    /// Connecting took too long.
    #[error("amqp connect timed out")]
    Timeout,
}

/// One connection and one confirm-mode channel, opened on first use and reopened after a
/// failure. Cloning is not offered: share it in an `Arc`.
pub struct Broker {
    url: String,
    name: String,
    topology: Topology,
    connect_timeout: Duration,
    state: Mutex<Option<(Connection, Channel)>>,
}

impl Broker {
    /// A handle for `url`; nothing connects until first use.
    pub fn new(url: impl Into<String>, name: impl Into<String>, topology: Topology, connect_timeout: Duration) -> Self {
        Self {
            url: url.into(),
            name: name.into(),
            topology,
            connect_timeout,
            state: Mutex::new(None),
        }
    }

    /// The topology this handle declares.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Opens a new connection (declaring the topology); used by consumers, which want
    /// their own.
    pub async fn connect(&self) -> Result<Connection, QueueError> {
        let props = ConnectionProperties::default().with_connection_name(self.name.as_str().into());
        let conn = tokio::time::timeout(self.connect_timeout, Connection::connect(&self.url, props))
            .await
            .map_err(|_| QueueError::Timeout)??;
        let channel = conn.create_channel().await?;
        self.topology.declare(&channel).await?;
        let _ = channel.close(200, "topology declared".into()).await;
        Ok(conn)
    }

    /// The publishing channel, connecting if needed.
    pub async fn channel(&self) -> Result<Channel, QueueError> {
        let mut state = self.state.lock().await;
        if let Some((conn, channel)) = state.as_ref()
            && conn.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        *state = None;
        let conn = self.connect().await?;
        let channel = conn.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        *state = Some((conn, channel.clone()));
        tracing::info!(broker = %self.name, "amqp publisher connected");
        Ok(channel)
    }

    /// Drops the connection so the next call reconnects.
    pub async fn reset(&self) {
        if let Some((conn, _)) = self.state.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_millis(200), conn.close(200, "reset".into())).await;
        }
    }

    /// Publishes persistent messages and waits until the broker confirms every one.
    pub async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: impl IntoIterator<Item = (Vec<u8>, BasicProperties)>,
    ) -> Result<(), QueueError> {
        let result = async {
            let channel = self.channel().await?;
            let mut confirms = Vec::new();
            for (body, props) in messages {
                let props = props.with_delivery_mode(2).with_content_type("application/json".into());
                confirms.push(
                    channel
                        .basic_publish(
                            exchange.into(),
                            routing_key.into(),
                            BasicPublishOptions::default(),
                            &body,
                            props,
                        )
                        .await?,
                );
            }
            for confirm in confirms {
                match confirm.await? {
                    lapin::Confirmation::Nack(_) => return Err(QueueError::Nacked),
                    lapin::Confirmation::Ack(_) | lapin::Confirmation::NotRequested => {}
                }
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            self.reset().await;
        }
        result
    }
}
