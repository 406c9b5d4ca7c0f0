//! The test harness of the end-to-end binary (`harness = false`, on libtest-mimic): a test whose
//! tools are missing is reported as ignored with the reason, or fails under
//! `TOWER_PROMETHEUS_REQUIRE_E2E=1`.

use std::path::Path;
use std::sync::Mutex;

use libtest_mimic::{Completion, Failed, Trial};

use crate::support::tools::{e2e_required, Tool, REQUIRE_E2E_ENV};

/// One end-to-end test: what [`e2e_tests!`] registers.
#[derive(Debug)]
pub(crate) struct E2eTest {
    /// `module_path!()` of the module that registered it (`e2e::interop`).
    pub(crate) module: &'static str,
    /// The test function's name.
    pub(crate) name: &'static str,
    /// The tools it needs; without one of them it is ignored (or fails under
    /// `TOWER_PROMETHEUS_REQUIRE_E2E=1`).
    pub(crate) needs: &'static [Tool],
    /// The test function.
    pub(crate) run: fn(),
}

/// Registers a module's tests: `e2e_tests! { test_fn needs [PROMTOOL], other_fn needs [] }`.
/// Expands to `pub(crate) const TESTS`, which `e2e_modules!` collects. A test function takes no
/// argument and returns `()`; an async one wraps its body in [`block_on`].
macro_rules! e2e_tests {
    ($($name:ident needs [$($tool:expr),* $(,)?]),* $(,)?) => {
        pub(crate) const TESTS: &[crate::harness::E2eTest] = &[$(
            crate::harness::E2eTest {
                module: module_path!(),
                name: stringify!($name),
                needs: &[$($tool),*],
                run: $name,
            },
        )*];
    };
}

/// Declares the test modules and collects their [`e2e_tests!`] lists into `fn trials()`. A module
/// behind `#[cfg(...)]` that is compiled out still shows up, as one ignored test naming the cfg.
macro_rules! e2e_modules {
    ($($(#[cfg($cfg:meta)])? $module:ident),* $(,)?) => {
        $($(#[cfg($cfg)])? mod $module;)*

        /// Every module declared here, compiled in or not (checked against the files in
        /// `tests/e2e/`).
        const MODULES: &[&str] = &[$(stringify!($module)),*];

        fn trials() -> Vec<libtest_mimic::Trial> {
            let mut trials = Vec::new();
            $(
                $(#[cfg($cfg)])?
                trials.extend($module::TESTS.iter().map(crate::harness::trial));
                $(
                    #[cfg(not($cfg))]
                    trials.push(crate::harness::compiled_out(
                        stringify!($module),
                        concat!("compiled out: needs cfg(", stringify!($cfg), ")"),
                    ));
                )?
            )*
            trials.extend(crate::harness::self_checks(MODULES));
            trials
        }
    };
}

pub(crate) use {e2e_modules, e2e_tests};

/// Ignored tests and why, printed after the summary.
static IGNORED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Runs the harness: libtest's command line (filters, `--list`, `--test-threads`, `--ignored`…).
pub(crate) fn main(trials: Vec<Trial>) -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let conclusion = libtest_mimic::run(&args, trials);
    let ignored = IGNORED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !ignored.is_empty() {
        println!(
            "{} end-to-end test(s) ignored, each with its reason (`.ci/install-tools` installs \
             the tools; {REQUIRE_E2E_ENV}=1 makes this a failure):",
            ignored.len()
        );
        for (name, reason) in ignored.iter() {
            println!("    {name}: {reason}");
        }
        println!();
    }
    conclusion.exit_code()
}

/// The libtest-mimic trial of `test`: ignored at run time when a tool it needs is missing.
pub(crate) fn trial(test: &'static E2eTest) -> Trial {
    let module = test
        .module
        .split_once("::")
        .map_or(test.module, |(_, module)| module);
    let name = format!("{module}::{}", test.name);
    Trial::ignorable_test(name.clone(), move || {
        let missing: Vec<String> = test.needs.iter().filter_map(|tool| tool.missing()).collect();
        if missing.is_empty() {
            (test.run)();
            Ok(Completion::Completed)
        } else {
            skip(&name, &missing.join(", "))
        }
    })
}

/// A compiled-out module, as one ignored (or, under `TOWER_PROMETHEUS_REQUIRE_E2E=1`, failed)
/// test, so that a feature left off does not make its tests vanish from the summary.
// Unused when every feature is on.
#[allow(dead_code)]
pub(crate) fn compiled_out(module: &'static str, reason: &'static str) -> Trial {
    let name = format!("{module}::*");
    Trial::ignorable_test(name.clone(), move || skip(&name, reason))
}

fn skip(name: &str, reason: &str) -> Result<Completion, Failed> {
    if e2e_required() {
        return Err(format!("{reason}, and {REQUIRE_E2E_ENV}=1 requires it").into());
    }
    IGNORED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((name.to_owned(), reason.to_owned()));
    Ok(Completion::ignored_with(reason))
}

/// Runs `future` to completion on a current-thread runtime, as `#[tokio::test]` does.
pub(crate) fn block_on(future: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future);
}

/// Checks that no test goes missing: every file of `tests/e2e/` is a module in `main.rs`, and
/// none uses `#[test]`, which this harness never runs.
pub(crate) fn self_checks(modules: &'static [&'static str]) -> Vec<Trial> {
    vec![Trial::test(
        "harness::every_file_is_a_registered_module_without_plain_tests",
        move || {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
            // Spelled in two pieces so that this file does not match itself.
            let attributes = [concat!("#[", "test]"), concat!("#[", "tokio::test")];
            let mut problems = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(|error| format!("{}: {error}", dir.display()))? {
                let path = entry.map_err(|error| error.to_string())?.path();
                let Some(stem) = path.file_stem().and_then(|stem| stem.to_str()) else {
                    continue;
                };
                if path.extension().is_none_or(|extension| extension != "rs")
                    || ["main", "harness"].contains(&stem)
                {
                    continue;
                }
                if !modules.contains(&stem) {
                    problems.push(format!("{stem}.rs is not in e2e_modules! of tests/e2e/main.rs"));
                }
                let source = std::fs::read_to_string(&path).map_err(|error| error.to_string())?;
                for attribute in attributes {
                    if source.contains(attribute) {
                        problems.push(format!(
                            "{stem}.rs uses {attribute}, which this harness does not run: register \
                         the function in the module's e2e_tests! list instead"
                        ));
                    }
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("\n").into())
            }
        },
    )]
}
