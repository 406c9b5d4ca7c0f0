//! Every Cargo feature is documented where users look for it: the crate docs' "Feature flags"
//! list and the README's "Cargo features" table, and neither names a feature that does not
//! exist.

const MANIFEST: &str = include_str!("../../Cargo.toml");
const CRATE_DOCS: &str = include_str!("../../src/lib.rs");
const README: &str = include_str!("../../README.md");

/// The feature names of `[features]` in Cargo.toml, `default` left out.
fn features() -> Vec<&'static str> {
    let section = MANIFEST
        .split("\n[features]\n")
        .nth(1)
        .expect("Cargo.toml has a [features] section");
    let section = section.split("\n[").next().unwrap_or(section);
    section
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim()))
        .filter(|name| *name != "default")
        .collect()
}

/// The backticked names at the start of the items of a list or table: "- `x`" or "| `x` |".
fn documented(text: &str, item_prefix: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix(item_prefix)?.strip_prefix('`'))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .collect()
}

/// The text from `heading` to `end` (exclusive).
fn section<'t>(text: &'t str, heading: &str, end: &str) -> &'t str {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} section"))
        + heading.len();
    let rest = &text[start..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[test]
fn the_manifest_parser_finds_every_feature() {
    let mut declared = features();
    declared.sort_unstable();
    assert_eq!(declared, ["axum", "gzip", "process", "protobuf", "server"]);
}

/// The backticked names of `section`'s items (lines starting with `item_prefix`) are exactly
/// the declared features.
fn assert_documents_every_feature(section: &str, item_prefix: &str) {
    let mut listed = documented(section, item_prefix);
    listed.sort_unstable();
    let mut declared = features();
    declared.sort_unstable();
    assert_eq!(listed, declared, "features documented in:\n{section}");
}

#[test]
fn crate_docs_list_exactly_the_features() {
    assert_documents_every_feature(section(CRATE_DOCS, "//! # Feature flags\n", "\n#!["), "//! - ");
}

#[test]
fn the_readme_tables_exactly_the_features() {
    assert_documents_every_feature(section(README, "### Cargo features\n", "\n## "), "| ");
}
