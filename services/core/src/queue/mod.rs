//! RabbitMQ: topology, a reconnecting broker handle, the job message and the outbox relay.

mod broker;
mod message;
mod relay;
mod replies;
mod topology;

pub use broker::{Broker, MESSAGES_PUBLISHED, Outgoing, PUBLISHED_AT_HEADER, QueueError};
pub use message::JobMessage;
pub use relay::Relay;
pub use replies::{Replies, Reply, ReplyReceiver};
pub use topology::Topology;
