//! Byte layouts written by hand from `zookeeper.jute`, checked independently
//! of the round trip; every truncation of each is a typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::{Bytes, BytesMut};
use zk_jute::*;

/// Hex with spaces and `|` separators, comments after `#` on each line.
fn hex(s: &str) -> Vec<u8> {
    let digits: String = s
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars())
        .filter(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(digits.len() % 2, 0, "odd hex: {s}");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

const CONNECT: &str = "
    00 00 00 00                 # protocolVersion 0
    00 00 00 01 00 00 00 05     # lastZxidSeen 0x100000005
    00 00 75 30                 # timeOut 30000
    01 00 0a bc de f0 00 01     # sessionId
    00 00 00 10                 # passwd: 16 bytes
    01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10
    01                          # readOnly true (3.8 clients)
";

fn connect_value() -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0x1_0000_0005,
        time_out: 30_000,
        session_id: 0x0100_0abc_def0_0001,
        passwd: Bytes::from((1u8..=16).collect::<Vec<u8>>()),
        read_only: Some(true),
    }
}

const CREATE2: &str = "
    00 00 00 07                 # xid 7
    00 00 00 0f                 # type 15 create2
    00 00 00 02 2f 61           # path /a
    00 00 00 02 68 69           # data hi
    00 00 00 01                 # acl: 1 entry
    00 00 00 1f                 #   perms ALL
    00 00 00 05 77 6f 72 6c 64  #   scheme world
    00 00 00 06 61 6e 79 6f 6e 65  # id anyone
    00 00 00 03                 # flags EPHEMERAL_SEQUENTIAL
";

fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

const REPLY_HEADER: &str = "
    00 00 00 07                 # xid 7
    00 00 00 01 00 00 00 02     # zxid 0x100000002
    ff ff ff 9b                 # err -101 NONODE
";

const WATCH_EVENT: &str = "
    ff ff ff ff                 # xid -1 (notification)
    ff ff ff ff ff ff ff ff     # zxid -1
    00 00 00 00                 # err 0
    00 00 00 03                 # type NodeDataChanged
    00 00 00 03                 # state SyncConnected
    00 00 00 02 2f 61           # path /a
";

const MULTI_REQUEST: &str = "
    00 00 00 08 | 00 00 00 0e   # xid 8, type 14 multi
    00 00 00 01 | 00 | ff ff ff ff        # MultiHeader create
    00 00 00 02 2f 78           # path /x
    ff ff ff ff                 # data null
    00 00 00 01 | 00 00 00 1f | 00 00 00 05 77 6f 72 6c 64 | 00 00 00 06 61 6e 79 6f 6e 65
    00 00 00 00                 # flags PERSISTENT
    00 00 00 02 | 00 | ff ff ff ff        # MultiHeader delete
    00 00 00 02 2f 79 | ff ff ff ff       # /y, version -1
    00 00 00 0d | 00 | ff ff ff ff        # MultiHeader check
    00 00 00 02 2f 78 | 00 00 00 00       # /x, version 0
    ff ff ff ff | 01 | ff ff ff ff        # done
";

const MULTI_REPLY: &str = "
    00 00 00 08 | 00 00 00 00 00 00 01 05 | 00 00 00 00   # ReplyHeader xid 8
    ff ff ff ff | 00 | 00 00 00 00 | 00 00 00 00   # error result, OK: rolled back
    ff ff ff ff | 00 | ff ff ff 9b | ff ff ff 9b   # error result, NONODE: the failing op
    ff ff ff ff | 00 | ff ff ff fe | ff ff ff fe   # error result, RUNTIMEINCONSISTENCY
    ff ff ff ff | 01 | ff ff ff ff                 # done
";

fn multi_request_value() -> Request {
    Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(CreateRequest {
                path: "/x".into(),
                data: None,
                acl: open_acl(),
                flags: CreateMode::Persistent.code(),
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/y".into(),
                version: -1,
            }),
            MultiOp::Check(CheckVersionRequest {
                path: "/x".into(),
                version: 0,
            }),
        ],
    })
}

fn connected() -> ClientRequestDecoder {
    let mut d = ClientRequestDecoder::new();
    d.decode(&hex(CONNECT)).unwrap();
    d
}

#[test]
fn connect_request_layout() {
    let bytes = hex(CONNECT);
    assert_eq!(bytes.len(), 45);
    assert_eq!(connect_value().to_bytes(), bytes);
    let mut d = ClientRequestDecoder::new();
    assert_eq!(
        d.decode(&bytes).unwrap(),
        ClientRequest::Connect(connect_value())
    );
    // Framed: a 45-byte body.
    let mut framed = BytesMut::new();
    encode_frame(&bytes, &mut framed);
    assert_eq!(&framed[..4], &[0, 0, 0, 45]);
}

#[test]
fn connect_response_layout() {
    let rsp = ConnectResponse {
        protocol_version: 0,
        time_out: 4000,
        session_id: 0x0100_0abc_def0_0001,
        passwd: Bytes::from(vec![0xaa; 16]),
        read_only: Some(false),
    };
    let mut expect = hex("00 00 00 00 | 00 00 0f a0 | 01 00 0a bc de f0 00 01 | 00 00 00 10");
    expect.extend([0xaa; 16]);
    expect.push(0);
    assert_eq!(rsp.to_bytes(), expect);
    let old = ConnectResponse {
        read_only: None,
        ..rsp
    };
    assert_eq!(old.to_bytes(), expect[..expect.len() - 1]);
}

