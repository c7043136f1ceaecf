//! The README's first command: `bluehelm demo --once` runs the whole story on real nodes and
//! exits 0 only if every step checked out.

use bluehelm_tests::bluehelm_bin;

#[test]
fn demo_once_checks_every_step_and_exits_zero() {
    let out = std::process::Command::new(bluehelm_bin())
        .args(["demo", "--once"])
        .output()
        .expect("bluehelm demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("demo: every step checked: OK"), "{stdout}");
    assert!(stdout.contains("the queue drained FLASH first"), "{stdout}");
    assert!(
        stdout.contains("learned that mission.unmiss checked its record"),
        "{stdout}"
    );
}
