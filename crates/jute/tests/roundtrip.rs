//! Every record survives encode → decode, and re-encodes to the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::BytesMut;
use common::*;
use zk_jute::*;

fn roundtrip<T: Record + PartialEq + std::fmt::Debug>(v: &T) {
    let bytes = v.to_bytes();
    let back = T::from_bytes(&bytes).unwrap_or_else(|e| panic!("{v:?}: {e}"));
    assert_eq!(&back, v);
    assert_eq!(back.to_bytes(), bytes);
}

#[test]
fn every_request_round_trips_through_the_client_decoder() {
    let mut rng = Rng::new(1);
    for round in 0..200 {
        for k in 0..REQUEST_KINDS {
            let req = request(&mut rng, k);
            let xid = req.special_xid().unwrap_or(round);
            let mut out = BytesMut::new();
            req.encode_with_xid(xid, &mut out);
            let mut dec = ClientRequestDecoder::new();
            let connect = connect_request(&mut rng);
            assert_eq!(
                dec.decode(&connect.to_bytes()).unwrap(),
                ClientRequest::Connect(connect.clone())
            );
            assert!(dec.is_connected());
            match dec.decode(&out).unwrap() {
                ClientRequest::Op { header, request } => {
                    assert_eq!(header.xid, xid);
                    assert_eq!(header.op, req.op_code().code());
                    assert_eq!(request, req);
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn every_response_round_trips() {
    let mut rng = Rng::new(2);
    for round in 0..200 {
        for k in 0..RESPONSE_KINDS {
            let (op, body) = response(&mut rng, k);
            let xid = if op == OpCode::Notification {
                xid::NOTIFICATION
            } else {
                round
            };
            let header = ReplyHeader {
                xid,
                zxid: rng.i64(),
                err: 0,
            };
            let mut out = BytesMut::new();
            encode_response(&header, &body, &mut out);
            let (h, b) = decode_response(&out, |x| {
                assert_eq!(x, xid);
                Some(op)
            })
            .unwrap_or_else(|e| panic!("{op:?} {body:?}: {e}"));
            assert_eq!(h, header);
            assert_eq!(b, body);
        }
    }
}

#[test]
fn a_reply_with_an_error_has_no_body() {
    let header = ReplyHeader {
        xid: 9,
        zxid: 4,
        err: ErrorCode::NoNode.code(),
    };
    let mut out = BytesMut::new();
    encode_response(&header, &Response::Empty, &mut out);
    assert_eq!(
        decode_response(&out, |_| Some(OpCode::GetData)).unwrap(),
        (header, Response::Empty)
    );
}

#[test]
fn standalone_records_round_trip() {
    let mut rng = Rng::new(3);
    for _ in 0..500 {
        roundtrip(&stat(&mut rng));
        roundtrip(&id(&mut rng));
        roundtrip(&acls(&mut rng));
        roundtrip(&ClientInfo {
            auth_scheme: rng.string(),
            user: rng.string(),
        });
        roundtrip(&connect_request(&mut rng));
        roundtrip(&connect_response(&mut rng));
        roundtrip(&RequestHeader {
            xid: rng.i32(),
            op: rng.i32(),
        });
        roundtrip(&ReplyHeader {
            xid: rng.i32(),
            zxid: rng.i64(),
            err: rng.i32(),
        });
        roundtrip(&MultiHeader {
            op: rng.i32(),
            done: rng.bool(),
            err: rng.i32(),
        });
        roundtrip(&ErrorResponse { err: rng.i32() });
        roundtrip(&WatcherEvent {
            event_type: rng.i32(),
            state: rng.i32(),
            path: rng.string(),
        });
        let read = rng.bool();
        roundtrip(&multi_request(&mut rng, read));
        roundtrip(&multi_response(&mut rng));
        roundtrip(&create(&mut rng));
        roundtrip(&create_ttl(&mut rng));
    }
}

#[test]
fn null_and_empty_data_stay_distinct() {
    for data in [None, Some(bytes::Bytes::new())] {
        let r = SetDataRequest {
            path: "/a".into(),
            data: data.clone(),
            version: -1,
        };
        assert_eq!(
            SetDataRequest::from_bytes(&r.to_bytes()).unwrap().data,
            data
        );
    }
}

#[test]
fn connect_read_only_flag_is_optional() {
    let old = ConnectRequest {
        time_out: 30_000,
        passwd: vec![0u8; 16].into(),
        read_only: None,
        ..Default::default()
    };
    let new = ConnectRequest {
        read_only: Some(true),
        ..old.clone()
    };
    assert_eq!(old.to_bytes().len() + 1, new.to_bytes().len());
    assert_eq!(ConnectRequest::from_bytes(&old.to_bytes()).unwrap(), old);
    assert_eq!(ConnectRequest::from_bytes(&new.to_bytes()).unwrap(), new);
    // Two trailing bytes are one too many.
    let mut extra = BytesMut::from(&new.to_bytes()[..]);
    extra.extend_from_slice(&[0]);
    assert_eq!(
        ClientRequestDecoder::new().decode(&extra),
        Err(DecodeError::Trailing(1))
    );
    assert!(
        ClientRequestDecoder::new()
            .allow_trailing(true)
            .decode(&extra)
            .is_ok()
    );
}

#[test]
fn multi_kinds_are_checked() {
    let mut rng = Rng::new(4);
    // A write op under multiRead, and a mixed multi, are refused.
    let writes = MultiRequest {
        ops: vec![multi_op(&mut rng, false)],
    };
    let mut out = BytesMut::new();
    Request::MultiRead(writes).encode_with_xid(1, &mut out);
    let mut dec = ClientRequestDecoder::new();
    dec.decode(&connect_request(&mut rng).to_bytes()).unwrap();
    assert_eq!(dec.decode(&out), Err(DecodeError::MixedMultiOps));
    let mixed = MultiRequest {
        ops: vec![multi_op(&mut rng, false), multi_op(&mut rng, true)],
    };
    out.clear();
    Request::Multi(mixed).encode_with_xid(2, &mut out);
    assert_eq!(dec.decode(&out), Err(DecodeError::MixedMultiOps));
}

#[test]
fn opcodes_clients_never_send_are_refused() {
    let mut dec = ClientRequestDecoder::new();
    dec.decode(&ConnectRequest::default().to_bytes()).unwrap();
    for op in [
        OpCode::Notification,
        OpCode::CreateSession,
        OpCode::Error,
        OpCode::DeleteContainer,
    ] {
        let h = RequestHeader {
            xid: 1,
            op: op.code(),
        };
        assert_eq!(
            dec.decode(&h.to_bytes()),
            Err(DecodeError::UnexpectedOpcode(op))
        );
    }
    for bad in [10, 23, 99, 108, -2, -12, i32::MAX] {
        let h = RequestHeader { xid: 1, op: bad };
        assert_eq!(
            dec.decode(&h.to_bytes()),
            Err(DecodeError::UnknownOpcode(bad))
        );
    }
}

#[test]
fn an_empty_multi_fits_either_opcode() {
    let mut dec = ClientRequestDecoder::new();
    dec.decode(&ConnectRequest::default().to_bytes()).unwrap();
    for req in [
        Request::Multi(MultiRequest::default()),
        Request::MultiRead(MultiRequest::default()),
    ] {
        let mut out = BytesMut::new();
        req.encode_with_xid(3, &mut out);
        // Header + the 9-byte terminator only.
        assert_eq!(out.len(), 8 + 9);
        match dec.decode(&out).unwrap() {
            ClientRequest::Op { request, .. } => assert_eq!(request, req),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn special_xid_replies_need_no_lookup() {
    for x in [xid::PING, xid::AUTH, xid::SET_WATCHES] {
        let h = ReplyHeader {
            xid: x,
            zxid: 1,
            err: 0,
        };
        let mut out = BytesMut::new();
        encode_response(&h, &Response::Empty, &mut out);
        assert_eq!(
            decode_response(&out, |_| panic!("looked up {x}")).unwrap(),
            (h, Response::Empty)
        );
    }
}
