//! Guest stdout and stderr: copied to the host's stderr and appended to
//! `<state-dir>/logs/<component>_stdout.txt` and `<component>_stderr.txt`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use anyhow::{Context as _, Result};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// A guest output stream that writes to the host's stderr and to a log file.
#[derive(Clone)]
pub struct TeeOutput {
    file: Arc<Mutex<File>>,
}

impl TeeOutput {
    /// Opens `<logs_dir>/<component>_<stream>.txt` for appending.
    pub fn open(logs_dir: &Path, component: &str, stream: &str) -> Result<Self> {
        let path = logs_dir.join(format!("{component}_{stream}.txt"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("failed to open guest log file {}", path.display()))?;
        Ok(Self {
            file: Arc::new(Mutex::new(file)),
        })
    }
}

impl IsTerminal for TeeOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TeeOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(TeeWriter {
            file: self.file.clone(),
        })
    }
}

struct TeeWriter {
    file: Arc<Mutex<File>>,
}

impl AsyncWrite for TeeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // Both writes are small blocking writes to local files, as in
        // wasmtime-wasi's own stdio streams.
        std::io::stderr().lock().write_all(buf)?;
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(buf)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::io::stderr().lock().flush()?;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}
