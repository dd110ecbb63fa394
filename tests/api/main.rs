//! Black-box tests: the real server over HTTP, on SQLite and on PostgreSQL.

mod helpers;

mod accounts;
mod cli;
mod compat;
mod operations;
mod sessions;
mod tokens;
mod verify;
