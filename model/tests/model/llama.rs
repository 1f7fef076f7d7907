//! The architecture: shapes, causality, gradients reaching every parameter, HF names.

use crate::common;

use candle_core::{Device, IndexOp};
use model::{Llama, LlamaConfig, Params};

fn tiny() -> (LlamaConfig, Params, Llama) {
    let cfg = LlamaConfig::tiny();
    let params = Params::init(&cfg, 0, &Device::Cpu).unwrap();
    let model = Llama::load(params.var_builder(), &cfg).unwrap();
    (cfg, params, model)
}

#[test]
fn logits_have_batch_time_vocab_shape() {
    let (cfg, _, model) = tiny();
    let x = common::random_tokens("x", 3, 17, cfg.vocab_size);
    assert_eq!(model.forward(&x).unwrap().dims(), &[3, 17, cfg.vocab_size]);
}

#[test]
fn changing_a_token_changes_no_earlier_logit() {
    let (cfg, _, model) = tiny();
    let x = common::random_tokens("x", 1, 24, cfg.vocab_size);
    let mut ids = x.flatten_all().unwrap().to_vec1::<u32>().unwrap();
    ids[10] = (ids[10] + 1) % cfg.vocab_size as u32;
    let y = candle_core::Tensor::from_vec(ids, (1, 24), &Device::Cpu).unwrap();
    let (lx, ly) = (model.forward(&x).unwrap(), model.forward(&y).unwrap());
    let before = (lx.i((.., ..10)).unwrap() - ly.i((.., ..10)).unwrap()).unwrap().abs().unwrap();
    assert_eq!(before.max_all().unwrap().to_scalar::<f32>().unwrap(), 0.0, "a logit before t=10 changed");
    let after = (lx.i((.., 10..)).unwrap() - ly.i((.., 10..)).unwrap()).unwrap().abs().unwrap();
    assert!(after.max_all().unwrap().to_scalar::<f32>().unwrap() > 0.0, "logits from t=10 on did not change");
}

#[test]
fn every_parameter_gets_a_nonzero_gradient() {
    for tie in [true, false] {
        let mut cfg = LlamaConfig::tiny();
        cfg.tie_word_embeddings = tie;
        let params = Params::init(&cfg, 0, &Device::Cpu).unwrap();
        let model = Llama::load(params.var_builder(), &cfg).unwrap();
        let x = common::random_tokens("x", 2, 16, cfg.vocab_size);
        let t = common::random_tokens("t", 2, 16, cfg.vocab_size);
        let grads = model.loss(&x, &t).unwrap().backward().unwrap();
        for (spec, var) in params.specs().iter().zip(params.vars()) {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{} has no gradient", spec.name));
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0, "{} has an all-zero gradient", spec.name);
        }
    }
}

#[test]
fn fused_and_reference_models_agree() {
    // The fused CPU kernels and the composed fallback produce the same loss and gradients.
    let (cfg, params, model) = tiny();
    let x = common::random_tokens("x", 2, 32, cfg.vocab_size);
    let t = common::random_tokens("t", 2, 32, cfg.vocab_size);
    let loss = model.loss(&x, &t).unwrap();
    // ln(vocab) at init: logits are near zero with 0.02-std weights.
    let l = loss.to_scalar::<f32>().unwrap() as f64;
    assert!((l - (cfg.vocab_size as f64).ln()).abs() < 0.1, "initial loss {l}");
    let reference = model.clone().with_kernels(model::ops::Kernels::Reference).loss(&x, &t).unwrap();
    assert!((reference.to_scalar::<f32>().unwrap() as f64 - l).abs() < 1e-4);
    let (g1, g2) = (loss.backward().unwrap(), reference.backward().unwrap());
    for (spec, var) in params.specs().iter().zip(params.vars()) {
        let a = g1.get(var.as_tensor()).unwrap();
        let b = g2.get(var.as_tensor()).unwrap();
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let scale = a.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff <= 1e-3 * scale + 1e-7, "{}: grad differs by {diff} (max {scale})", spec.name);
    }
}

