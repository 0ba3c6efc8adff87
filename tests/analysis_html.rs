//! The HTML report opened in headless Chromium by `tests/html_check.sh`: it must render (an
//! SVG timeline, a screenshot) with no console error and no network request. Without
//! Chromium the test is skipped with a notice — except under CI (`CI` set), where it fails.

use std::path::Path;
use std::process::Command;

fn chromium_available() -> bool {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .any(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        || std::env::var_os("CHROMIUM").is_some()
}

#[test]
fn html_report_renders_without_console_errors() {
    if !chromium_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required under CI: run .ci/install-analysis.sh"
        );
        eprintln!("skipped: chromium not installed (run .ci/install-analysis.sh)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let runs = root.join("fixtures/runs");
    let cases: [(&str, Vec<&str>); 4] = [
        ("linear", vec!["01JD0000000000000000000001"]),
        ("flaky", vec!["01JD0000000000000000000002"]),
        ("unfinished", vec!["01JD0000000000000000000003"]),
        (
            "nightly",
            vec![
                "01JD00000000000000000000A1",
                "01JD00000000000000000000A2",
                "01JD00000000000000000000A3",
            ],
        ),
    ];
    for (name, ids) in cases {
        let html = dir.path().join(format!("{name}.html"));
        let out = Command::new(env!("CARGO_BIN_EXE_secflow"))
            .arg("performance-analysis")
            .args(ids.iter().map(|id| runs.join(id)))
            .args(["--format", "html", "--output"])
            .arg(&html)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&html).unwrap();
        assert!(
            !text.contains("<script"),
            "the report must not need JavaScript"
        );
        assert!(!text.contains("src=\"http") && !text.contains("href=\"http"));
        let shot = dir.path().join(format!("{name}.png"));
        let check = Command::new(root.join("tests/html_check.sh"))
            .arg(&html)
            .arg(&shot)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "html_check failed for {name}:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    }
}
