//! The external tools of the end-to-end tests, bounded waits and child processes, free ports,
//! guards that kill child processes and remove temporary directories also when a test fails,
//! and a panic hook that keeps the panics tests provoke on purpose quiet.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The environment variable that turns a missing external tool from an ignored test into a
/// failed one (CI sets it).
pub(crate) const REQUIRE_E2E_ENV: &str = "TOWER_PROMETHEUS_REQUIRE_E2E";

/// No wait in the end-to-end tests lasts longer than this.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);

/// Whether missing tools must fail the test (CI) rather than have it ignored.
pub(crate) fn e2e_required() -> bool {
    std::env::var(REQUIRE_E2E_ENV).is_ok_and(|value| value == "1")
}

/// Something outside Cargo that an end-to-end test needs; `.ci/install-tools` installs them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Tool {
    /// An executable on `PATH`.
    Program(&'static str),
    /// A module that `python3` (on `PATH`) imports.
    PythonModule(&'static str),
}

/// The Prometheus server (2.42, Debian's `prometheus` package).
pub(crate) const PROMETHEUS: Tool = Tool::Program("prometheus");
/// promtool, shipped with Prometheus.
pub(crate) const PROMTOOL: Tool = Tool::Program("promtool");
/// The Python `prometheus_client`, whose parsers are an independent reference.
pub(crate) const PYTHON_PROMETHEUS_CLIENT: Tool = Tool::PythonModule("prometheus_client");
/// PyYAML: parses the YAML files of `examples/monitoring` and `examples/kubernetes`.
pub(crate) const PYYAML: Tool = Tool::PythonModule("yaml");
/// `kubernetes-validate`: the Kubernetes API schemas, offline.
pub(crate) const KUBERNETES_VALIDATE: Tool = Tool::PythonModule("kubernetes_validate");

impl Tool {
    /// Why the tool cannot be used (`promtool not found on PATH`), or `None` when it can.
    /// Checked once per process.
    pub(crate) fn missing(self) -> Option<String> {
        static CHECKED: Mutex<Vec<(Tool, Option<String>)>> = Mutex::new(Vec::new());
        let mut checked = CHECKED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, missing)) = checked.iter().find(|(tool, _)| *tool == self) {
            return missing.clone();
        }
        let missing = match self {
            Self::Program(name) => find_program(name)
                .is_none()
                .then(|| format!("{name} not found on PATH")),
            Self::PythonModule(module) => match find_program("python3") {
                None => Some("python3 not found on PATH".to_owned()),
                Some(python) => {
                    let imports = Command::new(python)
                        .args(["-c", &format!("import {module}")])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|status| status.success());
                    (!imports).then(|| format!("python3 cannot import {module}"))
                }
            },
        };
        checked.push((self, missing.clone()));
        missing
    }
}

/// The path of the executable `name` on `PATH`. Panics when it is missing: a test declares the
/// tools it needs (tests/e2e/main.rs), and the harness runs it only when they are there.
pub(crate) fn program(name: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| {
        panic!("{name} not found on PATH: declare it in the test's `needs` so the test is ignored instead")
    })
}

/// The `python3` on `PATH`, see [`program`].
pub(crate) fn python() -> PathBuf {
    program("python3")
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A port that was free on 127.0.0.1 a moment ago (the OS picks it; the listener is closed).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind an ephemeral loopback port")
        .port()
}

/// Calls `probe` every 100 ms until it returns `Some`, for at most `timeout` (capped at
/// [`MAX_WAIT`]); panics with `what` and the last state description on timeout.
pub(crate) fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout.min(MAX_WAIT);
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last state: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A directory under the system temp dir, removed with its contents on drop.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, uniquely named directory.
    pub(crate) fn new(prefix: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "{prefix}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos())
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self { path }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A child process killed and reaped on drop.
#[derive(Debug)]
pub(crate) struct ChildGuard(pub(crate) Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `program` with `args`, writes `input` to its stdin and returns what it printed and its
/// exit status; see [`run`].
pub(crate) fn run_with_input(program: impl AsRef<std::ffi::OsStr>, args: &[&str], input: &[u8]) -> Output {
    let mut command = Command::new(program);
    command.args(args);
    run(&mut command, input)
}

/// Runs `command`, writes `input` to its stdin and returns what it printed and its exit status.
/// The process is killed (and the test fails) when it runs longer than [`MAX_WAIT`].
pub(crate) fn run(command: &mut Command, input: &[u8]) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = ChildGuard(
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("spawn {program}: {error}")),
    );
    // Writer and readers run on their own threads so that a large input or output cannot
    // block the process on a full pipe; they end when the process exits or is killed.
    let mut stdin = child.0.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = read_all(Box::new(child.0.stdout.take().expect("piped stdout")));
    let stderr = read_all(Box::new(child.0.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + MAX_WAIT;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("poll the child process") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{program} did not finish within {MAX_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Feeds a Prometheus text exposition to `promtool check metrics`: `Err` with promtool's
/// report when it rejects the exposition (exit 1) or has a lint finding (exit 3, for example
/// a counter without `_total` or a missing `HELP`).
pub(crate) fn promtool_check_metrics(promtool: &Path, exposition: &str) -> Result<(), String> {
    let output = run_with_input(promtool, &["check", "metrics"], exposition.as_bytes());
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() && report.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("promtool check metrics: {}\n{report}", output.status))
    }
}

/// Keeps the panics the tests provoke on purpose (their message says "on purpose") out of
/// the output; every other panic is reported by the default hook as usual.
pub(crate) fn quiet_intentional_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or_default();
            if !message.contains("on purpose") {
                default(info);
            }
        }));
    });
}
