//! Fuzzes the decoder of the `cairn-redis-v1` artifact, which a restore feeds with bytes
//! from storage in chunks split anywhere. Checked beyond "never panics": the outcome does
//! not depend on how the stream was split, a complete artifact accounts for every byte,
//! and the records it yields encode back to exactly the input.
//!
//! The decoder is compiled from its own source file rather than through `cairn-engines`,
//! so that a fuzz build does not instrument the engines' database clients (sqlx, redis,
//! tokio): that keeps the build inside CI's time budget. The file needs only `bytes`,
//! `crc32fast` and `thiserror`.
#![no_main]

#[allow(dead_code)]
#[path = "../../shared/engines/src/redis/format.rs"]
mod format;

use bytes::BytesMut;
use format::{Decoder, Encoder, FormatError, Item, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a chunk size, so splits land everywhere.
    let Some((&split, artifact)) = data.split_first() else {
        return;
    };
    let whole = decode(artifact, artifact.len().max(1));
    let chunked = decode(artifact, usize::from(split % 64) + 1);
    assert_eq!(whole, chunked, "the outcome depends on the chunking");
    if let Ok(records) = whole {
        let mut buf = BytesMut::new();
        let mut enc = Encoder::new();
        enc.header(&mut buf);
        for r in &records {
            enc.record(&mut buf, r.db, &r.key, r.expire_at_ms, &r.value)
                .expect("a decoded record encodes");
        }
        enc.trailer(&mut buf);
        assert_eq!(&buf[..], artifact, "decoded records encode to other bytes");
    }
});

/// Decodes as a restore does: push a chunk, take every complete item, and at the end of
/// the input require the trailer.
fn decode(artifact: &[u8], chunk: usize) -> Result<Vec<Record>, FormatError> {
    let mut dec = Decoder::new();
    let mut records = Vec::new();
    let mut ended = false;
    for piece in artifact.chunks(chunk) {
        dec.push(piece);
        while let Some(item) = dec.next_item()? {
            match item {
                Item::Record(r) => {
                    assert!(!ended, "a record after the trailer");
                    records.push(r);
                }
                Item::End => ended = true,
            }
        }
    }
    dec.finish()?;
    assert!(ended, "finish accepted a stream without its trailer");
    assert_eq!(
        dec.consumed(),
        artifact.len() as u64,
        "bytes unaccounted for"
    );
    Ok(records)
}
