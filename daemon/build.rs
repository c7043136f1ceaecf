//! Compiles the local API schema (`proto/proto/bluehelm/v1/api.proto`) with protox (pure
//! Rust, no system protoc) and generates the gRPC service with tonic. The wire format's own
//! messages are compiled again here, privately: the `bluehelm-proto` crate keeps its
//! generated types private, and the API only passes their bytes across (see `src/api/convert.rs`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let includes = ["../proto/proto"];
    let files = ["../proto/proto/bluehelm/v1/api.proto"];
    println!("cargo:rerun-if-changed=../proto/proto/bluehelm/v1/api.proto");
    println!("cargo:rerun-if-changed=../proto/proto/bluehelm/v1/envelope.proto");
    let descriptors = protox::compile(files, includes)?;
    tonic_prost_build::configure()
        .btree_map(".")
        // For the CLI's `--json` output (`cli/bureau.rs`, `to_json`; the shape is documented
        // in docs/bureau-guide.md). Keys are the proto's field names: a oneof is an object
        // whose one key names the case (`"body": {"text": ...}`), not a Rust variant name
        // (`"Text"`) (issue 10).
        .type_attribute(".", "#[derive(serde::Serialize)]")
        .type_attribute(".", "#[serde(rename_all = \"snake_case\")]")
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
