//! Framing: 4-byte big-endian length + payload, capped at `jute.maxbuffer`.
//!
//! The first four bytes of a new connection may instead be a four-letter word such as
//! `ruok`, which read as a length would be 1.9 GB. ZooKeeper checks them against its
//! command table before the length check, and so do we; after the first frame every
//! length is taken as a length. A negative or oversized length is an error that closes
//! this connection only (ZooKeeper sends no reply either).

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

use crate::admin::FourLetterWord;

#[derive(Debug)]
pub enum Frame {
    Packet(Bytes),
    FourLetter(FourLetterWord),
}

#[derive(Debug)]
pub enum FrameError {
    Io(std::io::Error),
    BadLength { len: i32, max: usize },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::BadLength { len, max } => {
                write!(f, "frame length {len} outside 0..={max} (jute.maxbuffer)")
            }
        }
    }
}

impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        FrameError::Io(e)
    }
}

pub struct FrameCodec {
    max: usize,
    first: bool,
}

impl FrameCodec {
    pub fn new(max: usize) -> Self {
        FrameCodec { max, first: true }
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let head = [src[0], src[1], src[2], src[3]];
        if self.first {
            if let Some(word) = FourLetterWord::parse(&head) {
                src.advance(4);
                self.first = false;
                return Ok(Some(Frame::FourLetter(word)));
            }
        }
        let len = i32::from_be_bytes(head);
        if len < 0 || len as usize > self.max {
            return Err(FrameError::BadLength { len, max: self.max });
        }
        let len = len as usize;
        if src.len() < 4 + len {
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        self.first = false;
        Ok(Some(Frame::Packet(src.split_to(len).freeze())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_frames_and_waits_for_more() {
        let mut codec = FrameCodec::new(100);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 1, 2][..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&[3, 0, 0, 0, 0]);
        match codec.decode(&mut buf).unwrap() {
            Some(Frame::Packet(p)) => assert_eq!(&p[..], &[1, 2, 3]),
            other => panic!("{other:?}"),
        }
        match codec.decode(&mut buf).unwrap() {
            Some(Frame::Packet(p)) => assert!(p.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn four_letter_word_only_first() {
        let mut codec = FrameCodec::new(100);
        let mut buf = BytesMut::from(&b"ruok"[..]);
        assert!(matches!(
            codec.decode(&mut buf).unwrap(),
            Some(Frame::FourLetter(_))
        ));
        let mut codec = FrameCodec::new(100);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0, b'r', b'u', b'o', b'k'][..]);
        assert!(matches!(
            codec.decode(&mut buf).unwrap(),
            Some(Frame::Packet(_))
        ));
        // "ruok" as a length is ~1.9 GB: rejected, not allocated.
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::BadLength { .. })
        ));
    }

    #[test]
    fn rejects_negative_and_oversized() {
        let mut codec = FrameCodec::new(10);
        let mut buf = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
        assert!(codec.decode(&mut buf).is_err());
        let mut codec = FrameCodec::new(10);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 11][..]);
        assert!(codec.decode(&mut buf).is_err());
    }
}
