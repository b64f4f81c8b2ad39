//! Orator's queue worker.

pub mod config;
pub mod consumer;
pub mod faulty;
pub mod process;
pub mod startup;