#[test]
fn hand_written_gradients_match_autograd() {
    // `loss_and_gradients` (the training step's backward pass) against candle's autograd over
    // the reference ops, tied and untied, overwriting and accumulating, with a workspace reused
    // across two batch shapes.
    for tie in [true, false] {
        let mut cfg = LlamaConfig::tiny();
        cfg.tie_word_embeddings = tie;
        let params = Params::init(&cfg, 4, &Device::Cpu).unwrap();
        let model = Llama::load(params.var_builder(), &cfg).unwrap();
        let reference = model.clone().with_kernels(model::ops::Kernels::Reference);
        let mut ws = model::llama::Workspace::default();
        for (b, t) in [(2, 32), (3, 9)] {
            let x = common::random_tokens(&format!("x{b}"), b, t, cfg.vocab_size);
            let y = common::random_tokens(&format!("y{b}"), b, t, cfg.vocab_size);
            let want_loss = reference.loss(&x, &y).unwrap();
            let want = want_loss.backward().unwrap();
            // Stale values must be overwritten, not added to.
            let mut grads: Vec<Vec<f32>> = params.vars().iter().map(|v| vec![1e30; v.elem_count()]).collect();
            let loss = model.loss_and_gradients(&mut ws, &x, &y, 0.5, &mut grads, false).unwrap();
            assert!((loss - want_loss.to_scalar::<f32>().unwrap()).abs() < 1e-4, "loss {loss}");
            // Accumulating a second half-weighted pass doubles to the full gradient.
            model.loss_and_gradients(&mut ws, &x, &y, 0.5, &mut grads, true).unwrap();
            for ((spec, var), got) in params.specs().iter().zip(params.vars()).zip(&grads) {
                let w = want.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert_eq!(got.len(), w.len(), "{}", spec.name);
                assert!(got.iter().all(|g| g.is_finite()), "{}: a value was not overwritten", spec.name);
                let diff = w.iter().zip(got).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(
                    diff <= 1e-3 * scale + 1e-7,
                    "{} (tie {tie}, b {b}): differs by {diff} (max {scale})",
                    spec.name
                );
            }
        }
        let x = common::random_tokens("x", 1, 4, cfg.vocab_size);
        let mut short = vec![Vec::new(); 2];
        assert!(model.loss_and_gradients(&mut ws, &x, &x, 1.0, &mut short, false).is_err());
        let oov = candle_core::Tensor::new(&[[1u32, cfg.vocab_size as u32]], &Device::Cpu).unwrap();
        let mut grads: Vec<Vec<f32>> = params.vars().iter().map(|v| vec![0.0; v.elem_count()]).collect();
        assert!(model.loss_and_gradients(&mut ws, &oov, &oov, 1.0, &mut grads, false).is_err());
        let fine = candle_core::Tensor::new(&[[1u32, 2]], &Device::Cpu).unwrap();
        let err = model.loss_and_gradients(&mut ws, &fine, &oov, 1.0, &mut grads, false).unwrap_err();
        assert!(err.to_string().contains("outside the vocabulary"), "{err}");
        assert!(model.token_losses(&mut ws, &fine, &oov).is_err());
        assert!(!reference.has_fused_gradients());
    }
}

#[test]
fn parameter_names_are_hf_llama_names() {
    let names: Vec<String> =
        model::params::param_specs(&LlamaConfig::tiny()).into_iter().map(|s| s.name).collect();
    for expected in [
        "model.embed_tokens.weight",
        "model.layers.0.input_layernorm.weight",
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.0.self_attn.k_proj.weight",
        "model.layers.0.self_attn.v_proj.weight",
        "model.layers.0.self_attn.o_proj.weight",
        "model.layers.0.post_attention_layernorm.weight",
        "model.layers.0.mlp.gate_proj.weight",
        "model.layers.0.mlp.up_proj.weight",
        "model.layers.0.mlp.down_proj.weight",
        "model.layers.1.mlp.down_proj.weight",
        "model.norm.weight",
    ] {
        assert!(names.iter().any(|n| n == expected), "missing {expected}");
    }
    assert!(!names.iter().any(|n| n == "lm_head.weight"), "tiny ties embeddings");
}

#[test]
fn bad_inputs_are_errors() {
    let (cfg, _, model) = tiny();
    let too_long = common::random_tokens("x", 1, cfg.max_position_embeddings + 1, cfg.vocab_size);
    assert!(model.forward(&too_long).is_err());
    let oov = candle_core::Tensor::new(&[[1u32, cfg.vocab_size as u32]], &Device::Cpu).unwrap();
    assert!(model.forward(&oov).unwrap_err().to_string().contains("vocabulary"));
}
