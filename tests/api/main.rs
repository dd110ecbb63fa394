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
mod languages;
mod metrics;
mod operations;
mod organizations;
mod pages;
mod pages_browser;
mod schema;
mod sessions;
mod social;
mod tokens;
mod two_factor;
mod verify;
