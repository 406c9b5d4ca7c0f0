//! The standard process metrics: CPU time, memory, file descriptors, threads and start time,
//! under the names the Go and Python Prometheus clients use, so that existing dashboards and
//! alerts work unchanged.
//!
//! | name | type | meaning |
//! | --- | --- | --- |
//! | `process_cpu_seconds_total` | counter | user + system CPU time |
//! | `process_resident_memory_bytes` | gauge | resident set size |
//! | `process_virtual_memory_bytes` | gauge | virtual memory size |
//! | `process_open_fds` | gauge | open file descriptors |
//! | `process_max_fds` | gauge | soft limit on open file descriptors (omitted when unlimited) |
//! | `process_start_time_seconds` | gauge | start time, seconds since the Unix epoch |
//! | `process_threads` | gauge | OS threads |
//!
//! Every [`Metrics`](crate::Metrics) registers a [`ProcessCollector`] unless
//! [`MetricsBuilder::process_metrics(false)`](crate::MetricsBuilder::process_metrics) turns it
//! off. These names are standard, so the builder's namespace is **not** prepended to them; the
//! constant labels are added as to every other metric.
//!
//! The values are read from `/proc/self` on every scrape (a few small files, no dependency).
//! On other platforms the collector emits nothing rather than made-up values, and a value
//! that cannot be read (a restricted `/proc`, say) is left out of the exposition.
//!
//! ```
//! use tower_prometheus::{Format, Metrics};
//!
//! let text = Metrics::new().render(Format::PrometheusText).unwrap();
//! if cfg!(target_os = "linux") {
//!     assert!(text.contains("# TYPE process_resident_memory_bytes gauge"));
//!     assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
//! } else {
//!     assert!(!text.contains("process_"));
//! }
//! ```

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

/// The names the collector exposes (counters with `_total`), reserved in
/// [`Metrics::register`](crate::Metrics::register) while process metrics are on.
pub(crate) const EXPOSED_NAMES: &[&str] = &[
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
];

/// A prometheus-client [`Collector`] of this process's metrics, read when a scrape encodes it.
///
/// [`Metrics`](crate::Metrics) registers one by default; register one yourself on a plain
/// prometheus-client registry if you expose that registry some other way.
///
/// ```
/// use prometheus_client::registry::Registry;
/// use tower_prometheus::process::ProcessCollector;
///
/// let mut registry = Registry::default();
/// registry.register_collector(Box::new(ProcessCollector::new()));
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
/// assert_eq!(text.contains("process_threads "), ProcessCollector::is_supported());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessCollector {
    _private: (),
}

impl ProcessCollector {
    /// A collector of the current process (the type's example registers one).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether this platform has process metrics (Linux only, for now); elsewhere the collector
    /// emits nothing.
    ///
    /// ```
    /// use tower_prometheus::process::ProcessCollector;
    /// assert_eq!(ProcessCollector::is_supported(), cfg!(target_os = "linux"));
    /// ```
    #[must_use]
    pub fn is_supported() -> bool {
        cfg!(target_os = "linux")
    }
}

