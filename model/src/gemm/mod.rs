//! f32 matrix products for the fused ops, and the choice of the kernel that runs them.
//!
//! The kernel is chosen once per process from what the CPU can do (its feature flags, see
//! [`cpu`]), never from its model name:
//! - `gemm` (the default): the pure-Rust `gemm` crate, which dispatches on CPU features itself
//!   (AVX-512F, AVX2+FMA, NEON). Measured on the project's machines (README, "Benchmarks"): as
//!   fast as OpenBLAS's right kernel on an AVX-512 EPYC, faster than it on an AVX-512 Xeon, and
//!   3x faster than OpenBLAS 0.3.21 where that one misreads the CPU and runs SSE3 code.
//! - `openblas`: the system OpenBLAS loaded at run time, its core type held to the CPU's level.
//! - `auto`: `gemm` when its kernel matches the CPU's level, else OpenBLAS if that can (an AVX
//!   CPU without FMA), else `gemm` with a warning.
//!
//! Training results depend on the kernel in the last bits, so a run is bitwise reproducible for
//! a fixed kernel and thread count; nothing consensus-critical goes through here.

pub mod cpu;
mod openblas;
mod rust;

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

pub use cpu::{Cpu, Isa};
pub use openblas::{core_isa as openblas_core_isa, plan as openblas_plan, Plan as OpenBlasPlan};

/// Which GEMM library to use (`--gemm`, `MODEL_GEMM`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Choice {
    #[default]
    Auto,
    Gemm,
    OpenBlas,
}

impl FromStr for Choice {
    type Err = GemmError;
    fn from_str(s: &str) -> Result<Self, GemmError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Choice::Auto),
            "gemm" | "rust" => Ok(Choice::Gemm),
            "openblas" => Ok(Choice::OpenBlas),
            _ => Err(GemmError::UnknownChoice(s.to_string())),
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Choice::Auto => "auto",
            Choice::Gemm => "gemm",
            Choice::OpenBlas => "openblas",
        })
    }
}

/// Why a GEMM backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum GemmError {
    #[error("unknown GEMM backend {0:?}: expected auto, gemm or openblas")]
    UnknownChoice(String),
    #[error("OpenBLAS is not installed ({tried}); install Debian's libopenblas0, set MODEL_OPENBLAS_LIB to the library, or use --gemm gemm")]
    OpenBlasMissing { tried: String },
    #[error("{path} has no {symbol}: not an OpenBLAS library")]
    OpenBlasSymbol { path: String, symbol: &'static str },
    #[error("{path} ({config}) runs its {core} core on this {cpu} CPU and {reason}; use --gemm gemm")]
    OpenBlasLevel { path: String, config: String, core: String, cpu: Isa, reason: String },
    #[error(
        "the GEMM kernel is already {current}; asked for {requested} (choose it before any tensor work)"
    )]
    AlreadyChosen { current: String, requested: Choice },
}

/// The library behind the products.
pub enum Backend {
    Gemm,
    OpenBlas(openblas::OpenBlas),
}

/// The kernel this process runs its matrix products with.
pub struct Kernel {
    /// What was asked for.
    pub choice: Choice,
    pub backend: Backend,
    /// The kernel's instruction set.
    pub isa: Option<Isa>,
    /// The kernel's name in its library (`avx512f`, `SkylakeX`, ...).
    pub name: String,
    pub cpu: Cpu,
    /// Anything a user should know about how it was chosen.
    pub note: Option<String>,
}

impl Kernel {
    /// True when the kernel uses at most SSE on a CPU that has AVX or better: the case this
    /// module exists to prevent (`tests/gemm.rs` fails on it).
    pub fn below_cpu(&self) -> bool {
        self.isa.is_none_or(|isa| isa.rank() < self.cpu.isa.rank())
    }

    /// The library in one word: `gemm` or `openblas`.
    pub fn library(&self) -> &'static str {
        match self.backend {
            Backend::Gemm => "gemm",
            Backend::OpenBlas(_) => "openblas",
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let isa = self.isa.map_or_else(|| "unknown instruction set".into(), |i| i.to_string());
        match &self.backend {
            Backend::Gemm => write!(f, "gemm {} (pure Rust) {} kernel [{isa}]", rust::VERSION, self.name)?,
            Backend::OpenBlas(lib) => {
                let version = lib.config.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                write!(f, "{version} {} core [{isa}] from {}", self.name, lib.path)?
            }
        }
        write!(f, " on {}", self.cpu)?;
        if let Some(note) = &self.note {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

static KERNEL: OnceLock<Kernel> = OnceLock::new();

/// Chooses the kernel for this process. Call at start-up, before any tensor work (binaries do;
/// otherwise the first product chooses with `MODEL_GEMM`, default `auto`). Calling again with
/// the same choice returns the chosen kernel; with another, an error.
pub fn init(choice: Choice) -> Result<&'static Kernel, GemmError> {
    let mut failure = None;
    let k = KERNEL.get_or_init(|| {
        select(choice).unwrap_or_else(|e| {
            failure = Some(e);
            select(Choice::Gemm).expect("the gemm crate is always available")
        })
    });
    if let Some(e) = failure {
        // The kernel had to be set to something; the caller sees why it is not the one asked.
        return Err(e);
    }
    let same = match (choice, &k.backend) {
        (Choice::Auto, _) | (Choice::Gemm, Backend::Gemm) | (Choice::OpenBlas, Backend::OpenBlas(_)) => true,
        _ => false,
    };
    if !same {
        return Err(GemmError::AlreadyChosen { current: k.to_string(), requested: choice });
    }
    Ok(k)
}

/// The kernel in use, chosen on first use from `MODEL_GEMM` (default `auto`) if [`init`] was
/// not called. A bad `MODEL_GEMM` falls back to `gemm` with a warning here; binaries call
/// [`init`] and refuse it instead.
pub fn kernel() -> &'static Kernel {
    if let Some(k) = KERNEL.get() {
        return k;
    }
    let choice = std::env::var("MODEL_GEMM").ok().map(|s| s.parse::<Choice>());
    let choice = match choice {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            tracing::warn!("MODEL_GEMM: {e}; using auto");
            Choice::Auto
        }
        None => Choice::Auto,
    };
    match init(choice) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!("{e}; falling back to the gemm crate");
            KERNEL.get().expect("init always sets a kernel")
        }
    }
}

