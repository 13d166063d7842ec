//! What every module of the `voxcap` binary's tests shares: the binary as a
//! [`Command`], a run with drained pipes and a hang limit, NDJSON output
//! and the committed test data. Ports, process guards and waits come from
//! `voxcap_testkit`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use voxcap_emulator::server::{TEST_CLIENT_ID, TEST_TENANT_ID};
use voxcap_emulator::RunningEmulator;
use voxcap_testkit::ChildGuard;

/// Longest a `voxcap` run may take before it counts as a hang.
pub(crate) const HANG: Duration = Duration::from_secs(60);

/// The workspace's `testdata/`.
pub(crate) fn testdata() -> PathBuf {
    voxcap_testkit::workspace_root().join("testdata")
}

/// `voxcap args...` with stdin closed and without the test-only panic
/// switches of the environment this test runs in.
pub(crate) fn voxcap_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_voxcap"));
    c.args(args)
        .env_remove("VOXCAP_TEST_PANIC_READ")
        .env_remove("VOXCAP_TEST_PANIC_JOB")
        .stdin(Stdio::null());
    c
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        pipe.read_to_end(&mut v).ok();
        v
    })
}

/// Runs `cmd` to completion with `stdin` fed in and both output pipes
/// drained on threads (so a full pipe cannot look like a hang); a run
/// longer than [`HANG`] is killed and fails the test naming `what`.
/// Returns the output and how long the run took.
pub(crate) fn run(mut cmd: Command, what: &str, stdin: &[u8]) -> (Output, Duration) {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let mut child = ChildGuard::new(child);
    let mut pipe = child.stdin.take().expect("piped stdin");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // voxcap may exit before reading all of stdin; that is fine.
        let _ = pipe.write_all(&input);
    });
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = child.wait_timeout(HANG, what);
    writer.join().expect("stdin writer");
    let out = Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    (out, start.elapsed())
}

/// Runs `voxcap args...` with extra environment `envs` (see [`run`]).
pub(crate) fn voxcap_env(args: &[&str], envs: &[(&str, &str)]) -> (Output, Duration) {
    let mut cmd = voxcap_cmd(args);
    cmd.envs(envs.iter().copied());
    run(cmd, &format!("voxcap {args:?}"), b"")
}

/// Runs `voxcap args...` with `stdin` and fails the test if it hung or
/// panicked.
pub(crate) fn voxcap_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let (out, _) = run(voxcap_cmd(args), &format!("voxcap {args:?}"), stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "voxcap {args:?} panicked: {stderr}"
    );
    out
}

/// [`voxcap_with_stdin`] with nothing on stdin.
pub(crate) fn voxcap(args: &[&str]) -> Output {
    voxcap_with_stdin(args, b"")
}

/// Fails the test, showing stderr, unless `out` exited 0.
pub(crate) fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The NDJSON lines of `out`'s stdout; a line that is not JSON fails the
/// test.
pub(crate) fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .expect("stdout is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// The flags of a bot process on `emu`: Graph at the emulator, client
/// credentials with the secret in the environment variable `secret_env`,
/// a JWT-verified webhook on `127.0.0.1:port`.
pub(crate) fn graph_flags(emu: &RunningEmulator, secret_env: &str, port: u16) -> Vec<String> {
    [
        "--graph-url",
        &format!("{}/v1.0", emu.base_url),
        "--tenant",
        TEST_TENANT_ID,
        "--client-id",
        TEST_CLIENT_ID,
        "--client-secret-env",
        secret_env,
        "--authority",
        &emu.base_url,
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--notification-audience",
        TEST_CLIENT_ID,
        "--openid-config",
        &emu.state.openid_config_url(),
    ]
    .map(String::from)
    .to_vec()
}
