//! Orthonormal DCT-II on chunks, by basis matrices (candle has no DCT).
//!
//! `D[k][n] = s_k cos(pi (2n + 1) k / 2N)`, `s_0 = sqrt(1/N)`, `s_k = sqrt(2/N)`, built in f64
//! with the pure-Rust `libm` so every platform gets the same f32 basis. A chunk `X` (`r x c`)
//! maps to `Dr X Dc^T` and back with `Dr^T Y Dc`. Every output element accumulates its terms
//! in a fixed order, so results are bitwise reproducible whatever the thread count.

/// The basis of one size, and its transpose.
#[derive(Debug)]
pub struct DctBasis {
    n: usize,
    d: Vec<f32>,
    dt: Vec<f32>,
}

impl DctBasis {
    pub fn new(n: usize) -> Self {
        let mut d = vec![0f32; n * n];
        let nf = n as f64;
        for k in 0..n {
            let s = if k == 0 { (1.0 / nf).sqrt() } else { (2.0 / nf).sqrt() };
            for i in 0..n {
                let angle = std::f64::consts::PI * (2 * i + 1) as f64 * k as f64 / (2.0 * nf);
                d[k * n + i] = (s * libm::cos(angle)) as f32;
            }
        }
        let mut dt = vec![0f32; n * n];
        for k in 0..n {
            for i in 0..n {
                dt[i * n + k] = d[k * n + i];
            }
        }
        Self { n, d, dt }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// `out = a (m x n, row-major) * b (n x p)`, accumulating over `n` in order.
fn matmul(a: &[f32], b: &[f32], out: &mut [f32], m: usize, n: usize, p: usize) {
    out[..m * p].fill(0.0);
    for i in 0..m {
        let row = &mut out[i * p..(i + 1) * p];
        for l in 0..n {
            let x = a[i * n + l];
            for (o, y) in row.iter_mut().zip(&b[l * p..(l + 1) * p]) {
                *o += x * y;
            }
        }
    }
}

/// In place: `x (r x c) <- Dr x Dc^T`. `scratch` holds at least `r * c` values.
pub fn forward(x: &mut [f32], dr: &DctBasis, dc: &DctBasis, scratch: &mut [f32]) {
    let (r, c) = (dr.n, dc.n);
    matmul(x, &dc.dt, scratch, r, c, c);
    matmul(&dr.d, scratch, x, r, r, c);
}

/// In place: `y (r x c) <- Dr^T y Dc`, the inverse of [`forward`].
pub fn inverse(y: &mut [f32], dr: &DctBasis, dc: &DctBasis, scratch: &mut [f32]) {
    let (r, c) = (dr.n, dc.n);
    matmul(y, &dc.d, scratch, r, c, c);
    matmul(&dr.dt, scratch, y, r, r, c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_is_orthonormal_and_round_trips() {
        for n in [1, 3, 8, 64] {
            let b = DctBasis::new(n);
            for i in 0..n {
                for j in 0..n {
                    let dot: f32 = (0..n).map(|k| b.d[i * n + k] * b.d[j * n + k]).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-5, "n={n} <{i},{j}> = {dot}");
                }
            }
        }
        let (dr, dc) = (DctBasis::new(4), DctBasis::new(6));
        let x: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let mut y = x.clone();
        let mut s = vec![0f32; 24];
        forward(&mut y, &dr, &dc, &mut s);
        // Orthonormal: the energy is preserved.
        let e = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
        assert!((e(&x) - e(&y)).abs() < 1e-3);
        inverse(&mut y, &dr, &dc, &mut s);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn a_constant_chunk_has_only_a_dc_coefficient() {
        let (dr, dc) = (DctBasis::new(4), DctBasis::new(4));
        let mut x = vec![2f32; 16];
        forward(&mut x, &dr, &dc, &mut [0f32; 16]);
        assert!((x[0] - 8.0).abs() < 1e-5);
        assert!(x[1..].iter().all(|v| v.abs() < 1e-5));
    }
}
