//! The [`Record`] and [`Field`] traits, the jute primitive encodings and
//! [`DecodeError`].

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use nom::error::{Error, ErrorKind};
use nom::number::complete::{be_i32, be_i64, be_u8};
use nom::{IResult, Parser};

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Human-readable description (includes the byte offset when known).
    pub message: String,
}

impl DecodeError {
    /// A decode error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// Converts a nom error produced while parsing `buf` (or a suffix of it)
    /// into a `DecodeError` naming the failing byte offset.
    pub fn from_nom(buf: &[u8], e: nom::Err<Error<&[u8]>>) -> Self {
        match e {
            nom::Err::Incomplete(_) => Self::new("jute: unexpected end of input"),
            nom::Err::Error(e) | nom::Err::Failure(e) => {
                let offset = buf.len().saturating_sub(e.input.len());
                let what = match e.code {
                    ErrorKind::Eof => "unexpected end of input",
                    ErrorKind::LengthValue => "negative length other than -1",
                    ErrorKind::TooLarge => "length larger than the remaining input",
                    ErrorKind::Switch => "unknown multi op/result type",
                    _ => "malformed record",
                };
                Self::new(format!("jute: {what} at byte {offset}"))
            }
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

/// A jute record: a sequence of fields in wire order.
pub trait Record: Sized {
    /// nom 8 parser: read one record from the front of `input`.
    fn read(input: &[u8]) -> IResult<&[u8], Self>;

    /// Append the jute encoding to `out`.
    fn write(&self, out: &mut BytesMut);

    /// Decode a whole record, IGNORING trailing bytes (as ZooKeeper's Java
    /// stream reading does).
    fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        match Self::read(buf) {
            Ok((_rest, record)) => Ok(record),
            Err(e) => Err(DecodeError::from_nom(buf, e)),
        }
    }

    /// Encode into a fresh `BytesMut`.
    fn encode(&self) -> BytesMut {
        let mut out = BytesMut::new();
        self.write(&mut out);
        out
    }
}

/// A type that can be a field of a jute record.
pub trait Field: Sized {
    /// The smallest number of bytes any encoding of this type occupies.
    /// Used to reject vector counts that cannot possibly fit in the remaining
    /// input before allocating.
    const MIN_SIZE: usize;

    /// Read one value from the front of `input`.
    fn read_field(input: &[u8]) -> IResult<&[u8], Self>;

    /// Append the jute encoding of `self` to `out`.
    fn write_field(&self, out: &mut BytesMut);
}

fn fail<T>(input: &[u8], kind: ErrorKind) -> IResult<&[u8], T> {
    Err(nom::Err::Error(Error::new(input, kind)))
}

/// Reads a jute length prefix: `None` for -1, an error for any other
/// negative value.
fn read_len(input: &[u8]) -> IResult<&[u8], Option<usize>> {
    let (rest, len) = be_i32.parse(input)?;
    match len {
        -1 => Ok((rest, None)),
        n => match usize::try_from(n) {
            Ok(n) => Ok((rest, Some(n))),
            Err(_) => fail(input, ErrorKind::LengthValue),
        },
    }
}

/// Reads a length-prefixed byte run (ustring or buffer) without copying;
/// `None` for the null encoding.
fn read_blob(input: &[u8]) -> IResult<&[u8], Option<&[u8]>> {
    let (rest, len) = read_len(input)?;
    match len {
        None => Ok((rest, None)),
        Some(n) if n > rest.len() => fail(input, ErrorKind::TooLarge),
        Some(n) => {
            let (blob, rest) = rest.split_at(n);
            Ok((rest, Some(blob)))
        }
    }
}

/// Writes a length prefix. Jute lengths are i32; anything this large is far
/// beyond `jute.maxbuffer` and is clamped rather than panicking.
fn write_len(len: usize, out: &mut BytesMut) {
    out.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
}

fn write_blob(blob: &[u8], out: &mut BytesMut) {
    write_len(blob.len(), out);
    out.put_slice(blob);
}

fn lossy_string(blob: &[u8]) -> String {
    String::from_utf8_lossy(blob).into_owned()
}

/// jute `int`: 4 bytes big-endian.
impl Field for i32 {
    const MIN_SIZE: usize = 4;

    fn read_field(input: &[u8]) -> IResult<&[u8], Self> {
        be_i32.parse(input)
    }

    fn write_field(&self, out: &mut BytesMut) {
        out.put_i32(*self);
    }
}

/// jute `long`: 8 bytes big-endian.
impl Field for i64 {
    const MIN_SIZE: usize = 8;

    fn read_field(input: &[u8]) -> IResult<&[u8], Self> {
        be_i64.parse(input)
    }

    fn write_field(&self, out: &mut BytesMut) {
        out.put_i64(*self);
    }
}

/// jute `boolean`: one byte, written 0/1, read as "non-zero is true".
impl Field for bool {
    const MIN_SIZE: usize = 1;

    fn read_field(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, b) = be_u8.parse(input)?;
        Ok((rest, b != 0))
    }

    fn write_field(&self, out: &mut BytesMut) {
        out.put_u8(u8::from(*self));
    }
}

/// jute `ustring` where null is not meaningful: -1 decodes as `""`.
impl Field for String {
    const MIN_SIZE: usize = 4;

