//! `split`: assign rows to named splits, deterministically from a seed: by ratio, stratified
//! by a label, stably by a key, or by group; write one Parquet table and one index file per
//! split; count rows that leak between splits.
//!
//! Two streaming passes over the input: the first reads the columns the assignment needs; the
//! second routes each batch's rows to the split writers and hashes them for the leakage check.
//! Memory is about 17 bytes per row at the peak (the assignment, and a 96-bit hash with the
//! row number for the leakage check), never the table.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::registry::{Accepts, Data, Kind, stage_params};
use super::rows::{column_index, row_hashes, seeded_hash, value_strings};
use super::table;
use super::{StageContext, StageError, StageOutput};

/// At most this many splits (a split is one byte per row in memory).
const MAX_SPLITS: usize = 255;

/// Below this many rows a split gets a warning.
const SMALL_SPLIT: u64 = 10;

stage_params! {
    /// Parameters of `split`.
    #[derive(PartialEq)]
    pub struct SplitParams in SplitSpec {
        /// Split names and their shares of the rows (normalized when they do not sum to 1).
        /// Default: train 0.8, validation 0.1, test 0.1.
        #[serde(default = "default_ratios")]
        pub ratios: Ratios,
        /// Seed of the deterministic assignment. When absent, one is drawn on the first build,
        /// printed, and kept in dataset.lock (or given with `build --seed`).
        // `None` only before the seed is pinned (drawn, or taken from the lock or `--seed`).
        #[serde(default)]
        pub seed: Option<u64>,
        /// Balance the splits on this label column: each split gets each label's share.
        #[serde(default)]
        pub stratify: Option<String>,
        /// Assign each row by a hash of this column and the seed, so adding rows never moves
        /// existing rows between splits (sizes follow the ratios on average).
        #[serde(default)]
        pub key: Option<String>,
        /// Keep the rows of each value of this column (a user, a document) in one split.
        #[serde(default)]
        pub group: Option<String>,
        /// Index files next to the split tables: `csv` (default), `json`, `txt` or `none`.
        #[serde(default)]
        pub index: IndexFormat,
        /// The column the index files list [default: `key`, else row numbers of the input].
        #[serde(default)]
        pub index_column: Option<String>,
        /// With `stratify`: the largest difference between a label's share in a split and
        /// overall before a warning (default 0.02, two points).
        #[serde(default = "default_tolerance")]
        pub stratify_tolerance: f64,
        /// The cross-split leakage check: which columns define identical rows, and an optional
        /// text column compared for near-duplicates.
        #[serde(default)]
        pub leakage: Leakage,
        /// Fail the build when rows leak between splits (default: a warning).
        #[serde(default)]
        pub fail_on_leakage: bool,
    }
}

pub fn default_tolerance() -> f64 {
    0.02
}

/// The format of the per-split index files.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IndexFormat {
    /// `<split>.csv`: a comment line with the seed and ratios, a header, one row per line.
    #[default]
    Csv,
    /// `<split>.json`: `{split, seed, ratios, column, rows: [...]}`.
    Json,
    /// `<split>.txt`: a comment line, then one row per line.
    Txt,
    /// No index files.
    None,
}

impl IndexFormat {
    fn ext(self) -> Option<&'static str> {
        match self {
            Self::Csv => Some("csv"),
            Self::Json => Some("json"),
            Self::Txt => Some("txt"),
            Self::None => None,
        }
    }
}

/// What the cross-split leakage check compares.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Leakage {
    /// Columns whose values make two rows "the same" [default: every column but `key`,
    /// `index_column` and identifiers: `id`, `uuid`, names ending in `_id` or `Id`].
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// A text column to compare by MinHash for near-duplicates across splits.
    #[serde(default)]
    pub near_duplicates: Option<String>,
    /// Similarity from which two texts are near-duplicates (estimated Jaccard of word 5-grams).
    #[serde(default = "default_similarity")]
    pub threshold: f64,
}

impl Default for Leakage {
    fn default() -> Self {
        Self {
            columns: None,
            near_duplicates: None,
            threshold: default_similarity(),
        }
    }
}

pub fn default_similarity() -> f64 {
    0.95
}

/// Split name → share of the rows. Positive; normalized to sum to 1 (with a warning) when
/// they do not.
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

