//! The complete programs shown in the README and in the guides (`src/docs/*.md`) are the files
//! under `examples/readme/`, which CI compiles: each `<!-- file: PATH -->` marker must be
//! followed by a Rust code block equal to that file, every file there must be shown somewhere,
//! and the framework sections must show the program of their framework.

use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const MARKER: &str = "<!-- file: ";

/// The README and every guide page, as (path relative to the crate root, text).
fn documents() -> Vec<(String, String)> {
    let mut documents = vec![("README.md".to_owned(), read("README.md"))];
    let mut guides: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("src/docs"))
        .expect("src/docs exists")
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".md"))
        .collect();
    guides.sort();
    for name in guides {
        let path = format!("src/docs/{name}");
        let text = read(&path);
        documents.push((path, text));
    }
    documents
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Every `(marked path, code block after the marker)` of `text`. The block must be a Rust block
/// (`rust` or `rust,no_run`) starting on the line after the marker.
fn marked_blocks(document: &str, text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(MARKER) {
        let after = &rest[start + MARKER.len()..];
        let (path, after) = after
            .split_once(" -->\n")
            .unwrap_or_else(|| panic!("{document}: unterminated file marker"));
        let body = after
            .strip_prefix("```rust\n")
            .or_else(|| after.strip_prefix("```rust,no_run\n"))
            .unwrap_or_else(|| panic!("{document}: no rust block right after the {path} marker"));
        let end = body
            .find("\n```\n")
            .unwrap_or_else(|| panic!("{document}: unterminated block after the {path} marker"));
        blocks.push((path.to_owned(), body[..end + 1].to_owned()));
        rest = &body[end..];
    }
    blocks
}

#[test]
fn every_marked_block_is_its_example_file() {
    let mut checked = 0;
    for (document, text) in documents() {
        for (path, block) in marked_blocks(&document, &text) {
            assert_eq!(
                block,
                read(&path),
                "{document}: the block for {path} differs from the file"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} marked blocks found");
}

#[test]
fn every_readme_example_is_shown() {
    let shown: BTreeSet<String> = documents()
        .iter()
        .flat_map(|(document, text)| marked_blocks(document, text))
        .map(|(path, _)| path)
        .collect();
    for entry in std::fs::read_dir(Path::new(ROOT).join("examples/readme")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let path = format!("examples/readme/{name}");
        assert!(
            shown.contains(&path),
            "{path} is shown neither in the README nor in a guide"
        );
    }
}

/// Each heading of `document`, in order, must be followed (before the next heading of the
/// list) by the marker of its program.
fn assert_sections_show(document: &str, sections: &[(&str, &str)]) {
    let text = read(document);
    let mut previous = 0;
    for (heading, path) in sections {
        let heading_at = text
            .find(&format!("\n{heading}\n"))
            .unwrap_or_else(|| panic!("{document} lacks the section {heading:?}"));
        let marker_at = text[heading_at..]
            .find(&format!("{MARKER}{path} -->"))
            .map(|offset| heading_at + offset)
            .unwrap_or_else(|| panic!("{document}: no {path} after {heading:?}"));
        assert!(previous < heading_at, "{document}: {heading:?} is out of order");
        previous = marker_at;
    }
}

#[test]
fn framework_sections_show_their_program() {
    assert_sections_show(
        "src/docs/frameworks.md",
        &[
            ("# axum", "examples/readme/axum.rs"),
            ("# hyper", "examples/readme/hyper.rs"),
            ("# tonic", "examples/readme/tonic.rs"),
            ("# Any tower service", "examples/readme/tower.rs"),
        ],
    );
    assert_sections_show(
        "src/docs/placement.md",
        &[("# In a tower-http stack", "examples/readme/tower_http.rs")],
    );
    assert_sections_show("README.md", &[("## Two lines", "examples/readme/axum.rs")]);
}

#[test]
fn the_marker_parser_finds_blocks() {
    let text = "x\n<!-- file: a.rs -->\n```rust\nfn a() {}\n```\n<!-- file: b.rs -->\n```rust,no_run\nfn b() {}\n```\n";
    assert_eq!(
        marked_blocks("t", text),
        [
            ("a.rs".to_owned(), "fn a() {}\n".to_owned()),
            ("b.rs".to_owned(), "fn b() {}\n".to_owned())
        ]
    );
}
