//! Command-line options.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::engine::DEFAULT_MAX_INSTANCES;

/// Runs a Spin HTTP application the way `spin up` does, for machines without
/// the Spin CLI.
#[derive(Debug, Parser)]
#[command(name = "sae-trigger-host", version, about)]
pub struct Options {
    /// Manifest to run: a spin.toml file, or a directory that contains one.
    #[arg(
        short = 'f',
        long = "from",
        value_name = "MANIFEST",
        default_value = "spin.toml"
    )]
    pub from: PathBuf,

    /// Address and port the HTTP server listens on.
    #[arg(long, value_name = "ADDRESS:PORT", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Sets application variable NAME to VALUE, or to the content of FILE
    /// with NAME=@FILE. Takes precedence over SPIN_VARIABLE_<NAME> and the
    /// manifest default. May be repeated.
    #[arg(long = "variable", value_name = "NAME=VALUE")]
    pub variables: Vec<String>,

    /// Directory for the key-value database (sqlite_key_value.db) and guest
    /// logs (logs/). Default: `.spin` next to the manifest.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Maximum number of requests served at once, each by its own component
    /// instance. Requests beyond it get 503 Service Unavailable.
    #[arg(
        long,
        value_name = "COUNT",
        default_value_t = DEFAULT_MAX_INSTANCES,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub max_instances: u32,
}