    fn read_field(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, blob) = read_blob(input)?;
        Ok((rest, blob.map(lossy_string).unwrap_or_default()))
    }

    fn write_field(&self, out: &mut BytesMut) {
        write_blob(self.as_bytes(), out);
    }
}

/// Nullable jute `ustring`: -1 <-> `None`.
impl Field for Option<String> {
    const MIN_SIZE: usize = 4;

    fn read_field(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, blob) = read_blob(input)?;
        Ok((rest, blob.map(lossy_string)))
    }

    fn write_field(&self, out: &mut BytesMut) {
        match self {
            Some(s) => write_blob(s.as_bytes(), out),
            None => out.put_i32(-1),
        }
    }
}

/// jute `buffer` where null is not meaningful: -1 decodes as empty.
impl Field for Bytes {
    const MIN_SIZE: usize = 4;

    fn read_field(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, blob) = read_blob(input)?;
        Ok((rest, blob.map(Bytes::copy_from_slice).unwrap_or_default()))
    }

    fn write_field(&self, out: &mut BytesMut) {
        write_blob(self, out);
    }
}

/// Nullable jute `buffer`: -1 <-> `None`.
impl Field for Option<Bytes> {
    const MIN_SIZE: usize = 4;

    fn read_field(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, blob) = read_blob(input)?;
        Ok((rest, blob.map(Bytes::copy_from_slice)))
    }

    fn write_field(&self, out: &mut BytesMut) {
        match self {
            Some(b) => write_blob(b, out),
            None => out.put_i32(-1),
        }
    }
}

/// Nullable jute `buffer` held in one shared allocation: -1 <-> `None`.
impl Field for Option<std::sync::Arc<[u8]>> {
    const MIN_SIZE: usize = 4;

    fn read_field(input: &[u8]) -> IResult<&[u8], Self> {
        let (rest, blob) = read_blob(input)?;
        Ok((rest, blob.map(std::sync::Arc::from)))
    }

    fn write_field(&self, out: &mut BytesMut) {
        match self {
            Some(b) => write_blob(b, out),
            None => out.put_i32(-1),
        }
    }
}

/// jute `vector<T>`: i32 count then the elements; -1 decodes as empty.
impl<T: Field> Field for Vec<T> {
    const MIN_SIZE: usize = 4;

    fn read_field(input: &[u8]) -> IResult<&[u8], Self> {
        let (mut rest, len) = read_len(input)?;
        let Some(count) = len else {
            return Ok((rest, Vec::new()));
        };
        // Every element needs at least MIN_SIZE bytes (at least 1 to be
        // conservative), so a count that cannot fit is rejected before we
        // allocate anything.
        if count.saturating_mul(T::MIN_SIZE.max(1)) > rest.len() {
            return fail(input, ErrorKind::TooLarge);
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            let (next, item) = T::read_field(rest)?;
            items.push(item);
            rest = next;
        }
        Ok((rest, items))
    }

    fn write_field(&self, out: &mut BytesMut) {
        write_len(self.len(), out);
        for item in self {
            item.write_field(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<T: Field>(v: &T) -> BytesMut {
        let mut out = BytesMut::new();
        v.write_field(&mut out);
        out
    }

    #[test]
    fn min_size_matches_smallest_encoding() {
        assert_eq!(enc(&0i32).len(), i32::MIN_SIZE);
        assert_eq!(enc(&0i64).len(), i64::MIN_SIZE);
        assert_eq!(enc(&false).len(), bool::MIN_SIZE);
        assert_eq!(enc(&String::new()).len(), String::MIN_SIZE);
        assert_eq!(
            enc(&Option::<String>::None).len(),
            <Option<String>>::MIN_SIZE
        );
        assert_eq!(enc(&Bytes::new()).len(), Bytes::MIN_SIZE);
        assert_eq!(enc(&Option::<Bytes>::None).len(), <Option<Bytes>>::MIN_SIZE);
        assert_eq!(enc(&Vec::<i64>::new()).len(), <Vec<i64>>::MIN_SIZE);
    }

    #[test]
    fn huge_vector_count_rejected_without_allocating() {
        // count = i32::MAX with only 4 bytes following
        let buf = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        let e = <Vec<i64>>::read_field(&buf).unwrap_err();
        assert!(matches!(e, nom::Err::Error(ref e) if e.code == ErrorKind::TooLarge));
    }

    #[test]
    fn write_len_clamps_instead_of_panicking() {
        let mut out = BytesMut::new();
        write_len(usize::MAX, &mut out);
        assert_eq!(&out[..], &i32::MAX.to_be_bytes());
    }
}
