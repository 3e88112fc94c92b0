//! The on-disk format of a segment, and the scan that validates one.
//!
//! A segment is a header followed by records and then zeros:
//!
//! ```text
//! header:  b"ZKRSTXLG" | u32 version (LE) | u32 reserved (0)          16 bytes
//! record:  u32 len (LE) | u32 crc32 (LE) | u64 zxid (LE) | payload      8 + len bytes
//! ```
//!
//! `len` counts the zxid and the payload, so it is at least 8 and a zero `len` (the
//! preallocated, zero-filled tail) marks the end of the records. The CRC covers the zxid and
//! the payload.

use crate::txn::Zxid;

/// The magic at the start of every segment.
pub(crate) const MAGIC: &[u8; 8] = b"ZKRSTXLG";
/// ZooKeeper's own transaction log magic ("ZKLG"), recognised only to name it in an error.
const ZOOKEEPER_MAGIC: &[u8; 4] = b"ZKLG";
/// The format version this build writes and reads.
pub(crate) const VERSION: u32 = 1;
/// Bytes of the segment header.
pub(crate) const HEADER_LEN: usize = 16;
/// Bytes of a record before its payload: len, crc, zxid.
pub(crate) const RECORD_OVERHEAD: usize = 16;
/// The largest payload a record can carry (the u32 length also counts the zxid).
pub(crate) const MAX_PAYLOAD: usize = u32::MAX as usize - 8;

/// The segment header.
pub(crate) fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// Appends one encoded record to `out`. The caller has checked `payload.len() <= MAX_PAYLOAD`.
pub(crate) fn encode_record(out: &mut Vec<u8>, zxid: Zxid, payload: &[u8]) {
    let len = (8 + payload.len()) as u32;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&zxid.to_le_bytes());
    hasher.update(payload);
    let crc = hasher.finalize();
    out.reserve(RECORD_OVERHEAD + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&zxid.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The crc32 of a record body (zxid and payload).
pub(crate) fn crc_of(body: &[u8]) -> u32 {
    crc32fast::hash(body)
}

fn u32_at(buf: &[u8], off: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[off..off + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(buf: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[off..off + 8]);
    u64::from_le_bytes(b)
}

/// What is wrong with a segment header.
#[derive(Debug)]
pub(crate) enum HeaderProblem {
    /// Shorter than a header, or all zeros: a segment whose creation did not complete.
    Missing,
    /// Something else: the reason names it.
    Foreign(String),
}

/// Checks the header at the start of `buf`.
pub(crate) fn check_header(buf: &[u8]) -> Result<(), HeaderProblem> {
    if buf.len() < HEADER_LEN {
        if buf.iter().all(|&b| b == 0) {
            return Err(HeaderProblem::Missing);
        }
        return Err(HeaderProblem::Foreign(format!(
            "file is {} bytes, shorter than the {HEADER_LEN}-byte segment header",
            buf.len()
        )));
    }
    let h = &buf[..HEADER_LEN];
    if h.iter().all(|&b| b == 0) {
        return Err(HeaderProblem::Missing);
    }
    if &h[..8] != MAGIC {
        if &h[..4] == ZOOKEEPER_MAGIC {
            return Err(HeaderProblem::Foreign(
                "this is an Apache ZooKeeper transaction log (magic \"ZKLG\"), which zk-rs \
                 does not read; give zk-rs its own data directory"
                    .to_owned(),
            ));
        }
        return Err(HeaderProblem::Foreign(format!(
            "bad magic {:02x?}, expected {:02x?} (\"ZKRSTXLG\"): not a zk-rs log segment",
            &h[..8],
            MAGIC
        )));
    }
    let version = u32_at(h, 8);
    if version != VERSION {
        return Err(HeaderProblem::Foreign(format!(
            "segment format version {version}; this build reads version {VERSION} only"
        )));
    }
    Ok(())
}

/// One valid record found by a scan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordPos {
    /// Its zxid.
    pub(crate) zxid: Zxid,
    /// Offset of its length field.
    pub(crate) offset: usize,
    /// Offset just past it.
    pub(crate) end: usize,
}

/// Why a scan stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// A zero length, or the end of the file exactly at a record boundary.
    End,
    /// An invalid record.
    Bad(String),
}

