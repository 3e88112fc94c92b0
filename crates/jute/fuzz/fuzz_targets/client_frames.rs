//! Feeds arbitrary bytes to the server's view of a client connection: the framer with
//! ZooKeeper's default `jute.maxbuffer`, then the decoder of the connect frame and of
//! every later request. Nothing may panic, and no frame over the bound is produced.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zk_jute::{ClientRequestDecoder, DEFAULT_MAX_FRAME, Framer};

fuzz_target!(|data: &[u8]| {
    let framer = Framer::new(DEFAULT_MAX_FRAME);
    let mut decoder = ClientRequestDecoder::new();
    let mut buf = bytes::BytesMut::from(data);
    while let Ok(Some(frame)) = framer.next_frame(&mut buf) {
        assert!(frame.len() <= DEFAULT_MAX_FRAME);
        let _ = decoder.decode(&frame);
    }
});