fn select(choice: Choice) -> Result<Kernel, GemmError> {
    let cpu = Cpu::detect();
    let gemm = |cpu: Cpu, note: Option<String>| {
        let (isa, name) = rust::kernel();
        Kernel { choice, backend: Backend::Gemm, isa: Some(isa), name: name.into(), cpu, note }
    };
    let openblas = |cpu: Cpu| -> Result<Kernel, GemmError> {
        let lib = openblas::load(cpu.isa)?;
        Ok(Kernel {
            choice,
            isa: lib.core_isa,
            name: lib.core.clone(),
            note: lib.note.clone(),
            cpu,
            backend: Backend::OpenBlas(lib),
        })
    };
    match choice {
        Choice::Gemm => Ok(gemm(cpu, None)),
        Choice::OpenBlas => openblas(cpu),
        Choice::Auto => {
            let (isa, _) = rust::kernel();
            if isa.rank() == cpu.isa.rank() {
                return Ok(gemm(cpu, None));
            }
            match openblas(cpu.clone()) {
                Ok(k) if !k.below_cpu() => Ok(k),
                other => {
                    let why = match other {
                        Ok(k) => format!("OpenBLAS offers only its {} core", k.name),
                        Err(e) => e.to_string(),
                    };
                    let note = format!(
                        "no kernel at this CPU's level ({}): the gemm crate has {isa}; {why}",
                        cpu.isa
                    );
                    tracing::warn!("{note}");
                    Ok(gemm(cpu, Some(note)))
                }
            }
        }
    }
}

/// A read-only matrix view: element `(i, j)` is at `data[i * rs + j * cs]`; one of the strides
/// must be 1 (row- or column-contiguous), as BLAS requires.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `[rows, cols]` matrix.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self { data, rs: cols, cs: 1 }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self { data, rs: 1, cs: cols }
    }
}

/// `dst[m, n] = a[m, k] @ b[k, n]` with `dst` row-major and overwritten, on `threads` threads
/// (1: on the calling thread, for use inside parallel tasks), with this process's [`kernel`].
pub fn sgemm(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32], threads: usize) {
    assert!(dst.len() == m * n, "sgemm: dst has {} elements, expected {m}x{n}", dst.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst.fill(0.0);
        return;
    }
    // Bounds: the last element each operand can touch must be in the slice.
    assert!((m - 1) * a.rs + (k - 1) * a.cs < a.data.len(), "sgemm: lhs out of bounds");
    assert!((k - 1) * b.rs + (n - 1) * b.cs < b.data.len(), "sgemm: rhs out of bounds");
    assert!(a.rs == 1 || a.cs == 1, "sgemm: lhs needs a unit stride");
    assert!(b.rs == 1 || b.cs == 1, "sgemm: rhs needs a unit stride");
    match &kernel().backend {
        Backend::Gemm => rust::sgemm(m, n, k, a, b, dst, threads),
        Backend::OpenBlas(lib) => lib.sgemm(m, n, k, a, b, dst, threads),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse() {
        assert_eq!("auto".parse::<Choice>().unwrap(), Choice::Auto);
        assert_eq!("GEMM".parse::<Choice>().unwrap(), Choice::Gemm);
        assert_eq!("openblas".parse::<Choice>().unwrap(), Choice::OpenBlas);
        let e = "mkl".parse::<Choice>().unwrap_err().to_string();
        assert!(e.contains("\"mkl\"") && e.contains("auto, gemm or openblas"), "{e}");
    }

    #[test]
    fn products_match_a_plain_triple_loop() {
        let (m, n, k) = (70, 33, 129);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 104729) % 89) as f32 / 89.0 - 0.5).collect();
        let mut want = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum();
            }
        }
        // Row-major b, and b given as the transpose of its row-major transpose.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        for (bm, threads) in [(MatRef::rows(&b, n), 1), (MatRef::transposed(&bt, k), 2)] {
            let mut got = vec![f32::NAN; m * n];
            sgemm(m, n, k, MatRef::rows(&a, k), bm, &mut got, threads);
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-4, "{g} vs {w} with {}", kernel());
            }
        }
    }
}
