//! The on-disk layout of one snapshot file.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "ZKRSSNAP"
//! 8       4     format version, u32 little-endian (1)
//! 12      8     zxid, u64 little-endian (equal to the one in the file name)
//! 20      8     body length, u64 little-endian
//! 28      n     body: what SnapshotSource::write_to wrote
//! 28+n    4     CRC32 (IEEE) of bytes 0..28+n, u32 little-endian
//! ```

use crate::txn::Zxid;

use super::store::InvalidReason;

/// The first eight bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"ZKRSSNAP";
/// The snapshot file format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

pub(super) const HEADER_LEN: usize = 28;
pub(super) const LEN_OFFSET: u64 = 20;
pub(super) const TRAILER_LEN: usize = 4;

/// The header for a body of `body_len` bytes at `zxid`.
pub(super) fn header(zxid: Zxid, body_len: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&zxid.to_le_bytes());
    h[20..28].copy_from_slice(&body_len.to_le_bytes());
    h
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}

/// Checks a whole file's bytes against the zxid its name claims; returns the body's range.
pub(super) fn validate(
    file: &[u8],
    name_zxid: Zxid,
) -> Result<std::ops::Range<usize>, InvalidReason> {
    if file.len() < HEADER_LEN + TRAILER_LEN {
        return Err(InvalidReason::Truncated {
            len: file.len() as u64,
        });
    }
    if file[0..8] != MAGIC {
        return Err(InvalidReason::BadMagic);
    }
    let version = le_u32(&file[8..12]);
    if version != FORMAT_VERSION {
        return Err(InvalidReason::UnsupportedVersion(version));
    }
    let zxid = le_u64(&file[12..20]);
    if zxid != name_zxid {
        return Err(InvalidReason::ZxidMismatch { header: zxid });
    }
    let body_len = le_u64(&file[20..28]);
    let expected = (HEADER_LEN + TRAILER_LEN) as u64 + body_len;
    if expected != file.len() as u64 {
        return Err(if (file.len() as u64) < expected {
            InvalidReason::Truncated {
                len: file.len() as u64,
            }
        } else {
            InvalidReason::TrailingBytes {
                len: file.len() as u64,
                expected,
            }
        });
    }
    let end = file.len() - TRAILER_LEN;
    let stored = le_u32(&file[end..]);
    let computed = crc32fast::hash(&file[..end]);
    if stored != computed {
        return Err(InvalidReason::BadChecksum { stored, computed });
    }
    Ok(HEADER_LEN..end)
}
