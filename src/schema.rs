//! JSON Schemas generated from the Rust types: `schemas/dataset.schema.json` (for editors) and
//! `schemas/lockfile.schema.json`. A test fails when the committed files are stale.

use crate::lockfile::Lock;
use crate::spec::model::Spec;

/// Stage kinds and the name of their spec struct in the schema's `$defs`.
const STAGE_DEFS: &[(&str, &str)] = &[
    ("normalize", "NormalizeSpec"),
    ("validate", "ValidateSpec"),
    ("split", "SplitSpec"),
    ("tokenize", "TokenizeSpec"),
];

pub fn dataset_schema() -> String {
    let mut v = serde_json::to_value(schemars::schema_for!(Spec)).unwrap_or_default();
    for (kind, def) in STAGE_DEFS {
        if let Some(props) = v.pointer_mut(&format!("/$defs/{def}/properties")) {
            props["kind"] = serde_json::json!({"description": "The stage kind.", "const": kind});
        }
    }
    pretty(&v)
}

/// `reports/<stage>.json` of a `validate` stage.
pub fn validation_report_schema() -> String {
    pretty(
        &serde_json::to_value(schemars::schema_for!(
            crate::stages::validate::ValidationReport
        ))
        .unwrap_or_default(),
    )
}

/// `reports/<stage>.json` of a `tokenize` stage.
pub fn tokenize_report_schema() -> String {
    pretty(
        &serde_json::to_value(schemars::schema_for!(
            crate::stages::tokenize::TokenizeReport
        ))
        .unwrap_or_default(),
    )
}

pub fn lockfile_schema() -> String {
    pretty(&serde_json::to_value(schemars::schema_for!(Lock)).unwrap_or_default())
}

fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// (path under the project, contents) of every generated schema.
pub fn files() -> Vec<(&'static str, String)> {
    vec![
        ("schemas/dataset.schema.json", dataset_schema()),
        ("schemas/lockfile.schema.json", lockfile_schema()),
        (
            "schemas/validation-report.schema.json",
            validation_report_schema(),
        ),
        (
            "schemas/tokenize-report.schema.json",
            tokenize_report_schema(),
        ),
    ]
}
