//! The kernel of this process: chosen once, by [`init`] at start-up or on first use.

use std::fmt;
use std::sync::OnceLock;

use super::cpu::{Cpu, Isa};
use super::openblas::{self, CoreSwitch};
use super::{rust, Choice, GemmError};

/// The library behind the products.
pub enum Backend {
    Gemm,
    OpenBlas(openblas::OpenBlas),
}

/// The kernel this process runs its matrix products with.
pub struct Kernel {
    pub backend: Backend,
    /// The kernel's instruction set, when known.
    pub isa: Option<Isa>,
    /// The kernel's name in its library (`avx512f`, `SkylakeX`, ...).
    pub name: String,
    pub cpu: Cpu,
    /// How the library's own choice was corrected (an OpenBLAS core switch), if it was.
    pub note: Option<String>,
    /// Why this is not the kernel asked for or the best for the CPU, if it is not.
    pub fallback: Option<String>,
}

impl Kernel {
    /// True when the kernel's level is below the CPU's, or unknown: what this module exists
    /// to prevent (`tests/model/gemm.rs` fails on it for CPUs with AVX2 or AVX-512).
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

    fn matches(&self, choice: Choice) -> bool {
        matches!(
            (choice, &self.backend),
            (Choice::Auto, _) | (Choice::Gemm, Backend::Gemm) | (Choice::OpenBlas, Backend::OpenBlas(_))
        )
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let isa = self.isa.map_or_else(|| "unknown instruction set".into(), |i| i.to_string());
        match &self.backend {
            Backend::Gemm => write!(f, "gemm crate (pure Rust) {} kernel [{isa}]", self.name)?,
            Backend::OpenBlas(lib) => {
                let version = lib.config.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                write!(f, "{version} {} core [{isa}] from {}", self.name, lib.path)?
            }
        }
        write!(f, " on {}", self.cpu)?;
        for extra in [&self.note, &self.fallback].into_iter().flatten() {
            write!(f, "; {extra}")?;
        }
        Ok(())
    }
}

static KERNEL: OnceLock<Kernel> = OnceLock::new();

/// Chooses the kernel for this process. Call it at start-up, before any other thread runs:
/// switching an OpenBLAS core sets an environment variable, which is only sound while the
/// process is single-threaded. Calling it again returns the chosen kernel if it satisfies
/// `choice`, else an error; so does a failed first call (the process then runs `gemm`).
pub fn init(choice: Choice) -> Result<&'static Kernel, GemmError> {
    let mut failure = None;
    let k = KERNEL.get_or_init(|| {
        select(choice, CoreSwitch::Allowed).unwrap_or_else(|e| {
            let k = fallback(&e);
            failure = Some(e);
            k
        })
    });
    match failure {
        Some(e) => Err(e),
        None if k.matches(choice) => Ok(k),
        None => Err(GemmError::AlreadyChosen { current: k.to_string(), requested: choice }),
    }
}

/// The kernel in use. If [`init`] was not called, the first product chooses from `MODEL_GEMM`
/// (default `auto`), on whatever thread it runs, so without switching OpenBLAS cores; anything
/// that fails there falls back to `gemm` with a warning (binaries call [`init`] and refuse it).
pub fn kernel() -> &'static Kernel {
    KERNEL.get_or_init(|| {
        let choice = match std::env::var("MODEL_GEMM") {
            Ok(v) => v.parse().unwrap_or_else(|e| {
                tracing::warn!("MODEL_GEMM: {e}; using auto");
                Choice::Auto
            }),
            Err(_) => Choice::Auto,
        };
        select(choice, CoreSwitch::Forbidden).unwrap_or_else(|e| {
            tracing::warn!("{e}; falling back to the gemm crate");
            fallback(&e)
        })
    })
}

/// The `gemm` crate after `why` ruled out what was asked for. On a CPU whose features its
/// kernel lacks there is nothing left to run, so that is the one panic here.
fn fallback(why: &GemmError) -> Kernel {
    let mut k = gemm(Cpu::detect()).unwrap_or_else(|e| panic!("no usable GEMM kernel: {why}; {e}"));
    k.fallback = Some(format!("fell back to the gemm crate: {why}"));
    k
}

fn gemm(cpu: Cpu) -> Result<Kernel, GemmError> {
    gemm_with(cpu, rust::kernel())
}

fn gemm_with(cpu: Cpu, g: rust::GemmKernel) -> Result<Kernel, GemmError> {
    if !g.usable {
        return Err(GemmError::GemmUnusable { kernel: g.name, missing: g.missing.join(" ") });
    }
    Ok(Kernel {
        backend: Backend::Gemm,
        isa: Some(g.isa),
        name: g.name.into(),
        cpu,
        note: None,
        fallback: None,
    })
}

fn openblas(cpu: Cpu, switch: CoreSwitch) -> Result<Kernel, GemmError> {
    let lib = openblas::load(cpu.isa, switch)?;
    Ok(Kernel {
        isa: lib.core_isa,
        name: lib.core.clone(),
        note: lib.note.clone(),
        fallback: None,
        cpu,
        backend: Backend::OpenBlas(lib),
    })
}

fn select(choice: Choice, switch: CoreSwitch) -> Result<Kernel, GemmError> {
    let cpu = Cpu::detect();
    match choice {
        Choice::Gemm => gemm(cpu),
        Choice::OpenBlas => openblas(cpu, switch),
        Choice::Auto => {
            let g = rust::kernel();
            if g.usable && g.isa.rank() >= cpu.isa.rank() {
                return gemm_with(cpu, g);
            }
            // An AVX CPU without FMA, say: OpenBLAS may have a kernel the gemm crate lacks.
            let why = match openblas(cpu.clone(), switch) {
                Ok(k) if !k.below_cpu() => return Ok(k),
                Ok(k) => format!("OpenBLAS offers only its {} core", k.name),
                Err(e) => e.to_string(),
            };
            let mut k = gemm(cpu)?;
            k.fallback = Some(format!("no kernel at this CPU's level: the gemm crate has {}; {why}", g.isa));
            tracing::warn!("{}", k.fallback.as_deref().unwrap_or_default());
            Ok(k)
        }
    }
}
