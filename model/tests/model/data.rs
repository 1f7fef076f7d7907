//! Datasets on disk: preparation, page reads, and every way a file can be wrong.

use crate::common;

use std::path::Path;

use candle_core::Device;
use model::data::{Dataset, Manifest, TextTokenizer, MANIFEST_FILE};

fn prepared() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::prepare_fortunes(dir.path(), 128);
    dir
}

fn edit_manifest(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(MANIFEST_FILE);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn open_err(dir: &Path) -> String {
    match Dataset::open(dir) {
        Ok(_) => panic!("opening {} should fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn prepared_pages_decode_to_the_corpus_text() {
    let dir = prepared();
    let ds = Dataset::open(&dir.path().join("train")).unwrap();
    ds.verify().unwrap();
    assert!(ds.num_pages() > 1000, "{} pages", ds.num_pages());
    let tk = TextTokenizer::load(&common::tokenizer_path()).unwrap();
    let text = tk.decode(&ds.page(0).unwrap()).unwrap();
    assert!(text.chars().filter(|c| c.is_alphabetic()).count() > 100, "page 0 is not text: {text:?}");
    let b = ds.batch(&[0, 5], &Device::Cpu).unwrap();
    assert_eq!(b.inputs.dims(), &[2, 128]);
    // Targets are the inputs shifted by one token.
    let (i, t) = (b.inputs.to_vec2::<u32>().unwrap(), b.targets.to_vec2::<u32>().unwrap());
    assert_eq!(i[0][1..], t[0][..127]);
    assert!(ds.page(ds.num_pages()).is_err());
}

#[test]
fn manifest_errors_are_clear() {
    let dir = prepared();
    let train = dir.path().join("train");
    let original = std::fs::read(train.join(MANIFEST_FILE)).unwrap();
    let restore = || std::fs::write(train.join(MANIFEST_FILE), &original).unwrap();

    std::fs::write(train.join(MANIFEST_FILE), b"{ not json").unwrap();
    assert!(open_err(&train).contains("invalid manifest"));
    restore();
    edit_manifest(&train, |v| v["version"] = 2.into());
    assert!(open_err(&train).contains("version 2"));
    restore();
    edit_manifest(&train, |v| v["shards"][0]["file"] = "../../etc/passwd".into());
    assert!(open_err(&train).contains("plain file name"));
    restore();
    edit_manifest(&train, |v| v["shards"][0]["pages"] = 1.into());
    assert!(open_err(&train).contains("pages"));
    restore();
    edit_manifest(&train, |v| v["content_hash"] = "00".repeat(32).into());
    assert!(open_err(&train).contains("content_hash"));
    restore();
    edit_manifest(&train, |v| v["page_len"] = 0.into());
    assert!(open_err(&train).contains("page_len"));
    restore();
    std::fs::remove_file(train.join(MANIFEST_FILE)).unwrap();
    assert!(open_err(&train).contains(MANIFEST_FILE));
}

#[test]
fn shard_errors_are_clear() {
    let dir = prepared();
    let train = dir.path().join("train");
    let m = Manifest::load(&train.join(MANIFEST_FILE)).unwrap();
    let shard = train.join(&m.shards[0].file);
    let bytes = std::fs::read(&shard).unwrap();

    // Truncated by one byte: not a whole number of u16 tokens.
    std::fs::write(&shard, &bytes[..bytes.len() - 1]).unwrap();
    assert!(open_err(&train).contains("truncated"));
    // Truncated by one token: size differs from the manifest.
    std::fs::write(&shard, &bytes[..bytes.len() - 2]).unwrap();
    assert!(open_err(&train).contains("manifest lists"));
    // Same size, different content: caught by verify.
    let mut flipped = bytes.clone();
    flipped[100] ^= 1;
    std::fs::write(&shard, &flipped).unwrap();
    let ds = Dataset::open(&train).unwrap();
    assert!(ds.verify().unwrap_err().to_string().contains("content hash"));
    // A token id outside the vocabulary is refused when its page is read.
    let mut oov = bytes.clone();
    oov[0..2].copy_from_slice(&u16::MAX.to_le_bytes());
    std::fs::write(&shard, &oov).unwrap();
    let ds = Dataset::open(&train).unwrap();
    assert!(ds.page(0).unwrap_err().to_string().contains("outside the vocabulary"));
    // Missing shard file.
    std::fs::remove_file(&shard).unwrap();
    assert!(open_err(&train).contains(&m.shards[0].file));
}

mod fuzz {
    //! Hostile bytes never panic the shard and manifest readers.
    use model::data::{Manifest, Shard, TokenDtype};
    use proptest::prelude::*;

    fn shard_with(prefix: &[u8], body: &[u8], name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(body);
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn shard_open_and_read_never_panic(kind in 0usize..3, body in proptest::collection::vec(any::<u8>(), 0..1500), dtype in any::<bool>()) {
            let (prefix, name): (&[u8], &str) = match kind {
                0 => (b"", "s.bin"),
                1 => (b"\x93NUMPY\x01\x00", "s.npy"),
                _ => (&20240520i32.to_le_bytes(), "s.bin"),
            };
            let (_dir, path) = shard_with(prefix, &body, name);
            let dtype = if dtype { TokenDtype::U16 } else { TokenDtype::U32 };
            if let Ok(mut s) = Shard::open(&path, dtype) {
                let n = s.tokens();
                prop_assert!(s.read(0, n.min(8) as usize).is_ok());
                prop_assert!(s.read(n, 1).is_err());
            }
        }

        #[test]
        fn manifest_load_never_panics(json in "\\{[ -~]{0,300}\\}") {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("manifest.json");
            std::fs::write(&path, json).unwrap();
            let _ = Manifest::load(&path);
        }
    }
}

#[test]
fn shipped_tokenizer_round_trips_text() {
    let tk = TextTokenizer::load(&common::tokenizer_path()).unwrap();
    assert_eq!(tk.vocab_size(), 4096);
    assert_eq!(tk.eos_id(), Some(0));
    for text in ["The quick brown fox.\n  Indented, \"quoted\" & 100% ünïcode!", "   leading spaces", ""] {
        let ids = tk.encode(text).unwrap();
        assert_eq!(tk.decode(&ids).unwrap(), text, "round trip of {text:?}");
    }
}
