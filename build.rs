//! Compiles `proto/message.proto` into tonic clients and servers.
//!
//! The .proto is parsed by `protox` (pure Rust) rather than by a `protoc`
//! binary, so the crate builds on Windows, Linux and macOS without a system
//! protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["message.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Unimplemented methods answer UNIMPLEMENTED instead of being required.
        .generate_default_stubs(true)
        .compile_fds(descriptors)?;
    Ok(())
}