/// Parses the record at `off`, if it is a complete, CRC-valid record whose zxid is above
/// `prev`. On failure, says why.
pub(crate) fn parse_at(buf: &[u8], off: usize, prev: Zxid) -> Result<Option<RecordPos>, String> {
    let rest = buf.len() - off;
    if rest == 0 {
        return Ok(None);
    }
    if rest < 4 {
        if buf[off..].iter().all(|&b| b == 0) {
            return Ok(None);
        }
        return Err(format!(
            "{rest} stray bytes where a record length should be"
        ));
    }
    let len = u32_at(buf, off) as usize;
    if len == 0 {
        return Ok(None);
    }
    if len < 8 {
        return Err(format!("record length {len} is below the minimum of 8"));
    }
    if rest < 8 + len {
        return Err(format!(
            "record length {len} runs past the end of the file ({} bytes left)",
            rest.saturating_sub(8)
        ));
    }
    let crc = u32_at(buf, off + 4);
    let body = &buf[off + 8..off + 8 + len];
    let actual = crc_of(body);
    if actual != crc {
        return Err(format!(
            "CRC mismatch (stored {crc:08x}, computed {actual:08x})"
        ));
    }
    let zxid = u64_at(buf, off + 8);
    if zxid <= prev {
        return Err(format!(
            "zxid {zxid:#x} does not increase (previous record has zxid {prev:#x})"
        ));
    }
    Ok(Some(RecordPos {
        zxid,
        offset: off,
        end: off + 8 + len,
    }))
}

/// Scans the records of a segment already known to have a valid header. `prev` is the zxid
/// of the record before this segment (0 if none). Returns the valid records in order and why
/// the scan stopped, at offset `records.last().end` (or the header's end).
pub(crate) fn scan_records(buf: &[u8], prev: Zxid) -> (Vec<RecordPos>, Stop) {
    let mut records = Vec::new();
    let mut off = HEADER_LEN;
    let mut last = prev;
    loop {
        match parse_at(buf, off, last) {
            Ok(Some(r)) => {
                last = r.zxid;
                off = r.end;
                records.push(r);
            }
            Ok(None) => return (records, Stop::End),
            Err(reason) => return (records, Stop::Bad(reason)),
        }
    }
}

/// The first offset at or after `from` holding a valid record with a zxid above `prev`.
pub(crate) fn find_valid_after(buf: &[u8], from: usize, prev: Zxid) -> Option<RecordPos> {
    let mut off = from;
    while off + RECORD_OVERHEAD <= buf.len() {
        // Cheap filter before the CRC: a plausible length.
        let len = u32_at(buf, off) as usize;
        if len >= 8
            && off + 8 + len <= buf.len()
            && let Ok(Some(r)) = parse_at(buf, off, prev)
        {
            return Some(r);
        }
        off += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(records: &[(Zxid, &[u8])]) -> Vec<u8> {
        let mut buf = header().to_vec();
        for (z, p) in records {
            encode_record(&mut buf, *z, p);
        }
        buf
    }

    #[test]
    fn scan_round_trip_and_zero_end() {
        let mut buf = segment(&[(1, b"a"), (2, b""), (5, b"ccc")]);
        buf.extend_from_slice(&[0u8; 100]);
        check_header(&buf).unwrap();
        let (recs, stop) = scan_records(&buf, 0);
        assert!(matches!(stop, Stop::End));
        assert_eq!(
            recs.iter().map(|r| r.zxid).collect::<Vec<_>>(),
            vec![1, 2, 5]
        );
    }

    #[test]
    fn scan_detects_crc_and_order() {
        let mut buf = segment(&[(1, b"a"), (2, b"b")]);
        let last = buf.len() - 1;
        buf[last] ^= 1;
        let (recs, stop) = scan_records(&buf, 0);
        assert_eq!(recs.len(), 1);
        assert!(matches!(stop, Stop::Bad(ref r) if r.contains("CRC")));
        let buf = segment(&[(3, b"a"), (2, b"b")]);
        let (recs, stop) = scan_records(&buf, 0);
        assert_eq!(recs.len(), 1);
        assert!(matches!(stop, Stop::Bad(ref r) if r.contains("does not increase")));
    }

    #[test]
    fn headers() {
        assert!(matches!(check_header(&[]), Err(HeaderProblem::Missing)));
        assert!(matches!(
            check_header(&[0; 16]),
            Err(HeaderProblem::Missing)
        ));
        let mut zk = vec![0u8; 16];
        zk[..4].copy_from_slice(b"ZKLG");
        assert!(
            matches!(check_header(&zk), Err(HeaderProblem::Foreign(ref r)) if r.contains("ZooKeeper"))
        );
        let mut v2 = header();
        v2[8] = 2;
        assert!(
            matches!(check_header(&v2), Err(HeaderProblem::Foreign(ref r)) if r.contains("version 2"))
        );
    }
}
