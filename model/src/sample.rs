//! Text generation: greedy or nucleus (top-p) sampling with the project's seeded RNG.

use candle_core::{Device, Tensor};

use crate::error::{ModelError, Result};
use crate::llama::Llama;
use crate::rng::PortableRng;

#[derive(Clone, Copy, Debug)]
pub enum Sampling {
    Greedy,
    TopP { temperature: f64, top_p: f64, seed: u64 },
}

/// Appends up to `max_new` tokens to `prompt`, stopping early at `eos`. The context is cut to
/// the model's `max_position_embeddings` most recent tokens (no KV cache: fine for small models).
pub fn generate(
    model: &Llama,
    prompt: &[u32],
    max_new: usize,
    sampling: Sampling,
    eos: Option<u32>,
) -> Result<Vec<u32>> {
    if prompt.is_empty() {
        return Err(ModelError::Train("generation needs a non-empty prompt".into()));
    }
    let mut rng = match sampling {
        Sampling::TopP { seed, .. } => PortableRng::from_hashed(&seed.to_le_bytes()),
        Sampling::Greedy => PortableRng::from_hashed(b"greedy"),
    };
    let max_ctx = model.config().max_position_embeddings;
    let mut tokens = prompt.to_vec();
    for _ in 0..max_new {
        let ctx = &tokens[tokens.len().saturating_sub(max_ctx)..];
        let input = Tensor::from_slice(ctx, (1, ctx.len()), &Device::Cpu)?;
        let logits = model.forward(&input)?.squeeze(0)?.get(ctx.len() - 1)?.to_vec1::<f32>()?;
        let next = match sampling {
            Sampling::Greedy => argmax(&logits),
            Sampling::TopP { temperature, top_p, .. } => top_p_sample(&logits, temperature, top_p, &mut rng),
        };
        tokens.push(next);
        if Some(next) == eos {
            break;
        }
    }
    Ok(tokens)
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}

/// Samples from the smallest set of most likely tokens whose probability reaches `top_p`.
fn top_p_sample(logits: &[f32], temperature: f64, top_p: f64, rng: &mut PortableRng) -> u32 {
    if temperature <= 0.0 {
        return argmax(logits);
    }
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)) as f64;
    let mut probs: Vec<(u32, f64)> =
        logits.iter().enumerate().map(|(i, l)| (i as u32, ((*l as f64 - max) / temperature).exp())).collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept = 0.0;
    let mut cut = probs.len();
    for (k, p) in probs.iter().enumerate() {
        kept += p.1 / total;
        if kept >= top_p {
            cut = k + 1;
            break;
        }
    }
    let mass: f64 = probs[..cut].iter().map(|p| p.1).sum();
    let mut u = rng.unit_f64() * mass;
    for p in &probs[..cut] {
        if u < p.1 {
            return p.0;
        }
        u -= p.1;
    }
    probs[cut - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        let logits = [10.0f32, 9.0, -10.0, -10.0];
        let mut rng = PortableRng::from_hashed(b"s");
        for _ in 0..200 {
            let t = top_p_sample(&logits, 1.0, 0.9, &mut rng);
            assert!(t < 2, "sampled {t} outside the nucleus");
        }
        assert_eq!(argmax(&logits), 0);
    }
}
