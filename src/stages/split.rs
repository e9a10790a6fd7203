//! `split`: assign rows to named splits by ratio, deterministically from a seed.

use std::collections::BTreeMap;
use std::fmt;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::table;
use super::{Stage, StageContext, StageError, StageOutput};

const VERSION: u32 = 1;

/// Parameters of `split`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitParams {
    #[serde(default = "default_ratios")]
    pub ratios: Ratios,
    pub seed: u64,
}

/// Split name → fraction of rows. Each in (0, 1); together they sum to 1.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
#[schemars(with = "BTreeMap<String, f64>")]
pub struct Ratios(pub BTreeMap<String, f64>);

pub fn default_ratios() -> Ratios {
    Ratios(BTreeMap::from([
        ("test".into(), 0.1),
        ("train".into(), 0.8),
        ("validation".into(), 0.1),
    ]))
}

impl<'de> Deserialize<'de> for Ratios {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ratios;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of split names to fractions, e.g. {train: 0.8, test: 0.2}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ratios, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    let value: f64 = map.next_value()?;
                    if name.is_empty()
                        || !name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        return Err(de::Error::custom(format!(
                            "split name `{name}` must be letters, digits, `_` or `-` | hint: split names become file names"
                        )));
                    }
                    if !(value > 0.0 && value < 1.0) {
                        return Err(de::Error::custom(format!(
                            "ratios.{name} must be in (0, 1): got {value} | hint: a ratio is the fraction of rows in that split"
                        )));
                    }
                    out.insert(name, value);
                }
                if out.len() < 2 {
                    return Err(de::Error::custom(
                        "ratios needs at least 2 splits | hint: e.g. {train: 0.9, test: 0.1}",
                    ));
                }
                let sum: f64 = out.values().sum();
                if (sum - 1.0).abs() > 1e-6 {
                    return Err(de::Error::custom(format!(
                        "ratios must sum to 1: got {sum} | hint: adjust the fractions so they add up to 1"
                    )));
                }
                Ok(Ratios(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Debug)]
pub struct Split {
    params: SplitParams,
}

impl Split {
    pub fn new(params: SplitParams) -> Result<Self, String> {
        Ok(Self { params })
    }
}

/// Split sizes for `n` rows: floor of each share, then the remaining rows to the largest
/// remainders (ties by split name), so every size is within one row of `ratio * n`.
pub fn split_sizes(ratios: &BTreeMap<String, f64>, n: u64) -> Vec<u64> {
    let exact: Vec<f64> = ratios.values().map(|r| r * n as f64).collect();
    let mut sizes: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let mut left = n.saturating_sub(sizes.iter().sum());
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    for i in order.into_iter().cycle() {
        if left == 0 {
            break;
        }
        sizes[i] += 1;
        left -= 1;
    }
    sizes
}

/// Assign row indices `0..n` to splits: rows ordered by BLAKE3(seed, row), cut by size.
/// Returns, per split (in name order), its row indices in ascending order.
pub fn assign(ratios: &BTreeMap<String, f64>, seed: u64, n: u64) -> Vec<Vec<u64>> {
    let mut keyed: Vec<(u64, u64)> = (0..n)
        .map(|row| {
            let mut h = blake3::Hasher::new();
            h.update(b"mldatabuild-split-v1");
            h.update(&seed.to_le_bytes());
            h.update(&row.to_le_bytes());
            let bytes = h.finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&bytes.as_bytes()[..8]);
            (u64::from_le_bytes(first), row)
        })
        .collect();
    keyed.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0usize;
    for size in split_sizes(ratios, n) {
        let end = start + size as usize;
        let mut rows: Vec<u64> = keyed[start..end].iter().map(|(_, r)| *r).collect();
        rows.sort_unstable();
        out.push(rows);
        start = end;
    }
    out
}

impl Stage for Split {
    fn kind(&self) -> &'static str {
        "split"
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }

    fn default_output(&self, _group: &str) -> String {
        "splits".to_owned()
    }

    fn run(&self, cx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        if cx.input_is_source {
            return Err(
                StageError::new("`split` reads a table, and its input is a raw source")
                    .hint("put a `normalize` stage between the source and the split"),
            );
        }
        let (schema, batches) = table::read_parquet_inputs(cx.input)?;
        let all = concat_batches(&schema, &batches).map_err(|e| StageError::new(e.to_string()))?;
        let n = all.num_rows() as u64;
        if n > u64::from(u32::MAX) {
            return Err(StageError::new(format!(
                "{n} rows: a split stage handles at most {} rows",
                u32::MAX
            )));
        }
        let ratios = &self.params.ratios.0;
        let assignment = assign(ratios, self.params.seed, n);
        let mut out = StageOutput::default();
        let mut counts = BTreeMap::new();
        for (name, rows) in ratios.keys().zip(assignment) {
            let idx = UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32));
            let part: RecordBatch =
                take_record_batch(&all, &idx).map_err(|e| StageError::new(e.to_string()))?;
            let file = format!("{name}.parquet");
            let written = table::write_parquet(&cx.out_dir.join(&file), &schema, &[part])?;
            out.files.push((file, Some(written)));
            counts.insert(name.clone(), serde_json::Value::from(written));
        }
        out.summary.insert("rows".into(), n.into());
        out.summary.insert(
            "splits".into(),
            serde_json::Value::Object(counts.into_iter().collect()),
        );
        out.summary
            .insert("schema".into(), table::schema_summary(&schema, None));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ratios(v: &[(&str, f64)]) -> BTreeMap<String, f64> {
        v.iter().map(|(k, r)| ((*k).to_owned(), *r)).collect()
    }

    #[test]
    fn sizes_sum_to_n() {
        let r = ratios(&[("train", 0.8), ("validation", 0.1), ("test", 0.1)]);
        assert_eq!(split_sizes(&r, 10), vec![1, 8, 1]);
        assert_eq!(split_sizes(&r, 7).iter().sum::<u64>(), 7);
    }

    proptest! {
        #[test]
        fn split_is_disjoint_complete_deterministic(n in 0u64..3000, seed: u64, a in 1u32..98) {
            let a = f64::from(a) / 100.0;
            let r = ratios(&[("a", a), ("b", 1.0 - a)]);
            let parts = assign(&r, seed, n);
            let mut all: Vec<u64> = parts.iter().flatten().copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
            prop_assert_eq!(&parts, &assign(&r, seed, n));
            for (part, ratio) in parts.iter().zip(r.values()) {
                prop_assert!((part.len() as f64 - ratio * n as f64).abs() <= 1.0);
            }
        }
    }
}
