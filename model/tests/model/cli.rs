//! The `model` binary end to end: prepare -> train -> eval -> generate, and clear errors.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

fn model(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_model"))
        .args(args)
        .env("MODEL_THREADS", "2")
        .output()
        .expect("run model")
}

fn ok(args: &[&str]) -> String {
    let out = model(args);
    assert!(out.status.success(), "model {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn prepare_train_eval_generate() {
    let dir = tempfile::tempdir().unwrap();
    let (data, run) = (dir.path().join("data"), dir.path().join("run"));
    let tok = common::tokenizer_path();
    let corpus = common::corpus_dir();
    let out = ok(&[
        "prepare",
        "--tokenizer",
        p(&tok),
        "--input",
        p(&corpus),
        "--separator",
        "%",
        "--page-len",
        "64",
        "--out",
        p(&data),
    ]);
    assert!(out.contains("train:") && out.contains("val:"), "{out}");

    let out = ok(&[
        "train",
        "--preset",
        "tiny",
        "--data",
        p(&data),
        "--out",
        p(&run),
        "--steps",
        "12",
        "--batch",
        "4",
        "--eval-every",
        "6",
        "--eval-pages",
        "8",
    ]);
    assert!(out.contains("trained 12 steps"), "{out}");
    for f in ["model.safetensors", "config.json", "tokenizer.json", "loss.csv", "loss.svg"] {
        assert!(run.join(f).exists(), "missing {f}");
    }
    let csv = std::fs::read_to_string(run.join("loss.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 1 + 12, "header, initial eval, one row per step:\n{csv}");

    let out = ok(&["eval", "--checkpoint", p(&run), "--data", p(&data.join("val")), "--pages", "8"]);
    assert!(out.starts_with("eval loss "), "{out}");

    let greedy = ok(&["generate", "--checkpoint", p(&run), "--prompt", "The ", "--max-new", "8", "--greedy"]);
    assert_eq!(
        greedy,
        ok(&["generate", "--checkpoint", p(&run), "--prompt", "The ", "--max-new", "8", "--greedy"])
    );
    assert!(greedy.starts_with("The "), "decoding must give back the prompt: {greedy:?}");
}

#[test]
fn bad_inputs_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        model(&["train", "--preset", "tiny", "--data", p(dir.path()), "--out", p(&dir.path().join("r"))]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("manifest.json") && !err.contains("panicked"), "{err}");

    let out = model(&["train", "--preset", "tiny", "--data", "x", "--out", "y", "--batch", "0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1"));

    let out = model(&["train", "--preset", "huge", "--data", "x", "--out", "y"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown preset"));

    let help = ok(&["--help"]);
    for cmd in ["prepare", "train", "eval", "generate", "bench"] {
        assert!(help.contains(cmd), "--help does not list {cmd}");
    }
}

/// The value of `key=` on a bench line.
fn field(line: &str, key: &str) -> f64 {
    let v = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .unwrap_or_else(|| panic!("{key} in {line}"));
    v.parse().unwrap_or_else(|_| panic!("{key}{v} is not a number"))
}

#[test]
fn bench_reports_speed_flops_and_memory_for_training_and_evaluation() {
    let short = ["--preset", "tiny", "--batch", "2", "--seq", "16", "--steps", "2", "--warmup", "1"];
    let train = ok(&[&["bench"], &short[..]].concat());
    let line = train.lines().find(|l| l.starts_with("candle tokens_per_s=")).expect(&train);
    assert!(field(line, "tokens_per_s=") > 0.0, "{line}");
    let flops = model::LlamaConfig::tiny().train_flops_per_token(16);
    assert_eq!(field(line, "flops_per_token="), flops.round(), "{line}");
    assert!(field(line, "peak_rss_mib=") > 1.0, "{line}");
    field(line, "rss_growth_mib=");

    let eval = ok(&[&["bench", "--eval"], &short[..]].concat());
    let line = eval.lines().find(|l| l.starts_with("candle eval pages_per_s=")).expect(&eval);
    assert!(field(line, "pages_per_s=") > 0.0, "{line}");
    let (pages, tokens) = (field(line, "pages_per_s="), field(line, "tokens_per_s="));
    assert!((tokens - pages * 16.0).abs() <= 0.01 * tokens + 0.1, "{line}");
    assert!(field(line, "peak_rss_mib=") > 1.0, "{line}");
}
