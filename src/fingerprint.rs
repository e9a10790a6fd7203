//! Stable hashes. What goes into each (see also docs/hashing.md):
//!
//! | hash | algorithm | over |
//! |---|---|---|
//! | artifact (`sha256`) | SHA-256 | the file's bytes; checkable with `sha256sum` |
//! | source (`hash`) | BLAKE3, `b3:` | `mldatabuild-source-v1`, then every file sorted by name: name, size, sha256 |
//! | stage output (`output_hash`) | BLAKE3, `b3:` | `mldatabuild-output-v1`, then every output sorted by its path *inside the stage folder*: path, size, sha256 |
//! | action `key` | BLAKE3, `b3:` | canonical JSON of [`ActionKey`]: kind, impl version, canonical params, input hashes in order |
//! | spec (`spec.blake3`) | BLAKE3, `b3:` | the spec file's bytes (recorded, not part of any key) |
//!
//! Never hashed: mtimes, absolute paths, wall-clock time, thread count, stage names, the
//! output folder, descriptions, the tool version (the impl version stands for it), map order
//! (params are canonical JSON: objects sorted by key, numbers in shortest round-trip form).

use serde::Serialize;

/// Everything that determines a stage's outputs.
#[derive(Serialize)]
pub struct ActionKey<'a> {
    pub schema: &'static str,
    pub kind: &'a str,
    pub impl_version: u32,
    pub params: &'a serde_json::Value,
    pub inputs: Vec<&'a str>,
}

impl ActionKey<'_> {
    pub fn hash(&self) -> String {
        // serde_json sorts object keys (BTreeMap), which makes this canonical.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        format!("b3:{}", blake3::hash(&bytes).to_hex())
    }
}

pub const ACTION_KEY_SCHEMA: &str = "mldatabuild-action-v1";

/// The `b3:` action key of a stage of `kind` at `impl_version` with these canonical params
/// and input hashes (in input order).
pub fn action_key(
    kind: &str,
    impl_version: u32,
    params: &serde_json::Value,
    inputs: &[&str],
) -> String {
    ActionKey {
        schema: ACTION_KEY_SCHEMA,
        kind,
        impl_version,
        params,
        inputs: inputs.to_vec(),
    }
    .hash()
}

/// Hash of a set of files given as (name, size, sha256), in any order.
pub fn files_hash(domain: &str, files: &[(&str, u64, &str)]) -> String {
    let mut sorted: Vec<_> = files.to_vec();
    sorted.sort_unstable();
    let mut h = blake3::Hasher::new();
    h.update(domain.as_bytes());
    h.update(&[0]);
    for (name, size, sha) in sorted {
        h.update(name.as_bytes());
        h.update(&[0]);
        h.update(&size.to_le_bytes());
        h.update(sha.as_bytes());
        h.update(&[0]);
    }
    format!("b3:{}", h.finalize().to_hex())
}

pub const SOURCE_DOMAIN: &str = "mldatabuild-source-v1";
pub const OUTPUT_DOMAIN: &str = "mldatabuild-output-v1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ignores_param_key_order() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":0.5}}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"a":{"x":0.50,"y":2},"b":1}"#).unwrap();
        let key = |p| {
            ActionKey {
                schema: ACTION_KEY_SCHEMA,
                kind: "split",
                impl_version: 1,
                params: p,
                inputs: vec!["b3:x"],
            }
            .hash()
        };
        assert_eq!(key(&a), key(&b));
    }

    #[test]
    fn files_hash_is_order_independent() {
        let a = files_hash(SOURCE_DOMAIN, &[("a", 1, "aa"), ("b", 2, "bb")]);
        let b = files_hash(SOURCE_DOMAIN, &[("b", 2, "bb"), ("a", 1, "aa")]);
        assert_eq!(a, b);
        assert_ne!(
            a,
            files_hash(OUTPUT_DOMAIN, &[("a", 1, "aa"), ("b", 2, "bb")])
        );
    }
}
