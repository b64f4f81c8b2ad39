//! Audio on its way from a worker to the api request that waits for it.
//!
//! Each api process consumes one exclusive reply queue of its own and writes its name into
//! the sync jobs it creates; the worker publishes the job's audio there chunk by chunk as it
//! encodes it, then an end marker once the audio is stored. The broker stays the only path
//! (PostgreSQL and Redis are not in the chunk path), and nothing here is durable: a chunk
//! lost on the way (a reconnect, a full queue) shows as a gap, and the waiting request then
//! takes the rest of the audio from PostgreSQL, which remains the record.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use lapin::{
    BasicProperties, Connection,
    message::Delivery,
    options::{BasicConsumeOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, ShortString},
};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::Broker;

/// Messages a reply queue holds at most; past it the oldest go (and their streams fall
/// back to PostgreSQL), so a stalled api process cannot make the broker hoard audio.
const MAX_QUEUED: i64 = 10_000;
/// Replies buffered for one request before further ones are dropped (and it falls back).
const PER_REQUEST: usize = 512;

const KIND: &str = "x-orator-kind";
const ATTEMPT: &str = "x-orator-attempt";
const SEQ: &str = "x-orator-seq";
const RATE: &str = "x-orator-sample-rate";
const CHUNKS: &str = "x-orator-chunks";
const DURATION: &str = "x-orator-duration-ms";

/// One message of a job's audio stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The next encoded bytes; `seq` counts from 0 within an attempt.
    Chunk {
        /// The job's attempt that produced it.
        attempt: i32,
        /// Its place in the attempt's stream.
        seq: u32,
        /// Sample rate of the encoded audio.
        sample_rate: u32,
        /// Container bytes.
        bytes: Bytes,
    },
    /// The attempt's audio is complete and stored: `chunks` chunks were sent.
    End {
        /// The attempt that finished.
        attempt: i32,
        /// How many chunks it sent.
        chunks: u32,
        /// Length of the audio.
        duration_ms: u32,
    },
}

fn text(value: impl ToString) -> AMQPValue {
    AMQPValue::LongString(value.to_string().as_str().into())
}

impl Reply {
    /// The message's properties and body, for job `job`.
    pub fn encode(&self, job: Uuid) -> (BasicProperties, Vec<u8>) {
        let mut headers = FieldTable::default();
        let body = match self {
            Self::Chunk {
                attempt,
                seq,
                sample_rate,
                bytes,
            } => {
                headers.insert(KIND.into(), text("chunk"));
                headers.insert(ATTEMPT.into(), text(attempt));
                headers.insert(SEQ.into(), text(seq));
                headers.insert(RATE.into(), text(sample_rate));
                bytes.to_vec()
            }
            Self::End {
                attempt,
                chunks,
                duration_ms,
            } => {
                headers.insert(KIND.into(), text("end"));
                headers.insert(ATTEMPT.into(), text(attempt));
                headers.insert(CHUNKS.into(), text(chunks));
                headers.insert(DURATION.into(), text(duration_ms));
                Vec::new()
            }
        };
        let props = BasicProperties::default()
            .with_correlation_id(ShortString::from(job.to_string()))
            .with_headers(headers);
        (props, body)
    }

    /// The job and reply a delivery carries; `None` for anything else.
    pub fn decode(props: &BasicProperties, body: Vec<u8>) -> Option<(Uuid, Self)> {
        let job = props.correlation_id().as_ref()?.as_str().parse().ok()?;
        let headers = props.headers().as_ref()?;
        let field = |name: &str| match headers.inner().get(name)? {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            _ => None,
        };
        let number = |name: &str| field(name)?.parse::<u64>().ok();
        let attempt = field(ATTEMPT)?.parse().ok()?;
        let reply = match field(KIND)?.as_str() {
            "chunk" => Self::Chunk {
                attempt,
                seq: u32::try_from(number(SEQ)?).ok()?,
                sample_rate: u32::try_from(number(RATE)?).ok()?,
                bytes: body.into(),
            },
            "end" => Self::End {
                attempt,
                chunks: u32::try_from(number(CHUNKS)?).ok()?,
                duration_ms: u32::try_from(number(DURATION)?).ok()?,
            },
            _ => return None,
        };
        Some((job, reply))
    }
}

