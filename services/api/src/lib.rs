//! Orator's HTTP API.

pub mod admission;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod key_cache;
pub mod keys;
pub mod limits;
pub mod listener;
pub mod routes;
pub mod startup;
pub mod state;
