//! Compiles the schema with protox (pure Rust) so that building needs no system protoc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/bluehelm/v1/envelope.proto",
        "proto/bluehelm/v1/link.proto",
        "proto/bluehelm/v1/records.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new()
        .btree_map(["."])
        // Decoded and encoded by hand: its inclusion path without a buffer per hash.
        .extern_path(
            ".bluehelm.v1.SignedEnvelope",
            "crate::signed_wire::SignedEnvelope",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