type Routes = Arc<Mutex<HashMap<Uuid, mpsc::Sender<Reply>>>>;

/// This process's reply queue and the requests waiting on it.
#[derive(Clone)]
pub struct Replies {
    queue: Arc<str>,
    routes: Routes,
}

/// The replies of one job, until dropped.
pub struct ReplyReceiver {
    job: Uuid,
    rx: mpsc::Receiver<Reply>,
    routes: Routes,
}

impl ReplyReceiver {
    /// The next reply; pending forever once the queue's consumer is gone.
    pub async fn recv(&mut self) -> Option<Reply> {
        self.rx.recv().await
    }
}

impl Drop for ReplyReceiver {
    fn drop(&mut self) {
        self.routes.lock().expect("reply routes poisoned").remove(&self.job);
    }
}

impl Replies {
    /// Starts consuming a new reply queue on its own connection, reconnecting (to a queue
    /// of the same name) until the process ends.
    pub fn start(broker: Arc<Broker>) -> Self {
        let me = Self {
            queue: broker.topology().reply_queue().into(),
            routes: Arc::default(),
        };
        tokio::spawn(me.clone().run(broker));
        me
    }

    /// The queue name workers reply to.
    pub fn address(&self) -> &str {
        &self.queue
    }

    /// Routes job `job`'s replies to the receiver (register before the job exists).
    pub fn register(&self, job: Uuid) -> ReplyReceiver {
        let (tx, rx) = mpsc::channel(PER_REQUEST);
        self.routes.lock().expect("reply routes poisoned").insert(job, tx);
        ReplyReceiver {
            job,
            rx,
            routes: self.routes.clone(),
        }
    }

    async fn run(self, broker: Arc<Broker>) {
        let mut backoff = Duration::from_millis(250);
        loop {
            match broker.connect().await {
                Ok(conn) => {
                    backoff = Duration::from_millis(250);
                    if let Err(e) = self.consume(&conn).await {
                        tracing::warn!(queue = %self.queue, error = %e, "reply queue consumer failed; reconnecting");
                    }
                    let _ = tokio::time::timeout(Duration::from_millis(200), conn.close(200, "reconnect".into())).await;
                }
                Err(e) => tracing::warn!(error = %e, "reply queue cannot reach RabbitMQ"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn consume(&self, conn: &Connection) -> lapin::Result<()> {
        let channel = conn.create_channel().await?;
        let mut args = FieldTable::default();
        args.insert("x-max-length".into(), AMQPValue::LongLongInt(MAX_QUEUED));
        // Exclusive: it goes with this process's connection, and no one else can read it.
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        channel.queue_declare(self.queue.as_ref().into(), options, args).await?;
        let mut consumer = channel
            .basic_consume(
                self.queue.as_ref().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        tracing::info!(queue = %self.queue, "consuming audio replies");
        while let Some(delivery) = consumer.next().await {
            self.route(delivery?);
        }
        Ok(())
    }

    fn route(&self, delivery: Delivery) {
        let Some((job, reply)) = Reply::decode(&delivery.properties, delivery.data) else {
            tracing::debug!("unreadable reply dropped");
            return;
        };
        let routes = self.routes.lock().expect("reply routes poisoned");
        // Nobody waits any more (the request ended) or it cannot keep up: dropped, and a
        // waiter that misses a chunk reads the stored audio instead.
        if let Some(tx) = routes.get(&job) {
            let _ = tx.try_send(reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_survive_their_encoding() {
        let job = Uuid::now_v7();
        for reply in [
            Reply::Chunk {
                attempt: 2,
                seq: 7,
                sample_rate: 22_050,
                bytes: Bytes::from_static(b"\xff\xf1audio"),
            },
            Reply::End {
                attempt: 2,
                chunks: 8,
                duration_ms: 12_345,
            },
        ] {
            let (props, body) = reply.encode(job);
            assert_eq!(Reply::decode(&props, body), Some((job, reply)));
        }
        assert_eq!(Reply::decode(&BasicProperties::default(), vec![1]), None);
    }
}
