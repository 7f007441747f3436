//! The streaming pipeline: raw chunks → zstd (multi-threaded, in a blocking thread) →
//! sha256 → multipart upload, and stored chunks → zstd decoder → raw chunks. Memory is
//! bounded by channel capacities and part sizes, never by the dump's size.

use crate::crypto::{Decryption, Sealer};
use crate::StorageError;
use bytes::{Buf, Bytes};
use cairn_domain::Failure;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::io::{self, BufRead, Read, Write};
use std::sync::Arc;
use tokio::sync::mpsc;

pub use crate::upload::{Stored, Upload, MAX_PARTS_IN_FLIGHT, PART_SIZE};

/// Size of the compressed chunks the encoder hands to the upload.
const COMPRESSED_CHUNK: usize = 1024 * 1024;
/// Size of the raw chunks the decoder produces.
const RAW_CHUNK: usize = 256 * 1024;
/// Capacity of every channel inside the pipeline.
const CHANNEL_CAPACITY: usize = 4;
/// Input per zstd worker job. zstd's default at level 3 is 8 MiB, which makes its
/// multi-threaded buffers alone grow RSS by ~75 MiB (4 MiB: ~40, 2 MiB: ~20, measured);
/// smaller jobs cost next to no ratio (each overlaps the previous job's window).
const ZSTD_JOB_SIZE: u32 = 2 * 1024 * 1024;

/// Counters the pipeline bumps as it goes (raw bytes in, stored bytes out).
pub trait ProgressSink: Send + Sync + 'static {
    fn raw(&self, n: u64);
    fn stored(&self, n: u64);
}

/// A sink for callers that do not report progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn raw(&self, _: u64) {}
    fn stored(&self, _: u64) {}
}

/// Compresses everything received on `raw` into `upload` until the channel closes.
/// Returns the upload, all bytes written but not yet committed: call `Upload::finish`
/// when the producer succeeded, `Upload::abort` when it failed.
///
/// On error the upload is aborted here (the caller no longer holds it) and `raw` is
/// dropped as soon as the next chunk arrives, so the producer's sends fail.
///
/// Memory: at level 3 on two cores, 300 MB of incompressible input grew RSS by ~56 MiB
/// (zstd's job buffers ~20 MiB, parts in flight 8–24 MiB, channels a few MiB). Higher
/// levels use larger windows and more memory.
pub async fn compress(
    raw: mpsc::Receiver<Bytes>,
    mut upload: Upload,
    level: i32,
    progress: Arc<dyn ProgressSink>,
) -> Result<Upload, StorageError> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_CAPACITY);
    let encoder_progress = Arc::clone(&progress);
    let encryptor = upload.take_encryptor();
    let encoder =
        tokio::task::spawn_blocking(move || encode(raw, tx, encryptor, level, &*encoder_progress));

    let mut failed = None;
    while let Some(chunk) = rx.recv().await {
        let n = chunk.len() as u64;
        if let Err(e) = upload.write(chunk).await {
            failed = Some(e);
            break;
        }
        progress.stored(n);
    }
    // Closing our end makes the encoder thread stop at its next chunk.
    drop(rx);
    let error = match failed {
        Some(e) => e,
        None => match encoder.await {
            Ok(Ok(raw_bytes)) => {
                upload.add_raw(raw_bytes);
                return Ok(upload);
            }
            Ok(Err(e)) => StorageError::Io(e),
            Err(join) => StorageError::Io(io::Error::other(format!("zstd encoder: {join}"))),
        },
    };
    if let Err(abort_error) = upload.abort().await {
        tracing::warn!(error = %abort_error, "could not abort a failed upload");
    }
    Err(error)
}

fn workers() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// The blocking side of `compress`: raw chunks in, zstd frame out (age-encrypted when
/// the storage encrypts) as ~1 MiB chunks. Returns the number of raw bytes compressed.
fn encode(
    mut raw: mpsc::Receiver<Bytes>,
    tx: mpsc::Sender<Bytes>,
    encryptor: Option<age::Encryptor>,
    level: i32,
    progress: &dyn ProgressSink,
) -> io::Result<u64> {
    let watch = tx.clone();
    let sealer = Sealer::new(ChunkSender::new(tx), encryptor)?;
    let mut encoder = zstd::stream::write::Encoder::new(sealer, level)?;
    encoder.include_checksum(true)?;
    encoder.multithread(workers())?;
    encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
    let mut total = 0u64;
    while let Some(chunk) = raw.blocking_recv() {
        if watch.is_closed() {
            return Err(upload_stopped());
        }
        encoder.write_all(&chunk)?;
        total += chunk.len() as u64;
        progress.raw(chunk.len() as u64);
    }
    let mut sink = encoder.finish()?.finish()?;
    sink.flush()?;
    Ok(total)
}

fn upload_stopped() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped")
}

/// A `Write` that batches the encoder's output into chunks and sends them to the upload.
struct ChunkSender {
    buf: Vec<u8>,
    tx: mpsc::Sender<Bytes>,
}

