//! A stable-toolchain stand-in for a cargo-fuzz target: 100 000 random and
//! mutated frames are fed to every decoder, which must return (never panic),
//! and whatever decodes must re-encode to something that decodes the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::BytesMut;
use common::*;
use zk_jute::*;

const INPUTS: usize = 100_000;

fn seed_input(r: &mut Rng) -> Vec<u8> {
    let mut out = BytesMut::new();
    match r.below(5) {
        0 => connect_request(r).encode(&mut out),
        1 => connect_response(r).encode(&mut out),
        2 | 3 => {
            let k = r.below(REQUEST_KINDS);
            request(r, k).encode_with_xid(r.i32(), &mut out);
        }
        _ => {
            let k = r.below(RESPONSE_KINDS);
            let (_, body) = response(r, k);
            let h = ReplyHeader {
                xid: r.i32(),
                zxid: r.i64(),
                err: 0,
            };
            encode_response(&h, &body, &mut out);
        }
    }
    out.to_vec()
}

const EVIL: [i32; 6] = [i32::MAX, -1, i32::MIN, -2, 0x00ff_ffff, 0x0010_0000];

fn mutate(r: &mut Rng, mut v: Vec<u8>) -> Vec<u8> {
    let n = 1 + r.below(4);
    for _ in 0..n {
        let len = v.len();
        match r.below(7) {
            0 if len > 0 => {
                let i = r.below(len);
                v[i] ^= 1 << r.below(8);
            }
            1 if len > 0 => {
                let i = r.below(len);
                v[i] = r.next_u64() as u8;
            }
            2 => v.truncate(r.below(len + 1)),
            3 => {
                let i = r.below(len + 1);
                let extra: Vec<u8> = (0..r.below(8)).map(|_| r.next_u64() as u8).collect();
                v.splice(i..i, extra);
            }
            4 if len >= 4 => {
                // Overwrite an int (often a length or count) with a hostile value.
                let i = r.below(len - 3);
                v[i..i + 4].copy_from_slice(&r.pick(&EVIL).to_be_bytes());
            }
            5 if len > 0 => {
                let a = r.below(len);
                let b = a + r.below(len - a);
                let seg = v[a..b].to_vec();
                let i = r.below(v.len() + 1);
                v.splice(i..i, seg);
            }
            _ => {
                v = (0..r.below(64)).map(|_| r.next_u64() as u8).collect();
            }
        }
    }
    v
}

fn try_record<T: Record + PartialEq + std::fmt::Debug>(input: &[u8]) {
    if let Ok(v) = T::from_bytes(input) {
        let again = T::from_bytes(&v.to_bytes()).unwrap();
        assert_eq!(again, v);
    }
}

fn feed(input: &[u8], r: &mut Rng) {
    // The connection decoder, in both states.
    let _ = ClientRequestDecoder::new().decode(input);
    let _ = ClientRequestDecoder::new()
        .allow_trailing(true)
        .decode(input);
    let mut dec = ClientRequestDecoder::new();
    dec.decode(&ConnectRequest::default().to_bytes()).unwrap();
    if let Ok(ClientRequest::Op { header, request }) = dec.decode(input) {
        let mut out = BytesMut::new();
        request.encode_with_xid(header.xid, &mut out);
        match dec.decode(&out) {
            Ok(ClientRequest::Op { request: again, .. }) => assert_eq!(again, request),
            other => panic!("re-decode of {request:?}: {other:?}"),
        }
    }
    // Replies, as a client would read them for some pending op.
    let op = r.pick(OpCode::ALL);
    if let Ok((h, body)) = decode_response(input, |_| Some(op)) {
        let mut out = BytesMut::new();
        encode_response(&h, &body, &mut out);
        assert_eq!(decode_response(&out, |_| Some(op)).unwrap(), (h, body));
    }
    // Every record on its own.
    try_record::<ConnectRequest>(input);
    try_record::<ConnectResponse>(input);
    try_record::<RequestHeader>(input);
    try_record::<ReplyHeader>(input);
    try_record::<MultiHeader>(input);
    try_record::<AuthPacket>(input);
    try_record::<WatcherEvent>(input);
    try_record::<SetWatches>(input);
    try_record::<SetWatches2>(input);
    try_record::<ErrorResponse>(input);
    try_record::<WhoAmIResponse>(input);
    try_record::<Stat>(input);
    try_record::<Acl>(input);
    try_record::<Vec<Acl>>(input);
    try_record::<CreateRequest>(input);
    try_record::<CreateTtlRequest>(input);
    try_record::<Create2Response>(input);
    try_record::<GetDataResponse>(input);
    try_record::<GetAclResponse>(input);
    try_record::<GetChildren2Response>(input);
    try_record::<SetAclRequest>(input);
    try_record::<ReconfigRequest>(input);
    try_record::<GetEphemeralsResponse>(input);
    try_record::<MultiRequest>(input);
    try_record::<MultiResponse>(input);
    // The framer, over the input as a stream.
    let framer = Framer::new(r.pick(&[0, 16, 1024, DEFAULT_MAX_FRAME]));
    let mut buf = BytesMut::from(input);
    while let Ok(Some(_)) = framer.next_frame(&mut buf) {}
}

#[test]
fn hundred_thousand_hostile_inputs_never_panic() {
    let mut r = Rng::new(0x5eed_f022);
    for i in 0..INPUTS {
        let input = if i % 10 == 0 {
            seed_input(&mut r)
        } else {
            let seed = seed_input(&mut r);
            mutate(&mut r, seed)
        };
        feed(&input, &mut r);
    }
}
