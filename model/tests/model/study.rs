//! The convergence study end to end, at CI size: four simulated miners, a centralized
//! baseline, DiLoCo and SparseLoCo on the real fortunes text. SparseLoCo must learn as well as
//! uncompressed DiLoCo (within a few percent) while sending over 140x fewer bytes.

use crate::common;

use std::collections::HashMap;
use std::process::Command;

#[test]
fn sparseloco_keeps_up_with_diloco_at_a_hundredth_of_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("data"), dir.path().join("study"));
    common::prepare_fortunes(&data, 128);
    let run = Command::new(env!("CARGO_BIN_EXE_model"))
        .args(["study", "--preset", "tiny", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .args(["--miners", "4", "--windows", "8", "--inner-steps", "5", "--batch", "4", "--eval-pages", "16"])
        .env("MODEL_THREADS", "2")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "study failed:\n{}", String::from_utf8_lossy(&run.stderr));
    println!("{stdout}");

    // study.csv: run,window,tokens,eval_loss; 9 points per run.
    let csv = std::fs::read_to_string(out.join("study.csv")).unwrap();
    let mut curves: HashMap<String, Vec<f64>> = HashMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        curves.entry(f[0].to_string()).or_default().push(f[3].parse().unwrap());
    }
    assert_eq!(curves.len(), 3);
    for (name, c) in &curves {
        assert_eq!(c.len(), 9, "{name}");
        assert!(c[8] < c[0] - 1.0, "{name} did not learn: {c:?}");
    }
    let (diloco, sparse) = (curves["DiLoCo (fp32)"][8], curves["SparseLoCo"][8]);
    assert!(sparse < diloco * 1.05, "SparseLoCo {sparse} vs DiLoCo {diloco}");

    // The table's compression column, and the plot.
    let row = stdout.lines().find(|l| l.starts_with("| SparseLoCo")).unwrap();
    let ratio: f64 = row.split('|').nth(5).unwrap().trim().trim_end_matches('x').parse().unwrap();
    assert!(ratio > 140.0, "{row}");
    let svg = std::fs::read_to_string(out.join("study.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("SparseLoCo"));
}
