//! A real Prometheus server on a free loopback port, queried through its HTTP API.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use super::http::{http_get, percent_encode};
use super::tools::{free_port, program, wait_until, ChildGuard, TempDir, MAX_WAIT};

/// A real `prometheus` server on a free loopback port with a temporary storage directory.
/// On drop the process is killed and the directory (config, data, log) removed; when the
/// thread is panicking the tail of Prometheus's log is printed first.
#[derive(Debug)]
pub(crate) struct PrometheusServer {
    addr: SocketAddr,
    // Field order matters: the process dies before its directory is removed.
    child: ChildGuard,
    dir: TempDir,
}

impl PrometheusServer {
    /// Writes `config_yaml` to `prometheus.yml` in a temporary directory, starts `prometheus`
    /// with that config, a storage dir inside it, `--web.listen-address=127.0.0.1:<free>` and
    /// `extra_flags`, and waits for `/-/ready`. The test declares that it needs
    /// [`PROMETHEUS`](super::tools::PROMETHEUS).
    pub(crate) fn start(config_yaml: &str, extra_flags: &[&str]) -> Self {
        Self::start_with(&program("prometheus"), config_yaml, extra_flags)
    }

    /// [`Self::start`] with the binary given (from [`program`]). The config lives in a
    /// fresh directory, so files it references (rule files) need absolute paths.
    pub(crate) fn start_with(binary: &Path, config_yaml: &str, extra_flags: &[&str]) -> Self {
        Self::spawn(binary, config_yaml, "--storage.tsdb.path", extra_flags)
    }

    /// [`Self::start_with`] in agent mode (Prometheus 2.42: `--enable-feature=agent`): it
    /// scrapes and remote-writes, has no query API, and refuses `--storage.tsdb.path`, so its
    /// WAL goes to `--storage.agent.path`.
    pub(crate) fn start_agent(binary: &Path, config_yaml: &str, extra_flags: &[&str]) -> Self {
        let mut flags = vec!["--enable-feature=agent"];
        flags.extend_from_slice(extra_flags);
        Self::spawn(binary, config_yaml, "--storage.agent.path", &flags)
    }

    fn spawn(binary: &Path, config_yaml: &str, storage_flag: &str, extra_flags: &[&str]) -> Self {
        let dir = TempDir::new("tower-prometheus-e2e");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml).expect("write prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("create the log file");
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("{storage_flag}={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .args(extra_flags)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log);
        let child = ChildGuard(command.spawn().expect("spawn prometheus"));
        let mut server = Self { addr, child, dir };
        // On a panic here `server` is dropped: the process is killed and its files removed.
        wait_until("Prometheus to be ready (/-/ready)", MAX_WAIT, || {
            if let Ok(Some(status)) = server.child.0.try_wait() {
                return Err(format!("prometheus exited with {status}: {}", server.log_tail()));
            }
            match http_get(addr, "/-/ready") {
                Ok(response) if response.status == 200 => Ok(()),
                Ok(response) => Err(format!("status {}", response.status)),
                Err(error) => Err(error.to_string()),
            }
        });
        server
    }

    /// The listen address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The temporary directory holding config, data and log.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last 40 lines of Prometheus's log.
    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `GET /api/v1/<endpoint>?<query>` decoded as JSON; `Err` carries Prometheus's
    /// `errorType: error` when the call failed.
    pub(crate) fn api(&self, endpoint_and_query: &str) -> Result<serde_json::Value, String> {
        let response = http_get(self.addr, &format!("/api/v1/{endpoint_and_query}"))
            .map_err(|error| error.to_string())?;
        let json: serde_json::Value = serde_json::from_slice(&response.body).map_err(|error| {
            format!(
                "status {}: not JSON ({error}): {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            )
        })?;
        if json["status"] == "success" {
            Ok(json["data"].clone())
        } else {
            Err(format!("{}: {}", json["errorType"], json["error"]))
        }
    }

    /// Evaluates `promql` at the current time; `Err` with Prometheus's message when it fails
    /// to parse or evaluate. The value is the API's `data` (`resultType` and `result`).
    pub(crate) fn try_query(&self, promql: &str) -> Result<serde_json::Value, String> {
        self.api(&format!("query?query={}", percent_encode(promql)))
    }

    /// [`Self::try_query`] that panics on an error.
    pub(crate) fn query(&self, promql: &str) -> serde_json::Value {
        self.try_query(promql)
            .unwrap_or_else(|error| panic!("query {promql:?} failed: {error}"))
    }

    /// The samples of an instant-vector `promql` as (labels, value) pairs.
    pub(crate) fn query_vector(
        &self,
        promql: &str,
    ) -> Vec<(serde_json::Map<String, serde_json::Value>, f64)> {
        let data = self.query(promql);
        assert_eq!(
            data["resultType"], "vector",
            "query {promql:?} is not a vector: {data}"
        );
        data["result"]
            .as_array()
            .expect("result array")
            .iter()
            .map(|sample| {
                let labels = sample["metric"].as_object().cloned().unwrap_or_default();
                let value = sample["value"][1]
                    .as_str()
                    .and_then(|value| value.parse::<f64>().ok())
                    .expect("sample value is a number string");
                (labels, value)
            })
            .collect()
    }

    /// The single value of `promql`, `None` when the vector is empty.
    pub(crate) fn query_single(&self, promql: &str) -> Option<f64> {
        let samples = self.query_vector(promql);
        assert!(
            samples.len() <= 1,
            "query {promql:?} returned {} samples",
            samples.len()
        );
        samples.first().map(|(_, value)| *value)
    }

    /// Waits (at most [`MAX_WAIT`]) until `promql` returns the single value `expected`.
    pub(crate) fn wait_for_value(&self, promql: &str, expected: f64) {
        wait_until(&format!("{promql} == {expected}"), MAX_WAIT, || {
            match self.query_single(promql) {
                Some(value) if value == expected => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
    }

    /// Waits until exactly `targets` targets are up and each was scraped at least `scrapes`
    /// times (`count_over_time(up[1h])`).
    pub(crate) fn wait_for_scrapes(&self, targets: usize, scrapes: usize) {
        wait_until(
            &format!("{targets} targets up with {scrapes} scrapes each"),
            MAX_WAIT,
            || {
                let samples = self.query_vector("count_over_time(up[1h]) * on(instance, job) group_left up");
                let done =
                    samples.len() == targets && samples.iter().all(|(_, count)| *count >= scrapes as f64);
                if done {
                    Ok(())
                } else {
                    Err(format!("{samples:?}"))
                }
            },
        );
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- prometheus log (last lines) ---\n{}", self.log_tail());
        }
    }
}

/// A Prometheus config scraping each of `targets` every second on `/metrics` in job `job`.
pub(crate) fn scrape_config(job: &str, targets: &[SocketAddr], rule_files: &[&Path]) -> String {
    let targets = targets
        .iter()
        .map(|addr| format!("\"{addr}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let rule_files = rule_files
        .iter()
        .map(|path| format!("\"{}\"", path.display()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files: [{rule_files}]\n\
         scrape_configs:\n  - job_name: \"{job}\"\n    static_configs:\n      - targets: [{targets}]\n"
    )
}