impl ChunkSender {
    fn new(tx: mpsc::Sender<Bytes>) -> Self {
        Self {
            buf: Vec::with_capacity(COMPRESSED_CHUNK),
            tx,
        }
    }
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(COMPRESSED_CHUNK));
        self.tx
            .blocking_send(Bytes::from(chunk))
            .map_err(|_| upload_stopped())
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(COMPRESSED_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= COMPRESSED_CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Decompresses a stored artifact stream into raw chunks on a bounded channel. An error
/// reading or decoding arrives as an `Err` item, after which the channel closes. Must be
/// called inside a tokio runtime; dropping the receiver stops the work.
///
/// A read error keeps its own failure (a backend hiccup is retryable); bytes that do not
/// decode, including a truncated frame, are the permanent failure `corrupt_artifact`,
/// unless the input, read on to its end, ends with an error (such as the checksum
/// mismatch of [`crate::ArtifactStore::read_verified`]): then that error.
pub fn decompress(
    stored: BoxStream<'static, Result<Bytes, StorageError>>,
    progress: Arc<dyn ProgressSink>,
) -> mpsc::Receiver<Result<Bytes, Failure>> {
    decrypt_and_decompress(stored, None, progress)
}

/// As [`decompress`], decrypting first with `decryption` (from
/// `ArtifactStore::decryption`) when the artifact is encrypted.
pub fn decrypt_and_decompress(
    stored: BoxStream<'static, Result<Bytes, StorageError>>,
    decryption: Option<Decryption>,
    progress: Arc<dyn ProgressSink>,
) -> mpsc::Receiver<Result<Bytes, Failure>> {
    let (in_tx, in_rx) = mpsc::channel(CHANNEL_CAPACITY);
    let (out_tx, out_rx) = mpsc::channel(CHANNEL_CAPACITY);
    let reader_progress = Arc::clone(&progress);
    // Both halves end by themselves once the consumer drops `out_rx`: the decoder's send
    // fails, it drops `in_rx`, and then the reader's send fails.
    tokio::spawn(async move {
        let mut stored = stored;
        while let Some(item) = stored.next().await {
            let last = item.is_err();
            if let Ok(chunk) = &item {
                reader_progress.stored(chunk.len() as u64);
            }
            if in_tx.send(item).await.is_err() || last {
                break;
            }
        }
    });
    tokio::task::spawn_blocking(move || decode(in_rx, decryption, out_tx, &*progress));
    out_rx
}

fn decode(
    rx: mpsc::Receiver<Result<Bytes, StorageError>>,
    decryption: Option<Decryption>,
    out: mpsc::Sender<Result<Bytes, Failure>>,
    progress: &dyn ProgressSink,
) {
    let mut reader = ChannelReader {
        rx,
        current: Bytes::new(),
        error: None,
    };
    let decoded = match &decryption {
        None => zstd::stream::read::Decoder::with_buffer(&mut reader)
            .and_then(|d| run_decoder(d, &out, progress)),
        Some(d) => d
            .reader(&mut reader)
            .and_then(zstd::stream::read::Decoder::new)
            .and_then(|d| run_decoder(d, &out, progress)),
    };
    if let Err(e) = decoded {
        // Bytes that do not decode may be bytes that differ from the manifest: read on to
        // the end, where a verified stream says so, to report the checksum mismatch.
        let failure = match reader.error.take().or_else(|| reader.drain()) {
            Some(read_error) => read_error.to_failure(),
            None => Failure::permanent(
                "corrupt_artifact",
                format!(
                    "the stored artifact does not decrypt or decompress ({e}); it is corrupt or truncated"
                ),
            ),
        };
        let _ = out.blocking_send(Err(failure));
    }
}

/// Decodes until the end of the input; `Ok` also when the consumer went away.
fn run_decoder(
    mut decoder: impl Read,
    out: &mpsc::Sender<Result<Bytes, Failure>>,
    progress: &dyn ProgressSink,
) -> io::Result<()> {
    loop {
        let mut buf = vec![0u8; RAW_CHUNK];
        let n = read_full(&mut decoder, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        buf.truncate(n);
        progress.raw(n as u64);
        if out.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return Ok(());
        }
    }
}

/// Reads until `buf` is full or the input ends.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The stored chunks as a `BufRead` for the (blocking) zstd decoder.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, StorageError>>,
    current: Bytes,
    /// The read error that ended the input, kept to report it as it was.
    error: Option<StorageError>,
}

impl ChannelReader {
    /// Reads the rest of the input; the error it ends with, if any.
    fn drain(&mut self) -> Option<StorageError> {
        while let Some(item) = self.rx.blocking_recv() {
            if let Err(e) = item {
                return Some(e);
            }
        }
        None
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.current.is_empty() {
            if let Some(e) = &self.error {
                return Err(io::Error::other(e.to_string()));
            }
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => self.error = Some(e),
                None => break,
            }
        }
        Ok(&self.current)
    }
    fn consume(&mut self, n: usize) {
        self.current.advance(n);
    }
}
