//! The artifact format round-trips whatever way the stream is cut, and refuses damage.

use super::*;

fn sample() -> (Vec<Record>, Vec<u8>) {
    let records = vec![
        Record {
            db: 0,
            key: Bytes::from_static(b"plain"),
            expire_at_ms: NO_EXPIRY,
            value: Bytes::from_static(b"\x00\x03abc\x0a\x00"),
        },
        Record {
            db: 7,
            key: Bytes::from_static(b"\x00\xff\xfe bin"),
            expire_at_ms: 1_900_000_000_123,
            value: Bytes::from(vec![0u8; 70_000]),
        },
        Record {
            db: 3,
            key: Bytes::from("clé 🔑".as_bytes().to_vec()),
            expire_at_ms: NO_EXPIRY,
            value: Bytes::new(),
        },
    ];
    let mut enc = Encoder::new();
    let mut buf = BytesMut::new();
    enc.header(&mut buf);
    for r in &records {
        enc.record(&mut buf, r.db, &r.key, r.expire_at_ms, &r.value)
            .unwrap();
    }
    assert_eq!(enc.records(), 3);
    enc.trailer(&mut buf);
    (records, buf.to_vec())
}

fn decode(chunks: &[&[u8]]) -> Result<Vec<Record>, FormatError> {
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    for chunk in chunks {
        dec.push(chunk);
        while let Some(item) = dec.next_item()? {
            if let Item::Record(r) = item {
                out.push(r);
            }
        }
    }
    dec.finish()?;
    Ok(out)
}

#[test]
fn round_trips_across_every_split_point() {
    let (records, bytes) = sample();
    for cut in [1, 3, 7, 8, 9, 13, 100, 70_010, bytes.len() - 1] {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(decode(&[a, b]).unwrap(), records, "cut at {cut}");
    }
    let single_bytes: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode(&single_bytes).unwrap(), records);
}

#[test]
fn counts_consumed_bytes() {
    let (_, bytes) = sample();
    let mut dec = Decoder::new();
    dec.push(&bytes);
    while dec.next_item().unwrap().is_some() {}
    assert_eq!(dec.consumed(), bytes.len() as u64);
}

#[test]
fn refuses_damaged_streams() {
    let (_, bytes) = sample();
    let n = bytes.len();
    let cases: Vec<(&str, Vec<u8>, FormatError)> = vec![
        ("empty", vec![], FormatError::Truncated),
        ("half header", b"CAIRN".to_vec(), FormatError::Truncated),
        ("other magic", b"REDIS0011".to_vec(), FormatError::BadMagic),
        (
            "cut mid-record",
            bytes[..100].to_vec(),
            FormatError::Truncated,
        ),
        (
            "no trailer",
            bytes[..n - 16].to_vec(),
            FormatError::Truncated,
        ),
        (
            "cut trailer",
            bytes[..n - 3].to_vec(),
            FormatError::Truncated,
        ),
        (
            "trailing data",
            [&bytes[..], b"x"].concat(),
            FormatError::TrailingData,
        ),
        (
            "flipped value byte",
            {
                let mut b = bytes.clone();
                b[40] ^= 1;
                b
            },
            FormatError::ChecksumMismatch,
        ),
        (
            "wrong count",
            {
                let mut b = bytes.clone();
                b[n - 5] ^= 1;
                b
            },
            FormatError::CountMismatch {
                expected: 2,
                found: 3,
            },
        ),
    ];
    for (name, input, want) in cases {
        assert_eq!(decode(&[&input]).unwrap_err(), want, "{name}");
    }
}

#[test]
fn refuses_a_bad_header_before_it_is_complete() {
    let mut dec = Decoder::new();
    dec.push(b"CAIX");
    assert_eq!(dec.header(), Err(FormatError::BadMagic));
    let mut dec = Decoder::new();
    dec.push(b"CAIR");
    assert_eq!(dec.header(), Ok(false));
}
