//! Round trip of every record, truncation of every record, and the
//! ConnectRequest/ConnectResponse optional trailing byte.

mod common;

use bytes::Bytes;
use common::*;
use jute::*;

#[test]
fn every_record_round_trips() {
    let samples = all();
    assert!(samples.len() > 100);
    for sample in &samples {
        sample.check_roundtrip();
    }
}

#[test]
fn every_record_type_has_a_populated_sample() {
    let populated: Vec<&'static str> = populated().iter().map(|s| s.name()).collect();
    macro_rules! check {
        ($($t:ident),*) => {$(
            let name = stringify!($t);
            assert!(
                populated.iter().any(|n| *n == name || n.starts_with(&format!("{name}("))),
                "no populated sample for {name}"
            );
        )*};
    }
    for_each_record_type!(check);
}

#[test]
fn every_strict_prefix_is_an_error() {
    for sample in all() {
        let full = sample.bytes();
        for len in 0..full.len() {
            let res = sample.decode_as(&full[..len]);
            if sample.optional_tail() && len + 1 == full.len() {
                // The optional readOnly byte may be missing.
                continue;
            }
            let e = res.expect_err(&format!(
                "{}: prefix {len}/{} decoded",
                sample.name(),
                full.len()
            ));
            assert!(e.message.starts_with("jute: "), "{}", e);
        }
    }
}

fn connect_request(read_only: Option<bool>) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 30_000,
        session_id: 0,
        passwd: Bytes::from_static(&[0; 16]),
        read_only,
    }
}

#[test]
fn connect_request_with_and_without_read_only() {
    let with = connect_request(Some(false)).encode();
    assert_eq!(with.len(), 45);
    assert_eq!(with[44], 0);
    let without = connect_request(None).encode();
    assert_eq!(without.len(), 44);
    assert_eq!(&with[..44], &without[..]);

    assert_eq!(
        ConnectRequest::decode(&with).unwrap().read_only,
        Some(false)
    );
    assert_eq!(ConnectRequest::decode(&without).unwrap().read_only, None);

    let mut ro = with.to_vec();
    ro[44] = 1;
    assert_eq!(ConnectRequest::decode(&ro).unwrap().read_only, Some(true));
    ro[44] = 0x80; // any non-zero byte is true
    assert_eq!(ConnectRequest::decode(&ro).unwrap().read_only, Some(true));

    // Bytes after the readOnly byte are left for the caller.
    ro.push(0x55);
    let (rest, _) = ConnectRequest::read(&ro).unwrap();
    assert_eq!(rest, &[0x55]);
}

#[test]
fn connect_response_with_and_without_read_only() {
    let resp = |read_only| ConnectResponse {
        protocol_version: 0,
        time_out: 20_000,
        session_id: 0x0100_0078_e6d0_0000,
        passwd: Bytes::from_static(&[9; 16]),
        read_only,
    };
    let with = resp(Some(true)).encode();
    assert_eq!(with.len(), 37);
    assert_eq!(with[36], 1);
    let without = resp(None).encode();
    assert_eq!(without.len(), 36);
    assert_eq!(ConnectResponse::decode(&with).unwrap(), resp(Some(true)));
    assert_eq!(ConnectResponse::decode(&without).unwrap(), resp(None));
    // Truncated inside passwd is still an error.
    assert!(ConnectResponse::decode(&without[..35]).is_err());
}

#[test]
fn record_layout_is_declaration_order() {
    let h = ReplyHeader {
        xid: 1,
        zxid: 2,
        err: -101,
    };
    assert_eq!(
        &h.encode()[..],
        &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0x9b]
    );
    let acl = Acl {
        perms: 31,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    };
    let mut expect = vec![0, 0, 0, 31, 0, 0, 0, 5];
    expect.extend_from_slice(b"world");
    expect.extend_from_slice(&[0, 0, 0, 6]);
    expect.extend_from_slice(b"anyone");
    assert_eq!(&acl.encode()[..], &expect[..]);
    assert_eq!(Stat::default().encode().len(), 68);
    assert_eq!(StatPersisted::default().encode().len(), 60);
}

#[test]
fn decode_error_is_displayable_with_offset() {
    let e = Stat::decode(&[0u8; 10]).unwrap_err();
    assert_eq!(e.to_string(), e.message);
    assert!(e.message.contains("end of input"), "{e}");
    assert!(e.message.contains("byte 8"), "{e}");
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(!boxed.to_string().is_empty());

    let e = GetDataRequest::decode(&[0xff, 0xff, 0xff, 0xfe]).unwrap_err();
    assert!(e.message.contains("negative length"), "{e}");
    let e = GetDataRequest::decode(&[0, 0, 0, 5, b'/']).unwrap_err();
    assert!(e.message.contains("larger than the remaining"), "{e}");
}

#[test]
fn op_names_and_constants() {
    assert_eq!(op::op_name(op::CREATE), "CREA");
    assert_eq!(op_name(op::GET_CHILDREN2), "GETC");
    assert_eq!(op_name(op::GET_ALL_CHILDREN_NUMBER), "GETACN");
    assert_eq!(op_name(op::WHO_AM_I), "HOMI");
    assert_eq!(op_name(op::CREATE_SESSION), "SESS");
    assert_eq!(op_name(10), "UNKNOWN");
    assert_eq!(op_name(108), "UNKNOWN");
    assert_eq!(perms::ALL, 31);
    assert_eq!(xid::SET_WATCHES, -8);
    assert_eq!(keeper_state::SYNC_CONNECTED, 3);
    assert_eq!(err::THROTTLED_OP, -127);
    assert_eq!(jute::consts::op::MULTI_READ, 22);
}

use jute::op::op_name;

/// One round-trip test per record type (populated samples and the default),
/// so a failure names the record in the test list.
#[allow(non_snake_case)]
mod per_record {
    use super::common::*;

    macro_rules! per_record {
        ($($t:ident),*) => {$(
            #[test]
            fn $t() {
                let name = stringify!($t);
                let mut n = 0;
                for sample in all() {
                    let s = sample.name();
                    if s == name || s.starts_with(&format!("{name}(")) || s.starts_with(&format!("{name}::")) {
                        sample.check_roundtrip();
                        n += 1;
                    }
                }
                assert!(n >= 2, "{name}: only {n} samples");
            }
        )*};
    }
    crate::for_each_record_type!(per_record);
}
