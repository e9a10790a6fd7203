//! JSON Schemas generated from the Rust types: `schemas/dataset.schema.json` (for editors) and
//! `schemas/lockfile.schema.json`. A test fails when the committed files are stale.

use crate::lockfile::Lock;
use crate::spec::model::Spec;

/// The name of a stage kind's spec struct in the schema's `$defs` (`normalize` →
/// `NormalizeSpec`): every kind the loader accepts gets its `kind: const`.
fn stage_def(kind: &str) -> String {
    let mut chars = kind.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_ascii_uppercase().to_string() + chars.as_str() + "Spec"
    })
}

pub fn dataset_schema() -> String {
    let mut v = serde_json::to_value(schemars::schema_for!(Spec)).unwrap_or_default();
    for kind in crate::stages::KINDS {
        let def = stage_def(kind);
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

#[cfg(test)]
mod tests {
    /// Every kind the loader accepts is a branch of the stage schema with its `kind: const`
    /// (export once had none, so editors could not tell its keys from the others').
    #[test]
    fn every_kind_has_its_const_in_the_dataset_schema() {
        let v: serde_json::Value = serde_json::from_str(&super::dataset_schema()).unwrap();
        for kind in crate::stages::KINDS {
            let def = super::stage_def(kind);
            assert_eq!(
                v.pointer(&format!("/$defs/{def}/properties/kind/const")),
                Some(&serde_json::json!(kind)),
                "{kind}: no `kind: const` in $defs/{def}"
            );
        }
    }
}
