//! OpenBLAS, loaded at run time (`dlopen`), with its core type held to the CPU's instruction
//! set.
//!
//! A DYNAMIC_ARCH OpenBLAS picks its kernels in a library constructor, by CPU family and model
//! number: 0.3.21 (Debian 12) runs its SSE3 "Prescott" kernels on Sapphire Rapids Xeons because
//! it does not know their model number. After loading we compare the core it chose with the
//! CPU's feature flags; on a mismatch we re-run its core selection with `OPENBLAS_CORETYPE` set
//! to a core of the CPU's level (`gotoblas_dynamic_quit` / `gotoblas_dynamic_init`, exported by
//! every DYNAMIC_ARCH build, the only kind that chooses at run time), before any BLAS call.
//! Loading at run time also means the binary needs no BLAS to start or to build.

use std::ffi::{c_char, c_int, c_void, CStr, CString};

use super::cpu::Isa;
use super::{GemmError, MatRef};

type SgemmFn = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    f32,
    *const f32,
    c_int,
    *const f32,
    c_int,
    f32,
    *mut f32,
    c_int,
);
type SetThreadsFn = unsafe extern "C" fn(c_int);
type StrFn = unsafe extern "C" fn() -> *const c_char;
type VoidFn = unsafe extern "C" fn();

/// Library names tried in order, unless `MODEL_OPENBLAS_LIB` names a file.
const NAMES: &[&str] = &["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"];

/// A loaded OpenBLAS: the entry points we call. The library is never unloaded.
pub struct OpenBlas {
    sgemm: SgemmFn,
    /// What the library was loaded from.
    pub path: String,
    /// `openblas_get_config()`: version and build options.
    pub config: String,
    /// The core type it runs (after any correction).
    pub core: String,
    /// That core's instruction set, when the name is one we know.
    pub core_isa: Option<Isa>,
    /// Set when the core was switched: what the library had chosen and why it changed.
    pub note: Option<String>,
}

/// Whether [`load`] may switch cores: that sets an environment variable, which is sound only
/// while no other thread runs (at start-up, from `gemm::init`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreSwitch {
    Allowed,
    Forbidden,
}

/// What to do about the core a freshly loaded OpenBLAS chose, given the CPU's level.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    Keep,
    /// Re-run the core selection with this `OPENBLAS_CORETYPE`.
    Switch(&'static str),
}

/// The instruction set of an x86 OpenBLAS core type (names as `openblas_get_corename` spells
/// them, case-insensitive); `None` for names this table does not know.
pub fn core_isa(core: &str) -> Option<Isa> {
    if cfg!(target_arch = "aarch64") {
        // Every aarch64 core type OpenBLAS has (ARMV8, CORTEX*, NEOVERSE*, ...) uses NEON.
        return (!core.eq_ignore_ascii_case("unknown")).then_some(Isa::Neon);
    }
    let c = core.to_ascii_lowercase();
    Some(match c.as_str() {
        "skylakex" | "cooperlake" | "sapphirerapids" => Isa::Avx512,
        "haswell" | "zen" => Isa::Avx2Fma,
        "sandybridge" | "bulldozer" | "piledriver" | "steamroller" | "excavator" => Isa::Avx,
        "katmai" | "coppermine" | "northwood" | "prescott" | "banias" | "atom" | "core2" | "penryn"
        | "dunnington" | "nehalem" | "athlon" | "opteron" | "opteron_sse3" | "barcelona" | "bobcat"
        | "nano" => Isa::Sse,
        _ => return None,
    })
}

/// The core type to ask for on a CPU of level `isa` (every DYNAMIC_ARCH build since 0.3.0 has
/// these), if OpenBLAS has kernels of that level.
fn core_for(isa: Isa) -> Option<&'static str> {
    match isa {
        Isa::Avx512 => Some("SkylakeX"),
        Isa::Avx2Fma => Some("Haswell"),
        Isa::Avx => Some("Sandybridge"),
        Isa::Sse | Isa::Scalar | Isa::Neon => None,
    }
}

/// Keep a core of the CPU's level; otherwise switch to the canonical core of that level: up
/// from a slower one, down from one the CPU cannot run, or away from a name we cannot classify
/// ("Unknown"). On CPUs below AVX there is nothing to switch to.
pub fn plan(core: &str, cpu: Isa) -> Plan {
    match (core_isa(core), core_for(cpu)) {
        (Some(have), _) if have.rank() == cpu.rank() => Plan::Keep,
        (_, Some(want)) => Plan::Switch(want),
        (_, None) => Plan::Keep,
    }
}

