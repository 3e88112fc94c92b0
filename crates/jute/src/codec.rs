//! Jute's binary encoding (big-endian) and a bounds-checked [`Reader`].
//!
//! | jute type | wire form |
//! |---|---|
//! | `int` | 4 bytes, big-endian two's complement |
//! | `long` | 8 bytes, big-endian two's complement |
//! | `boolean` | 1 byte; written 0 or 1, read as `!= 0` (like `DataInput.readBoolean`) |
//! | `buffer` | `int` length then the bytes; length -1 is null |
//! | `ustring` | `int` length then UTF-8 bytes; length -1 is null |
//! | `vector<T>` | `int` count then the elements; count -1 is null |
//! | record | its fields in schema order, no header, no padding |

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::DecodeError;

/// Default cap on any single length or count: `jute.maxbuffer` (0xfffff) plus
/// the default `zookeeper.jute.maxbuffer.extrasize` (which defaults to
/// `jute.maxbuffer` itself), the limit `BinaryInputArchive.checkLength` uses.
/// Inside a frame that is itself capped at 0xfffff this cap never binds; the
/// bytes-remaining check does.
pub const DEFAULT_MAX_LEN: usize = 0xfffff + 0xfffff;

/// Reads jute values from a byte slice. Every length and count is checked
/// against the bytes remaining and against a cap before anything is
/// allocated, so a hostile length costs nothing.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    max_len: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` with the [`DEFAULT_MAX_LEN`] cap.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_max_len(buf, DEFAULT_MAX_LEN)
    }

    /// A reader over `buf` refusing any length or count above `max_len`.
    pub fn with_max_len(buf: &'a [u8], max_len: usize) -> Self {
        Self {
            buf,
            pos: 0,
            max_len,
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The cap on lengths and counts.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// `Ok(())` if every byte was consumed, else [`DecodeError::Trailing`].
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }

    /// The next `n` bytes, or [`DecodeError::Truncated`].
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(DecodeError::Truncated {
                needed: n,
                remaining,
            });
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..start + n])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A jute `int`.
    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// A jute `long`.
    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// A jute `boolean` (any non-zero byte is true).
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.array::<1>()?[0] != 0)
    }

    /// A length or count prefix: `None` for -1 (null), else a value checked
    /// against the cap and against `remaining / min_elem` (each element takes
    /// at least `min_elem` bytes; pass 1 for byte strings).
    pub fn read_len(&mut self, min_elem: usize) -> Result<Option<usize>, DecodeError> {
        let raw = self.read_i32()?;
        if raw == -1 {
            return Ok(None);
        }
        let len = usize::try_from(raw).map_err(|_| DecodeError::NegativeLength(raw))?;
        if len > self.max_len {
            return Err(DecodeError::TooLong {
                len,
                limit: self.max_len,
            });
        }
        let needed = len.saturating_mul(min_elem.max(1));
        let remaining = self.remaining();
        if needed > remaining {
            return Err(DecodeError::Truncated { needed, remaining });
        }
        Ok(Some(len))
    }

    /// A jute `buffer`; `None` when null.
    pub fn read_buffer(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => self.take(n).map(Some),
        }
    }

    /// A jute `ustring`; `None` when null.
    pub fn read_ustring(&mut self) -> Result<Option<&'a str>, DecodeError> {
        match self.read_buffer()? {
            None => Ok(None),
            Some(b) => std::str::from_utf8(b)
                .map(Some)
                .map_err(|_| DecodeError::BadUtf8),
        }
    }

    /// A jute `vector<T>`; null decodes as empty.
    pub fn read_vec<T: Record>(&mut self) -> Result<Vec<T>, DecodeError> {
        match self.read_len(T::MIN_SIZE)? {
            None => Ok(Vec::new()),
            Some(n) => {
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    out.push(T::decode(self)?);
                }
                Ok(out)
            }
        }
    }
}

/// Appends a jute `int`.
pub fn write_i32(out: &mut BytesMut, v: i32) {
    out.put_i32(v);
}

/// Appends a jute `long`.
pub fn write_i64(out: &mut BytesMut, v: i64) {
    out.put_i64(v);
}

/// Appends a jute `boolean` (0 or 1).
pub fn write_bool(out: &mut BytesMut, v: bool) {
    out.put_u8(u8::from(v));
}

