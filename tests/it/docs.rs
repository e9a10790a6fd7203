//! The docs that list what the code has must keep up with it: every stage kind in `KINDS` is in
//! docs/stages.md with its current impl version and in docs/dataset-yaml.md's kind list, and
//! ARCHITECTURE.md's code map names every source file, and only paths that exist.

use std::collections::BTreeSet;
use std::path::Path;

use mldatabuild::stages::KINDS;

fn repo(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// The text of `## heading` up to the next `## ` heading.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("no `## {heading}` section"));
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// A kind's `VERSION` constant, read from its module (`src/stages/<kind>.rs` or
/// `src/stages/<kind>/mod.rs`).
fn impl_version(kind: &str) -> u32 {
    let file = [
        format!("src/stages/{kind}.rs"),
        format!("src/stages/{kind}/mod.rs"),
    ]
    .into_iter()
    .find(|f| repo(f).is_file())
    .unwrap_or_else(|| panic!("no module for stage kind `{kind}`"));
    let text = read(&file);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("const VERSION: u32 = "))
        .unwrap_or_else(|| panic!("{file} has no `const VERSION: u32`"));
    line.trim()
        .trim_start_matches("const VERSION: u32 = ")
        .trim_end_matches(';')
        .parse()
        .unwrap_or_else(|e| panic!("{file}: {line}: {e}"))
}

/// The backticked strings of a piece of Markdown.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

#[test]
fn every_stage_kind_is_documented_with_its_impl_version() {
    let stages = read("docs/stages.md");
    for kind in KINDS {
        let row = stages
            .lines()
            .find(|l| l.starts_with(&format!("| `{kind}` |")))
            .unwrap_or_else(|| panic!("docs/stages.md has no table row for `{kind}`"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let version = impl_version(kind);
        assert_eq!(
            cells[2],
            version.to_string(),
            "docs/stages.md says `{kind}` is impl {}, its VERSION is {version}",
            cells[2]
        );
    }
    let rows = stages.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(rows, KINDS.len(), "docs/stages.md lists a kind KINDS lacks");

    let yaml = read("docs/dataset-yaml.md");
    let kind_row = yaml
        .lines()
        .find(|l| l.starts_with("| `kind` |"))
        .expect("docs/dataset-yaml.md has no `kind` row");
    let listed = kind_row.split('|').nth(4).unwrap();
    // The kinds that work come first, then the planned ones: a kind named after a planned one
    // is in the "planned" list (as `validate` once was).
    let planned_from = mldatabuild::stages::PLANNED_KINDS
        .iter()
        .map(|k| {
            listed.find(&format!("`{k}`")).unwrap_or_else(|| {
                panic!("docs/dataset-yaml.md's `kind` row should name the planned kind `{k}`")
            })
        })
        .min()
        .unwrap_or(listed.len());
    for kind in KINDS {
        let at = listed
            .find(&format!("`{kind}`"))
            .unwrap_or_else(|| panic!("docs/dataset-yaml.md's `kind` row lacks `{kind}`"));
        assert!(
            at < planned_from,
            "docs/dataset-yaml.md lists `{kind}` among the planned kinds: {kind_row}"
        );
        assert!(
            yaml.contains(&format!("\n## `{kind}`\n")),
            "docs/dataset-yaml.md has no `## `{kind}`` section"
        );
    }
}

/// Every source file the code map names: a row's first cell names files (`src/x.rs`,
/// `src/stages/{a,b}.rs`, or a bare `b.rs` after `src/stages/a.rs`) or a folder (`src/fetch/`),
/// and a folder's row names its files (`uri.rs`) in its description.
fn mapped_files(map: &str) -> (BTreeSet<String>, Vec<String>) {
    let mut files = BTreeSet::new();
    let mut named = Vec::new();
    for row in map.lines().filter(|l| l.starts_with("| `")) {
        let mut cells = row.splitn(3, " | ");
        let first = cells.next().unwrap().trim_start_matches("| ");
        let rest = cells.collect::<Vec<_>>().join(" | ");
        let mut dir = "";
        for span in code_spans(first) {
            let path = if span.contains('/') {
                dir = &span[..=span.rfind('/').unwrap()];
                span.to_owned()
            } else {
                format!("{dir}{span}")
            };
            named.push(path.clone());
            if let (Some(open), Some(close)) = (path.find('{'), path.find('}')) {
                for name in path[open + 1..close].split(',') {
                    files.insert(format!("{}{name}{}", &path[..open], &path[close + 1..]));
                }
            } else if path.ends_with('/') {
                for span in code_spans(&rest) {
                    let rust = Path::new(span).extension().is_some_and(|e| e == "rs");
                    if rust && !span.contains('/') {
                        files.insert(format!("{path}{span}"));
                    }
                }
            } else {
                files.insert(path);
            }
        }
    }
    (files, named)
}

#[test]
fn the_code_map_names_every_source_file_and_nothing_gone() {
    let arch = read("docs/ARCHITECTURE.md");
    let map = section(&arch, "Code map");
    let (mapped, named) = mapped_files(map);

    for path in named.iter().chain(&mapped) {
        if !path.contains('{') {
            assert!(
                repo(path).exists(),
                "ARCHITECTURE.md's code map names `{path}`, which does not exist"
            );
        }
    }

    let mut unmapped = Vec::new();
    for entry in walkdir::WalkDir::new(repo("src")) {
        let entry = entry.unwrap();
        if entry.path().extension().is_some_and(|e| e == "rs") {
            let rel = entry
                .path()
                .strip_prefix(repo(""))
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if !mapped.contains(&rel) {
                unmapped.push(rel);
            }
        }
    }
    assert!(
        unmapped.is_empty(),
        "ARCHITECTURE.md's code map does not name {unmapped:?}: add a row, or the file to its folder's row"
    );
}
