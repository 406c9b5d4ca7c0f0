//! The README's framework examples are the files under `examples/readme/`, which CI compiles:
//! each `<!-- file: PATH -->` marker must be followed by a code block equal to that file.

const README: &str = include_str!("../../README.md");

/// The code block right after `<!-- file: {path} -->`.
fn block_after_marker(path: &str) -> Option<&'static str> {
    let marker = format!("<!-- file: {path} -->\n");
    let after = &README[README.find(&marker)? + marker.len()..];
    let body = after.strip_prefix("```rust,no_run\n")?;
    body.find("\n```\n").map(|end| &body[..end + 1])
}

#[test]
fn framework_sections_embed_the_compiled_examples() {
    let sections = [
        (
            "### axum",
            "examples/readme/axum.rs",
            include_str!("../../examples/readme/axum.rs"),
        ),
        (
            "### hyper",
            "examples/readme/hyper.rs",
            include_str!("../../examples/readme/hyper.rs"),
        ),
        (
            "### tonic",
            "examples/readme/tonic.rs",
            include_str!("../../examples/readme/tonic.rs"),
        ),
        (
            "### any tower service",
            "examples/readme/tower.rs",
            include_str!("../../examples/readme/tower.rs"),
        ),
        (
            "### tower-http stacks",
            "examples/readme/tower_http.rs",
            include_str!("../../examples/readme/tower_http.rs"),
        ),
    ];
    let mut previous = 0;
    for (heading, path, source) in sections {
        let heading_at = README
            .find(&format!("\n{heading}\n"))
            .unwrap_or_else(|| panic!("README lacks the section {heading:?}"));
        let marker_at = README.find(&format!("<!-- file: {path} -->")).unwrap();
        assert!(
            previous < heading_at && heading_at < marker_at,
            "{path} belongs under {heading:?}"
        );
        previous = marker_at;
        let block =
            block_after_marker(path).unwrap_or_else(|| panic!("no rust block after the {path} marker"));
        assert_eq!(block, source, "README block for {path} differs from the file");
    }
}
