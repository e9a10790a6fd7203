//! Reading `dataset.yaml`: size limit, YAML budget, two-pass typed parse, error mapping.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter, Spanned};

use super::error::{SourceFile, SpecError, did_you_mean};
use super::model::{Spec, StageEntry};
use crate::stages::KINDS;
use crate::stages::registry::{NextSpec, visit_kind};

/// Specs larger than this are refused before parsing.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// Read and parse a spec file. Semantic checks happen in [`super::resolve`].
///
/// The file is untrusted: at most `MAX_SPEC_BYTES + 1` bytes are ever read (a file that grows
/// while it is read, or a pipe that never ends, cannot exhaust memory), and only a regular file
/// or a pipe is read at all (`-f /dev/zero` or a folder is refused before reading).
pub fn load_file(path: &Path, display_name: &str) -> Result<(SourceFile, Spec), SpecError> {
    let cannot_read = |e: &std::io::Error| {
        SpecError::new(format!("cannot read `{display_name}`: {}", io_reason(e)))
    };
    let meta = fs_err::metadata(path).map_err(|e| {
        cannot_read(&e)
            .help("run `mldatabuild init` to create a starter dataset.yaml, or pass `-f PATH`")
    })?;
    if let Some(what) = not_a_spec_file(meta.file_type()) {
        return Err(SpecError::new(format!(
            "cannot read `{display_name}`: it is {what}; a spec is a file of at most {MAX_SPEC_BYTES} bytes"
        ))
        .help("pass the path of a dataset.yaml with `-f PATH`"));
    }
    let too_big = |len: String| {
        SpecError::new(format!(
            "`{display_name}` is {len} bytes; a spec may be at most {MAX_SPEC_BYTES} bytes"
        ))
        .help("a dataset spec describes data, it does not contain it: move data into files and name them under `sources:`")
    };
    if meta.len() > MAX_SPEC_BYTES as u64 {
        return Err(too_big(meta.len().to_string()));
    }
    let file = fs_err::File::open(path).map_err(|e| cannot_read(&e))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_SPEC_BYTES as u64 + 1),
        &mut bytes,
    )
    .map_err(|e| cannot_read(&e))?;
    if bytes.len() > MAX_SPEC_BYTES {
        // A pipe, or a file that grew after its size was read.
        return Err(too_big(format!("more than {MAX_SPEC_BYTES}")));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        SpecError::new(format!(
            "`{display_name}` is not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let file = SourceFile::new(display_name, text);
    let spec = parse(&file)?;
    Ok((file, spec))
}

/// What a path that is neither a regular file nor a pipe is ("a folder", "a device"), or
/// `None` when a spec may be read from it. Pipes are read (`-f <(generate-spec)`), bounded.
fn not_a_spec_file(t: std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return None;
        }
        if t.is_char_device() || t.is_block_device() {
            return Some("a device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 32,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_nodes: 200_000,
            max_events: 400_000,
            max_documents: 1,
            max_total_scalar_bytes: MAX_SPEC_BYTES,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 20_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 100,
        },
        with_snippet: false,
    }
}

/// Pass 1: only the stage kinds, so pass 2 can pick each stage's type.
#[derive(Deserialize)]
struct Skeleton {
    #[serde(default)]
    stages: Option<BTreeMap<String, KindOnly>>,
}

#[derive(Deserialize)]
struct KindOnly {
    kind: Spanned<String>,
}

thread_local! {
    static STAGE_KINDS: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// Parse spec text (both passes).
pub fn parse(file: &SourceFile) -> Result<Spec, SpecError> {
    if file
        .text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(SpecError::new(format!("`{}` is empty", file.name))
            .help("run `mldatabuild init` to write a commented starter spec"));
    }
    let skeleton: Skeleton = serde_saphyr::from_str_with_options(&file.text, options())
        .map_err(|e| map_yaml_error(file, &e))?;
    let mut kinds = HashMap::new();
    for (name, k) in skeleton.stages.unwrap_or_default() {
        let kind = k.kind.value.as_str();
        if !KINDS.contains(&kind) {
            let mut err = SpecError::new(format!("unknown stage kind `{kind}` in stage `{name}`"))
                .at(file, k.kind.referenced, "unknown kind");
            err = match did_you_mean(kind, KINDS.iter().copied()) {
                Some(h) => err.help(format!("{h} (kinds: {})", KINDS.join(", "))),
                None if crate::stages::PLANNED_KINDS.contains(&kind) => err.help(format!(
                    "`{kind}` stages are planned but not available in this version (kinds: {})",
                    KINDS.join(", ")
                )),
                None => err.help(format!("the stage kinds are: {}", KINDS.join(", "))),
            };
            return Err(err);
        }
        kinds.insert(name, k.kind.value);
    }
    STAGE_KINDS.with(|k| *k.borrow_mut() = kinds);
    let result = serde_saphyr::from_str_with_options::<Spec>(&file.text, options());
    STAGE_KINDS.with(|k| k.borrow_mut().clear());
    result.map_err(|e| map_yaml_error(file, &e))
}

/// `deserialize_with` for `stages:`: each entry typed by the kind found in pass 1.
pub fn deserialize_stages<'de, D: de::Deserializer<'de>>(
    d: D,
) -> Result<Vec<StageEntry>, D::Error> {
    struct StagesVisitor;
    impl<'de> Visitor<'de> for StagesVisitor {
        type Value = Vec<StageEntry>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping of stage names to stages")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(name) = map.next_key::<Spanned<String>>()? {
                let kind = STAGE_KINDS.with(|k| k.borrow().get(&name.value).cloned());
                let entry = kind
                    .as_deref()
                    .and_then(|k| visit_kind(k, NextSpec(&mut map, std::marker::PhantomData)));
                let Some(entry) = entry else {
                    // Not a kind: pass 1 has already refused the spec.
                    map.next_value::<IgnoredAny>()?;
                    continue;
                };
                let (common, params) = entry?;
                out.push(StageEntry {
                    name,
                    common,
                    params,
                });
            }
            Ok(out)
        }
    }
    d.deserialize_map(StagesVisitor)
}

