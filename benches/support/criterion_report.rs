//! Reads criterion's report of the current run, for the benches' printed summaries.

/// The median estimate, in ns, of the benchmark whose id is `parts` joined by `/`
/// (group, function, then any parameter), from `<target>/criterion/…/new/estimates.json`.
pub(crate) fn median_ns(parts: &[&str]) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    let mut path = std::path::Path::new(&target).join("criterion");
    for part in parts {
        path.push(part);
    }
    path.push("new");
    path.push("estimates.json");
    let estimates: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}
