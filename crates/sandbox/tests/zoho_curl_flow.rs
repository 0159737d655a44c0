//! Runs `zoho_flow.sh` (plain curl against the binary started as documented).

use std::process::Command;

#[test]
fn curl_walks_zoho_sign_in_pkce_and_record_round_trip() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/zoho_flow.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("SANDBOX_BIN", env!("CARGO_BIN_EXE_crmsync-sandbox"))
        .output()
        .expect("bash, curl, jq and openssl are needed to run the curl flow");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "zoho_flow.sh failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("zoho_flow: OK"));
}