/// Opens the first OpenBLAS that loads, and holds its core to the CPU's level `cpu`.
pub fn load(cpu: Isa, switch: CoreSwitch) -> Result<OpenBlas, GemmError> {
    let names: Vec<String> = match std::env::var("MODEL_OPENBLAS_LIB") {
        Ok(p) if !p.is_empty() => vec![p],
        _ => NAMES.iter().map(|s| s.to_string()).collect(),
    };
    let mut tried = Vec::new();
    let (handle, path) = names
        .iter()
        .find_map(|name| match open(name) {
            Ok(h) => Some((h, name.clone())),
            Err(e) => {
                tried.push(format!("{name}: {e}"));
                None
            }
        })
        .ok_or_else(|| GemmError::OpenBlasMissing { tried: tried.join("; ") })?;
    let sym = |name: &'static str| {
        lookup(handle, name).ok_or_else(|| GemmError::OpenBlasSymbol { path: path.clone(), symbol: name })
    };
    // SAFETY: each symbol is OpenBLAS's exported function of exactly this C signature
    // (cblas.h, openblas_config.h, and driver/others/dynamic.c for the gotoblas_* pair).
    let (sgemm, set_threads, corename, config) = unsafe {
        (
            std::mem::transmute::<*mut c_void, SgemmFn>(sym("cblas_sgemm")?),
            std::mem::transmute::<*mut c_void, SetThreadsFn>(sym("openblas_set_num_threads")?),
            std::mem::transmute::<*mut c_void, StrFn>(sym("openblas_get_corename")?),
            std::mem::transmute::<*mut c_void, StrFn>(sym("openblas_get_config")?),
        )
    };
    // SAFETY: plain calls into the loaded library; the strings are static NUL-terminated
    // buffers it owns.
    let (chosen, config) = unsafe {
        // One thread per call: parallelism comes from splitting rows over rayon (`sgemm`).
        set_threads(1);
        (c_str(corename()), c_str(config()))
    };
    let refuse = |reason: String| GemmError::OpenBlasLevel {
        path: path.clone(),
        config: config.clone(),
        core: chosen.clone(),
        cpu,
        reason,
    };
    // 64-bit-integer builds export the same symbol names with i64 arguments.
    if config.contains("USE64BITINT") {
        return Err(refuse(
            "is a 64-bit-integer (ILP64) build, which this 32-bit interface cannot call".into(),
        ));
    }
    let Plan::Switch(want) = plan(&chosen, cpu) else {
        let isa = core_isa(&chosen);
        return Ok(OpenBlas { sgemm, core_isa: isa, core: chosen.clone(), path, config, note: None });
    };
    if switch == CoreSwitch::Forbidden {
        return Err(refuse(format!(
            "switching it to {want} needs the start-up call gemm::init (or OPENBLAS_CORETYPE={want})"
        )));
    }
    let (Some(quit), Some(init)) =
        (lookup(handle, "gotoblas_dynamic_quit"), lookup(handle, "gotoblas_dynamic_init"))
    else {
        return Err(refuse("is not a DYNAMIC_ARCH build, so it cannot switch cores".into()));
    };
    // SAFETY: `void gotoblas_dynamic_quit(void)` / `void gotoblas_dynamic_init(void)` of
    // DYNAMIC_ARCH builds: quit clears the kernel table, init selects it again (reading
    // OPENBLAS_CORETYPE) and sizes its blocking; no BLAS call has run yet, so no buffer sized
    // for the old core exists. The environment is changed only with `CoreSwitch::Allowed`,
    // which only `gemm::init` passes, documented to run before any other thread starts; it is
    // restored right after.
    let core = unsafe {
        let (quit, init) = (
            std::mem::transmute::<*mut c_void, VoidFn>(quit),
            std::mem::transmute::<*mut c_void, VoidFn>(init),
        );
        let previous = std::env::var_os("OPENBLAS_CORETYPE");
        std::env::set_var("OPENBLAS_CORETYPE", want);
        quit();
        init();
        match previous {
            Some(v) => std::env::set_var("OPENBLAS_CORETYPE", v),
            None => std::env::remove_var("OPENBLAS_CORETYPE"),
        }
        set_threads(1);
        c_str(corename())
    };
    let isa = core_isa(&core);
    if isa.is_none_or(|isa| isa.rank() != cpu.rank()) {
        return Err(refuse(format!("asked for {want}, it runs {core}")));
    }
    let how = if std::env::var_os("OPENBLAS_CORETYPE").is_some() { "was set to" } else { "chose" };
    let note = format!(
        "OpenBLAS {how} {chosen} ({}) on this {cpu} CPU; switched to {want}",
        fmt_isa(core_isa(&chosen))
    );
    Ok(OpenBlas { sgemm, core_isa: isa, core, path, config, note: Some(note) })
}

fn fmt_isa(isa: Option<Isa>) -> String {
    isa.map_or_else(|| "unknown instruction set".into(), |i| i.to_string())
}

