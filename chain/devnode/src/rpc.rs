//! A small blocking JSON-RPC client over HTTP: just what tests need to watch a node (heads,
//! finality, storage, runtime calls). Real clients use subxt.

use crate::{Error, Result};
use parity_scale_codec::Decode;
use serde_json::{json, Value};
use std::time::Duration;

/// Largest answer read, so a confused node cannot make a test allocate without bound
/// (the runtime's metadata, the largest thing tests read, is well under 1 MiB).
const MAX_ANSWER_BYTES: u64 = 32 << 20;

/// A block header's fields tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub number: u32,
    pub parent_hash: String,
    pub state_root: String,
}

#[derive(Clone)]
pub struct RpcClient {
    url: String,
    agent: ureq::Agent,
}

impl RpcClient {
    pub fn new(url: impl Into<String>) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            // Dev nodes are on loopback: never go through a proxy from the environment.
            .proxy(None)
            .build()
            .into();
        Self { url: url.into(), agent }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` and returns its `result`, or the node's error message.
    pub fn call(&self, method: &str, params: Value) -> Result<Value> {
        let request = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let failed = |message: String| Error::Rpc { method: method.into(), message };
        let mut response =
            self.agent.post(&self.url).send_json(&request).map_err(|e| failed(e.to_string()))?;
        let mut answer: Value = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_json()
            .map_err(|e| failed(format!("HTTP {}: {e}", response.status())))?;
        if let Some(error) = answer.get("error") {
            return Err(failed(error.to_string()));
        }
        answer
            .get_mut("result")
            .map(Value::take)
            .ok_or_else(|| Error::BadAnswer { method: method.into(), detail: answer.to_string() })
    }

    /// The chain's name from the chain spec (`Development` for `--dev`).
    pub fn system_chain(&self) -> Result<String> {
        let value = self.call("system_chain", json!([]))?;
        as_str("system_chain", &value).map(str::to_owned)
    }

    /// The header of the best block.
    pub fn best_header(&self) -> Result<Header> {
        parse_header(&self.call("chain_getHeader", json!([]))?)
    }

    /// The header of block `hash`.
    pub fn header(&self, hash: &str) -> Result<Header> {
        parse_header(&self.call("chain_getHeader", json!([hash]))?)
    }

    /// The hash of the last finalized block.
    pub fn finalized_head(&self) -> Result<String> {
        let value = self.call("chain_getFinalizedHead", json!([]))?;
        as_str("chain_getFinalizedHead", &value).map(str::to_owned)
    }

    /// The hash of block `number` on the best chain, if it exists.
    pub fn block_hash(&self, number: u32) -> Result<Option<String>> {
        let value = self.call("chain_getBlockHash", json!([number]))?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// The raw storage value under `key` at block `at` (best block if `None`).
    pub fn storage(&self, key: &[u8], at: Option<&str>) -> Result<Option<Vec<u8>>> {
        let key = format!("0x{}", hex::encode(key));
        let value = self.call("state_getStorage", json!([key, at]))?;
        match value.as_str() {
            None => Ok(None),
            Some(hex) => decode_hex("state_getStorage", hex).map(Some),
        }
    }

    /// `state_getRuntimeVersion` as the node returns it (`specName`, `specVersion`, ...).
    pub fn runtime_version(&self) -> Result<Value> {
        self.call("state_getRuntimeVersion", json!([]))
    }

    /// Calls a runtime API function with SCALE-encoded `args`; returns the SCALE answer.
    pub fn state_call(&self, function: &str, args: &[u8], at: Option<&str>) -> Result<Vec<u8>> {
        let value = self.call("state_call", json!([function, format!("0x{}", hex::encode(args)), at]))?;
        decode_hex("state_call", as_str("state_call", &value)?)
    }

    /// The runtime's metadata in V16, SCALE-encoded with its `meta` magic prefix, as subxt
    /// and `metadata/` hold it.
    pub fn metadata_v16(&self) -> Result<Vec<u8>> {
        let answer = self.state_call("Metadata_metadata_at_version", &16u32.to_le_bytes(), None)?;
        let bad = |detail: &str| Error::BadAnswer {
            method: "Metadata_metadata_at_version".into(),
            detail: detail.into(),
        };
        match Option::<Vec<u8>>::decode(&mut &answer[..]) {
            Ok(Some(metadata)) => Ok(metadata),
            Ok(None) => Err(bad("the runtime does not serve metadata V16")),
            Err(e) => Err(bad(&format!("not an Option<OpaqueMetadata>: {e}"))),
        }
    }
}

fn as_str<'a>(method: &str, value: &'a Value) -> Result<&'a str> {
    value.as_str().ok_or_else(|| Error::BadAnswer {
        method: method.into(),
        detail: format!("expected a string, got {value}"),
    })
}

fn decode_hex(method: &str, text: &str) -> Result<Vec<u8>> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits)
        .map_err(|e| Error::BadAnswer { method: method.into(), detail: format!("bad hex: {e}") })
}

fn parse_header(value: &Value) -> Result<Header> {
    let bad = |detail: String| Error::BadAnswer { method: "chain_getHeader".into(), detail };
    let field = |name: &str| {
        value.get(name).and_then(Value::as_str).ok_or_else(|| bad(format!("no {name} in {value}")))
    };
    let number = field("number")?;
    let number = u32::from_str_radix(number.trim_start_matches("0x"), 16)
        .map_err(|e| bad(format!("number {number}: {e}")))?;
    Ok(Header {
        number,
        parent_hash: field("parentHash")?.to_owned(),
        state_root: field("stateRoot")?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_and_rejects_malformed_ones() {
        let header =
            json!({ "number": "0x1a", "parentHash": "0xab", "stateRoot": "0xcd", "extrinsicsRoot": "0x" });
        assert_eq!(
            parse_header(&header).unwrap(),
            Header { number: 26, parent_hash: "0xab".into(), state_root: "0xcd".into() }
        );
        assert!(parse_header(&json!({ "number": "0xzz", "parentHash": "0x", "stateRoot": "0x" })).is_err());
        assert!(parse_header(&json!({ "number": "0x1" })).is_err());
        assert!(parse_header(&json!(null)).is_err());
    }

    #[test]
    fn hex_answers_need_valid_digits() {
        assert_eq!(decode_hex("m", "0x0102").unwrap(), vec![1, 2]);
        assert!(decode_hex("m", "0x012").is_err());
        assert!(decode_hex("m", "0xgg").is_err());
    }
}
