//! JSON Schemas generated from the Rust types: `schemas/dataset.schema.json` (for editors) and
//! `schemas/lockfile.schema.json`. A test fails when the committed files are stale.

use crate::lockfile::Lock;
use crate::spec::model::Spec;

/// `schemas/dataset.schema.json`: the spec, each stage kind (from the registry) a branch of
/// `StageSchema` with its own `kind: const`.
pub fn dataset_schema() -> String {
    pretty(&serde_json::to_value(schemars::schema_for!(Spec)).unwrap_or_default())
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
    /// Every kind of the registry is a branch of the stage schema, in registry order, and its
    /// branch takes its own `kind:` only (export once had no `const`, so editors could not tell
    /// its keys from the others').
    #[test]
    fn every_registered_kind_has_its_const_in_the_dataset_schema() {
        let v: serde_json::Value = serde_json::from_str(&super::dataset_schema()).unwrap();
        let branches = v
            .pointer("/$defs/StageSchema/anyOf")
            .and_then(serde_json::Value::as_array)
            .expect("$defs/StageSchema/anyOf");
        assert_eq!(branches.len(), crate::stages::REGISTRY.len());
        for (kind, branch) in crate::stages::REGISTRY.iter().zip(branches) {
            let target = branch["$ref"].as_str().expect("a $ref branch");
            let def = v
                .pointer(target.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{}: {target} is not in the schema", kind.name));
            assert_eq!(
                def.pointer("/properties/kind/const"),
                Some(&serde_json::json!(kind.name)),
                "{}: no `kind: const` in {target}",
                kind.name
            );
        }
    }
}
