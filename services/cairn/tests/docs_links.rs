//! The documentation cites only what is in the repository: every relative link of the
//! README and docs/ resolves to a file inside it, and every path written in backticks
//! under a top-level folder of the repository exists.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("docs entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    docs
}

/// `[text](target)` targets that are not URLs or anchors.
fn relative_links(text: &str) -> Vec<&str> {
    text.match_indices("](")
        .filter_map(|(i, _)| {
            let rest = &text[i + 2..];
            let target = &rest[..rest.find(')')?];
            let target = target.split('#').next().unwrap_or("");
            let external = target.contains("://") || target.starts_with("mailto:");
            (!target.is_empty() && !external).then_some(target)
        })
        .collect()
}

/// Backticked paths that start with one of the repository's top-level folders.
fn cited_paths<'a>(text: &'a str, folders: &[String]) -> Vec<&'a str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| !span.contains(char::is_whitespace) && !span.contains(['*', '<', '{']))
        .filter(|span| {
            span.split_once('/')
                .is_some_and(|(first, _)| folders.iter().any(|f| f == first))
        })
        .collect()
}

#[test]
fn docs_cite_only_files_in_the_repository() {
    let root = repo();
    let folders: Vec<String> = std::fs::read_dir(&root)
        .expect("repository root")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && name != "target")
        .collect();
    let mut broken = Vec::new();
    for doc in documents(&root) {
        let text = std::fs::read_to_string(&doc).expect("read doc");
        let dir = doc.parent().expect("doc dir");
        for link in relative_links(&text) {
            let resolved = dir.join(link).canonicalize();
            match resolved {
                Ok(path) if path.starts_with(&root) => {}
                _ => broken.push(format!("{}: link {link}", doc.display())),
            }
        }
        for cited in cited_paths(&text, &folders) {
            if !root.join(cited).exists() {
                broken.push(format!("{}: path {cited}", doc.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "citations of files not in the repository: {broken:#?}"
    );
}
