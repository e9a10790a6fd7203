//! Property and fuzz tests of the spec loader and resolver, run in-process (no binary, no files).
//!
//! - Robustness: arbitrary text, mutated valid specs and random spec graphs never panic, and
//!   every error has a message and, when it points at the text, a `dataset.yaml:L:C` position
//!   that lies inside the text (and renders through miette like the CLI does).
//! - Positions: an error after multi-byte text still points at the right line and column.
//! - Canonical keys: the order of YAML mapping keys (and block vs flow style) never changes a
//!   stage's params or action key.
//! - Bombs: alias expansion and deep nesting are refused quickly with a message naming the limit.
//!
//! Case counts keep the whole file around a second; `MLDATABUILD_FUZZ_SCALE=100` multiplies them
//! for a longer local run. Inputs that found bugs are kept as `bug_*` tests at the end (ignored
//! until fixed). For coverage-guided fuzzing of the same code, see fuzz/README.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mldatabuild::fingerprint::action_key;
use mldatabuild::spec::load::parse;
use mldatabuild::spec::resolve::resolve;
use mldatabuild::spec::{NodeKind, Project, SourceFile, SpecError};
use proptest::prelude::*;
use proptest::sample::{Index, select};

const NAME: &str = "dataset.yaml";

/// `n` cases, or `n` times `MLDATABUILD_FUZZ_SCALE` (e.g. `MLDATABUILD_FUZZ_SCALE=100`) for a
/// longer local run.
pub(crate) fn cases(n: u32) -> ProptestConfig {
    let scale = std::env::var("MLDATABUILD_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1);
    ProptestConfig::with_cases(n.saturating_mul(scale.max(1)))
}

/// A valid spec using most keys: the seed of the mutation fuzzer.
const VALID: &str = "\
# yaml-language-server: $schema=../../schemas/dataset.schema.json
name: reviews-sentiment
version: 1.0.0
description: Product reviews with sentiment labels, from a small local CSV.
output: out/reviews

sources:
  reviews:
    uri: data/reviews.csv
  extra:
    uri: data/more
    files: [\"*.csv\", \"**/*.jsonl\"]

stages:
  clean:
    kind: normalize
    input: reviews
    description: keep three columns
    columns:
      id: {type: int64}
      text: {from: review_body, type: string}
      label: {type: int64}
    drop_nulls: [text]
    format: csv
  splits:
    kind: split
    input: clean
    output: splits
    ratios: {train: 0.8, validation: 0.1, test: 0.1}
    seed: 42
    matrix:
      seed: [1, 2, 3]
  again:
    kind: split
    input: splits[seed=2]
    output: again
    ratios:
      a: 0.5
      b: 0.5
    seed: 7
";

/// Parse and resolve `text` as `dataset.yaml`, exactly as the CLI does (minus reading the file).
fn load(text: &str) -> Result<Project, SpecError> {
    let file = SourceFile::new(NAME, text);
    let spec = parse(&file)?;
    resolve(
        &file,
        spec,
        PathBuf::from("/nonexistent/project"),
        NAME.into(),
    )
}

/// What every error must satisfy: a message, a position inside the text when it has labels,
/// and a rendering that does not panic.
fn check_error(text: &str, err: SpecError) -> Result<(), TestCaseError> {
    let msg = err.to_string();
    prop_assert!(!msg.trim().is_empty(), "empty error message for {text:?}");
    if !err.labels.is_empty() {
        let pos = err.position();
        prop_assert!(pos.is_some(), "error with labels but no position: {msg}");
        let pos = pos.unwrap_or_default();
        prop_assert!(
            pos.starts_with("dataset.yaml:"),
            "position {pos:?} does not name the file"
        );
        prop_assert!(
            msg.starts_with(&pos),
            "message {msg:?} does not start with its position {pos:?}"
        );
        let mut parts = pos["dataset.yaml:".len()..].split(':');
        let line: usize = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
        let col: usize = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        // Lines end at `\n`, `\r\n` or a lone `\r`, as YAML counts them.
        let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        let lines = normalized.split('\n').count();
        prop_assert!(
            line >= 1 && line <= lines,
            "line {line} outside 1..={lines}: {msg}"
        );
        let line_chars = normalized
            .split('\n')
            .nth(line - 1)
            .map_or(0, |l| l.chars().count());
        prop_assert!(
            col >= 1 && col <= line_chars + 1,
            "column {col} outside line {line} ({line_chars} chars): {msg}"
        );
        for (start, len, _) in &err.labels {
            // A label may sit just past the last character (an error at the end of input).
            prop_assert!(
                *start <= text.len() && *len <= text.len() + 1 - start,
                "label {start}+{len} past the end ({}): {msg}",
                text.len()
            );
            prop_assert!(
                text.is_char_boundary(*start),
                "label start {start} inside a character: {msg}"
            );
        }
    }
    let rendered = mldatabuild::error::Error::from(err).render();
    prop_assert!(
        rendered.starts_with("error: "),
        "bad rendering {rendered:?}"
    );
    Ok(())
}

/// Load `text` and check the result: no panic (the test harness reports one), errors well formed,
/// and a resolved project consistent with itself.
fn check_load(text: &str) -> Result<(), TestCaseError> {
    match load(text) {
        Err(err) => check_error(text, err),
        Ok(project) => check_project(&project),
    }
}

fn check_project(project: &Project) -> Result<(), TestCaseError> {
    let mut names = std::collections::BTreeSet::new();
    for (i, node) in project.nodes.iter().enumerate() {
        prop_assert!(
            names.insert(node.name.as_str()),
            "node name `{}` twice",
            node.name
        );
        for &inp in &node.inputs {
            prop_assert!(
                inp < i,
                "node `{}` reads node {inp}, which comes after it",
                node.name
            );
        }
        if let NodeKind::Stage(stage) = &node.kind {
            prop_assert!(
                !node.output.is_empty(),
                "stage `{}` has no output folder",
                node.name
            );
            // The canonical params rebuild the same stage (as a lockfile would).
            let rebuilt = mldatabuild::stages::build(stage.kind(), &stage.params());
            prop_assert!(
                rebuilt.is_ok(),
                "params of `{}` do not rebuild: {:?}",
                node.name,
                rebuilt.err()
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (a) Robustness: arbitrary text and mutations of a valid spec.

/// Characters that mean something to YAML, plus awkward Unicode.
const CHARS: &[char] = &[
    ':', '-', ' ', '\n', '\t', '{', '}', '[', ']', ',', '&', '*', '!', '|', '>', '#', '"', '\'',
    '%', '@', '`', '?', '<', '\\', '\r', '\0', '\u{feff}', '\u{85}', '\u{2028}', 'é', '日', '🦀',
    '\u{301}', 'a', '0',
];

/// Replacement scalars: types, huge numbers, special floats, tags, aliases, Unicode.
const VALUES: &[&str] = &[
    "",
    "~",
    "null",
    "true",
    "-1",
    "0",
    "1e308",
    "1e309",
    "-1e400",
    ".nan",
    ".inf",
    "-.inf",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "340282366920938463463374607431768211456",
    "99999999999999999999999999999999999999999999999999999999999999999999999999999999",
    "0.99999999999999999999999999999",
    "1e-400",
    "0x2a",
    "0o17",
    "1_000",
    "!!binary aGVsbG8=",
    "!!str 5",
    "!!int x",
    "!!float 1",
    "!custom x",
    "!<tag:yaml.org,2002:str> x",
    "[]",
    "{}",
    "[1, many]",
    "{a: 1, a: 2}",
    "*a",
    "&a x",
    "&a [x, *a]",
    "*undefined",
    "|\n  block\n  text",
    ">-\n  folded",
    "\"\\uD800\"",
    "\"\\x00\\u0000\"",
    "\"\\U0010FFFF\"",
    "'quoted ''twice'''",
    "é",
    "日本語",
    "🦀🦀",
    "a\u{301}",
    "\u{202e}evil",
    "0.5",
    "1.0.0",
    "clean",
    "reviews",
    "splits[seed=2]",
    "splits[seed=9]",
    "clean[",
    "normalize",
    "split",
    "tokenize",
    "../up",
    "/abs",
    "a//b",
    "c:/x",
];

/// Whole lines to insert: directives, document markers, merge keys, complex keys, anchors.
const LINES: &[&str] = &[
    "<<: *a",
    "<<: [*a, *a]",
    "? complex key",
    ": value",
    "? [a, b]\n: c",
    "---",
    "...",
    "--- !!map",
    "%YAML 1.2",
    "%YAML 1.1",
    "%TAG ! tag:example.com,2000:",
    "x: &a {seed: 1}",
    "anchor: &a [1, 2, 3]",
    "stages: *a",
    "sources: &a",
    "- item",
    "  extra: 1",
    "      seed: [1, 2]",
    "    matrix: {seed: [1, 2], ratios: [{a: 0.5, b: 0.5}]}",
    "    matrix: {}",
    "    output: clean",
    "  loop: {kind: split, input: loop, seed: 1}",
    "  cyc: {kind: normalize, input: again}",
    "\t\ttabbed: 1",
    "# comment 🦀",
    "name: other",
    "\u{feff}",
    "'unterminated: \"x",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteChar(Index),
    InsertChar(Index, char),
    ReplaceChar(Index, char),
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    InsertLine(Index, &'static str),
    Indent(Index, usize),
    Dedent(Index),
    TabIndent(Index),
    ReplaceValue(Index, &'static str),
    Anchor(Index),
    Alias(Index),
    Nest(Index, usize, bool),
    Unicode(Index, Index, String),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let ch = select(CHARS);
    prop_oneof![
        1 => any::<Index>().prop_map(Mutation::DeleteChar),
        1 => (any::<Index>(), ch.clone()).prop_map(|(i, c)| Mutation::InsertChar(i, c)),
        1 => (any::<Index>(), ch).prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
        1 => any::<Index>().prop_map(Mutation::DeleteLine),
        1 => any::<Index>().prop_map(Mutation::DuplicateLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => (any::<Index>(), select(LINES)).prop_map(|(i, l)| Mutation::InsertLine(i, l)),
        1 => (any::<Index>(), 1..6usize).prop_map(|(i, n)| Mutation::Indent(i, n)),
        1 => any::<Index>().prop_map(Mutation::Dedent),
        1 => any::<Index>().prop_map(Mutation::TabIndent),
        3 => (any::<Index>(), select(VALUES)).prop_map(|(i, v)| Mutation::ReplaceValue(i, v)),
        1 => any::<Index>().prop_map(Mutation::Anchor),
        1 => any::<Index>().prop_map(Mutation::Alias),
        1 => (any::<Index>(), 1..80usize, any::<bool>()).prop_map(|(i, d, flow)| Mutation::Nest(i, d, flow)),
        1 => (any::<Index>(), any::<Index>(), "\\PC{1,8}").prop_map(|(i, at, s)| Mutation::Unicode(i, at, s)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// Byte offset of the `at`-th character boundary of `text` (including the end).
fn boundary(text: &str, at: Index) -> usize {
    let count = text.chars().count() + 1;
    text.char_indices()
        .map(|(offset, _)| offset)
        .chain(std::iter::once(text.len()))
        .nth(at.index(count))
        .unwrap_or(text.len())
}

/// Replace the value of `line` (the text after its first `: `, or after `- `), or append one.
fn with_value(line: &str, value: &str) -> String {
    if let Some(colon) = line.find(": ") {
        format!("{}: {value}", &line[..colon])
    } else if let Some(stripped) = line.strip_suffix(':') {
        format!("{stripped}: {value}")
    } else if let Some(dash) = line.find("- ") {
        format!("{}- {value}", &line[..dash])
    } else {
        format!("{line} {value}")
    }
}

/// `depth` levels of nesting: a flow sequence, or block mappings indented below `indent`.
fn nested(depth: usize, flow: bool, indent: usize) -> String {
    if flow {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    } else {
        let mut out = String::new();
        for level in 0..depth {
            let _ = write!(out, "\n{}k{level}:", " ".repeat(indent + 2 * (level + 1)));
        }
        out.push_str(" 1");
        out
    }
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut out = text.to_owned();
    match mutation {
        Mutation::DeleteChar(at) => {
            let pos = boundary(&out, *at);
            if pos < out.len() {
                out.remove(pos);
            }
        }
        Mutation::InsertChar(at, ch) => out.insert(boundary(&out, *at), *ch),
        Mutation::ReplaceChar(at, ch) => {
            let pos = boundary(&out, *at);
            if pos < out.len() {
                out.remove(pos);
            }
            out.insert(pos, *ch);
        }
        Mutation::Truncate(at) => out.truncate(boundary(text, *at)),
        line_level => return apply_to_lines(text, line_level),
    }
    out
}

fn apply_to_lines(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let count = lines.len();
    let pick = |at: &Index| at.index(count);
    match mutation {
        Mutation::DeleteLine(at) => {
            lines.remove(pick(at));
        }
        Mutation::DuplicateLine(at) => lines.insert(pick(at), lines[pick(at)].clone()),
        Mutation::SwapLines(first, second) => lines.swap(pick(first), pick(second)),
        Mutation::InsertLine(at, line) => lines.insert(at.index(count + 1), (*line).to_owned()),
        Mutation::Indent(at, spaces) => lines[pick(at)].insert_str(0, &" ".repeat(*spaces)),
        Mutation::Dedent(at) => {
            let line = &mut lines[pick(at)];
            *line = line
                .strip_prefix("  ")
                .unwrap_or(line.trim_start())
                .to_owned();
        }
        Mutation::TabIndent(at) => {
            let line = &mut lines[pick(at)];
            let indent = line.len() - line.trim_start_matches(' ').len();
            *line = format!("{}{}", "\t".repeat(indent.div_ceil(2)), &line[indent..]);
        }
        Mutation::ReplaceValue(at, value) => {
            let line = &mut lines[pick(at)];
            *line = with_value(line, value);
        }
        Mutation::Anchor(at) => {
            let line = &mut lines[pick(at)];
            *line = match line.find(": ") {
                Some(colon) => format!("{}: &a {}", &line[..colon], &line[colon + 2..]),
                None => format!("{line} &a"),
            };
        }
        Mutation::Alias(at) => {
            let line = &mut lines[pick(at)];
            *line = with_value(line, "*a");
        }
        Mutation::Nest(at, depth, flow) => {
            let line = &mut lines[pick(at)];
            let indent = line.len() - line.trim_start().len();
            let value = nested(*depth, *flow, indent);
            *line = match line.find(':') {
                Some(colon) if !*flow => format!("{}:{value}", &line[..colon]),
                _ => with_value(line, &value),
            };
        }
        Mutation::Unicode(at, within, insert) => {
            let line = &mut lines[pick(at)];
            let pos = boundary(line, *within);
            line.insert_str(pos, insert);
        }
        Mutation::DeleteChar(_)
        | Mutation::InsertChar(..)
        | Mutation::ReplaceChar(..)
        | Mutation::Truncate(_) => {
            return apply(text, mutation);
        }
    }
    lines.join("\n")
}

#[test]
fn valid_seed_spec_loads() {
    let project = load(VALID).unwrap_or_else(|e| panic!("the seed spec must load: {e}"));
    let names: Vec<&str> = project.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "extra",
            "reviews",
            "clean",
            "splits[seed=1]",
            "splits[seed=2]",
            "splits[seed=3]",
            "again[seed=2]"
        ]
    );
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check_load(&text)?;
    }

    #[test]
    fn yaml_like_text_never_panics(text in "[a-z0-9 :\\-\\[\\]{},&*!|>#'\"\\n\\t.~?<%@é🦀]{0,300}") {
        check_load(&text)?;
    }

    #[test]
    fn yaml_like_prefix_never_panics(
        prefix in "(name: demo\nversion: 1.0.0\n)?(stages:\n  s: \\{kind: split, )?",
        body in "[a-z0-9 :\\-\\[\\]{},&*!|>#'\"\\n.]{0,120}",
    ) {
        check_load(&format!("{prefix}{body}"))?;
    }
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn mutated_spec_never_panics(mutations in prop::collection::vec(mutation(), 1..6)) {
        let mut text = VALID.to_owned();
        for m in &mutations {
            text = apply(&text, m);
        }
        check_load(&text)?;
    }
}

// ---------------------------------------------------------------------------------------------
// (a') Random spec graphs: names, inputs, kinds, matrices and outputs drawn from small pools so
// that cycles, duplicates, unknown inputs, matrix members and output overlaps all come up.

const NAMES: &[&str] = &["raw", "clean", "splits", "a", "b", "bad name", "é"];
const OUTPUTS: &[&str] = &[
    "clean",
    "clean/more",
    "splits",
    "x",
    "../x",
    "/abs",
    "a//b",
    ".",
    "c:d",
    "out/",
];
const MATRIX: &[&str] = &[
    "seed: [1, 2]",
    "seed: [1, 1]",
    "seed: []",
    "seed: [1, x]",
    "sead: [1]",
    "format: [csv, tsv]",
    "format: [csv, xml]",
    "drop_nulls: [[a], [b]]",
    "ratios: [{a: 0.5, b: 0.5}, {a: 0.2, b: 0.8}]",
    "ratios: [{a: 2, b: -1}]",
    "columns: [{x: {type: int64}}, {}]",
    "{}",
];

#[derive(Debug, Clone)]
struct RandomStage {
    name: &'static str,
    split: bool,
    input: String,
    output: Option<&'static str>,
    matrix: Option<&'static str>,
}

fn random_stage() -> impl Strategy<Value = RandomStage> {
    (
        select(NAMES),
        any::<bool>(),
        (
            select(NAMES),
            prop::option::of(select(
                &["[seed=1]", "[seed=3]", "[format=csv]", "[", "[]"][..],
            )),
        ),
        prop::option::of(select(OUTPUTS)),
        prop::option::of(select(MATRIX)),
    )
        .prop_map(
            |(name, split, (input, member), output, matrix)| RandomStage {
                name,
                split,
                input: format!("{input}{}", member.unwrap_or("")),
                output,
                matrix,
            },
        )
}

fn render_random(sources: &[&str], stages: &[RandomStage]) -> String {
    let mut s = String::from("name: demo\nversion: 1.0.0\nsources:\n");
    for src in sources {
        let _ = writeln!(s, "  {src:?}: {{uri: data.csv}}");
    }
    s.push_str("stages:\n");
    for st in stages {
        let _ = writeln!(s, "  {:?}:", st.name);
        let _ = writeln!(
            s,
            "    kind: {}",
            if st.split { "split" } else { "normalize" }
        );
        let _ = writeln!(s, "    input: {:?}", st.input);
        if st.split {
            s.push_str("    seed: 1\n");
        }
        if let Some(o) = st.output {
            let _ = writeln!(s, "    output: {o:?}");
        }
        if let Some(m) = st.matrix {
            let _ = writeln!(s, "    matrix: {{{m}}}");
        }
    }
    s
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn random_spec_graphs_never_panic(
        sources in prop::collection::vec(select(NAMES), 0..3),
        stages in prop::collection::vec(random_stage(), 0..5),
    ) {
        check_load(&render_random(&sources, &stages))?;
    }
}

// ---------------------------------------------------------------------------------------------
// (a'') Positions stay right after multi-byte text.

/// `dataset.yaml:L:C` of the last occurrence of `needle` in `text` (1-based, in characters).
fn position_of(text: &str, needle: &str) -> Option<String> {
    let at = text.rfind(needle)?;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some(format!("{NAME}:{line}:{col}"))
}

proptest! {
    #![proptest_config(cases(128))]

    /// An unknown key (a YAML error) and an unknown input (a resolver error), each after
    /// arbitrary multi-byte text on earlier lines and on their own line, are reported at their
    /// own line and column.
    #[test]
    fn positions_count_characters(desc in "[^\\p{C}\\s'\\\\]{1,20}", pad in "[^\\p{C}\\s'\\\\]{0,5}") {
        let head = format!("name: demo\nversion: 1.0.0\ndescription: '{desc}'\nsources:\n  raw: {{uri: data.csv}}\n");
        let text = format!("{head}bogus: 1\n");
        let err = load(&text).err();
        prop_assert!(err.is_some(), "unknown key accepted");
        let err = err.unwrap_or_else(|| SpecError::new(""));
        prop_assert_eq!(err.position(), position_of(&text, "bogus"), "{}", err);
        check_error(&text, err)?;

        let text = format!("{head}stages:\n  s: {{description: '{pad}', kind: normalize, input: xx}}\n");
        let err = load(&text).err();
        prop_assert!(err.is_some(), "unknown input accepted");
        let err = err.unwrap_or_else(|| SpecError::new(""));
        prop_assert_eq!(err.position(), position_of(&text, "xx"), "{}", err);
        check_error(&text, err)?;

        let text = format!("{head}stages:\n  s: {{description: '{pad}', kind: split, input: raw, seed: -1}}\n");
        let err = load(&text).err();
        prop_assert!(err.is_some(), "negative seed accepted");
        let err = err.unwrap_or_else(|| SpecError::new(""));
        prop_assert_eq!(err.position(), position_of(&text, "-1"), "{}", err);
        check_error(&text, err)?;
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Mapping key order (and block/flow style) never changes params or action keys.

const COLUMN_NAMES: &[&str] = &["id", "text", "label", "score", "when", "flag"];
const TYPES: &[&str] = &[
    "string", "int64", "int32", "float64", "float32", "bool", "date",
];
const RATIO_SETS: &[&[&str]] = &[
    &["0.8", "0.1", "0.1"],
    &["0.5", "0.5"],
    &["0.7", "0.2", "0.1"],
    &["0.6", "0.2", "0.1", "0.1"],
    &["0.25", "0.25", "0.25", "0.25"],
    &["0.9", "0.1"],
];
const SPLIT_NAMES: &[&str] = &["train", "validation", "test", "dev", "holdout"];

/// A spec template with a normalize and a split stage; every value is fixed, only the layout
/// (key order, style) is left to [`Layout`].
#[derive(Debug, Clone)]
struct Template {
    columns: Vec<(&'static str, Option<&'static str>, Option<&'static str>)>,
    drop_nulls: Vec<&'static str>,
    format: Option<&'static str>,
    ratios: Vec<(&'static str, &'static str)>,
    seed: u64,
    seed_matrix: Option<Vec<u64>>,
    descriptions: bool,
}

fn template() -> impl Strategy<Value = Template> {
    (
        prop::collection::btree_map(
            select(COLUMN_NAMES),
            (
                prop::option::of(select(COLUMN_NAMES)),
                prop::option::of(select(TYPES)),
            ),
            1..5,
        ),
        prop::collection::vec(select(COLUMN_NAMES), 0..3),
        prop::option::of(select(&["auto", "csv", "tsv", "jsonl", "parquet"][..])),
        (
            select(RATIO_SETS),
            Just(SPLIT_NAMES.to_vec()).prop_shuffle(),
        ),
        any::<u64>(),
        prop::option::of(prop::collection::btree_set(any::<u64>(), 1..4)),
        any::<bool>(),
    )
        .prop_map(
            |(columns, drop_nulls, format, (ratios, names), seed, seed_matrix, descriptions)| {
                Template {
                    columns: columns
                        .into_iter()
                        .map(|(k, (from, ty))| (k, from, ty))
                        .collect(),
                    drop_nulls,
                    format,
                    ratios: names.into_iter().zip(ratios.iter().copied()).collect(),
                    seed,
                    seed_matrix: seed_matrix.map(|s| s.into_iter().collect()),
                    descriptions,
                }
            },
        )
}

/// How to write the template: a sort key per mapping entry, and block or flow per mapping.
#[derive(Debug, Clone)]
struct Layout {
    order: Vec<u32>,
    flow: Vec<bool>,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        prop::collection::vec(any::<u32>(), 64),
        prop::collection::vec(any::<bool>(), 16),
    )
        .prop_map(|(order, flow)| Layout { order, flow })
}

/// A YAML value to render: a scalar (already YAML text), a sequence or a mapping.
enum Yaml {
    Scalar(String),
    Seq(Vec<String>),
    Map(Vec<(String, Yaml)>),
}

fn scalar(s: impl Into<String>) -> Yaml {
    Yaml::Scalar(s.into())
}

struct Renderer<'a> {
    layout: &'a Layout,
    next_order: usize,
    next_flow: usize,
}

impl Renderer<'_> {
    fn shuffled(&mut self, entries: Vec<(String, Yaml)>) -> Vec<(String, Yaml)> {
        let mut keyed: Vec<(u32, usize, (String, Yaml))> = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let k = self.layout.order[self.next_order % self.layout.order.len()];
                self.next_order += 1;
                (k, i, e)
            })
            .collect();
        keyed.sort_by_key(|(k, i, _)| (*k, *i));
        keyed.into_iter().map(|(_, _, e)| e).collect()
    }

    fn flow(&mut self) -> bool {
        let f = self.layout.flow[self.next_flow % self.layout.flow.len()];
        self.next_flow += 1;
        f
    }

    fn inline(&mut self, v: Yaml) -> String {
        match v {
            Yaml::Scalar(s) => s,
            Yaml::Seq(items) => format!("[{}]", items.join(", ")),
            Yaml::Map(entries) => {
                let parts: Vec<String> = self
                    .shuffled(entries)
                    .into_iter()
                    .map(|(k, v)| format!("{k}: {}", self.inline(v)))
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
        }
    }

    fn block(&mut self, out: &mut String, indent: usize, entries: Vec<(String, Yaml)>) {
        for (k, v) in self.shuffled(entries) {
            let pad = " ".repeat(indent);
            match v {
                Yaml::Map(inner) if !inner.is_empty() && !self.flow() => {
                    let _ = writeln!(out, "{pad}{k}:");
                    self.block(out, indent + 2, inner);
                }
                other => {
                    let _ = writeln!(out, "{pad}{k}: {}", self.inline(other));
                }
            }
        }
    }
}

fn render_template(t: &Template, layout: &Layout) -> String {
    let columns = t
        .columns
        .iter()
        .map(|(name, from, ty)| {
            let mut spec = Vec::new();
            if let Some(f) = from {
                spec.push(("from".to_owned(), scalar(*f)));
            }
            if let Some(ty) = ty {
                spec.push(("type".to_owned(), scalar(*ty)));
            }
            ((*name).to_owned(), Yaml::Map(spec))
        })
        .collect();
    let mut clean = vec![
        ("kind".to_owned(), scalar("normalize")),
        ("input".to_owned(), scalar("raw")),
        ("columns".to_owned(), Yaml::Map(columns)),
        (
            "drop_nulls".to_owned(),
            Yaml::Seq(t.drop_nulls.iter().map(|s| (*s).to_owned()).collect()),
        ),
    ];
    if let Some(f) = t.format {
        clean.push(("format".to_owned(), scalar(f)));
    }
    let mut splits = vec![
        ("kind".to_owned(), scalar("split")),
        ("input".to_owned(), scalar("clean")),
        (
            "ratios".to_owned(),
            Yaml::Map(
                t.ratios
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), scalar(*v)))
                    .collect(),
            ),
        ),
        ("seed".to_owned(), scalar(t.seed.to_string())),
    ];
    if let Some(seeds) = &t.seed_matrix {
        let values = seeds.iter().map(u64::to_string).collect();
        splits.push((
            "matrix".to_owned(),
            Yaml::Map(vec![("seed".to_owned(), Yaml::Seq(values))]),
        ));
    }
    if t.descriptions {
        clean.push(("description".to_owned(), scalar("'the clean table'")));
        splits.push(("description".to_owned(), scalar("three splits")));
    }
    let mut top = vec![
        ("name".to_owned(), scalar("demo")),
        ("version".to_owned(), scalar("1.2.3")),
        (
            "sources".to_owned(),
            Yaml::Map(vec![
                (
                    "raw".to_owned(),
                    Yaml::Map(vec![("uri".to_owned(), scalar("data.csv"))]),
                ),
                (
                    "other".to_owned(),
                    Yaml::Map(vec![("uri".to_owned(), scalar("more/"))]),
                ),
            ]),
        ),
        (
            "stages".to_owned(),
            Yaml::Map(vec![
                ("clean".to_owned(), Yaml::Map(clean)),
                ("splits".to_owned(), Yaml::Map(splits)),
            ]),
        ),
    ];
    if t.descriptions {
        top.push(("description".to_owned(), scalar("a dataset")));
    }
    let mut out = String::new();
    Renderer {
        layout,
        next_order: 0,
        next_flow: 0,
    }
    .block(&mut out, 0, top);
    out
}

/// Node name → (canonical params JSON, action key) of every stage.
fn action_keys(text: &str) -> Result<BTreeMap<String, (String, String)>, TestCaseError> {
    let project = load(text).map_err(|e| TestCaseError::fail(format!("{e}\n--- spec\n{text}")))?;
    let mut keys = BTreeMap::new();
    for node in &project.nodes {
        if let NodeKind::Stage(stage) = &node.kind {
            let params = stage.params();
            let key = action_key(stage.kind(), stage.version(), &params, &[]);
            let json =
                serde_json::to_string(&params).map_err(|e| TestCaseError::fail(e.to_string()))?;
            keys.insert(node.name.clone(), (json, key));
        }
    }
    Ok(keys)
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn key_order_does_not_change_action_keys(t in template(), a in layout(), b in layout()) {
        let text_a = render_template(&t, &a);
        let text_b = render_template(&t, &b);
        let keys_a = action_keys(&text_a)?;
        let keys_b = action_keys(&text_b)?;
        let stages = 1 + t.seed_matrix.as_ref().map_or(1, Vec::len);
        prop_assert_eq!(keys_a.len(), stages, "stage count\n--- spec\n{}", text_a);
        prop_assert_eq!(&keys_a, &keys_b, "\n--- spec a\n{}\n--- spec b\n{}", text_a, text_b);
        // And the params are what the template says, whatever the layout.
        let (clean, _) = &keys_a["clean"];
        let params: serde_json::Value = serde_json::from_str(clean).unwrap_or_default();
        let columns = params["columns"].as_object().map(|c| c.keys().cloned().collect::<Vec<_>>());
        let expected: Vec<String> = t.columns.iter().map(|(n, _, _)| (*n).to_owned()).collect();
        prop_assert_eq!(columns, Some(expected));
    }
}

// ---------------------------------------------------------------------------------------------
// (c) YAML bombs are refused, quickly, with a message about the limit.

/// Where to hide a bomb: a top-level key, `description`, a stage's `columns`, a matrix.
const PLACES: &[&str] = &["top", "description", "columns", "matrix", "sources"];

fn bomb_spec(place: &str, payload: &str) -> String {
    let base = "name: demo\nversion: 1.0.0\n";
    match place {
        "top" => format!("{base}bomb: {payload}"),
        "description" => format!("{base}description: {payload}"),
        "sources" => format!("{base}sources:\n  raw:\n    uri: data.csv\n    files: {payload}"),
        "columns" => format!(
            "{base}sources: {{raw: {{uri: d.csv}}}}\nstages:\n  s:\n    kind: normalize\n    input: raw\n    columns: {payload}"
        ),
        _ => format!(
            "{base}sources: {{raw: {{uri: d.csv}}}}\nstages:\n  s:\n    kind: split\n    input: raw\n    seed: 1\n    matrix:\n      seed: {payload}"
        ),
    }
}

/// Billion laughs: `depth` levels of sequences, each holding `width` aliases of the level below,
/// written as one flow sequence so it fits at any indentation.
fn laughs(width: usize, depth: usize, merge: bool) -> String {
    let mut levels = vec![format!("&l0 [{}]", ["\"lol\""; 10].join(", "))];
    for d in 1..=depth {
        levels.push(format!(
            "&l{d} [{}]",
            vec![format!("*l{}", d - 1); width].join(", ")
        ));
    }
    if merge {
        levels.push(format!("{{<<: *l{depth}}}"));
    }
    format!("[{}]", levels.join(", "))
}

fn deep(depth: usize, style: u8) -> String {
    match style {
        0 => format!("{}x{}", "[".repeat(depth), "]".repeat(depth)),
        1 => format!("{}x{}", "{a: ".repeat(depth), "}".repeat(depth)),
        2 => {
            let mut s = String::new();
            for d in 0..depth {
                let _ = write!(s, "\n{}k:", " ".repeat(8 + 2 * d));
            }
            s.push_str(" x");
            s
        }
        _ => {
            let mut s = String::from("\n        ");
            for _ in 0..depth {
                s.push_str("- ");
            }
            s.push('x');
            s
        }
    }
}

/// Words by which a message names the YAML budget it hit.
const LIMIT_WORDS: &[&str] = &[
    "deeper than",
    "too deeply nested",
    "expand too far",
    "too large",
    "limit",
];

/// Refused within a second, by the loader's own limit message (not the catch-all "invalid YAML").
fn check_refused(text: &str) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let result = load(text);
    let took = started.elapsed();
    prop_assert!(
        took < Duration::from_secs(1),
        "took {took:?}\n--- spec\n{text}"
    );
    let Err(err) = result else {
        return Err(TestCaseError::fail(format!(
            "bomb accepted\n--- spec\n{text}"
        )));
    };
    let msg = err.to_string();
    let lower = msg.to_lowercase();
    prop_assert!(
        LIMIT_WORDS.iter().any(|w| lower.contains(w)) && !err.message.starts_with("invalid YAML"),
        "message does not mention the limit: {msg}\n--- spec\n{text}"
    );
    check_error(text, err)
}

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn alias_bombs_are_refused(place in select(PLACES), width in 4..=10usize, depth in 9..=12usize, merge in any::<bool>()) {
        check_refused(&bomb_spec(place, &laughs(width, depth, merge)))?;
    }

    #[test]
    fn deep_nesting_is_refused(place in select(PLACES), depth in 40..=120usize, style in 0..4u8) {
        check_refused(&bomb_spec(place, &deep(depth, style)))?;
    }
}

#[test]
fn billion_laughs_and_hundred_deep_nesting_are_refused() {
    for place in PLACES {
        for text in [
            bomb_spec(place, &laughs(10, 9, false)),
            bomb_spec(place, &deep(100, 0)),
        ] {
            if let Err(e) = check_refused(&text) {
                panic!("{e}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bugs found by the tests above, reduced to their smallest input. Each is ignored until fixed:
// run them with `cargo test --test it fuzz::bug_ -- --ignored`, and drop the `#[ignore]` with
// the fix.

/// BUG: errors met while replaying an alias are misreported. serde-saphyr wraps them in
/// `Error::AliasError { error, .. }` (and `WithSnippet`), which `map_yaml_error` does not unwrap
/// (match on the innermost error: `std::error::Error::source` walks down to it); it only
/// recognises alias trouble by the word "alias" in the text. So:
/// - a wrong type behind an alias is "invalid YAML: expected string scalar" (for a `seed`!),
///   with the hint "check the indentation and quoting around this line";
/// - an unknown key behind an alias is "invalid YAML: unknown field `bogus`, expected one of …"
///   instead of "unknown key `bogus`" with its did-you-mean;
/// - an undefined alias (`*undefined`) is "the spec's YAML aliases expand too far (a YAML
///   bomb?)", with the bomb hint.
#[test]
fn bug_alias_errors_are_misreported() {
    let head = "name: demo\nversion: 1.0.0\nsources: {raw: {uri: d.csv}}\nstages:\n";
    let anchor = "  s: {kind: split, input: raw, seed: 1, matrix: {seed: &v [1, 2]}}\n";
    let cases = [
        (
            format!("{head}{anchor}  t: {{kind: split, input: raw, output: t, seed: *v}}\n"),
            "wrong type",
        ),
        (
            format!(
                "{head}  s: {{kind: split, input: raw, seed: 1, matrix: {{seed: [&x {{kind: split, input: raw, seed: 2, bogus: 1}}]}}}}\n  t: *x\n"
            ),
            "unknown key `bogus`",
        ),
        (
            format!("{head}  s: {{kind: split, input: raw, seed: 1, description: *undefined}}\n"),
            "undefined",
        ),
    ];
    for (text, expected) in cases {
        let err = load(&text)
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"));
        let msg = err.to_string();
        assert!(
            msg.contains(expected),
            "expected {expected:?} in {msg:?} (hint {:?})\n--- spec\n{text}",
            err.help
        );
        assert!(
            !msg.contains("invalid YAML") && !msg.contains("bomb"),
            "{msg}\n--- spec\n{text}"
        );
    }
}

/// BUG: matrix fan-out has no total cap and the output-overlap check is quadratic (with two
/// `format!` per pair), so a 15-line spec takes ~11 s to resolve in a debug build (10,101
/// nodes), and 100 × 1,000 values (each matrix under the 10,000 limit) would take hours.
/// Expected: resolved or refused ("too many nodes") in well under a second.
#[test]
fn bug_matrix_fan_out_is_quadratic() {
    let lists: Vec<String> = (0..100).map(|i| format!("[c{i}]")).collect();
    let seeds: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let text = format!(
        "name: demo\nversion: 1.0.0\nsources: {{raw: {{uri: d.csv}}}}\nstages:\n  a:\n    kind: normalize\n    input: raw\n    matrix: {{drop_nulls: [{}]}}\n  b:\n    kind: split\n    input: a\n    seed: 1\n    matrix: {{seed: [{}]}}\n",
        lists.join(", "),
        seeds.join(", ")
    );
    let started = Instant::now();
    let _ = load(&text);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "resolving took {took:?}");
}

/// BUG (panic, found by `cargo fuzz run spec`): `"\r\0é"` panics in `SourceFile::line_col`
/// ("end byte index 3 is not a char boundary"). The YAML parser counts a lone `\r` as a line
/// break and reports the bad `\0` at line 2 without a byte offset; `SourceFile::range` counts
/// only `\n`, finds no line 2, falls back to `text.len() - 1`, which is inside the last
/// character, and `line_col` slices the text there. Any error after a lone `\r` whose location
/// has no byte offset, in a file ending in a multi-byte character, crashes `mldatabuild`.
#[test]
fn bug_lone_cr_then_multibyte_panics() {
    for text in ["\r\0é", "\r\0\u{444d}"] {
        let caught =
            std::panic::catch_unwind(|| load(text).err().map(|e| (e.to_string(), e.position())));
        let Ok(Some((msg, position))) = caught else {
            panic!("{text:?}: loading panicked or succeeded: {caught:?}");
        };
        assert!(
            position.is_some_and(|p| p.starts_with("dataset.yaml:")),
            "{msg}"
        );
    }
}

/// BUG (position): with old-Mac line endings (a lone `\r`, a line break in YAML) every position
/// is on line 1: `bogus` below is reported at `dataset.yaml:1:27` instead of `3:1`, because
/// `SourceFile::line_col` counts only `\n`. (`\r\n` is fine.)
#[test]
fn bug_lone_cr_line_breaks_are_not_counted() {
    for text in [
        "name: demo\rversion: 1.0.0\rbogus: 1\r",
        "name: demo\r\nversion: 1.0.0\r\nbogus: 1\r\n",
    ] {
        let err = load(text)
            .err()
            .unwrap_or_else(|| panic!("unknown key accepted"));
        assert_eq!(
            err.position().as_deref(),
            Some("dataset.yaml:3:1"),
            "{text:?}: {err}"
        );
    }
}
