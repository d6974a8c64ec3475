//! Where an export's bytes go, in chunks: a writer, or a channel feeding a streamed HTTP
//! response. Every writer fills the same buffer, so the bytes match whichever target.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

/// Bytes are handed on in pieces of about this size: big enough to keep per-chunk overhead
/// negligible, small enough that a streamed download starts at once and memory stays flat.
const CHUNK_BYTES: usize = 64 * 1024;

/// A buffer the CSV writer fills and [`ExportOut`] drains.
#[derive(Clone, Default)]
pub(super) struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A poisoned lock only means a writer panicked mid-write; the bytes are still bytes.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where an export's bytes go: a writer (a file, standard output, memory), or a channel that
/// feeds a streamed HTTP response and pushes back when the client reads slowly. Either way the
/// bytes are the same.
pub struct ExportOut<'a> {
    pub(super) buf: SharedBuf,
    target: Target<'a>,
}

enum Target<'a> {
    Writer(&'a mut dyn Write),
    Channel {
        tx: mpsc::Sender<std::io::Result<Vec<u8>>>,
        /// Give up when the receiver takes no chunk for this long.
        stall_limit: Option<std::time::Duration>,
    },
}

impl<'a> ExportOut<'a> {
    pub fn writer(out: &'a mut dyn Write) -> ExportOut<'a> {
        ExportOut {
            buf: SharedBuf::default(),
            target: Target::Writer(out),
        }
    }

    /// Sends the bytes in chunks down `tx`; fails with `BrokenPipe` once the receiver is gone
    /// (the client disconnected), which stops the export.
    pub fn channel(tx: mpsc::Sender<std::io::Result<Vec<u8>>>) -> ExportOut<'static> {
        ExportOut {
            buf: SharedBuf::default(),
            target: Target::Channel {
                tx,
                stall_limit: None,
            },
        }
    }

    /// Fails with `TimedOut` when the receiver takes no chunk for `limit` (a client that stopped
    /// reading), so the export ends and frees what it holds.
    pub fn with_stall_limit(mut self, limit: std::time::Duration) -> ExportOut<'a> {
        if let Target::Channel { stall_limit, .. } = &mut self.target {
            *stall_limit = Some(limit);
        }
        self
    }

    fn pending(&self) -> usize {
        self.buf.lock().len()
    }

    /// Hands on what is buffered when there is at least `at_least` bytes of it.
    async fn drain(&mut self, at_least: usize) -> std::io::Result<()> {
        let chunk = {
            let mut buf = self.buf.lock();
            if buf.is_empty() || buf.len() < at_least {
                return Ok(());
            }
            std::mem::replace(&mut *buf, Vec::with_capacity(CHUNK_BYTES + 4096))
        };
        match &mut self.target {
            Target::Writer(w) => w.write_all(&chunk),
            Target::Channel { tx, stall_limit } => {
                let gone =
                    |_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away");
                match stall_limit {
                    None => tx.send(Ok(chunk)).await.map_err(gone),
                    Some(limit) => match tokio::time::timeout(*limit, tx.send(Ok(chunk))).await {
                        Ok(sent) => sent.map_err(gone),
                        Err(_) => Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the client stopped reading",
                        )),
                    },
                }
            }
        }
    }

    /// Writes bytes made in memory (the stats JSON, the annotators CSV).
    pub async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buf.lock().extend_from_slice(bytes);
        self.drain(CHUNK_BYTES).await
    }

    /// After a row that `w` (writing into this output's buffer) wrote: hands on a chunk once
    /// one is full.
    pub(super) async fn row_written(
        &mut self,
        w: &mut csv::Writer<SharedBuf>,
    ) -> std::io::Result<()> {
        if self.pending() >= CHUNK_BYTES {
            w.flush()?;
            self.drain(CHUNK_BYTES).await?;
        }
        Ok(())
    }

    /// [`ExportOut::finish`] for a file written through `w`.
    pub(super) async fn finish_rows(
        &mut self,
        w: &mut csv::Writer<SharedBuf>,
    ) -> std::io::Result<()> {
        w.flush()?;
        self.finish().await
    }

    /// Hands on everything still buffered; call once at the end.
    pub async fn finish(&mut self) -> std::io::Result<()> {
        self.drain(1).await?;
        if let Target::Writer(w) = &mut self.target {
            w.flush()?;
        }
        Ok(())
    }
}