#[test]
fn create2_request_layout() {
    let bytes = hex(CREATE2);
    let req = Request::Create2(CreateRequest {
        path: "/a".into(),
        data: Some(Bytes::from_static(b"hi")),
        acl: open_acl(),
        flags: CreateMode::EphemeralSequential.code(),
    });
    let mut out = BytesMut::new();
    req.encode_with_xid(7, &mut out);
    assert_eq!(out, bytes);
    assert_eq!(
        connected().decode(&bytes).unwrap(),
        ClientRequest::Op {
            header: RequestHeader { xid: 7, op: 15 },
            request: req
        }
    );
}

#[test]
fn reply_header_layout() {
    let h = ReplyHeader {
        xid: 7,
        zxid: 0x1_0000_0002,
        err: ErrorCode::NoNode.code(),
    };
    assert_eq!(h.to_bytes(), hex(REPLY_HEADER));
    assert_eq!(
        decode_response(&hex(REPLY_HEADER), |_| Some(OpCode::GetData)).unwrap(),
        (h, Response::Empty)
    );
}

#[test]
fn watcher_event_layout() {
    let h = ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid: -1,
        err: 0,
    };
    let ev = WatcherEvent {
        event_type: EventType::NodeDataChanged.code(),
        state: KeeperState::SyncConnected.code(),
        path: "/a".into(),
    };
    let mut out = BytesMut::new();
    encode_response(&h, &Response::Notification(ev.clone()), &mut out);
    assert_eq!(out, hex(WATCH_EVENT));
    assert_eq!(
        decode_response(&hex(WATCH_EVENT), |_| None).unwrap(),
        (h, Response::Notification(ev))
    );
}

#[test]
fn multi_with_a_failing_op_layout() {
    let mut out = BytesMut::new();
    multi_request_value().encode_with_xid(8, &mut out);
    assert_eq!(out, hex(MULTI_REQUEST));
    assert_eq!(
        connected().decode(&hex(MULTI_REQUEST)).unwrap(),
        ClientRequest::Op {
            header: RequestHeader { xid: 8, op: 14 },
            request: multi_request_value()
        }
    );
    let h = ReplyHeader {
        xid: 8,
        zxid: 0x105,
        err: 0,
    };
    let body = Response::Multi(MultiResponse {
        results: vec![
            MultiResult::Error(ErrorCode::Ok.code()),
            MultiResult::Error(ErrorCode::NoNode.code()),
            MultiResult::Error(ErrorCode::RuntimeInconsistency.code()),
        ],
    });
    out.clear();
    encode_response(&h, &body, &mut out);
    assert_eq!(out, hex(MULTI_REPLY));
    assert_eq!(
        decode_response(&hex(MULTI_REPLY), |_| Some(OpCode::Multi)).unwrap(),
        (h, body)
    );
}

fn assert_truncated(name: &str, full: &[u8], decode: impl Fn(&[u8]) -> Result<(), DecodeError>) {
    assert_eq!(decode(full), Ok(()), "{name}: full vector");
    for cut in 0..full.len() {
        match decode(&full[..cut]) {
            Err(DecodeError::Truncated { needed, remaining }) => {
                assert!(
                    needed > remaining,
                    "{name} cut {cut}: {needed} <= {remaining}"
                );
            }
            other => panic!("{name} cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn every_truncation_is_a_typed_error() {
    let connect = hex(CONNECT);
    for cut in 0..connect.len() {
        let res = ClientRequestDecoder::new().decode(&connect[..cut]);
        if cut == connect.len() - 1 {
            // Exactly an old client's ConnectRequest: no readOnly byte.
            let mut old = connect_value();
            old.read_only = None;
            assert_eq!(res, Ok(ClientRequest::Connect(old)));
        } else {
            assert!(
                matches!(res, Err(DecodeError::Truncated { .. })),
                "connect cut {cut}: {res:?}"
            );
        }
    }
    let req = |b: &[u8]| connected().decode(b).map(drop);
    assert_truncated("create2", &hex(CREATE2), req);
    assert_truncated("multi request", &hex(MULTI_REQUEST), req);
    let reply = |op| move |b: &[u8]| decode_response(b, |_| Some(op)).map(drop);
    assert_truncated("reply header", &hex(REPLY_HEADER), reply(OpCode::GetData));
    assert_truncated("watch event", &hex(WATCH_EVENT), reply(OpCode::GetData));
    assert_truncated("multi reply", &hex(MULTI_REPLY), reply(OpCode::Multi));
}

#[test]
fn framer_reassembles_golden_frames_byte_by_byte() {
    let bodies = [
        hex(CONNECT),
        hex(CREATE2),
        hex(MULTI_REQUEST),
        hex(REPLY_HEADER),
    ];
    let mut stream = BytesMut::new();
    for b in &bodies {
        encode_frame(b, &mut stream);
    }
    let framer = Framer::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for byte in stream.iter() {
        buf.extend_from_slice(&[*byte]);
        while let Some(frame) = framer.next_frame(&mut buf).unwrap() {
            got.push(frame.to_vec());
        }
    }
    assert_eq!(got, bodies);
    assert!(buf.is_empty());
    // encode_frame_with produces the same bytes as encode_frame.
    let mut a = BytesMut::new();
    encode_frame_with(&mut a, |out| out.extend_from_slice(&bodies[1]));
    let mut b = BytesMut::new();
    encode_frame(&bodies[1], &mut b);
    assert_eq!(a, b);
}
