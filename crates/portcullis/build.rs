//! Rebuilds the crate when a migration is added or edited: `sqlx::migrate!` embeds the files at
//! compile time, and on stable Rust cargo cannot see that a macro read them, so a new migration
//! alone would leave a binary that does not apply it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
