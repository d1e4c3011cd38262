//! Compiles the YARA files under the given directories and scans a
//! generated canary corpus; prints every rule that matched and the time
//! each step took. `SEED=N` varies the corpus, `CANARIES=DIR` adds the
//! operator's own documents.
//!
//!   cargo run -p vitrine-canary --example canary_scan -- corpora/elastic-yara

use std::path::{Path, PathBuf};
use std::time::Instant;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yar" || x == "yara") {
            out.push(p);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        walk(Path::new(&arg), &mut files)?;
    }
    files.sort();
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| Ok((p.display().to_string(), std::fs::read_to_string(p)?)))
        .collect::<std::io::Result<_>>()?;
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut canaries = vitrine_canary::generate(seed);
    if let Ok(dir) = std::env::var("CANARIES") {
        canaries.extend(vitrine_canary::operator_canaries(Path::new(&dir))?);
    }
    let bytes: usize = canaries.iter().map(|c| c.data.len()).sum();
    let generated = start.elapsed();
    let srcs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let hits = vitrine_canary::scan(&srcs, &canaries)?;
    for f in vitrine_canary::findings(&hits) {
        println!(
            "{}:{}: {} {} {}: {}",
            f.file, f.line, f.severity, f.id, f.rule, f.message
        );
    }
    let rules: usize = texts.iter().map(|(_, t)| t.matches("rule ").count()).sum();
    println!(
        "{} files (~{rules} rules), {} canaries ({bytes} bytes, seed {seed}), {} rules matched; generate+read {:.2} s, compile+scan {:.2} s",
        files.len(),
        canaries.len(),
        hits.len(),
        generated.as_secs_f64(),
        (start.elapsed() - generated).as_secs_f64()
    );
    Ok(())
}
