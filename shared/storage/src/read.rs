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

/// `inner`, followed by an `Err` item when its bytes do not add up to `size` with the
/// sha256 `sha256` (hex).
pub(crate) fn verified(
    inner: BoxStream<'static, Result<Bytes, StorageError>>,
    backup: String,
    size: u64,
    sha256: String,
) -> BoxStream<'static, Result<Bytes, StorageError>> {
    use sha2::{Digest, Sha256};
    struct State {
        inner: BoxStream<'static, Result<Bytes, StorageError>>,
        hasher: Sha256,
        seen: u64,
        done: bool,
    }
    let state = State {
        inner,
        hasher: Sha256::new(),
        seen: 0,
        done: false,
    };
    stream::unfold(state, move |mut st| {
        let (backup, sha256) = (backup.clone(), sha256.clone());
        async move {
            if st.done {
                return None;
            }
            match st.inner.next().await {
                Some(Ok(chunk)) => {
                    st.hasher.update(&chunk);
                    st.seen += chunk.len() as u64;
                    Some((Ok(chunk), st))
                }
                Some(Err(e)) => {
                    st.done = true;
                    Some((Err(e), st))
                }
                None => {
                    st.done = true;
                    if st.seen != size {
                        let e = StorageError::SizeMismatch {
                            backup,
                            expected: size,
                            actual: st.seen,
                        };
                        return Some((Err(e), st));
                    }
                    let actual = hex::encode(std::mem::take(&mut st.hasher).finalize());
                    if !actual.eq_ignore_ascii_case(&sha256) {
                        let e = StorageError::ChecksumMismatch {
                            backup,
                            expected: sha256,
                            actual,
                        };
                        return Some((Err(e), st));
                    }
                    None
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod verified_tests {
    use super::*;

    async fn items(data: &[&'static [u8]], size: u64, sha: &str) -> Vec<Result<Bytes, String>> {
        let inner = stream::iter(
            data.iter()
                .map(|d| Ok::<_, StorageError>(Bytes::from_static(d)))
                .collect::<Vec<_>>(),
        )
        .boxed();
        verified(inner, "b".into(), size, sha.into())
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
            .await
    }

    #[tokio::test]
    async fn a_mismatch_arrives_after_the_last_chunk() {
        use sha2::{Digest, Sha256};
        let good = hex::encode(Sha256::digest(b"abcd"));
        let ok = items(&[b"ab", b"cd"], 4, &good).await;
        assert_eq!(ok.len(), 2);
        assert!(ok.iter().all(|i| i.is_ok()));

        let changed = items(&[b"ab", b"cX"], 4, &good).await;
        assert_eq!(changed.len(), 3);
        assert!(changed[2].is_err(), "{changed:?}");

        let short = items(&[b"ab"], 4, &good).await;
        assert_eq!(short.len(), 2);
        assert!(short[1].is_err(), "{short:?}");
    }
}
