//! Lints the paths given on the command line and prints every finding:
//! the library without the `vitrine` binary (which needs yara-x).
//!
//!   cargo run -p vitrine-lint --example lint_paths -- rules/ a.bundle

fn main() {
    let mut worst = None;
    for arg in std::env::args().skip(1) {
        match vitrine_lint::lint_path(std::path::Path::new(&arg)) {
            Ok(report) => {
                for f in &report.findings {
                    println!(
                        "{}:{}:{}: {} {} {}: {}",
                        f.file, f.line, f.column, f.severity, f.id, f.rule, f.message
                    );
                }
                println!(
                    "{arg}: {} rules, {} findings",
                    report.rules.len(),
                    report.findings.len()
                );
                worst = worst.max(report.worst());
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        }
    }
    std::process::exit(i32::from(worst == Some(vitrine_lint::Severity::High)));
}
