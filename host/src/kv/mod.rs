//! Key-value stores: the SQLite database and the guest-facing interfaces.

pub mod host;
pub mod sqlite;
mod wasi;

pub use sqlite::{KvConnection, KvError, SqliteKv};
