//! What the api and the worker share: configuration helpers, domain types, PostgreSQL
//! repositories, the Redis cache and rate limiter, and the RabbitMQ topology and outbox.

pub mod cache;
pub mod completion;
pub mod config;
pub mod db;
pub mod domain;
pub mod health;
pub mod queue;
