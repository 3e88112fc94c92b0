//! Generates the gRPC client and server of `proto/peer.proto` with protox (pure Rust, no
//! system `protoc`) and tonic-prost-build.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["proto/peer.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Bytes, not Vec<u8>: chunks are handed to the reader without a copy.
        .bytes(".")
        .compile_fds(fds)?;
    Ok(())
}
