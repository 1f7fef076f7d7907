//! `metadata/subnet.scale` must be exactly what the node's runtime serves, since the subxt client
//! is generated from that file. `UPDATE_METADATA=1` rewrites it (scripts/update-metadata.sh).

use std::{env, fs, path::PathBuf};
use subnet_devnode::DevNode;

#[test]
fn checked_in_metadata_matches_the_runtime() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../metadata/subnet.scale");
    let node = DevNode::start().expect("dev node starts");
    let served = node.rpc().metadata_v16().expect("metadata V16");
    // `meta` magic, then the version byte of `RuntimeMetadataPrefixed`.
    assert_eq!(&served[..4], b"meta");
    assert_eq!(served[4], 16, "metadata version");

    if env::var_os("UPDATE_METADATA").is_some() {
        fs::write(&path, &served).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("wrote {} ({} bytes)", path.display(), served.len());
        return;
    }
    let checked_in = fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        checked_in == served,
        "{} ({} bytes) differs from the runtime's metadata ({} bytes): run scripts/update-metadata.sh \
         and commit the result",
        path.display(),
        checked_in.len(),
        served.len()
    );
}
