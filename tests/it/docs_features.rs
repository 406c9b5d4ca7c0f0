//! Every Cargo feature is documented where users look for it: the crate docs' "Feature flags"
//! list and the configuration guide's "Cargo features" table. Neither names a feature that does
//! not exist, and both say which features are on by default, as Cargo.toml's `default` does.

const MANIFEST: &str = include_str!("../../Cargo.toml");
const CRATE_DOCS: &str = include_str!("../../src/lib.rs");
const GUIDE: &str = include_str!("../../src/docs/configuration.md");

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

/// The features of Cargo.toml's `default = [...]`.
fn default_features() -> Vec<&'static str> {
    let line = MANIFEST
        .lines()
        .find(|line| line.starts_with("default = ["))
        .expect("Cargo.toml declares default features");
    let mut names: Vec<&str> = line["default = [".len()..line.len() - 1]
        .split(',')
        .map(|name| name.trim().trim_matches('"'))
        .filter(|name| !name.is_empty())
        .collect();
    names.sort_unstable();
    names
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
    assert_eq!(
        declared,
        [
            "axum",
            "gzip",
            "metrics",
            "process",
            "prometheus",
            "protobuf",
            "server"
        ]
    );
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
fn the_configuration_guide_tables_exactly_the_features() {
    assert_documents_every_feature(section(GUIDE, "\n# Cargo features\n", "\n# "), "| ");
}

#[test]
fn the_manifest_parser_finds_the_default_features() {
    assert_eq!(default_features(), ["axum", "gzip", "process"]);
}

/// The items of `section` (lines starting with `item_prefix`) marked default by `is_default`
/// are exactly Cargo.toml's default features.
fn assert_marks_the_defaults(section: &str, item_prefix: &str, is_default: impl Fn(&str) -> bool) {
    let mut marked: Vec<String> = section
        .lines()
        .filter(|line| line.starts_with(item_prefix) && is_default(line))
        .flat_map(|line| documented(line, item_prefix))
        .collect();
    marked.sort_unstable();
    assert_eq!(
        marked,
        default_features(),
        "default features marked in:\n{section}"
    );
}

#[test]
fn crate_docs_mark_exactly_the_default_features() {
    let list = section(CRATE_DOCS, "//! # Feature flags\n", "\n#![");
    assert_marks_the_defaults(list, "//! - ", |item| item.contains("` (default)"));
}

#[test]
fn the_configuration_guide_marks_exactly_the_default_features() {
    let table = section(GUIDE, "\n# Cargo features\n", "\n# ");
    assert_marks_the_defaults(table, "| ", |row| {
        row.split('|').nth(2).map(str::trim) == Some("yes")
    });
}
