//! Arbitrary bytes from disk never panic the keyfile readers; they are refused with an error.

use std::path::Path;

use proptest::prelude::*;

use super::{decrypt, KeyfileData};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn keyfile_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let path = Path::new("fuzz");
        if let Ok(data) = KeyfileData::parse(&bytes, path) {
            let _ = data.keypair(path);
        }
    }

    #[test]
    fn json_shaped_keyfiles_never_panic(
        public in "(0x)?[0-9a-f]{0,70}",
        seed in "(0x)?[0-9a-f]{0,70}",
        private in "(0x)?[0-9a-f]{0,140}",
        phrase in "[a-z ]{0,80}",
        crypto in 0u64..3,
    ) {
        let json = format!(
            r#"{{"publicKey":"{public}","secretSeed":"{seed}","privateKey":"{private}","secretPhrase":"{phrase}","cryptoType":{crypto}}}"#
        );
        let path = Path::new("fuzz");
        if let Ok(data) = KeyfileData::parse(json.as_bytes(), path) {
            let _ = data.keypair(path);
        }
    }

    /// Short `$NACL` bodies are refused before the (slow) key derivation.
    #[test]
    fn truncated_encrypted_keyfiles_are_refused(body in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut data = b"$NACL".to_vec();
        data.extend(body);
        prop_assert!(decrypt(&data, b"pw").is_err());
    }
}
