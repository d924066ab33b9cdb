//! The jute primitive encodings through the `Field` trait: null handling,
//! truncation and bad lengths for every primitive.

use bytes::{Bytes, BytesMut};
use jute::*;

fn enc<T: Field>(v: &T) -> Vec<u8> {
    let mut out = BytesMut::new();
    v.write_field(&mut out);
    out.to_vec()
}

fn dec<T: Field>(buf: &[u8]) -> Result<(T, usize), String> {
    T::read_field(buf)
        .map(|(rest, v)| (v, buf.len() - rest.len()))
        .map_err(|e| format!("{e:?}"))
}

const NULL: [u8; 4] = [0xff, 0xff, 0xff, 0xff];

#[test]
fn ints_are_big_endian() {
    assert_eq!(enc(&0x0102_0304i32), [1, 2, 3, 4]);
    assert_eq!(enc(&-2i32), [0xff, 0xff, 0xff, 0xfe]);
    assert_eq!(enc(&0x0102_0304_0506_0708i64), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(dec::<i32>(&[0x80, 0, 0, 0, 9]).unwrap(), (i32::MIN, 4));
    assert_eq!(dec::<i64>(&[0xff; 8]).unwrap(), (-1, 8));
}

#[test]
fn bool_is_one_byte_nonzero_true() {
    assert_eq!(enc(&true), [1]);
    assert_eq!(enc(&false), [0]);
    assert_eq!(dec::<bool>(&[0]).unwrap(), (false, 1));
    for b in 1..=255u8 {
        assert_eq!(dec::<bool>(&[b]).unwrap(), (true, 1));
    }
}

#[test]
fn null_string_decodes_as_empty() {
    assert_eq!(dec::<String>(&NULL).unwrap(), (String::new(), 4));
    // ... and the plain type always writes a real length.
    assert_eq!(enc(&String::new()), [0, 0, 0, 0]);
}

#[test]
fn nullable_string() {
    assert_eq!(dec::<Option<String>>(&NULL).unwrap(), (None, 4));
    assert_eq!(enc(&None::<String>), NULL);
    assert_eq!(enc(&Some(String::new())), [0, 0, 0, 0]);
    assert_eq!(
        dec::<Option<String>>(&[0, 0, 0, 0]).unwrap(),
        (Some(String::new()), 4)
    );
    assert_eq!(
        dec::<Option<String>>(&[0, 0, 0, 2, b'/', b'a']).unwrap(),
        (Some("/a".to_string()), 6)
    );
}

#[test]
fn null_buffer_decodes_as_empty() {
    assert_eq!(dec::<Bytes>(&NULL).unwrap(), (Bytes::new(), 4));
    assert_eq!(enc(&Bytes::new()), [0, 0, 0, 0]);
}

#[test]
fn nullable_buffer() {
    assert_eq!(dec::<Option<Bytes>>(&NULL).unwrap(), (None, 4));
    assert_eq!(enc(&None::<Bytes>), NULL);
    assert_eq!(enc(&Some(Bytes::new())), [0, 0, 0, 0]);
    assert_eq!(
        dec::<Option<Bytes>>(&[0, 0, 0, 0]).unwrap(),
        (Some(Bytes::new()), 4)
    );
    assert_eq!(
        dec::<Option<Bytes>>(&[0, 0, 0, 3, 0, 0xff, 7, 9]).unwrap(),
        (Some(Bytes::from_static(&[0, 0xff, 7])), 7)
    );
}

#[test]
fn null_vector_decodes_as_empty() {
    assert_eq!(dec::<Vec<String>>(&NULL).unwrap(), (vec![], 4));
    assert_eq!(dec::<Vec<Acl>>(&NULL).unwrap(), (vec![], 4));
    assert_eq!(enc(&Vec::<i32>::new()), [0, 0, 0, 0]);
}

#[test]
fn null_fields_inside_records() {
    // GetDataResponse with data = null
    let mut buf = NULL.to_vec();
    buf.extend_from_slice(&Stat::default().encode());
    let r = GetDataResponse::decode(&buf).unwrap();
    assert_eq!(r.data, None);
    assert_eq!(r.encode().to_vec(), buf);
    // CreateRequest with null path, null data, null acl: path -> "", acl -> []
    let mut buf = [NULL, NULL, NULL].concat();
    buf.extend_from_slice(&[0, 0, 0, 1]);
    let r = CreateRequest::decode(&buf).unwrap();
    assert_eq!(
        r,
        CreateRequest {
            path: String::new(),
            data: None,
            acl: vec![],
            flags: 1
        }
    );
    // Nullable fields stay null on re-encode; the non-nullable ones become empty.
    assert_eq!(
        r.encode().to_vec(),
        [[0, 0, 0, 0], NULL, [0, 0, 0, 0], [0, 0, 0, 1]].concat()
    );
    // ReconfigRequest: all three strings nullable
    let mut buf = [NULL, [0, 0, 0, 0], NULL].concat();
    buf.extend_from_slice(&7i64.to_be_bytes());
    let r = ReconfigRequest::decode(&buf).unwrap();
    assert_eq!(r.joining_servers, None);
    assert_eq!(r.leaving_servers, Some(String::new()));
    assert_eq!(r.new_members, None);
    assert_eq!(r.encode().to_vec(), buf);
}

#[test]
fn invalid_utf8_is_lossy() {
    let (s, n) = dec::<String>(&[0, 0, 0, 3, b'a', 0xff, b'b']).unwrap();
    assert_eq!(n, 7);
    assert_eq!(s, "a\u{fffd}b");
    let (s, _) = dec::<Option<String>>(&[0, 0, 0, 1, 0xc3]).unwrap();
    assert_eq!(s.as_deref(), Some("\u{fffd}"));
}

#[test]
fn utf8_round_trips_by_byte_length() {
    let s = "/ünï/😀".to_string();
    let e = enc(&s);
    assert_eq!(&e[..4], &(s.len() as i32).to_be_bytes());
    assert_eq!(dec::<String>(&e).unwrap(), (s, e.len()));
}

#[test]
fn truncated_i32() {
    for n in 0..4 {
        assert!(dec::<i32>(&[1, 2, 3][..n.min(3)]).is_err(), "{n}");
    }
}

#[test]
fn truncated_i64() {
    let b = [1u8; 7];
    for n in 0..8 {
        assert!(dec::<i64>(&b[..n]).is_err(), "{n}");
    }
}

#[test]
fn truncated_bool() {
    assert!(dec::<bool>(&[]).is_err());
}

/// For each length-prefixed type: truncated prefix, truncated payload.
macro_rules! truncated_blob {
    ($name:ident, $t:ty) => {
        #[test]
        fn $name() {
            let full: &[u8] = &[0, 0, 0, 3, b'a', b'b', b'c'];
            assert!(dec::<$t>(full).is_ok());
            for n in 0..full.len() {
                assert!(dec::<$t>(&full[..n]).is_err(), "prefix {n}");
            }
        }
    };
}
truncated_blob!(truncated_string, String);
truncated_blob!(truncated_nullable_string, Option<String>);
truncated_blob!(truncated_buffer, Bytes);
truncated_blob!(truncated_nullable_buffer, Option<Bytes>);

#[test]
fn truncated_vector() {
    let full = enc(&vec!["ab".to_string(), "c".to_string()]);
    assert_eq!(full.len(), 4 + 6 + 5);
    for n in 0..full.len() {
        assert!(dec::<Vec<String>>(&full[..n]).is_err(), "prefix {n}");
    }
    let full = enc(&vec![1i64, 2, 3]);
    for n in 0..full.len() {
        assert!(dec::<Vec<i64>>(&full[..n]).is_err(), "prefix {n}");
    }
}

/// Every negative length other than -1 is an error for every length-prefixed type.
#[test]
fn negative_lengths_are_errors() {
    for len in [-2i32, -3, -100, i32::MIN, i32::MIN + 1] {
        let mut buf = len.to_be_bytes().to_vec();
        buf.extend_from_slice(&[0; 64]);
        assert!(dec::<String>(&buf).is_err(), "{len}");
        assert!(dec::<Option<String>>(&buf).is_err(), "{len}");
        assert!(dec::<Bytes>(&buf).is_err(), "{len}");
        assert!(dec::<Option<Bytes>>(&buf).is_err(), "{len}");
        assert!(dec::<Vec<i32>>(&buf).is_err(), "{len}");
        assert!(dec::<Vec<String>>(&buf).is_err(), "{len}");
        assert!(dec::<Vec<Acl>>(&buf).is_err(), "{len}");
    }
}

/// Lengths that exceed the remaining input fail fast, before allocating:
/// these would be multi-gigabyte allocations otherwise.
#[test]
fn huge_lengths_are_errors_without_allocating() {
    for len in [i32::MAX, 0x4000_0000, 1 << 20, 65] {
        let mut buf = len.to_be_bytes().to_vec();
        buf.extend_from_slice(&[0; 64]);
        assert!(dec::<String>(&buf).is_err(), "{len}");
        assert!(dec::<Option<String>>(&buf).is_err(), "{len}");
        assert!(dec::<Bytes>(&buf).is_err(), "{len}");
        assert!(dec::<Option<Bytes>>(&buf).is_err(), "{len}");
        assert!(dec::<Vec<bool>>(&buf).is_err(), "{len}");
        assert!(dec::<Vec<Stat>>(&buf).is_err(), "{len}");
        assert!(dec::<Vec<Vec<String>>>(&buf).is_err(), "{len}");
    }
    // A vector count is checked against the minimum element size: 17 i32s
    // need 68 bytes, only 64 follow.
    let mut buf = 17i32.to_be_bytes().to_vec();
    buf.extend_from_slice(&[0; 64]);
    assert!(dec::<Vec<i32>>(&buf).is_err());
    let mut buf = 16i32.to_be_bytes().to_vec();
    buf.extend_from_slice(&[0; 64]);
    assert_eq!(dec::<Vec<i32>>(&buf).unwrap(), (vec![0; 16], 68));
}

#[test]
fn min_sizes() {
    assert_eq!(<i32 as Field>::MIN_SIZE, 4);
    assert_eq!(<i64 as Field>::MIN_SIZE, 8);
    assert_eq!(<bool as Field>::MIN_SIZE, 1);
    assert_eq!(<Stat as Field>::MIN_SIZE, 68);
    assert_eq!(<Acl as Field>::MIN_SIZE, 12);
    assert_eq!(<MultiHeader as Field>::MIN_SIZE, 9);
    assert_eq!(<ConnectRequest as Field>::MIN_SIZE, 28);
}