impl Collector for ProcessCollector {
    #[cfg(target_os = "linux")]
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        linux::Sample::read().encode(encoder)
    }

    #[cfg(not(target_os = "linux"))]
    fn encode(&self, _encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod linux {
    //! Reads `/proc/self`. Clock ticks and page size come from the auxiliary vector the kernel
    //! hands every process (`/proc/self/auxv`), which needs neither `unsafe` nor libc; when it
    //! is unreadable we fall back to the values of every mainstream Linux architecture
    //! (`USER_HZ` = 100, 4 KiB pages).

    use std::fmt;
    use std::fs;
    use std::sync::OnceLock;

    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;
    use prometheus_client::registry::Unit;

    const AT_PAGESZ: usize = 6;
    const AT_CLKTCK: usize = 17;
    const FALLBACK_CLOCK_TICKS: u64 = 100;
    const FALLBACK_PAGE_SIZE: u64 = 4096;

    /// Values that do not change while the process runs.
    #[derive(Clone, Copy, Debug)]
    struct Constants {
        clock_ticks: u64,
        page_size: u64,
        boot_time: Option<u64>,
    }

    fn constants() -> Constants {
        static CONSTANTS: OnceLock<Constants> = OnceLock::new();
        *CONSTANTS.get_or_init(|| {
            let auxv = fs::read("/proc/self/auxv").unwrap_or_default();
            let positive = |value: Option<u64>| value.filter(|value| *value > 0);
            Constants {
                clock_ticks: positive(auxv_value(&auxv, AT_CLKTCK)).unwrap_or(FALLBACK_CLOCK_TICKS),
                page_size: positive(auxv_value(&auxv, AT_PAGESZ)).unwrap_or(FALLBACK_PAGE_SIZE),
                boot_time: fs::read_to_string("/proc/stat")
                    .ok()
                    .and_then(|stat| boot_time(&stat)),
            }
        })
    }

    /// One scrape's readings; `None` where a file or field could not be read.
    #[derive(Debug, Default, PartialEq)]
    pub(super) struct Sample {
        cpu_seconds: Option<f64>,
        resident_bytes: Option<u64>,
        virtual_bytes: Option<u64>,
        open_fds: Option<u64>,
        max_fds: Option<u64>,
        start_time_seconds: Option<f64>,
        threads: Option<u64>,
    }

    impl Sample {
        pub(super) fn read() -> Self {
            let constants = constants();
            let stat = fs::read_to_string("/proc/self/stat")
                .ok()
                .and_then(|text| Stat::parse(&text));
            let open_fds = fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count() as u64);
            let max_fds = fs::read_to_string("/proc/self/limits")
                .ok()
                .and_then(|limits| max_open_files(&limits));
            Self::from_parts(stat, constants, open_fds, max_fds)
        }

        fn from_parts(
            stat: Option<Stat>,
            constants: Constants,
            open_fds: Option<u64>,
            max_fds: Option<u64>,
        ) -> Self {
            let ticks = constants.clock_ticks as f64;
            Self {
                cpu_seconds: stat.map(|stat| (stat.utime + stat.stime) as f64 / ticks),
                resident_bytes: stat.map(|stat| stat.rss_pages.saturating_mul(constants.page_size)),
                virtual_bytes: stat.map(|stat| stat.vsize_bytes),
                open_fds,
                max_fds,
                start_time_seconds: stat
                    .zip(constants.boot_time)
                    .map(|(stat, boot)| boot as f64 + stat.start_ticks as f64 / ticks),
                threads: stat.map(|stat| stat.threads),
            }
        }

        pub(super) fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
            if let Some(seconds) = self.cpu_seconds {
                let counter = ConstCounter::new(seconds);
                counter.encode(encoder.encode_descriptor(
                    "process_cpu",
                    "CPU time this process has used, user and system, in seconds",
                    Some(&Unit::Seconds),
                    counter.metric_type(),
                )?)?;
            }
            let bytes = |value: Option<u64>| value.map(|bytes| bytes as f64);
            let count = |value: Option<u64>| value.map(|count| i64::try_from(count).unwrap_or(i64::MAX));
            gauge(
                &mut encoder,
                "process_resident_memory",
                "Memory of this process resident in RAM, in bytes",
                Some(Unit::Bytes),
                bytes(self.resident_bytes),
            )?;
            gauge(
                &mut encoder,
                "process_virtual_memory",
                "Virtual address space of this process, in bytes",
                Some(Unit::Bytes),
                bytes(self.virtual_bytes),
            )?;
            gauge(
                &mut encoder,
                "process_open_fds",
                "File descriptors this process has open",
                None,
                count(self.open_fds),
            )?;
            gauge(
                &mut encoder,
                "process_max_fds",
                "Soft limit on the file descriptors this process may open",
                None,
                count(self.max_fds),
            )?;
            gauge(
                &mut encoder,
                "process_start_time",
                "When this process started, in seconds since the Unix epoch",
                Some(Unit::Seconds),
                self.start_time_seconds,
            )?;
            gauge(
                &mut encoder,
                "process_threads",
                "OS threads of this process",
                None,
                count(self.threads),
            )?;
            Ok(())
        }
    }

    /// Encodes one gauge, or nothing when its value could not be read.
    fn gauge<N>(
        encoder: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        value: Option<N>,
    ) -> Result<(), fmt::Error>
    where
        N: prometheus_client::encoding::EncodeGaugeValue + fmt::Debug,
    {
        let Some(value) = value else { return Ok(()) };
        let gauge = ConstGauge::new(value);
        gauge.encode(encoder.encode_descriptor(name, help, unit.as_ref(), gauge.metric_type())?)
    }

    /// The fields of `/proc/self/stat` we expose.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Stat {
        utime: u64,
        stime: u64,
        threads: u64,
        start_ticks: u64,
        vsize_bytes: u64,
        rss_pages: u64,
    }

    impl Stat {
        /// Parses `pid (comm) state ppid …`. The command name may hold spaces and parentheses,
        /// so the fields are counted from the last `)`.
        fn parse(text: &str) -> Option<Self> {
            let (_, after_comm) = text.rsplit_once(')')?;
            // Field 3 (state) is index 0 here; proc(5) numbers the fields from 1.
            let fields: Vec<&str> = after_comm.split_whitespace().collect();
            let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
            Some(Self {
                utime: field(14)?,
                stime: field(15)?,
                threads: field(20)?,
                start_ticks: field(22)?,
                vsize_bytes: field(23)?,
                // rss may be reported negative transiently by old kernels; treat as unreadable.
                rss_pages: field(24)?,
            })
        }
    }

    /// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
    fn boot_time(stat: &str) -> Option<u64> {
        stat.lines()
            .find_map(|line| line.strip_prefix("btime "))
            .and_then(|value| value.trim().parse().ok())
    }

    /// The soft limit of the `Max open files` line of `/proc/self/limits`; `None` if unlimited.
    fn max_open_files(limits: &str) -> Option<u64> {
        limits
            .lines()
            .find_map(|line| line.strip_prefix("Max open files"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|soft| soft.parse().ok())
    }

    /// The value of `key` in an auxiliary vector: native-endian machine words, key then value.
    fn auxv_value(auxv: &[u8], key: usize) -> Option<u64> {
        const WORD: usize = size_of::<usize>();
        let word = |bytes: &[u8]| usize::from_ne_bytes(bytes.try_into().expect("WORD-sized chunk"));
        auxv.chunks_exact(2 * WORD)
            .map(|pair| (word(&pair[..WORD]), word(&pair[WORD..])))
            .take_while(|(entry, _)| *entry != 0)
            .find(|(entry, _)| *entry == key)
            .map(|(_, value)| value as u64)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const STAT: &str = "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 1200 0 0 0 \
            250 150 0 0 20 0 7 0 123456 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

        #[test]
        fn stat_fields_are_counted_from_the_last_parenthesis() {
            assert_eq!(
                Stat::parse(STAT),
                Some(Stat {
                    utime: 250,
                    stime: 150,
                    threads: 7,
                    start_ticks: 123_456,
                    vsize_bytes: 104_857_600,
                    rss_pages: 2560,
                })
            );
            assert_eq!(Stat::parse("4242 (truncated) S 1 2"), None);
            assert_eq!(Stat::parse("garbage"), None);
        }

        #[test]
        fn sample_converts_ticks_and_pages() {
            let constants = Constants {
                clock_ticks: 100,
                page_size: 4096,
                boot_time: Some(1_700_000_000),
            };
            let sample = Sample::from_parts(Stat::parse(STAT), constants, Some(12), Some(1024));
            assert_eq!(sample.cpu_seconds, Some(4.0));
            assert_eq!(sample.resident_bytes, Some(2560 * 4096));
            assert_eq!(sample.virtual_bytes, Some(104_857_600));
            assert_eq!(sample.start_time_seconds, Some(1_700_000_000.0 + 1234.56));
            assert_eq!(sample.threads, Some(7));

            let unreadable = Sample::from_parts(
                None,
                Constants {
                    boot_time: None,
                    ..constants
                },
                None,
                None,
            );
            assert_eq!(unreadable, Sample::default());
        }

        #[test]
        fn limits_and_boot_time_are_parsed() {
            let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                Max cpu time              unlimited            unlimited            seconds   \n\
                Max open files            1024                 524288               files     \n";
            assert_eq!(max_open_files(limits), Some(1024));
            assert_eq!(max_open_files(&limits.replace("1024 ", "unlimited ")), None);
            assert_eq!(
                boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
                Some(1_700_000_000)
            );
            assert_eq!(boot_time("cpu  1 2 3\n"), None);
        }

        #[test]
        fn auxv_entries_are_native_words() {
            let mut auxv = Vec::new();
            for word in [AT_PAGESZ, 16384, AT_CLKTCK, 250, 0, 0, AT_CLKTCK, 999] {
                auxv.extend_from_slice(&word.to_ne_bytes());
            }
            assert_eq!(auxv_value(&auxv, AT_PAGESZ), Some(16384));
            assert_eq!(auxv_value(&auxv, AT_CLKTCK), Some(250));
            assert_eq!(auxv_value(&auxv[..auxv.len() / 2 - 1], AT_CLKTCK), None);
        }

        #[test]
        fn this_process_is_read() {
            let sample = Sample::read();
            assert!(sample.resident_bytes.is_some_and(|bytes| bytes > 0));
            assert!(sample.threads.is_some_and(|threads| threads >= 1));
            assert!(sample.start_time_seconds.is_some());
            let constants = constants();
            assert!(constants.clock_ticks > 0 && constants.page_size >= 4096);
        }
    }
}
