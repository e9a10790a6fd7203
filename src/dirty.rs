//! Why a stage must run: the first component of its action key that differs from the lock
//! ([`DirtyReason`]), and the typed reasons events and statuses carry ([`Reason`]).

use std::fmt;

use crate::lockfile::StageLock;

#[derive(Debug, Clone, PartialEq)]
pub enum DirtyReason {
    Forced,
    NoLockEntry,
    KindChanged {
        old: String,
        new: String,
    },
    ImplChanged {
        old: u32,
        new: u32,
    },
    ParamChanged {
        path: String,
        old: String,
        new: String,
    },
    InputRenamed {
        old: String,
        new: String,
    },
    InputChanged {
        name: String,
    },
    OutputMissing {
        path: String,
    },
    OutputModified {
        path: String,
    },
    /// The lock entry's key and files match, but the entry itself fails a check (a field edited
    /// or damaged): the stage is rebuilt or restored so the entry is written anew.
    EntryDamaged {
        problem: String,
    },
    KeyChanged,
}

impl fmt::Display for DirtyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirtyReason::Forced => f.write_str("forced (--force)"),
            DirtyReason::NoLockEntry => f.write_str("not built before (no lock entry)"),
            DirtyReason::KindChanged { old, new } => write!(f, "kind {old} → {new}"),
            DirtyReason::ImplChanged { old, new } => write!(f, "impl {old} → {new}"),
            DirtyReason::ParamChanged { path, old, new } => write!(f, "{path} {old} → {new}"),
            DirtyReason::InputRenamed { old, new } => write!(f, "input {old} → {new}"),
            DirtyReason::InputChanged { name } => write!(f, "input {name} changed"),
            DirtyReason::OutputMissing { path } => write!(f, "output missing: {path}"),
            DirtyReason::OutputModified { path } => write!(f, "output modified: {path}"),
            DirtyReason::EntryDamaged { problem } => write!(f, "lock entry damaged: {problem}"),
            DirtyReason::KeyChanged => f.write_str("action key changed"),
        }
    }
}

/// Why a stage is run, planned or skipped: typed in events and statuses, put into words only
/// where it is shown (`Display`, used by the reporters and commands). Serialized as those words,
/// so the JSON events keep their `reason` strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// Its action key or its outputs differ from the lock.
    Dirty(DirtyReason),
    /// Dirty, and the run cache holds its outputs for the new key.
    Restorable(DirtyReason),
    /// Dry run: it reads a stage whose outputs are not known until that one runs.
    InputUnknown { input: String },
    /// It reads a stage that failed or was skipped.
    InputFailed { input: String },
    /// The build stopped after a failure before reaching it.
    Halted,
    /// `--locked` stopped the build before checking it.
    LockedHalted,
    /// A reason read back from JSON: only its words are known.
    Text(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Dirty(r) => write!(f, "{r}"),
            Reason::Restorable(r) => write!(f, "{r}; outputs in the run cache"),
            Reason::InputUnknown { input } => write!(f, "runs if `{input}` changes its output"),
            Reason::InputFailed { input } => write!(f, "input `{input}` did not build"),
            Reason::Halted => f.write_str("not run (the build stopped after a failure)"),
            Reason::LockedHalted => f.write_str("not checked (--locked stopped the build)"),
            Reason::Text(t) => f.write_str(t),
        }
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Reason::Text)
    }
}

/// What a dry run would do with a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PlanAction {
    /// Run it.
    #[serde(rename = "run")]
    Run,
    /// Restore its outputs from the run cache.
    #[serde(rename = "restore")]
    Restore,
    /// Run it if a stage it reads changes its outputs.
    #[serde(rename = "may run")]
    MayRun,
}

impl fmt::Display for PlanAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlanAction::Run => "run",
            PlanAction::Restore => "restore",
            PlanAction::MayRun => "may run",
        })
    }
}

/// The first differing key component between the lock entry and the current stage.
pub fn explain(
    old: &StageLock,
    kind: &str,
    impl_version: u32,
    params: &serde_json::Value,
    inputs: &[(String, String)],
) -> Option<DirtyReason> {
    if old.kind != kind {
        return Some(DirtyReason::KindChanged {
            old: old.kind.clone(),
            new: kind.to_owned(),
        });
    }
    if old.impl_version != impl_version {
        return Some(DirtyReason::ImplChanged {
            old: old.impl_version,
            new: impl_version,
        });
    }
    if let Some((path, a, b)) = first_diff("params", &old.params, params) {
        return Some(DirtyReason::ParamChanged {
            path,
            old: a,
            new: b,
        });
    }
    for (i, (name, hash)) in inputs.iter().enumerate() {
        match old.inputs.get(i) {
            None => return Some(DirtyReason::InputChanged { name: name.clone() }),
            Some(o) if o.name != *name => {
                return Some(DirtyReason::InputRenamed {
                    old: o.name.clone(),
                    new: name.clone(),
                });
            }
            Some(o) if o.hash != *hash => {
                return Some(DirtyReason::InputChanged { name: name.clone() });
            }
            Some(_) => {}
        }
    }
    None
}

fn show(v: Option<&serde_json::Value>) -> String {
    match v {
        None => "(unset)".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn same_number(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// The first path where two JSON values differ, with both sides rendered.
pub fn first_diff(
    path: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
) -> Option<(String, String, String)> {
    use serde_json::Value as V;
    match (a, b) {
        (V::Object(x), V::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = first_diff(&p, u, v) {
                            return Some(d);
                        }
                    }
                    (u, v) => {
                        // A key present on one side only; `null` and absent are the same.
                        if u.is_none_or(V::is_null) && v.is_none_or(V::is_null) {
                            continue;
                        }
                        return Some((p, show(u), show(v)));
                    }
                }
            }
            None
        }
        (V::Array(x), V::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_diff(&format!("{path}[{i}]"), u, v)),
        _ if a == b || same_number(a, b) => None,
        _ => Some((path.to_owned(), show(Some(a)), show(Some(b)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_param_change_is_named() {
        let d = first_diff(
            "params",
            &json!({"ratios": {"train": 0.8}, "seed": 1}),
            &json!({"ratios": {"train": 0.7}, "seed": 1}),
        );
        assert_eq!(
            d,
            Some(("params.ratios.train".into(), "0.8".into(), "0.7".into()))
        );
        assert_eq!(
            first_diff("params", &json!({"a": 1}), &json!({"a": 1.0})),
            None
        );
    }
}
