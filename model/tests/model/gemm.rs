//! Which GEMM kernel runs: never an SSE-only one on a CPU with AVX2 or AVX-512, and the one we
//! report is the one the library really dispatches to.

use std::process::{Command, Output};

use model::gemm::{self, Backend, Isa};

/// Whether this CPU is one the requirement is about: AVX2+FMA or AVX-512.
fn modern_cpu() -> bool {
    matches!(gemm::Cpu::detect().isa, Isa::Avx2Fma | Isa::Avx512)
}

/// The default (auto) kernel of this process serves the CPU at its own level.
#[test]
fn the_default_kernel_is_at_the_cpus_level() {
    let k = gemm::init(gemm::Choice::Auto).expect("auto always finds a kernel");
    if !modern_cpu() {
        return; // an AVX-only or older CPU: the gemm crate legitimately has no kernel of its level
    }
    let isa = k.isa.expect("a kernel of known level");
    assert!(!isa.is_sse_or_less(), "an {} CPU is served by an SSE-only kernel: {k}", k.cpu.isa);
    assert!(!k.below_cpu(), "the kernel is below the CPU's level: {k}");
    assert!(k.fallback.is_none(), "auto needed a fallback: {k}");
}

/// The gemm crate's own dispatch (its function pointer, resolved to a symbol name) is the
/// kernel `gemm::kernel()` names, so the log line and the test above are about the real code.
#[test]
fn the_gemm_crate_dispatches_to_the_reported_kernel() {
    let k = gemm::init(gemm::Choice::Auto).expect("auto always finds a kernel");
    if !matches!(k.backend, Backend::Gemm) {
        return; // auto chose OpenBLAS here; the CLI tests below cover it
    }
    let f = gemm_f32::gemm::f32::get_gemm_fn() as usize;
    let mut name = None;
    // `resolve` takes return addresses and looks up the byte before; point inside the function.
    backtrace::resolve((f + 1) as *mut std::ffi::c_void, |s| name = s.name().map(|n| n.to_string()));
    let name = name.expect("the test binary keeps its symbol table");
    assert!(
        name.contains(&format!("f32::{}::gemm_basic", k.name)),
        "gemm dispatches to {name}, but the kernel is reported as {k}"
    );
}

fn model(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_model"));
    c.args(args).env("MODEL_THREADS", "2");
    for var in ["MODEL_GEMM", "OPENBLAS_CORETYPE", "MODEL_OPENBLAS_LIB"] {
        c.env_remove(var);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run model")
}

/// The `gemm kernel:` line of a short `model bench`.
fn bench_kernel(gemm: &str, env: &[(&str, &str)]) -> String {
    let out = model(
        &[
            "--gemm", gemm, "bench", "--preset", "tiny", "--batch", "1", "--seq", "16", "--steps", "1",
            "--warmup", "0",
        ],
        env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bench --gemm {gemm} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout
        .lines()
        .find(|l| l.starts_with("gemm kernel: "))
        .unwrap_or_else(|| panic!("no kernel line:\n{stdout}"));
    assert!(stdout.contains("tokens_per_s="), "{stdout}");
    line.to_string()
}

fn cpu_level() -> String {
    format!("[{}]", gemm::Cpu::detect().isa)
}

#[test]
fn bench_reports_the_gemm_crate_kernel() {
    let line = bench_kernel("gemm", &[]);
    assert!(line.contains("gemm crate (pure Rust)"), "{line}");
    if modern_cpu() {
        assert!(line.contains(&cpu_level()), "not at the CPU's level: {line}");
    }
}

/// OpenBLAS is optional for users; the project's scripts install it, so CI must have it.
fn openblas_installed() -> bool {
    let out =
        model(&["--gemm", "openblas", "bench", "--preset", "tiny", "--steps", "1", "--warmup", "0"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("OpenBLAS is not installed") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs without OpenBLAS (scripts/lib.sh installs it): {err}"
        );
        eprintln!("skipped: OpenBLAS is not installed here");
        return false;
    }
    true
}

/// OpenBLAS that ended on an SSE core (as 0.3.21 does by itself on Sapphire Rapids Xeons; here
/// forced with `OPENBLAS_CORETYPE`) is switched to a core of the CPU's level before any call.
#[test]
fn openblas_on_an_sse_core_is_switched_to_the_cpus_level() {
    let cpu = gemm::Cpu::detect().isa;
    let Some(want) = (match cpu {
        Isa::Avx512 => Some("SkylakeX"),
        Isa::Avx2Fma => Some("Haswell"),
        _ => None,
    }) else {
        return; // no AVX2 here: nothing better than SSE to switch to
    };
    if !openblas_installed() {
        return;
    }
    let line = bench_kernel("openblas", &[("OPENBLAS_CORETYPE", "Prescott")]);
    assert!(line.contains(&format!("{want} core [{cpu}]")), "{line}");
    assert!(
        line.contains("was set to Prescott (SSE)") && line.contains(&format!("switched to {want}")),
        "{line}"
    );
    // Left to itself it must also end at the CPU's level (it detects this CPU, or is corrected).
    let line = bench_kernel("openblas", &[]);
    assert!(line.contains(&cpu_level()), "{line}");
}

#[test]
fn an_unknown_backend_or_a_missing_library_is_refused_clearly() {
    let out = model(&["--gemm", "mkl", "bench", "--preset", "tiny"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected auto, gemm or openblas"), "{err}");

    let out = model(
        &["--gemm", "openblas", "bench", "--preset", "tiny"],
        &[("MODEL_OPENBLAS_LIB", "/nonexistent/libopenblas.so")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("OpenBLAS is not installed") && err.contains("--gemm gemm"), "{err}");
}

/// `model peak` prints a line per multiply-add kind the CPU has, in the form
/// `scripts/bench/train_step` reads, and refuses a nonsense duration.
#[test]
fn peak_prints_what_the_bench_script_reads() {
    let out = model(&["peak", "--seconds", "0.05"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !modern_cpu() {
        assert!(!out.status.success() || stdout.contains("peak kind="), "{stdout}");
        return;
    }
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let gflops = |kind: &str| {
        stdout.lines().find_map(|l| l.strip_prefix(&format!("peak kind={kind} gflops="))).map(|rest| {
            rest.split(' ').next().unwrap().parse::<f64>().unwrap_or_else(|e| panic!("{rest}: {e}"))
        })
    };
    let f32_peak = gflops("f32").unwrap_or_else(|| panic!("no f32 line:\n{stdout}"));
    assert!(f32_peak > 1.0, "{stdout}");
    assert!(stdout.contains("threads=2"), "{stdout}");
    assert_eq!(gflops("bf16").is_some(), gemm::bf16::available(), "{stdout}");
    let bad = model(&["peak", "--seconds", "0"], &[]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--seconds"), "{bad:?}");
}
