//! Orator's queue worker.

pub mod config;
pub mod consumer;
pub mod faulty;
pub mod maintenance;
pub mod process;
pub mod startup;
