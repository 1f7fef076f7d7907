//! The loss chart as a self-contained SVG: the global model's eval loss against windows
//! (bottom axis) and the tokens trained into it (top axis).

use std::fmt::Write as _;

use super::board::Point;

const W: f64 = 760.0;
const H: f64 = 320.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 46.0;
const BOTTOM: f64 = 44.0;

/// "Nice" tick values covering `[lo, hi]`: steps of 1, 2 or 5 times a power of ten.
fn ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let span = (hi - lo).max(f64::EPSILON);
    let raw = span / count.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| span / s <= count as f64)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 64 {
        out.push(t);
        t += step;
    }
    out
}

/// Tokens in a short form: 950, 12.3k, 4.56M, 7.8B.
pub fn tokens(n: u64) -> String {
    let x = n as f64;
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", x / 1e3),
        1_000_000..=999_999_999 => format!("{:.2}M", x / 1e6),
        _ => format!("{:.2}B", x / 1e9),
    }
}

/// The chart of `points` (in window order). With fewer than one point it says so.
pub fn svg(points: &[Point]) -> String {
    let mut s = String::with_capacity(4096 + points.len() * 24);
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="12" role="img" aria-label="eval loss of the global model">"##
    );
    s.push_str(r##"<rect width="100%" height="100%" fill="#fff"/>"##);
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="16" font-size="14" font-weight="bold">Eval loss of the global model</text>"##
    );
    let finite: Vec<&Point> = points.iter().filter(|p| p.loss.is_finite()).collect();
    if finite.is_empty() {
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#666">no window scored yet</text></svg>"##,
            W / 2.0,
            H / 2.0
        );
        return s;
    }
    let (w0, w1) = (finite[0].window as f64, finite[finite.len() - 1].window as f64);
    let (w0, w1) = if w1 > w0 { (w0, w1) } else { (w0 - 1.0, w0 + 1.0) };
    let lo = finite.iter().map(|p| p.loss).fold(f64::INFINITY, f64::min);
    let hi = finite.iter().map(|p| p.loss).fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.01);
    let (lo, hi) = (lo - pad, hi + pad);
    let x = |w: f64| LEFT + (w - w0) / (w1 - w0) * (W - LEFT - RIGHT);
    let y = |l: f64| TOP + (hi - l) / (hi - lo) * (H - TOP - BOTTOM);
    // Axes and grid.
    let _ = write!(s, r##"<g stroke="#ccc" stroke-width="1">"##);
    for t in ticks(lo, hi, 5) {
        let _ = write!(s, r##"<line x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}"/>"##, W - RIGHT, y(t), y(t));
    }
    s.push_str("</g>");
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    for t in ticks(lo, hi, 5) {
        let _ = write!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end" dominant-baseline="middle">{t:.2}</text>"##,
            LEFT - 6.0,
            y(t)
        );
    }
    let window_ticks: Vec<f64> = ticks(w0, w1, 8).into_iter().filter(|t| t.fract() == 0.0).collect();
    for t in &window_ticks {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle">{t}</text>"##,
            x(*t),
            H - BOTTOM + 16.0
        );
        // The tokens trained in by that window, from the nearest point at or before it.
        if let Some(p) = finite.iter().rev().find(|p| p.window as f64 <= *t) {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
                x(*t),
                TOP - 6.0,
                tokens(p.tokens)
            );
        }
    }
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">window</text>"##,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 8.0
    );
    let _ =
        write!(s, r##"<text x="{}" y="30" text-anchor="end" fill="#555">tokens trained</text>"##, W - RIGHT);
    let _ = write!(
        s,
        r##"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">loss</text>"##,
        TOP + (H - TOP - BOTTOM) / 2.0,
        TOP + (H - TOP - BOTTOM) / 2.0
    );
    // The curve.
    s.push_str(r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points=""##);
    for p in &finite {
        let _ = write!(s, "{:.1},{:.1} ", x(p.window as f64), y(p.loss));
    }
    s.push_str(r##""/>"##);
    if finite.len() <= 120 {
        for p in &finite {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#1f77b4"><title>window {}: loss {:.4}, {} tokens</title></circle>"##,
                x(p.window as f64),
                y(p.loss),
                p.window,
                p.loss,
                tokens(p.tokens)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Writes the chart to `path` atomically.
pub fn write(path: &std::path::Path, points: &[Point]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("svg.tmp");
    std::fs::write(&tmp, svg(points))?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_draws_every_point_and_labels_both_axes() {
        let points: Vec<Point> =
            (3..13).map(|w| Point { window: w, loss: 8.0 - w as f64 * 0.1, tokens: w * 10_240 }).collect();
        let s = svg(&points);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert_eq!(s.matches("<circle").count(), 10);
        assert!(s.contains(">window</text>") && s.contains("tokens trained"));
        assert!(s.contains("window 12: loss 6.8000, 122.9k tokens"), "{s}");
        // Nothing but the empty message without points, and no NaN ever reaches the SVG.
        assert!(svg(&[]).contains("no window scored yet"));
        let one =
            svg(&[Point { window: 4, loss: f64::NAN, tokens: 0 }, Point { window: 5, loss: 7.0, tokens: 1 }]);
        assert!(!one.contains("NaN"), "{one}");
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(6.93, 8.41, 5);
        assert!(t.first().unwrap() >= &6.93 && t.last().unwrap() <= &8.41 && t.len() >= 3, "{t:?}");
        assert_eq!(tokens(999), "999");
        assert_eq!(tokens(12_345), "12.3k");
        assert_eq!(tokens(4_560_000), "4.56M");
    }
}