impl OpenBlas {
    /// `dst = a @ b` (overwritten); OpenBLAS runs single-threaded per call and the output rows
    /// are split over rayon, so only one thread pool ever spins and each output row is
    /// computed by exactly one call.
    #[allow(clippy::too_many_arguments)]
    pub fn sgemm(&self, m: usize, n: usize, k: usize, a: MatRef, b: MatRef, dst: &mut [f32], threads: usize) {
        use rayon::prelude::*;
        const ROW_MAJOR: c_int = 101;
        const NO_TRANS: c_int = 111;
        const TRANS: c_int = 112;
        // (transpose flag, leading dimension) of an operand with `cols` columns.
        let layout = |x: MatRef, cols: usize| -> (c_int, c_int) {
            if x.cs == 1 {
                (NO_TRANS, int(x.rs.max(cols).max(1)))
            } else {
                (TRANS, int(x.cs))
            }
        };
        let (ta, lda) = layout(a, k);
        let (tb, ldb) = layout(b, n);
        let call = |row0: usize, rows: usize, out: &mut [f32]| {
            // SAFETY: `super::sgemm` checked that every element the (m, n, k) problem touches
            // lies inside `a`, `b` and `dst`; a row block [row0, row0 + rows) only narrows `a`
            // and `dst`, and `out` is that block of `dst`, disjoint between blocks.
            unsafe {
                let a_ptr = a.data.as_ptr().add(row0 * a.rs);
                let (rows, n, k) = (int(rows), int(n), int(k));
                (self.sgemm)(
                    ROW_MAJOR,
                    ta,
                    tb,
                    rows,
                    n,
                    k,
                    1.0,
                    a_ptr,
                    lda,
                    b.data.as_ptr(),
                    ldb,
                    0.0,
                    out.as_mut_ptr(),
                    n,
                )
            }
        };
        // Blocks of at least 64 rows; small problems run on the calling thread.
        let blocks = threads.min(m / 64).max(1);
        if blocks == 1 {
            return call(0, m, dst);
        }
        let per = m.div_ceil(blocks);
        dst.par_chunks_mut(per * n).enumerate().for_each(|(i, out)| call(i * per, out.len() / n, out));
    }
}

/// A dimension as BLAS's `int`; the model's shapes are far below 2^31.
fn int(x: usize) -> c_int {
    c_int::try_from(x).expect("matrix dimension fits a C int")
}

fn open(name: &str) -> Result<*mut c_void, String> {
    let c = CString::new(name).map_err(|_| "name contains a NUL byte".to_string())?;
    // SAFETY: dlopen with a valid C string; the handle is kept for the process's lifetime.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if h.is_null() {
        // SAFETY: dlerror returns the last error as a static string, or null.
        let e = unsafe { libc::dlerror() };
        return Err(if e.is_null() { "cannot be loaded".into() } else { unsafe { c_str(e) } });
    }
    Ok(h)
}

fn lookup(handle: *mut c_void, name: &str) -> Option<*mut c_void> {
    let c = CString::new(name).ok()?;
    // SAFETY: a live handle from dlopen and a valid C string.
    let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn c_str(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: `p` is not null, and the caller promises a NUL-terminated string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().trim().to_string()
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn an_sse_core_on_an_avx512_cpu_is_switched_up() {
        // OpenBLAS 0.3.21 on a Sapphire Rapids Xeon (model 143 is not in its table).
        assert_eq!(plan("Prescott", Isa::Avx512), Plan::Switch("SkylakeX"));
        assert_eq!(plan("Nehalem", Isa::Avx2Fma), Plan::Switch("Haswell"));
        assert_eq!(plan("Core2", Isa::Avx), Plan::Switch("Sandybridge"));
        assert_eq!(plan("Haswell", Isa::Avx512), Plan::Switch("SkylakeX"));
    }

    #[test]
    fn a_core_the_cpu_cannot_run_is_switched_down() {
        assert_eq!(plan("SkylakeX", Isa::Avx2Fma), Plan::Switch("Haswell"));
    }

    #[test]
    fn a_core_of_the_cpus_level_is_kept() {
        for (core, cpu) in [
            ("Cooperlake", Isa::Avx512),
            ("SKYLAKEX", Isa::Avx512),
            ("Zen", Isa::Avx2Fma),
            ("Prescott", Isa::Sse),
        ] {
            assert_eq!(plan(core, cpu), Plan::Keep, "{core} on {cpu}");
        }
        // A name the table does not know is not trusted on a CPU with AVX or better.
        assert_eq!(plan("Unknown", Isa::Avx512), Plan::Switch("SkylakeX"));
        assert_eq!(plan("Unknown", Isa::Sse), Plan::Keep);
    }
}
