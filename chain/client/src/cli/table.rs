//! The metagraph as a plain-text table.

use std::fmt::Write;

use crate::ops::metagraph::{fraction, Metagraph};
use crate::units::format_tao;

/// uid, hotkey, stake, incentive, dividends, emission and last update of every neuron.
pub fn metagraph_table(metagraph: &Metagraph) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "subnet {} at block {}: {} neurons",
        metagraph.netuid,
        metagraph.block,
        metagraph.neurons.len()
    );
    let _ = writeln!(
        out,
        "{:>4}  {:<48}  {:>14}  {:>9}  {:>9}  {:>12}  {:>11}  {:>3}  axon",
        "uid", "hotkey", "stake (TAO)", "incentive", "dividends", "emission", "last update", "vp"
    );
    for n in &metagraph.neurons {
        let axon = n.axon.as_ref().map(|a| format!("{}:{}", a.ip, a.port)).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:>4}  {:<48}  {:>14}  {:>9.4}  {:>9.4}  {:>12}  {:>11}  {:>3}  {}",
            n.uid,
            n.hotkey.to_string(),
            format_tao(n.stake),
            fraction(n.incentive),
            fraction(n.dividends),
            format_tao(n.emission),
            n.last_update,
            if n.validator_permit { "*" } else { "" },
            axon
        );
    }
    out
}
