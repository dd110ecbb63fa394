//! Black-box tests: the real server over HTTP, on SQLite and on PostgreSQL.

mod helpers;
mod proxy;
mod services;
mod smtp_sink;

mod abuse;
mod accounts;
mod admin;
mod cli;
mod compat;
mod email;
mod metrics;
mod operations;
mod schema;
mod sessions;
mod tokens;
mod two_factor;
mod verify;