/// Turn a serde-saphyr error into a spec error at its location, with a hint where one helps.
pub fn map_yaml_error(file: &SourceFile, e: &serde_saphyr::Error) -> SpecError {
    use serde_saphyr::Error as E;
    // Errors met while replaying an alias, or carrying a snippet, wrap the real one.
    let outer = e;
    let mut e = e;
    while let E::AliasError { error, .. } | E::WithSnippet { error, .. } = e {
        e = error;
    }
    let loc = e
        .location()
        .or_else(|| outer.location())
        .unwrap_or(Location::UNKNOWN);
    let raw = serde_saphyr::DefaultMessageFormatter
        .format_message(e)
        .into_owned();
    match e {
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            let mut err =
                SpecError::new(format!("unknown key `{field}`")).at(file, loc, "unknown key");
            let hint = did_you_mean(field, expected.iter().copied());
            let keys = format!("expected one of: {}", expected.join(", "));
            err = err.help(match hint {
                Some(h) => format!("{h} ({keys})"),
                None => keys,
            });
            err
        }
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let mut err = SpecError::new(format!("unknown value `{variant}`")).at(
                file,
                loc,
                "not one of the accepted values",
            );
            let values = format!("expected one of: {}", expected.join(", "));
            err = err.help(match did_you_mean(variant, expected.iter().copied()) {
                Some(h) => format!("{h} ({values})"),
                None => values,
            });
            err
        }
        E::SerdeMissingField { field, .. } => SpecError::new(format!("missing key `{field}`"))
            .at(file, loc, format!("this mapping needs `{field}`"))
            .help(format!(
                "add `{field}:`; see docs/dataset-yaml.md for every key"
            )),
        E::SerdeInvalidType { .. }
        | E::SerdeInvalidValue { .. }
        | E::InvalidScalar { .. }
        | E::Unexpected { .. } => SpecError::new(format!("wrong type: {}", humanize_types(&raw)))
            .at(file, loc, "wrong type"),
        E::UnknownAnchor { .. } => SpecError::new(
            "undefined YAML alias: no anchor `&name` defines it before this point",
        )
        .at(file, loc, "undefined alias")
        .help("define the anchor (`&name value`) before using `*name`, or write the value out"),
        E::Budget { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => {
            let what = if raw.contains("Depth") || raw.contains("depth") && !raw.contains("alias") {
                "the spec nests deeper than 32 levels".to_owned()
            } else if raw.to_lowercase().contains("alias") {
                "the spec's YAML aliases expand too far (a YAML bomb?)".to_owned()
            } else {
                format!("the spec is too large to load safely ({raw})")
            };
            // Point at the alias being expanded, not at the anchor deep inside it.
            let loc = outer.location().unwrap_or(loc);
            SpecError::new(what)
                .at(file, loc, "limit reached here")
                .help("mldatabuild refuses YAML alias bombs and nesting deeper than 32 levels; write the values out")
        }
        E::DuplicateMappingKey { key, .. } => {
            let what = key.as_ref().map_or_else(
                || "a key appears twice".to_owned(),
                |k| format!("`{k}` appears twice in the same mapping"),
            );
            SpecError::new(format!("duplicate key: {what}"))
                .at(file, loc, "defined again here")
                .help("every key, source and stage name must be unique within its mapping")
        }
        E::Message { .. } | E::ExternalMessage { .. } if raw.contains(" | hint: ") => {
            // Our own bound checks (custom serde errors carry their hint after ` | hint: `).
            let (msg, help) = raw.split_once(" | hint: ").unwrap_or((&raw, ""));
            SpecError::new(msg).at(file, loc, "here").help(help)
        }
        _ => SpecError::new(format!("invalid YAML: {}", humanize_types(&raw)))
            .at(file, loc, "here")
            .help("check the indentation and quoting around this line"),
    }
}

/// Rust type names in serde messages, in words.
fn humanize_types(raw: &str) -> String {
    let mut s = raw.to_owned();
    for (from, to) in [
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a string", "expected a string"),
        ("invalid u64", "expected a non-negative integer"),
        ("invalid u32", "expected a non-negative integer"),
        ("invalid f64", "expected a number"),
        ("invalid i64", "expected an integer"),
        (
            "expected string scalar",
            "expected a single value, not a list or a mapping",
        ),
        (
            "expected mapping start",
            "expected a mapping of `key: value` lines",
        ),
        ("expected sequence start", "expected a list"),
    ] {
        s = s.replace(from, to);
    }
    s
}
