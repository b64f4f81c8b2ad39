//! Exchange and queue names and their idempotent declaration.

use lapin::{
    Channel, ExchangeKind,
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, LongString},
};

/// Names of Orator's exchange and queues, all sharing one prefix.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Direct exchange that routes jobs.
    pub exchange: String,
    /// `tts.jobs`: the work queue.
    pub jobs: String,
    /// `tts.jobs.retry`: messages wait here for their per-message TTL, then dead-letter
    /// back to `jobs`.
    pub retry: String,
    /// `tts.jobs.dead`: jobs that exhausted their attempts or could not be read.
    /// All three are quorum queues (see [`quorum`]).
    pub dead: String,
    /// Start of every api process's reply queue name (see [`Topology::reply_queue`]).
    pub replies: String,
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Arguments of a quorum queue whose dead-lettering is confirmed: a classic queue drops a
/// dead-lettered message if the target refuses it, a quorum queue with `at-least-once`
/// keeps it until the target has it (which needs `reject-publish` overflow). Replicated
/// and fsynced too, at some throughput cost that the jobs' rate never approaches.
fn quorum() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), text("quorum"));
    args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    args.insert("x-overflow".into(), text("reject-publish"));
    args
}

impl Topology {
    /// Names under `prefix` (empty in production; a per-run prefix in tests).
    pub fn new(prefix: &str) -> Self {
        Self {
            exchange: format!("{prefix}tts"),
            jobs: format!("{prefix}tts.jobs"),
            retry: format!("{prefix}tts.jobs.retry"),
            dead: format!("{prefix}tts.jobs.dead"),
            replies: format!("{prefix}tts.replies."),
        }
    }

    /// A new reply queue name, one per api process: `tts.replies.<uuid>`.
    pub fn reply_queue(&self) -> String {
        format!("{}{}", self.replies, uuid::Uuid::now_v7())
    }

    /// Declares everything; safe to repeat from every process.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;

        // A rejected (unreadable) message goes straight to the dead-letter queue.
        let mut jobs_args = quorum();
        jobs_args.insert("x-dead-letter-exchange".into(), text(""));
        jobs_args.insert("x-dead-letter-routing-key".into(), text(&self.dead));
        channel
            .queue_declare(self.jobs.as_str().into(), durable, jobs_args)
            .await?;
        channel
            .queue_bind(
                self.jobs.as_str().into(),
                self.exchange.as_str().into(),
                self.jobs.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        let mut retry_args = quorum();
        retry_args.insert("x-dead-letter-exchange".into(), text(&self.exchange));
        retry_args.insert("x-dead-letter-routing-key".into(), text(&self.jobs));
        channel
            .queue_declare(self.retry.as_str().into(), durable, retry_args)
            .await?;

        channel
            .queue_declare(self.dead.as_str().into(), durable, quorum())
            .await?;
        Ok(())
    }
}