/// Check one split name and its ratio (shared by the spec and the `split` command).
pub fn check_ratio(name: &str, value: f64) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "split name `{name}` must be letters, digits, `_` or `-` | hint: split names become file names"
        ));
    }
    if !value.is_finite() || value < 0.0 {
        return Err(format!(
            "ratios.{name} must be a positive number: got {value} | hint: a ratio is the share of rows in that split, e.g. 0.8"
        ));
    }
    if value == 0.0 {
        return Err(format!(
            "ratios.{name} is 0, so split `{name}` would be empty | hint: remove the split, or give it a positive share"
        ));
    }
    Ok(())
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
                    check_ratio(&name, value).map_err(de::Error::custom)?;
                    out.insert(name, value);
                }
                if out.len() < 2 {
                    return Err(de::Error::custom(
                        "ratios needs at least 2 splits | hint: e.g. {train: 0.9, test: 0.1}",
                    ));
                }
                if out.len() > MAX_SPLITS {
                    return Err(de::Error::custom(format!(
                        "ratios names {} splits; at most {MAX_SPLITS} are supported",
                        out.len()
                    )));
                }
                Ok(Ratios(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Ratios {
    /// The ratios scaled to sum to 1, and whether they had to be.
    pub fn normalized(&self) -> (BTreeMap<String, f64>, bool) {
        let sum: f64 = self.0.values().sum();
        if (sum - 1.0).abs() <= 1e-9 {
            return (self.0.clone(), false);
        }
        (
            self.0.iter().map(|(k, v)| (k.clone(), v / sum)).collect(),
            true,
        )
    }
}

#[derive(Debug)]
pub struct Split {
    params: SplitParams,
}

impl Split {
    /// The seed, when one is set; `None` before it is pinned.
    pub fn seed(&self) -> Option<u64> {
        self.params.seed
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

fn row_order_key(seed: u64, row: u64) -> u64 {
    seeded_hash(b"mldatabuild-split-v1", seed, &row.to_le_bytes())
}

/// Assign row indices `0..n` to splits: rows ordered by BLAKE3(seed, row), cut by size.
/// Returns, per split (in name order), its row indices in ascending order.
pub fn assign(ratios: &BTreeMap<String, f64>, seed: u64, n: u64) -> Vec<Vec<u64>> {
    let mut out = vec![Vec::new(); ratios.len()];
    for (row, s) in assign_plain(ratios, seed, n).into_iter().enumerate() {
        out[usize::from(s)].push(row as u64);
    }
    out
}

/// Plain assignment: the split of each row.
fn assign_plain(ratios: &BTreeMap<String, f64>, seed: u64, n: u64) -> Vec<u8> {
    let mut keyed: Vec<(u64, u64)> = (0..n).map(|row| (row_order_key(seed, row), row)).collect();
    keyed.sort_unstable();
    let mut out = vec![0u8; n as usize];
    let mut start = 0usize;
    for (s, size) in split_sizes(ratios, n).into_iter().enumerate() {
        let end = start + size as usize;
        for &(_, row) in &keyed[start..end] {
            out[row as usize] = s as u8;
        }
        start = end;
    }
    out
}

/// Stratified assignment: rows ordered by (class, seeded hash), then each row in turn goes to
/// the split furthest below its share so far. Every class is spread over the splits within
/// about one row per split of its exact share, and the totals stay within one row of the
/// ratios. Classes of one row go to `single` (train). Returns the splits and those classes.
fn assign_stratified(
    ratios: &[f64],
    seed: u64,
    classes: &[u32],
    class_count: usize,
    single: u8,
) -> (Vec<u8>, Vec<u32>) {
    let mut sizes = vec![0u64; class_count];
    for &c in classes {
        sizes[c as usize] += 1;
    }
    let singles: Vec<u32> = (0..class_count as u32)
        .filter(|&c| sizes[c as usize] == 1)
        .collect();
    let mut order: Vec<(u32, u64, u32)> = classes
        .iter()
        .enumerate()
        .filter(|(_, c)| sizes[**c as usize] > 1)
        .map(|(row, &c)| (c, row_order_key(seed, row as u64), row as u32))
        .collect();
    order.sort_unstable();
    let mut out = vec![single; classes.len()];
    let mut given = vec![0u64; ratios.len()];
    for (j, &(_, _, row)) in order.iter().enumerate() {
        let placed = (j + 1) as f64;
        let mut best = 0usize;
        let mut best_deficit = f64::NEG_INFINITY;
        for (s, r) in ratios.iter().enumerate() {
            let deficit = r * placed - given[s] as f64;
            if deficit > best_deficit + 1e-12 {
                best = s;
                best_deficit = deficit;
            }
        }
        given[best] += 1;
        out[row as usize] = best as u8;
    }
    (out, singles)
}

/// Stable assignment: a row's split depends only on hash(seed, key), so adding rows never
/// moves existing ones. Sizes follow the ratios only on average.
fn assign_by_key(ratios: &[f64], keys: &[u64]) -> Vec<u8> {
    let bounds = cumulative(ratios);
    let last = ratios.len() - 1;
    keys.iter()
        .map(|&k| {
            let u = k as f64 / (u64::MAX as f64 + 1.0);
            bounds.iter().position(|&b| u < b).unwrap_or(last) as u8
        })
        .collect()
}

fn cumulative(ratios: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    ratios
        .iter()
        .map(|r| {
            acc += r;
            acc
        })
        .collect()
}

/// Group assignment: groups ordered by hash(seed, group), laid end to end, each given to the
/// split its middle row falls in. A group never spans two splits; sizes are within about one
/// group of the ratios.
fn assign_by_group(ratios: &[f64], seed: u64, groups: &[u32], names: &[String]) -> Vec<u8> {
    let mut sizes = vec![0u64; names.len()];
    for &g in groups {
        sizes[g as usize] += 1;
    }
    let mut order: Vec<(u64, u32)> = names
        .iter()
        .enumerate()
        .map(|(g, name)| {
            (
                seeded_hash(b"mldatabuild-split-group-v1", seed, name.as_bytes()),
                g as u32,
            )
        })
        .collect();
    order.sort_unstable();
    let n = groups.len() as f64;
    let bounds: Vec<f64> = cumulative(ratios).iter().map(|b| b * n).collect();
    let mut group_split = vec![0u8; names.len()];
    let mut before = 0u64;
    for (_, g) in order {
        let size = sizes[g as usize];
        let mid = before as f64 + size as f64 / 2.0;
        group_split[g as usize] = bounds
            .iter()
            .position(|&b| mid < b)
            .unwrap_or(ratios.len() - 1) as u8;
        before += size;
    }
    groups.iter().map(|&g| group_split[g as usize]).collect()
}

/// Interns values as dense ids, in order of first appearance.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, v: &str) -> u32 {
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(v.to_owned(), id);
        self.names.push(v.to_owned());
        id
    }
}

/// The label text used for a null label.
const NULL_LABEL: &str = "null";

impl Kind for Split {
    const NAME: &'static str = "split";
    /// 3: the input's Hugging Face features (`huggingface` footer key) kept in the splits.
    const VERSION: u32 = 3;
    const ACCEPTS: Accepts = Accepts::one(&[Data::Tables]);
    const PRODUCES: Data = Data::Tables;
    type Params = SplitParams;

    fn new(params: SplitParams) -> Result<Self, String> {
        let modes = [
            ("stratify", params.stratify.is_some()),
            ("key", params.key.is_some()),
            ("group", params.group.is_some()),
        ];
        let set: Vec<&str> = modes.iter().filter(|m| m.1).map(|m| m.0).collect();
        if set.len() > 1 {
            return Err(format!(
                "`{}` and `{}` cannot be combined | hint: choose one way to assign rows: `stratify` (balanced labels), `key` (stable when rows are added) or `group` (a group never spans two splits)",
                set[0], set[1]
            ));
        }
        if !(params.stratify_tolerance > 0.0 && params.stratify_tolerance < 1.0) {
            return Err(format!(
                "stratify_tolerance must be in (0, 1): got {} | hint: it is the largest difference, as a fraction, between a label's share in a split and overall (0.02 = 2 points)",
                params.stratify_tolerance
            ));
        }
        if !(params.leakage.threshold > 0.0 && params.leakage.threshold <= 1.0) {
            return Err(format!(
                "leakage.threshold must be in (0, 1]: got {} | hint: 0.95 finds texts that share 95 % of their word 5-grams",
                params.leakage.threshold
            ));
        }
        Ok(Self { params })
    }

    fn params(&self) -> &SplitParams {
        &self.params
    }

    fn default_output(&self, _group: &str) -> String {
        "splits".to_owned()
    }

    fn run(&self, cx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        let p = &self.params;
        let seed = p.seed.ok_or_else(|| {
            StageError::new("the split has no seed")
                .hint("set `seed:` in the spec, or pass `--seed`")
        })?;
        let inputs = table::open_parquet_inputs(cx.input)?;
        let schema = inputs.schema.clone();
        let mut out = StageOutput::default();
        out.warnings.extend(inputs.warnings.iter().cloned());
        let (ratios, normalized) = p.ratios.normalized();
        if normalized {
            let sum: f64 = p.ratios.0.values().sum();
            out.warnings.push(format!(
                "ratios sum to {}, not 1; normalized to {}",
                round4(sum),
                ratios
                    .iter()
                    .map(|(k, v)| format!("{k} {}", round4(*v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let names: Vec<String> = ratios.keys().cloned().collect();
        let shares: Vec<f64> = ratios.values().copied().collect();

        let col =
            |c: &Option<String>, what: &str, key: &str| -> Result<Option<usize>, StageError> {
                c.as_deref()
                    .map(|c| column_index(&schema, c, what, key))
                    .transpose()
            };
        let stratify = col(&p.stratify, "stratify by", "stratify")?;
        if let Some(c) = stratify
            && matches!(
                schema.field(c).data_type(),
                arrow::datatypes::DataType::Float16
                    | arrow::datatypes::DataType::Float32
                    | arrow::datatypes::DataType::Float64
            )
        {
            return Err(StageError::new(format!(
                "`stratify: {}` is a {} column: stratifying needs a few discrete labels, and every float value would be a label of its own",
                schema.field(c).name(),
                table::type_name(schema.field(c).data_type())
            ))
            .hint("stratify by a categorical column, or bin the values into one first"));
        }
        let key = col(&p.key, "assign splits by", "key")?;
        let group = col(&p.group, "group by", "group")?;
        let index_column = match &p.index_column {
            Some(c) => Some(column_index(
                &schema,
                c,
                "write to the index files",
                "index_column",
            )?),
            None => key,
        };
        let leak_columns: Vec<usize> = match &p.leakage.columns {
            Some(cols) => cols
                .iter()
                .map(|c| column_index(&schema, c, "compare for leakage", "leakage.columns"))
                .collect::<Result<_, _>>()?,
            None => (0..schema.fields().len())
                .filter(|i| {
                    Some(*i) != key
                        && Some(*i) != index_column
                        && !is_identifier(schema.field(*i).name())
                })
                .collect(),
        };
        let near_col = col(
            &p.leakage.near_duplicates,
            "compare for near-duplicates",
            "leakage.near_duplicates",
        )?;
        if let Some(c) = near_col
            && !matches!(
                schema.field(c).data_type(),
                arrow::datatypes::DataType::Utf8
                    | arrow::datatypes::DataType::LargeUtf8
                    | arrow::datatypes::DataType::Utf8View
            )
        {
            return Err(StageError::new(format!(
                "`leakage.near_duplicates: {}` is a {} column; near-duplicates are found in text",
                schema.field(c).name(),
                table::type_name(schema.field(c).data_type())
            ))
            .hint("name a string column"));
        }

        // Pass 1: what the assignment and the leakage check need, row by row.
        let mut labels = Interner::default();
        let mut classes: Vec<u32> = Vec::new();
        let mut null_labels = 0u64;
        let mut keys: Vec<u64> = Vec::new();
        let mut null_keys = 0u64;
        let mut groups = Interner::default();
        let mut group_ids: Vec<u32> = Vec::new();
        let mut n: u64 = 0;
        for b in inputs.batches() {
            let (_, batch) = b?;
            if let Some(c) = stratify {
                for v in value_strings(batch.column(c).as_ref())? {
                    let v = v.unwrap_or_else(|| {
                        null_labels += 1;
                        NULL_LABEL.to_owned()
                    });
                    classes.push(labels.id(&v));
                }
            }
            if let Some(c) = key {
                for v in value_strings(batch.column(c).as_ref())? {
                    if let Some(v) = v {
                        keys.push(seeded_hash(b"mldatabuild-split-key-v1", seed, v.as_bytes()));
                    } else {
                        null_keys += 1;
                        keys.push(0);
                    }
                }
            }
            if let Some(c) = group {
                for v in value_strings(batch.column(c).as_ref())? {
                    group_ids.push(groups.id(v.as_deref().unwrap_or(NULL_LABEL)));
                }
            }
            n += batch.num_rows() as u64;
        }
        if n == 0 {
            return Err(StageError::new(
                "the input table has no rows, so every split would be empty",
            )
            .hint("check the filters of the stages before this one"));
        }
        if n > u64::from(u32::MAX) {
            return Err(StageError::new(format!(
                "{n} rows: a split stage handles at most {} rows",
                u32::MAX
            )));
        }
        if let Some(c) = &p.stratify
            && null_labels == n
        {
            return Err(StageError::new(format!(
                "`stratify: {c}`: the column is null in all {n} rows, so there are no labels to balance"
            ))
            .hint("stratify by a column that holds the labels, or drop `stratify`"));
        }
        if let Some(c) = &p.key
            && null_keys > 0
        {
            return Err(StageError::new(format!(
                "`key: {c}`: {null_keys} of {n} rows have no key (null), so their split cannot be derived from it"
            ))
            .hint("drop those rows first (`drop_nulls:` in normalize), or choose a key column without nulls"));
        }

        // Assignment.
        let train = names.iter().position(|s| s == "train").unwrap_or_else(|| {
            shares
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .map_or(0, |(i, _)| i)
        });
        let (assignment, mode) = if stratify.is_some() {
            let (a, singles) =
                assign_stratified(&shares, seed, &classes, labels.names.len(), train as u8);
            if !singles.is_empty() {
                let shown: Vec<String> = singles
                    .iter()
                    .take(5)
                    .map(|&c| format!("`{}`", labels.names[c as usize]))
                    .collect();
                out.warnings.push(format!(
                    "{} label{} with a single row ({}{}) went to `{}`: one row cannot be spread over splits",
                    singles.len(),
                    if singles.len() == 1 { "" } else { "s" },
                    shown.join(", "),
                    if singles.len() > 5 { ", …" } else { "" },
                    names[train]
                ));
            }
            if null_labels > 0 {
                out.warnings.push(format!(
                    "`stratify: {}`: {null_labels} rows have a null label; they are balanced as the label `{NULL_LABEL}`",
                    p.stratify.as_deref().unwrap_or_default()
                ));
            }
            (a, "stratified")
        } else if key.is_some() {
            (assign_by_key(&shares, &keys), "key")
        } else if group.is_some() {
            (
                assign_by_group(&shares, seed, &group_ids, &groups.names),
                "group",
            )
        } else {
            (assign_plain(&ratios, seed, n), "random")
        };
        let mut counts = vec![0u64; names.len()];
        for &s in &assignment {
            counts[usize::from(s)] += 1;
        }
        for (i, name) in names.iter().enumerate() {
            if counts[i] == 0 {
                let expected = shares[i] * n as f64;
                let why = match mode {
                    "key" => format!(
                        "no key hashed into its share ({n} rows × {} = {:.1} expected)",
                        round4(shares[i]),
                        expected
                    ),
                    "group" => format!(
                        "the groups are too large for its share ({n} rows × {} = {:.1}; {} groups)",
                        round4(shares[i]),
                        expected,
                        groups.names.len()
                    ),
                    _ => format!("{n} rows × {} = {:.1}", round4(shares[i]), expected),
                };
                return Err(
                    StageError::new(format!("split `{name}` would be empty: {why}"))
                        .hint("use more data, a larger share for that split, or fewer splits"),
                );
            }
            if counts[i] < SMALL_SPLIT {
                out.warnings.push(format!(
                    "split `{name}` has only {} row{}; metrics on it will be noisy",
                    counts[i],
                    if counts[i] == 1 { "" } else { "s" }
                ));
            }
        }

        // Pass 2: route rows to the split tables and index files, and hash them for the
        // leakage check (kept out of pass 1, so its 16 bytes a row never coexist with the
        // assignment's sort). A failing leakage check discards what was written: the executor
        // only keeps outputs of stages that succeed.
        // (row hash, row) pairs, 16 bytes a row, sorted later for the leakage check.
        let mut hashes: Vec<(super::rows::RowHash, u32)> = Vec::new();
        let mut near = super::neardup::Collector::new(p.leakage.threshold);
        let mut sinks = Vec::new();
        for name in &names {
            sinks.push(table::ParquetSink::create(
                &cx.out_dir.join(format!("{name}.parquet")),
                &schema,
            )?);
        }
        let index_name = index_column.map_or("row", |c| schema.field(c).name().as_str());
        let mut indexes = match p.index.ext() {
            Some(ext) => names
                .iter()
                .map(|name| IndexWriter::create(cx, name, ext, p.index, seed, &ratios, index_name))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let mut row0: u64 = 0;
        for b in inputs.batches() {
            let (_, batch) = b?;
            let len = batch.num_rows();
            let part = &assignment[row0 as usize..row0 as usize + len];
            let first = u32::try_from(row0).unwrap_or(u32::MAX);
            hashes.extend(row_hashes(&batch, &leak_columns)?.into_iter().zip(first..));
            if let Some(c) = near_col {
                near.add_column(row0, batch.column(c).as_ref())?;
            }
            let ids = match index_column {
                Some(c) if !indexes.is_empty() => Some(value_strings(batch.column(c).as_ref())?),
                _ => None,
            };
            for (s, sink) in sinks.iter_mut().enumerate() {
                let mask: BooleanArray = part.iter().map(|&x| Some(usize::from(x) == s)).collect();
                let rows = filter_record_batch(&batch, &mask)
                    .map_err(|e| StageError::new(e.to_string()))?;
                if rows.num_rows() > 0 {
                    sink.write(&rows)?;
                }
            }
            if !indexes.is_empty() {
                for (i, &s) in part.iter().enumerate() {
                    let value = match &ids {
                        Some(ids) => ids[i].clone(),
                        None => Some((row0 + i as u64).to_string()),
                    };
                    indexes[usize::from(s)].row(value.as_deref(), ids.is_none())?;
                }
            }
            row0 += len as u64;
        }
        let mut split_counts = serde_json::Map::new();
        for (name, sink) in names.iter().zip(sinks) {
            let written = sink.finish()?;
            out.files.push((format!("{name}.parquet"), Some(written)));
            split_counts.insert(name.clone(), written.into());
        }
        for w in indexes {
            let (file, rows) = w.finish()?;
            out.files.push((file, Some(rows)));
        }

        // Leakage: identical rows (over the compared columns) in different splits.
        let leak = exact_leakage(hashes, &assignment, &names);
        let near_pairs = near.cross_split_pairs(&assignment)?;
        let near_leaks = near_pairs.len() as u64;
        let mut leak_json = serde_json::Map::new();
        leak_json.insert("exact_rows".into(), leak.rows.into());
        leak_json.insert(
            "exact_by_split".into(),
            serde_json::Value::Object(
                leak.by_split
                    .iter()
                    .map(|(k, v)| (k.clone(), (*v).into()))
                    .collect(),
            ),
        );
        if !leak.examples.is_empty() {
            leak_json.insert("exact_examples".into(), serde_json::json!(leak.examples));
        }
        if near_col.is_some() {
            leak_json.insert("near_pairs".into(), near_leaks.into());
            leak_json.insert("threshold".into(), p.leakage.threshold.into());
            if !near_pairs.is_empty() {
                let ex: Vec<serde_json::Value> = near_pairs
                    .iter()
                    .take(5)
                    .map(|(a, b, sim)| serde_json::json!({"rows": [a, b], "splits": [names[usize::from(assignment[*a as usize])], names[usize::from(assignment[*b as usize])]], "similarity": round4(*sim)}))
                    .collect();
                leak_json.insert("near_examples".into(), ex.into());
            }
        }
        if leak.rows > 0 || near_leaks > 0 {
            let msg = format!(
                "leakage: {}{} across splits{}",
                if leak.rows > 0 {
                    format!("{} rows have an identical row in another split", leak.rows)
                } else {
                    String::new()
                },
                if near_leaks > 0 {
                    format!(
                        "{}{near_leaks} near-duplicate pairs",
                        if leak.rows > 0 { "; " } else { "" }
                    )
                } else {
                    String::new()
                },
                if leak.examples.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (e.g. rows {})",
                        leak.examples
                            .iter()
                            .take(3)
                            .map(|e| format!("{} and {}", e[0], e[1]))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            );
            if p.fail_on_leakage {
                return Err(StageError::new(msg).hint(
                    "deduplicate before splitting (a `validate` stage with `duplicates: {action: drop}`), or split by `group:`/`key:` so copies stay together",
                ));
            }
            out.warnings.push(format!(
                "{msg}; set `fail_on_leakage: true` to fail the build on it"
            ));
        }

        out.summary.insert("rows".into(), n.into());
        out.summary.insert("seed".into(), seed.into());
        out.summary.insert("mode".into(), mode.into());
        out.summary
            .insert("splits".into(), serde_json::Value::Object(split_counts));
        out.summary.insert(
            "ratios".into(),
            serde_json::Value::Object(
                ratios
                    .iter()
                    .map(|(k, v)| (k.clone(), round4(*v).into()))
                    .collect(),
            ),
        );
        out.summary
            .insert("leakage".into(), serde_json::Value::Object(leak_json));
        let mut display = String::new();
        let pad = " ".repeat(10);
        let _ = writeln!(display, "{pad}Split with seed: {seed} ({mode})");
        for (i, name) in names.iter().enumerate() {
            let _ = writeln!(
                display,
                "{pad}  {name:<12} {:>10} rows  {:>6.2} %",
                counts[i],
                100.0 * counts[i] as f64 / n as f64
            );
        }
        if let Some(c) = &p.stratify {
            let (strat, text, worst) =
                stratify_report(&classes, &labels.names, &assignment, &names, &counts);
            out.summary.insert(
                "stratify".into(),
                serde_json::json!({"column": c, "classes": labels.names.len(), "max_deviation": round4(worst), "tolerance": p.stratify_tolerance, "distribution": strat}),
            );
            display.push_str(&text);
            if worst > p.stratify_tolerance {
                out.warnings.push(format!(
                    "a label's share differs by {:.1} points between a split and the whole dataset (tolerance {:.1}); small splits or rare labels cannot match exactly",
                    100.0 * worst,
                    100.0 * p.stratify_tolerance
                ));
            }
        }
        if let Some(c) = &p.group {
            out.summary.insert(
                "group".into(),
                serde_json::json!({"column": c, "groups": groups.names.len()}),
            );
        }
        out.summary
            .insert("schema".into(), table::schema_summary(&schema, None));
        out.display = Some(display);
        Ok(out)
    }
}

/// Identifier columns (`id`, `…_id`, `…Id`) make every row unique, so the default leakage
/// check leaves them out.
fn is_identifier(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "id"
        || lower.ends_with("_id")
        || (name.ends_with("Id") && name.len() > 2)
        || lower == "uuid"
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

struct Leak {
    rows: u64,
    by_split: BTreeMap<String, u64>,
    examples: Vec<[u64; 2]>,
}

/// Rows whose content (over the compared columns) also occurs in another split.
fn exact_leakage(
    mut order: Vec<(super::rows::RowHash, u32)>,
    assignment: &[u8],
    names: &[String],
) -> Leak {
    order.sort_unstable();
    let mut leak = Leak {
        rows: 0,
        by_split: BTreeMap::new(),
        examples: Vec::new(),
    };
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && order[j].0 == order[i].0 {
            j += 1;
        }
        let run = &order[i..j];
        let first = assignment[run[0].1 as usize];
        if run.iter().any(|&(_, r)| assignment[r as usize] != first) {
            for &(_, r) in run {
                leak.rows += 1;
                *leak
                    .by_split
                    .entry(names[usize::from(assignment[r as usize])].clone())
                    .or_default() += 1;
            }
            if leak.examples.len() < 5
                && let Some(other) = run.iter().find(|&&(_, r)| assignment[r as usize] != first)
            {
                leak.examples
                    .push([u64::from(run[0].1), u64::from(other.1)]);
            }
        }
        i = j;
    }
    leak.examples.sort_unstable();
    leak
}

/// Per-label counts per split, a side-by-side table, and the largest difference between a
/// label's share in a split and its share overall.
fn stratify_report(
    classes: &[u32],
    labels: &[String],
    assignment: &[u8],
    names: &[String],
    counts: &[u64],
) -> (serde_json::Value, String, f64) {
    let mut table = vec![vec![0u64; names.len()]; labels.len()];
    for (&c, &s) in classes.iter().zip(assignment) {
        table[c as usize][usize::from(s)] += 1;
    }
    let n = classes.len() as f64;
    let mut worst = 0.0f64;
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| {
        let ta: u64 = table[a].iter().sum();
        let tb: u64 = table[b].iter().sum();
        tb.cmp(&ta).then(labels[a].cmp(&labels[b]))
    });
    for c in &order {
        let total: u64 = table[*c].iter().sum();
        if total < 2 {
            continue;
        }
        let overall = total as f64 / n;
        for (s, &count) in table[*c].iter().enumerate() {
            if counts[s] > 0 {
                worst = worst.max((count as f64 / counts[s] as f64 - overall).abs());
            }
        }
    }
    let pad = " ".repeat(10);
    let mut text = String::new();
    let _ = write!(text, "{pad}  {:<16} {:>8}", "label", "overall");
    for name in names {
        let _ = write!(text, " {name:>10}");
    }
    text.push('\n');
    let shown = if order.len() > 20 {
        &order[..20]
    } else {
        &order[..]
    };
    for &c in shown {
        let total: u64 = table[c].iter().sum();
        let _ = write!(
            text,
            "{pad}  {:<16} {:>7.1}%",
            super::rows::preview(&labels[c], 16),
            100.0 * total as f64 / n
        );
        for (s, &count) in table[c].iter().enumerate() {
            let share = if counts[s] == 0 {
                0.0
            } else {
                100.0 * count as f64 / counts[s] as f64
            };
            let _ = write!(text, " {share:>9.1}%");
        }
        text.push('\n');
    }
    if order.len() > 20 {
        let _ = writeln!(
            text,
            "{pad}  … {} more labels (all in the lock's summary)",
            order.len() - 20
        );
    }
    let json = if labels.len() <= 100 {
        serde_json::Value::Object(
            order
                .iter()
                .map(|&c| {
                    (
                        labels[c].clone(),
                        serde_json::Value::Object(
                            names
                                .iter()
                                .zip(&table[c])
                                .map(|(s, &v)| (s.clone(), v.into()))
                                .collect(),
                        ),
                    )
                })
                .collect(),
        )
    } else {
        serde_json::Value::String(format!(
            "{} labels (more than 100: not listed)",
            labels.len()
        ))
    };
    (json, text, worst)
}

/// One split's index file, written as rows stream by.
struct IndexWriter {
    file: String,
    path: std::path::PathBuf,
    out: BufWriter<std::fs::File>,
    format: IndexFormat,
    rows: u64,
}

impl IndexWriter {
    fn create(
        cx: &StageContext<'_>,
        split: &str,
        ext: &str,
        format: IndexFormat,
        seed: u64,
        ratios: &BTreeMap<String, f64>,
        column: &str,
    ) -> Result<Self, StageError> {
        let file = format!("{split}.{ext}");
        let path = cx.out_dir.join(&file);
        let f = std::fs::File::create(&path)
            .map_err(|e| StageError::new(format!("cannot write `{file}`: {e}")))?;
        let mut w = IndexWriter {
            file,
            path,
            out: BufWriter::new(f),
            format,
            rows: 0,
        };
        let ratio_text: Vec<String> = ratios
            .iter()
            .map(|(k, v)| format!("{k}:{}", round4(*v)))
            .collect();
        let head = match format {
            IndexFormat::Json => format!(
                "{{\"split\":{},\"seed\":{seed},\"ratios\":{},\"column\":{},\"rows\":[",
                serde_json::Value::from(split),
                serde_json::Value::Object(
                    ratios
                        .iter()
                        .map(|(k, v)| (k.clone(), round4(*v).into()))
                        .collect()
                ),
                serde_json::Value::from(column)
            ),
            IndexFormat::Csv => format!(
                "# mldatabuild split={split} seed={seed} ratios={}\n{}\n",
                ratio_text.join(","),
                csv_field(column)
            ),
            IndexFormat::Txt | IndexFormat::None => format!(
                "# mldatabuild split={split} seed={seed} ratios={} column={column}\n",
                ratio_text.join(",")
            ),
        };
        w.write(head.as_bytes())?;
        Ok(w)
    }

    fn write(&mut self, b: &[u8]) -> Result<(), StageError> {
        self.out
            .write_all(b)
            .map_err(|e| StageError::new(format!("cannot write `{}`: {e}", self.path.display())))
    }

    fn row(&mut self, value: Option<&str>, numeric: bool) -> Result<(), StageError> {
        let text = match (self.format, value) {
            (IndexFormat::Json, None) => "null".to_owned(),
            (IndexFormat::Json, Some(v)) if numeric => v.to_owned(),
            (IndexFormat::Json, Some(v)) => serde_json::Value::from(v).to_string(),
            (IndexFormat::Csv, v) => csv_field(v.unwrap_or("")),
            (_, None) => String::new(),
            (_, Some(v)) => v.replace(['\n', '\r'], " "),
        };
        let sep: &[u8] = if self.format == IndexFormat::Json && self.rows > 0 {
            b","
        } else {
            b""
        };
        self.write(sep)?;
        self.write(text.as_bytes())?;
        if self.format != IndexFormat::Json {
            self.write(b"\n")?;
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(String, u64), StageError> {
        if self.format == IndexFormat::Json {
            self.write(b"]}\n")?;
        }
        self.out
            .flush()
            .map_err(|e| StageError::new(format!("cannot write `{}`: {e}", self.path.display())))?;
        Ok((self.file, self.rows))
    }
}

/// A CSV field, quoted when it needs to be.
fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) || v.starts_with('#') {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
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
