//! Reasons the transaction pool gives for refusing a transaction, turned into clear messages.
//!
//! Substrate reports these as JSON-RPC errors (codes 1010-1014) or as `Invalid`/`Dropped`
//! statuses with a text reason; the text is the only stable part, so we match on it.

use std::fmt;

/// Why the pool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolRejection {
    /// The nonce was already used: an earlier transaction from the same key got in first.
    StaleNonce,
    /// The account cannot pay the fee (or would fall below the existential deposit).
    CannotPayFees,
    /// The signature does not verify (wrong key, or a different chain/genesis).
    BadSignature,
    /// The same transaction is already in the pool.
    AlreadyImported,
    /// Another transaction with the same nonce and a higher priority is in the pool.
    PriorityTooLow,
    /// The pool banned this transaction hash for a while after it failed.
    TemporarilyBanned,
    /// The transaction's era has passed.
    Outdated,
    /// The call is not allowed to be dispatched in a transaction (e.g. a root-only call).
    CallNotAllowed,
    /// The runtime's own validity check refused it with a numeric code.
    Custom(u8),
    /// The pool is full.
    PoolFull,
    /// Anything else, in the node's words.
    Other(String),
}

impl PoolRejection {
    /// Classifies a pool error message from the node.
    pub fn from_message(message: &str) -> PoolRejection {
        let m = message.to_ascii_lowercase();
        if m.contains("inability to pay some fees") || m.contains("payment") {
            PoolRejection::CannotPayFees
        } else if m.contains("transaction is outdated")
            || m.contains("stale")
            || m.contains("rendered invalid")
        {
            PoolRejection::StaleNonce
        } else if m.contains("bad signature") || m.contains("badproof") || m.contains("bad proof") {
            PoolRejection::BadSignature
        } else if m.contains("already imported") || m.contains("alreadyimported") {
            PoolRejection::AlreadyImported
        } else if m.contains("priority is too low")
            || m.contains("toolowpriority")
            || (m.contains("priority") && m.contains("too low"))
        {
            PoolRejection::PriorityTooLow
        } else if m.contains("temporarily banned") {
            PoolRejection::TemporarilyBanned
        } else if m.contains("ancient birth block") || m.contains("ancientbirthblock") {
            PoolRejection::Outdated
        } else if m.contains("immediately limited")
            || m.contains("pool is full")
            || m.contains("because of the limit")
            || m.contains("exceeding limits")
        {
            PoolRejection::PoolFull
        } else if m.contains("call") && m.contains("not expected") {
            PoolRejection::CallNotAllowed
        } else if let Some(code) = custom_code(&m) {
            PoolRejection::Custom(code)
        } else {
            PoolRejection::Other(message.chars().take(300).collect())
        }
    }
}

/// `Custom error: 7` / `Custom(7)` → 7.
fn custom_code(m: &str) -> Option<u8> {
    let at = m.find("custom error: ").map(|i| i + 14).or_else(|| m.find("custom(").map(|i| i + 7))?;
    let digits: String = m[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

impl fmt::Display for PoolRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolRejection::StaleNonce => {
                write!(f, "the nonce was already used (another transaction from this key got in first)")
            }
            PoolRejection::CannotPayFees => write!(f, "the signing account cannot pay the transaction fee"),
            PoolRejection::BadSignature => {
                write!(f, "bad signature (wrong key, or a transaction built for another chain)")
            }
            PoolRejection::AlreadyImported => write!(f, "the same transaction is already in the pool"),
            PoolRejection::PriorityTooLow => {
                write!(f, "another transaction with the same nonce and a higher priority is waiting")
            }
            PoolRejection::TemporarilyBanned => {
                write!(f, "the pool has temporarily banned this transaction after it failed")
            }
            PoolRejection::Outdated => write!(f, "the transaction's validity period has passed"),
            PoolRejection::CallNotAllowed => write!(f, "this call cannot be sent as a signed transaction"),
            PoolRejection::Custom(code) => {
                write!(f, "the runtime refused it with custom validity code {code}")
            }
            PoolRejection::PoolFull => write!(f, "the node's transaction pool is full; try again later"),
            PoolRejection::Other(m) => write!(f, "{m}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_messages_map_to_reasons() {
        let cases = [
            (
                "Invalid Transaction: Inability to pay some fees (e.g. account balance too low)",
                PoolRejection::CannotPayFees,
            ),
            ("Invalid Transaction: Transaction is outdated", PoolRejection::StaleNonce),
            ("Invalid Transaction: Transaction has a bad signature", PoolRejection::BadSignature),
            ("Transaction Already Imported", PoolRejection::AlreadyImported),
            ("Priority is too low: (10 vs 10)", PoolRejection::PriorityTooLow),
            ("Transaction is temporarily banned", PoolRejection::TemporarilyBanned),
            ("Invalid Transaction: Custom error: 7", PoolRejection::Custom(7)),
            ("Invalid Transaction: Transaction has an ancient birth block", PoolRejection::Outdated),
            // The chainHead/transactionWatch wording.
            (
                "The priority of the transaction is too low (pool 10 > current 10)",
                PoolRejection::PriorityTooLow,
            ),
            ("Transaction could not enter the pool because of the limit", PoolRejection::PoolFull),
            ("Extrinsic was rendered invalid by another extrinsic", PoolRejection::StaleNonce),
        ];
        for (message, want) in cases {
            assert_eq!(PoolRejection::from_message(message), want, "{message}");
        }
        assert!(matches!(PoolRejection::from_message("something new"), PoolRejection::Other(_)));
    }

    #[test]
    fn unknown_messages_are_truncated() {
        let long = "x".repeat(10_000);
        let PoolRejection::Other(m) = PoolRejection::from_message(&long) else { panic!() };
        assert_eq!(m.len(), 300);
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_node_message_is_classified_without_panicking(message in "\\PC{0,400}") {
            let reason = super::PoolRejection::from_message(&message);
            prop_assert!(reason.to_string().chars().count() <= 300 + 100);
        }
    }
}
