//! A local stand-in for `spin up`: serves a Spin HTTP application's
//! components with Wasmtime, for tests and for machines without the Spin CLI.

pub mod allowed_hosts;
pub mod bindings;
pub mod cli;
pub mod engine;
pub mod kv;
pub mod log;
pub mod manifest;
pub mod names;
pub mod outbound;
pub mod precompiled;
pub mod routes;
pub mod runtime;
pub mod server;
pub mod startup;
pub mod state;
pub mod stdio;
pub mod template;
pub mod variables;
