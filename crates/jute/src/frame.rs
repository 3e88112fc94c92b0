//! Length-prefixed framing of the client port: a 4-byte big-endian length,
//! then that many bytes of body.
//!
//! The default maximum body length is [`DEFAULT_MAX_FRAME`] = 0xfffff
//! (1 048 575 bytes, 1 MiB − 1): ZooKeeper's default `jute.maxbuffer`, and the
//! exact check `NIOServerCnxn.readLength` / `NettyServerCnxn` apply to an
//! incoming packet (`len < 0 || len > BinaryInputArchive.maxBuffer`). The
//! `zookeeper.jute.maxbuffer.extrasize` slack (default: `jute.maxbuffer`
//! again, at least 1024) is *not* added at the frame level by ZooKeeper; it only
//! widens `BinaryInputArchive.checkLength` for fields inside a record, which
//! is what [`DEFAULT_MAX_LEN`](crate::DEFAULT_MAX_LEN) mirrors.
//!
//! A frame's first four bytes on a fresh connection may instead be a
//! four-letter word (`ruok` = 0x72756f6b, larger than the maximum): on
//! [`FrameError`] the input is left untouched so the caller can look at them.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::FrameError;

/// Default maximum frame body: ZooKeeper's default `jute.maxbuffer`, 0xfffff.
pub const DEFAULT_MAX_FRAME: usize = 0xfffff;

/// Splits a byte stream into frames.
#[derive(Clone, Copy, Debug)]
pub struct Framer {
    max: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl Framer {
    /// A framer refusing bodies longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max }
    }

    /// The maximum body length.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The announced body length at the front of `buf`, if 4 bytes are there,
    /// checked against the bounds.
    pub fn peek_len(&self, buf: &[u8]) -> Option<Result<usize, FrameError>> {
        let prefix: [u8; 4] = buf.get(..4)?.try_into().ok()?;
        let raw = i32::from_be_bytes(prefix);
        Some(match usize::try_from(raw) {
            Err(_) => Err(FrameError::NegativeLength(raw)),
            Ok(len) if len > self.max => Err(FrameError::TooLong { len, max: self.max }),
            Ok(len) => Ok(len),
        })
    }

    /// Takes the next complete frame body off the front of `buf`. Returns
    /// `Ok(None)` while more bytes are needed (after reserving room for the
    /// announced body, which the bound keeps small); a bad length is refused
    /// as soon as its 4 bytes arrive, before any body is buffered, and leaves
    /// `buf` untouched.
    pub fn next_frame(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let len = match self.peek_len(buf) {
            None => return Ok(None),
            Some(res) => res?,
        };
        let total = 4 + len;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let mut frame = buf.split_to(total);
        let _prefix = frame.split_to(4);
        Ok(Some(frame.freeze()))
    }
}

/// Appends `body` with its 4-byte length prefix.
pub fn encode_frame(body: &[u8], out: &mut BytesMut) {
    out.reserve(4 + body.len());
    out.put_i32(i32::try_from(body.len()).unwrap_or(i32::MAX));
    out.put_slice(body);
}

/// Appends a frame whose body `write` produces, patching the length prefix
/// afterwards (no intermediate buffer).
pub fn encode_frame_with(out: &mut BytesMut, write: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_i32(0);
    write(out);
    let len = out.len() - start - 4;
    let prefix = i32::try_from(len).unwrap_or(i32::MAX).to_be_bytes();
    out[start..start + 4].copy_from_slice(&prefix);
}
