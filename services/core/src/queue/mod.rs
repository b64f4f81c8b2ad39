//! RabbitMQ: topology, a reconnecting broker handle, the job message and the outbox relay.

mod broker;
mod message;
mod relay;
mod topology;

pub use broker::{Broker, QueueError};
pub use message::JobMessage;
pub use relay::Relay;
pub use topology::Topology;
