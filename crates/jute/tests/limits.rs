//! Lengths are never trusted: each is checked against the bytes remaining and
//! a cap before anything is allocated.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::{BufMut, BytesMut};
use zk_jute::*;

#[test]
fn huge_vector_count_with_few_bytes_fails_fast() {
    // GetChildrenResponse: vector<ustring> with count 2^31-1 and 10 bytes left.
    let mut b = BytesMut::new();
    b.put_i32(i32::MAX);
    b.put_slice(&[0u8; 10]);
    let err = Reader::with_max_len(&b, usize::MAX)
        .read_vec::<String>()
        .unwrap_err();
    assert_eq!(
        err,
        DecodeError::Truncated {
            needed: (i32::MAX as usize) * 4,
            remaining: 10
        }
    );
    // With the default cap it is refused as too long first.
    assert_eq!(
        GetChildrenResponse::from_bytes(&b).unwrap_err(),
        DecodeError::TooLong {
            len: i32::MAX as usize,
            limit: DEFAULT_MAX_LEN
        }
    );
    // A count that fits the cap but not the bytes: ACLs take >= 12 bytes each.
    let mut b = BytesMut::new();
    b.put_i32(1000);
    b.put_slice(&[0u8; 11_999]);
    assert_eq!(
        Reader::new(&b).read_vec::<Acl>().unwrap_err(),
        DecodeError::Truncated {
            needed: 12_000,
            remaining: 11_999
        }
    );
}

#[test]
fn buffer_and_string_lengths_are_checked() {
    let mut b = BytesMut::new();
    b.put_i32(0x7fff_fff0);
    b.put_slice(b"abc");
    assert!(matches!(
        Reader::new(&b).read_buffer(),
        Err(DecodeError::TooLong { .. })
    ));
    assert_eq!(
        Reader::with_max_len(&b, usize::MAX).read_ustring(),
        Err(DecodeError::Truncated {
            needed: 0x7fff_fff0,
            remaining: 3
        })
    );
    // A custom cap.
    let mut b = BytesMut::new();
    b.put_i32(4);
    b.put_slice(b"abcd");
    assert_eq!(
        Reader::with_max_len(&b, 3).read_buffer(),
        Err(DecodeError::TooLong { len: 4, limit: 3 })
    );
    assert_eq!(
        Reader::with_max_len(&b, 4).read_buffer(),
        Ok(Some(&b"abcd"[..]))
    );
    // Negative lengths other than -1.
    for neg in [-2, i32::MIN] {
        let b = neg.to_be_bytes();
        assert_eq!(
            Reader::new(&b).read_buffer(),
            Err(DecodeError::NegativeLength(neg))
        );
        assert_eq!(
            Reader::new(&b).read_vec::<String>(),
            Err(DecodeError::NegativeLength(neg))
        );
    }
    // -1 is null.
    let b = (-1i32).to_be_bytes();
    assert_eq!(Reader::new(&b).read_buffer(), Ok(None));
    assert_eq!(Reader::new(&b).read_ustring(), Ok(None));
    assert_eq!(Reader::new(&b).read_vec::<String>(), Ok(vec![]));
    // Bad UTF-8.
    let mut b = BytesMut::new();
    b.put_i32(2);
    b.put_slice(&[0xc3, 0x28]);
    assert_eq!(Reader::new(&b).read_ustring(), Err(DecodeError::BadUtf8));
}

#[test]
fn decoder_cap_applies_to_records() {
    let req = SetDataRequest {
        path: "/a".into(),
        data: Some(vec![7u8; 100].into()),
        version: -1,
    };
    let mut frame = BytesMut::new();
    Request::SetData(req).encode_with_xid(1, &mut frame);
    let mut dec = ClientRequestDecoder::new().with_max_len(99);
    dec.decode(&ConnectRequest::default().to_bytes()).unwrap();
    assert_eq!(
        dec.decode(&frame),
        Err(DecodeError::TooLong {
            len: 100,
            limit: 99
        })
    );
}

#[test]
fn framer_refuses_bad_lengths_before_buffering() {
    let framer = Framer::default();
    assert_eq!(framer.max(), 0xfffff);
    // One byte over jute.maxbuffer.
    let mut buf = BytesMut::new();
    buf.put_i32(0x10_0000);
    assert_eq!(
        framer.next_frame(&mut buf),
        Err(FrameError::TooLong {
            len: 0x10_0000,
            max: 0xfffff
        })
    );
    assert_eq!(buf.len(), 4, "input left untouched");
    // Negative.
    let mut buf = BytesMut::new();
    buf.put_i32(-5);
    assert_eq!(
        framer.next_frame(&mut buf),
        Err(FrameError::NegativeLength(-5))
    );
    // A four-letter word is visible to the caller after the refusal.
    let mut buf = BytesMut::from(&b"ruok"[..]);
    assert!(framer.next_frame(&mut buf).is_err());
    assert_eq!(&buf[..], b"ruok");
    // Exactly the maximum is accepted (once its body arrives).
    let mut buf = BytesMut::new();
    buf.put_i32(0xfffff);
    assert_eq!(framer.next_frame(&mut buf), Ok(None));
    buf.put_bytes(1, 0xfffff);
    let frame = framer.next_frame(&mut buf).unwrap().unwrap();
    assert_eq!(frame.len(), 0xfffff);
    assert!(buf.is_empty());
    // Fewer than 4 bytes: wait. Zero-length frames are fine.
    let mut buf = BytesMut::from(&[0u8, 0, 0][..]);
    assert_eq!(framer.next_frame(&mut buf), Ok(None));
    buf.put_u8(0);
    assert_eq!(framer.next_frame(&mut buf), Ok(Some(bytes::Bytes::new())));
}
