//! What the CPU can do, from its feature flags (CPUID on x86, the OS's report on aarch64), never
//! from its model name: a BLAS that picks kernels by name runs SSE3 code on CPUs it has not
//! heard of.

use std::fmt;

/// A vector instruction-set level, as far as f32 GEMM kernels care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// No vector unit a GEMM kernel uses (or an architecture we have no kernels for).
    Scalar,
    /// x86 SSE2 to SSE4.2: 4 lanes, no FMA.
    Sse,
    /// x86 AVX: 8 lanes, no FMA.
    Avx,
    /// x86 AVX2 with FMA3 (x86-64-v3).
    Avx2Fma,
    /// x86 AVX-512 F, BW, DQ and VL (Skylake-SP class, x86-64-v4): 16 lanes.
    Avx512,
    /// aarch64 Advanced SIMD.
    Neon,
}

impl Isa {
    /// Orders levels of one architecture: a kernel of a lower rank than the CPU's leaves
    /// throughput on the table. (`Neon` is the best aarch64 level, as `Avx512` is on x86.)
    pub fn rank(self) -> u8 {
        match self {
            Isa::Scalar => 0,
            Isa::Sse => 1,
            Isa::Avx => 2,
            Isa::Avx2Fma => 3,
            Isa::Avx512 | Isa::Neon => 4,
        }
    }

    /// Whether a kernel of this level uses at most SSE (or no vectors at all).
    pub fn is_sse_or_less(self) -> bool {
        self.rank() <= Isa::Sse.rank()
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Isa::Scalar => "scalar",
            Isa::Sse => "SSE",
            Isa::Avx => "AVX",
            Isa::Avx2Fma => "AVX2+FMA",
            Isa::Avx512 => "AVX-512",
            Isa::Neon => "NEON",
        })
    }
}

/// The CPU this process runs on.
#[derive(Clone, Debug)]
pub struct Cpu {
    /// The brand string (x86 CPUID leaves 0x80000002-4), if the CPU has one.
    pub brand: Option<String>,
    /// The best level the CPU and OS support (the OS must save the wide registers: std's
    /// detection checks XGETBV as well as CPUID).
    pub isa: Isa,
    /// Feature flags relevant to GEMM kernels, as the detection saw them.
    pub flags: Vec<&'static str>,
}

impl Cpu {
    /// Reads the running CPU's features.
    pub fn detect() -> Self {
        let (isa, flags) = detect_isa();
        Self { brand: brand(), isa, flags }
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}; flags {})",
            self.brand.as_deref().unwrap_or("unknown CPU"),
            self.isa,
            self.flags.join(" ")
        )
    }
}

/// Whether the CPU (and OS) support the x86 feature `name`, for the names GEMM kernels need.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
pub(super) fn x86_has(name: &str) -> bool {
    macro_rules! known {
        ($($f:tt),*) => {
            match name {
                $($f => std::arch::is_x86_feature_detected!($f),)*
                _ => false,
            }
        };
    }
    known!(
        "sse2",
        "sse3",
        "ssse3",
        "sse4.1",
        "sse4.2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512dq",
        "avx512vl",
        "avx512bf16"
    )
}

/// The flags shown in the kernel report.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
const SHOWN: &[&str] =
    &["sse2", "avx", "fma", "avx2", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512bf16"];

/// The x86 level from a source of feature flags (`has`): the levels as the kernels need them,
/// x86-64-v3's vector part, and v4's F/BW/DQ/VL (what OpenBLAS's SkylakeX kernels use).
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn x86_level(has: impl Fn(&str) -> bool) -> Isa {
    let all = |fs: &[&str]| fs.iter().all(|f| has(f));
    let v3 = all(&["avx", "avx2", "fma", "f16c"]);
    if v3 && all(&["avx512f", "avx512bw", "avx512dq", "avx512vl"]) {
        Isa::Avx512
    } else if v3 {
        Isa::Avx2Fma
    } else if has("avx") {
        Isa::Avx
    } else if has("sse2") {
        Isa::Sse
    } else {
        Isa::Scalar
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn detect_isa() -> (Isa, Vec<&'static str>) {
    let flags: Vec<&'static str> = SHOWN.iter().copied().filter(|f| x86_has(f)).collect();
    (x86_level(x86_has), flags)
}

#[cfg(target_arch = "aarch64")]
fn detect_isa() -> (Isa, Vec<&'static str>) {
    if std::arch::is_aarch64_feature_detected!("neon") {
        (Isa::Neon, vec!["neon"])
    } else {
        (Isa::Scalar, Vec::new())
    }
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
fn detect_isa() -> (Isa, Vec<&'static str>) {
    (Isa::Scalar, Vec::new())
}

#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe)] // `__cpuid` is a safe fn from Rust 1.87 on; the MSRV needs `unsafe`
fn brand() -> Option<String> {
    use std::arch::x86_64::__cpuid;
    // SAFETY: CPUID exists on every x86_64 CPU; leaf 0x80000000 reports the highest extended
    // leaf, and the brand leaves are read only when it covers them.
    let max = unsafe { __cpuid(0x8000_0000) }.eax;
    if max < 0x8000_0004 {
        return None;
    }
    let mut bytes = Vec::with_capacity(48);
    for leaf in 0x8000_0002u32..=0x8000_0004 {
        // SAFETY: as above; the leaf is within the reported range.
        let r = unsafe { __cpuid(leaf) };
        for reg in [r.eax, r.ebx, r.ecx, r.edx] {
            bytes.extend_from_slice(&reg.to_le_bytes());
        }
    }
    let s =
        String::from_utf8_lossy(&bytes).trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_string();
    (!s.is_empty()).then_some(s)
}

#[cfg(not(target_arch = "x86_64"))]
fn brand() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_order_the_x86_levels() {
        let x86 = [Isa::Scalar, Isa::Sse, Isa::Avx, Isa::Avx2Fma, Isa::Avx512];
        assert!(x86.windows(2).all(|w| w[0].rank() < w[1].rank()));
        assert!(Isa::Sse.is_sse_or_less() && Isa::Scalar.is_sse_or_less());
        assert!(!Isa::Avx.is_sse_or_less() && !Isa::Neon.is_sse_or_less());
    }

    /// The kernel's view of the CPU (`/proc/cpuinfo`), a source independent of CPUID as std
    /// reads it, gives the same level.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn detection_agrees_with_proc_cpuinfo() {
        let info = std::fs::read_to_string("/proc/cpuinfo").expect("read /proc/cpuinfo");
        let line = info.lines().find(|l| l.starts_with("flags")).expect("a flags line");
        let has = |f: &str| line.split_whitespace().any(|w| w == f);
        let want = x86_level(has);
        let cpu = Cpu::detect();
        assert_eq!(cpu.isa, want, "{cpu} vs /proc/cpuinfo: {line}");
    }
}