/// Appends a length prefix. Lengths above `i32::MAX` cannot be expressed in
/// jute; they are clamped, which a peer then rejects (nothing that large can
/// fit in a frame).
fn write_len(out: &mut BytesMut, len: usize) {
    out.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
}

/// Appends a jute `buffer` (`None` is written as null, length -1).
pub fn write_buffer(out: &mut BytesMut, v: Option<&[u8]>) {
    match v {
        None => out.put_i32(-1),
        Some(b) => {
            write_len(out, b.len());
            out.put_slice(b);
        }
    }
}

/// Appends a jute `ustring` (`None` is written as null, length -1).
pub fn write_ustring(out: &mut BytesMut, v: Option<&str>) {
    write_buffer(out, v.map(str::as_bytes));
}

/// Appends a jute `vector<T>` (never null).
pub fn write_vec<T: Record>(out: &mut BytesMut, v: &[T]) {
    write_len(out, v.len());
    for item in v {
        item.encode(out);
    }
}

/// A value with a jute encoding: the primitives and every record.
pub trait Record: Sized {
    /// The fewest bytes an encoding can take; lets a vector count be checked
    /// against the bytes remaining before anything is allocated.
    const MIN_SIZE: usize;

    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut BytesMut);

    /// Decodes one value, consuming its bytes from `r`.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Encodes into a fresh buffer.
    fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }

    /// Decodes a value that must span all of `buf` (trailing bytes are an error).
    fn from_bytes(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

impl Record for i32 {
    const MIN_SIZE: usize = 4;
    fn encode(&self, out: &mut BytesMut) {
        write_i32(out, *self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_i32()
    }
}

impl Record for i64 {
    const MIN_SIZE: usize = 8;
    fn encode(&self, out: &mut BytesMut) {
        write_i64(out, *self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_i64()
    }
}

impl Record for bool {
    const MIN_SIZE: usize = 1;
    fn encode(&self, out: &mut BytesMut) {
        write_bool(out, *self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_bool()
    }
}

/// A `ustring` that is never null on the wire in practice (paths, schemes);
/// a null decodes as the empty string, which path validation then refuses.
impl Record for String {
    const MIN_SIZE: usize = 4;
    fn encode(&self, out: &mut BytesMut) {
        write_ustring(out, Some(self));
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(r.read_ustring()?.unwrap_or_default().to_owned())
    }
}

/// A `ustring` where null is meaningful (for example `ReconfigRequest`).
impl Record for Option<String> {
    const MIN_SIZE: usize = 4;
    fn encode(&self, out: &mut BytesMut) {
        write_ustring(out, self.as_deref());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(r.read_ustring()?.map(str::to_owned))
    }
}

/// A `buffer` where null and empty need not be told apart (passwords,
/// tokens); null decodes as empty.
impl Record for Bytes {
    const MIN_SIZE: usize = 4;
    fn encode(&self, out: &mut BytesMut) {
        write_buffer(out, Some(self));
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(r.read_buffer()?
            .map(Self::copy_from_slice)
            .unwrap_or_default())
    }
}

/// A `buffer` where null is meaningful (znode data: ZooKeeper stores and
/// returns a null payload as null).
impl Record for Option<Bytes> {
    const MIN_SIZE: usize = 4;
    fn encode(&self, out: &mut BytesMut) {
        write_buffer(out, self.as_deref());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(r.read_buffer()?.map(Bytes::copy_from_slice))
    }
}

/// A `vector<T>`; null decodes as empty, and is never written.
impl<T: Record> Record for Vec<T> {
    const MIN_SIZE: usize = 4;
    fn encode(&self, out: &mut BytesMut) {
        write_vec(out, self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_vec()
    }
}

/// Declares a jute record: a struct whose fields are encoded in order.
macro_rules! record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty ),*
        }

        impl $crate::codec::Record for $name {
            const MIN_SIZE: usize = 0 $( + <$ty as $crate::codec::Record>::MIN_SIZE )*;

            fn encode(&self, out: &mut ::bytes::BytesMut) {
                $( $crate::codec::Record::encode(&self.$field, out); )*
            }

            fn decode(
                r: &mut $crate::codec::Reader<'_>,
            ) -> ::core::result::Result<Self, $crate::error::DecodeError> {
                Ok(Self {
                    $( $field: <$ty as $crate::codec::Record>::decode(r)? ),*
                })
            }
        }
    };
}
pub(crate) use record;
