//! multi / multiRead framing.

mod common;

use common::*;
use jute::*;

const END: [u8; 9] = [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff];

fn header(op_type: i32, done: bool, err: i32) -> Vec<u8> {
    MultiHeader { op_type, done, err }.encode().to_vec()
}

#[test]
fn empty_multi_is_just_the_terminator() {
    assert_eq!(MultiRequest::default().encode().to_vec(), END);
    assert_eq!(MultiResponse::default().encode().to_vec(), END);
    assert_eq!(MultiRequest::decode(&END).unwrap().ops, vec![]);
    assert_eq!(MultiResponse::decode(&END).unwrap().results, vec![]);
}

#[test]
fn request_framing() {
    let req = MultiRequest {
        ops: vec![
            MultiOp::Delete(DeleteRequest {
                path: "/d".into(),
                version: -1,
            }),
            MultiOp::Check(CheckVersionRequest {
                path: "/c".into(),
                version: 4,
            }),
        ],
    };
    let mut expect = header(2, false, -1);
    expect.extend_from_slice(
        &DeleteRequest {
            path: "/d".into(),
            version: -1,
        }
        .encode(),
    );
    expect.extend(header(13, false, -1));
    expect.extend_from_slice(
        &CheckVersionRequest {
            path: "/c".into(),
            version: 4,
        }
        .encode(),
    );
    expect.extend_from_slice(&END);
    assert_eq!(req.encode().to_vec(), expect);
    assert_eq!(MultiRequest::decode(&expect).unwrap(), req);
}

#[test]
fn every_op_variant_round_trips_with_its_op_code() {
    let req = multi_request();
    let codes: Vec<i32> = req.ops.iter().map(MultiOp::op_code).collect();
    assert_eq!(codes, vec![1, 15, 19, 21, 2, 5, 13, 8, 4]);
    let enc = req.encode();
    let back = MultiRequest::decode(&enc).unwrap();
    assert_eq!(back, req);
    // The create op code survives the round trip.
    for (a, b) in back.ops.iter().zip(&req.ops) {
        assert_eq!(a.op_code(), b.op_code());
    }
}

#[test]
fn response_framing_and_error_headers() {
    let resp = multi_response();
    let codes: Vec<i32> = resp.results.iter().map(MultiResult::op_code).collect();
    assert_eq!(codes, vec![1, 15, 2, 5, 13, 8, 4, -1, -1, -1]);
    let enc = resp.encode();
    assert_eq!(MultiResponse::decode(&enc).unwrap(), resp);

    // Walk the encoding: non-error headers carry err 0, error headers carry the code,
    // and Delete/Check have no body.
    let r = MultiResponse {
        results: vec![
            MultiResult::Delete,
            MultiResult::Check,
            MultiResult::Error(-101),
        ],
    };
    let mut expect = header(2, false, 0);
    expect.extend(header(13, false, 0));
    expect.extend(header(-1, false, -101));
    expect.extend_from_slice(&(-101i32).to_be_bytes());
    expect.extend_from_slice(&END);
    assert_eq!(r.encode().to_vec(), expect);
}

#[test]
fn error_code_comes_from_the_body() {
    // As in Java's MultiResponse.deserialize, the result code is the body's.
    let mut buf = header(-1, false, 0);
    buf.extend_from_slice(&(-110i32).to_be_bytes());
    buf.extend_from_slice(&END);
    assert_eq!(
        MultiResponse::decode(&buf).unwrap().results,
        vec![MultiResult::Error(-110)]
    );
}

#[test]
fn unknown_op_types_are_errors() {
    for t in [0, 3, 6, 7, 9, 11, 12, 14, 16, 20, 22, 100, -10, i32::MAX] {
        let mut buf = header(t, false, -1);
        buf.extend_from_slice(&[0; 64]);
        buf.extend_from_slice(&END);
        let e = MultiRequest::decode(&buf).unwrap_err();
        assert!(e.message.contains("unknown multi"), "{t}: {e}");
        assert!(e.message.contains("byte 0"), "{t}: {e}");
    }
    // -1 without done is not a valid request op either.
    let mut buf = header(-1, false, -1);
    buf.extend_from_slice(&END);
    assert!(MultiRequest::decode(&buf).is_err());

    for t in [0, 3, 6, 19, 21, 14, 100] {
        let mut buf = header(t, false, 0);
        buf.extend_from_slice(&[0; 64]);
        buf.extend_from_slice(&END);
        assert!(MultiResponse::decode(&buf).is_err(), "{t}");
    }
    // An unknown type after a valid op reports the offset of the bad header.
    let mut buf = header(2, false, -1);
    buf.extend_from_slice(&DeleteRequest::default().encode());
    let off = buf.len();
    buf.extend(header(99, false, -1));
    let e = MultiRequest::decode(&buf).unwrap_err();
    assert!(e.message.contains(&format!("byte {off}")), "{e}");
}

#[test]
fn done_flag_terminates_whatever_the_type() {
    // Java loops on !done; the type of the final header is not checked.
    let mut buf = header(2, false, -1);
    buf.extend_from_slice(
        &DeleteRequest {
            path: "/x".into(),
            version: 1,
        }
        .encode(),
    );
    buf.extend(header(5, true, 0));
    buf.extend_from_slice(b"rest");
    let (rest, req) = MultiRequest::read(&buf).unwrap();
    assert_eq!(rest, b"rest");
    assert_eq!(req.ops.len(), 1);
    let end = header(0, true, 0);
    let (rest, resp) = MultiResponse::read(&end).unwrap();
    assert!(rest.is_empty());
    assert!(resp.results.is_empty());
}

#[test]
fn missing_terminator_is_an_error() {
    let full = multi_request().encode();
    assert!(MultiRequest::decode(&full[..full.len() - END.len()]).is_err());
    let full = multi_response().encode();
    assert!(MultiResponse::decode(&full[..full.len() - END.len()]).is_err());
    assert!(MultiRequest::decode(&[]).is_err());
    assert!(MultiResponse::decode(&[]).is_err());
}

#[test]
fn multi_nests_as_a_field() {
    // Records nest through Field, including the hand-written ones.
    let v = vec![multi_request(), MultiRequest::default()];
    let mut out = bytes::BytesMut::new();
    v.write_field(&mut out);
    let (rest, back) = <Vec<MultiRequest>>::read_field(&out).unwrap();
    assert!(rest.is_empty());
    assert_eq!(back, v);
}
