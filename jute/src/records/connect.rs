//! The handshake records. Hand-written because `read_only` is an optional
//! trailing byte: old clients omit it, and the server mirrors the client.

use bytes::{Bytes, BytesMut};
use nom::IResult;

use crate::{Field, Record};

/// First frame from a client (no `RequestHeader`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    /// `None` if the frame ends after `passwd`; written only if `Some`.
    pub read_only: Option<bool>,
}

/// Server's reply to [`ConnectRequest`] (no `ReplyHeader`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    /// `None` if the frame ends after `passwd`; written only if `Some`.
    pub read_only: Option<bool>,
}

/// Reads the optional trailing boolean: absent only when the input is exhausted.
fn read_trailing_bool(input: &[u8]) -> IResult<&[u8], Option<bool>> {
    if input.is_empty() {
        return Ok((input, None));
    }
    let (rest, b) = bool::read_field(input)?;
    Ok((rest, Some(b)))
}

fn write_trailing_bool(v: Option<bool>, out: &mut BytesMut) {
    if let Some(b) = v {
        b.write_field(out);
    }
}

impl Record for ConnectRequest {
    fn read(input: &[u8]) -> IResult<&[u8], Self> {
        let (input, protocol_version) = i32::read_field(input)?;
        let (input, last_zxid_seen) = i64::read_field(input)?;
        let (input, time_out) = i32::read_field(input)?;
        let (input, session_id) = i64::read_field(input)?;
        let (input, passwd) = Bytes::read_field(input)?;
        let (input, read_only) = read_trailing_bool(input)?;
        Ok((
            input,
            Self {
                protocol_version,
                last_zxid_seen,
                time_out,
                session_id,
                passwd,
                read_only,
            },
        ))
    }

    fn write(&self, out: &mut BytesMut) {
        self.protocol_version.write_field(out);
        self.last_zxid_seen.write_field(out);
        self.time_out.write_field(out);
        self.session_id.write_field(out);
        self.passwd.write_field(out);
        write_trailing_bool(self.read_only, out);
    }
}

impl Record for ConnectResponse {
    fn read(input: &[u8]) -> IResult<&[u8], Self> {
        let (input, protocol_version) = i32::read_field(input)?;
        let (input, time_out) = i32::read_field(input)?;
        let (input, session_id) = i64::read_field(input)?;
        let (input, passwd) = Bytes::read_field(input)?;
        let (input, read_only) = read_trailing_bool(input)?;
        Ok((
            input,
            Self {
                protocol_version,
                time_out,
                session_id,
                passwd,
                read_only,
            },
        ))
    }

    fn write(&self, out: &mut BytesMut) {
        self.protocol_version.write_field(out);
        self.time_out.write_field(out);
        self.session_id.write_field(out);
        self.passwd.write_field(out);
        write_trailing_bool(self.read_only, out);
    }
}

field_via_record! {
    ConnectRequest => 4 + 8 + 4 + 8 + 4,
    ConnectResponse => 4 + 4 + 8 + 4,
}
