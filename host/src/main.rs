use clap::Parser;

use sae_trigger_host::cli::Options;
use sae_trigger_host::{log, startup};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = Options::parse();
    let result = tokio::select! {
        result = startup::run(options) => result,
        reason = shutdown_signal() => {
            log::event("stopping", &[("reason", reason)]);
            Ok(())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            log::event("startup_failed", &[("error", &format!("{error:#}"))]);
            std::process::ExitCode::FAILURE
        }
    }
}

/// Waits for SIGINT or SIGTERM and returns which one arrived.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(_) => {
            // Without a SIGTERM handler, wait for Ctrl-C only.
            let _ = tokio::signal::ctrl_c().await;
            return "interrupt";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupt",
        _ = terminate.recv() => "terminate",
    }
}
