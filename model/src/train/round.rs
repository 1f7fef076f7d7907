//! One peer's inner round of a window (DiLoCo's inner loop): start from the window's shared
//! model, take one AdamW step per batch with the optimizer's moments kept from earlier
//! windows, and return the pseudo-gradient `start - end`. The miner and the study share it.

use candle_core::Device;

use super::trainer::{StepStats, Trainer};
use crate::data::{pages, Batch, Dataset};
use crate::error::Result;
use crate::outer::pseudo_gradient;

/// How a round ended.
#[derive(Debug)]
pub enum RoundEnd {
    /// Every step ran: the pseudo-gradient, per tensor in model order.
    Done(Vec<Vec<f32>>),
    /// `on_step` asked to stop after this many steps; the trainer's parameters are partway.
    Stopped(usize),
}

/// The batches a hotkey trains on in window `w`: `pages(netuid, w, hotkey)`, `steps` batches
/// of `pages_per_step` pages each.
pub fn window_batches(
    data: &Dataset,
    netuid: u16,
    window: u64,
    hotkey: &[u8; 32],
    steps: usize,
    pages_per_step: usize,
) -> Result<Vec<Batch>> {
    let picked = pages(netuid, window, hotkey, steps * pages_per_step, data.num_pages())?;
    picked.chunks(pages_per_step).map(|c| data.batch(c, &Device::Cpu)).collect()
}

/// Sets the trainer's parameters to `start`, takes one step per batch (the `i`-th at schedule
/// step `first_step + i`), and returns the pseudo-gradient. `on_step` sees every step's stats
/// and returns `false` to stop early (a deadline passed, the peer is shutting down).
pub fn inner_round(
    trainer: &mut Trainer,
    start: &[Vec<f32>],
    batches: &[Batch],
    first_step: u64,
    mut on_step: impl FnMut(&StepStats) -> bool,
) -> Result<RoundEnd> {
    trainer.params().set_from_vecs(start)?;
    for (i, batch) in batches.iter().enumerate() {
        let stats = trainer.step_at(std::slice::from_ref(batch), first_step + i as u64)?;
        if !on_step(&stats) && i + 1 < batches.len() {
            return Ok(RoundEnd::Stopped(i + 1));
        }
    }
    Ok(RoundEnd::Done(pseudo_gradient(start, &trainer.params().to_vecs()?)?))
}
