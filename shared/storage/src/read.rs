//! Reading an artifact back as a stream of reasonably large chunks.

use crate::StorageError;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use object_store::{GetResult, GetResultPayload};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

/// Chunk size for reading local files: object_store's own file stream reads 8 KiB at a
/// time, one blocking task each, which makes a large artifact crawl.
const READ_CHUNK: u64 = 256 * 1024;

/// The object's bytes as a stream; local files are read in `READ_CHUNK` pieces.
pub(crate) fn chunks(result: GetResult) -> BoxStream<'static, Result<Bytes, StorageError>> {
    match result.payload {
        GetResultPayload::File(file, _path) => file_chunks(file, result.range),
        GetResultPayload::Stream(s) => s.map_err(StorageError::from).boxed(),
    }
}

/// Reads `range` of the file (the object's length when it was opened, no more).
fn file_chunks(file: File, range: Range<u64>) -> BoxStream<'static, Result<Bytes, StorageError>> {
    stream::try_unfold((file, range), |(mut file, range)| async move {
        if range.is_empty() {
            return Ok(None);
        }
        let want = (range.end - range.start).min(READ_CHUNK);
        let start = range.start;
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            file.seek(SeekFrom::Start(start))?;
            let mut buf = Vec::with_capacity(want as usize);
            (&mut file).take(want).read_to_end(&mut buf)?;
            Ok::<_, std::io::Error>((file, buf))
        })
        .await
        .map_err(std::io::Error::other)??;
        if chunk.is_empty() {
            // The file shrank under us: end here, the size check will notice.
            return Ok(None);
        }
        let next = start + chunk.len() as u64..range.end;
        Ok(Some((Bytes::from(chunk), (file, next))))
    })
    .boxed()
}
