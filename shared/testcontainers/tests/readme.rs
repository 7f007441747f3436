//! The README's example is `tests/example.rs`, word for word.

#[test]
fn the_readme_shows_the_example_test() {
    let readme = include_str!("../README.md");
    let example = include_str!("example.rs");
    assert!(
        readme.contains(example),
        "README.md must contain tests/example.rs verbatim (copy it into the README's example block)"
    );
}
