//! The stage trait and what stages share; one module per kind, listed in the registry
//! (`registry.rs`).

pub mod archive;
pub mod columnar;
pub mod csvread;
pub mod detect;
pub mod export;
pub mod feather1;
pub mod features;
pub mod filter;
pub mod imagecheck;
pub mod infer;
pub mod jsonread;
pub mod media;
pub mod minhash;
pub mod neardup;
pub mod normalize;
pub mod registry;
pub mod rows;
pub mod sheet;
pub mod split;
pub mod table;
pub mod textlines;
pub mod tokenize;
pub mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use registry::{Accepts, Data, KINDS, Kind, KindInfo, REGISTRY};

/// Stage kinds that are designed but not yet built; named in the error for a clearer message.
pub const PLANNED_KINDS: &[&str] = &["fetch"];

/// One unit of work in the DAG, as the rest of the program sees it. Every [`Kind`] is one
/// (`registry.rs`): a kind's module implements `Kind`, not this.
pub trait Stage: fmt::Debug + Send + Sync {
    /// The `kind:` of the stage.
    fn kind(&self) -> &'static str;
    /// The implementation version: bumped whenever the same inputs and parameters would give
    /// different outputs. Part of the action key.
    fn version(&self) -> u32;
    /// Canonical parameters (all defaults filled in). Part of the action key and the lock.
    fn params(&self) -> serde_json::Value;
    /// What this stage reads; `spec::resolve` checks its input against it.
    fn accepts(&self) -> Accepts;
    /// What it gives the stages that read it.
    fn produces(&self) -> Data;
    /// The output folder inside the dataset folder when the spec gives none.
    fn default_output(&self, group: &str) -> String;
    /// Whether the build report shows this stage's output schema (tables it defines).
    fn reports_schema(&self) -> bool;
    /// Files the stage reads besides its `input` (a tokenizer, a stop-word list): each
    /// becomes a source node of the DAG (fetched, pinned and hashed like any source) and an
    /// extra input of the stage, handed over in [`StageContext::aux`] in this order.
    fn aux_inputs(&self) -> Vec<AuxInput>;
    /// Do the work: read `cx.input`, write files under `cx.out_dir`.
    fn run(&self, cx: &StageContext<'_>) -> Result<StageOutput, StageError>;
}

/// A file or repository a stage reads besides its `input`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuxInput {
    /// What it is for, e.g. `tokenizer`; names the implicit source (`tokenizer:<uri>`).
    pub role: &'static str,
    /// The name of a declared source, a source URI (`hf://models/owner/name`) or a local
    /// path relative to the spec's folder.
    pub uri: String,
    /// Which files of the source to take (`files:` globs), e.g. a model's `tokenizer.json`.
    pub files: Option<Vec<String>>,
}

/// Progress of a running stage, for the terminal (a bar with rate and ETA) and `--json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Rows done, and the total when known (0 otherwise).
    pub done: u64,
    pub total: u64,
    /// Tokens produced so far (a tokenize stage), for a tokens/s rate.
    pub tokens: Option<u64>,
}

/// A file a stage reads.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// The name to show and sort by: relative to the source, or to the producing stage's folder.
    pub name: String,
    /// Where to read it.
    pub path: PathBuf,
}

/// What the executor hands a running stage.
pub struct StageContext<'a> {
    /// The node name, e.g. `tokens[max_length=512]`.
    pub name: &'a str,
    /// Files of the stage's input, sorted by name.
    pub input: &'a [InputFile],
    /// Whether the input is a source (its files as they are) or a stage (Parquet tables).
    /// Which of the two a kind may read is checked when the spec is loaded
    /// ([`Kind::ACCEPTS`]); this says which one it got.
    pub input_is_source: bool,
    /// The content hash of the input: its producer's `output_hash` in the lock.
    pub input_hash: &'a str,
    /// Where the outputs will be, relative to the spec's folder (`out/demo/artifacts/x`): for
    /// messages only. Outputs must not depend on it.
    pub shown_dir: &'a str,
    /// An empty directory the stage writes its outputs into.
    pub out_dir: &'a Path,
    /// An empty directory for temporary files (extracted archives…); removed after the run.
    pub scratch_dir: &'a Path,
    /// The files of each of [`Stage::aux_inputs`], in that order.
    pub aux: &'a [Vec<InputFile>],
    /// Report progress (at most a few times a second is useful).
    pub progress: &'a (dyn Fn(Progress) + Sync),
}

impl StageContext<'_> {
    /// The folder a stage writes its report files into; they land in the dataset folder's
    /// `reports/` (see [`crate::lockfile::REPORTS_PREFIX`]).
    pub fn reports_dir(&self) -> PathBuf {
        self.out_dir
            .join(crate::lockfile::REPORTS_PREFIX.trim_end_matches('/'))
    }

    /// The base file name of this node's reports: its name, made safe for a file name.
    pub fn report_stem(&self) -> String {
        self.name
            .chars()
            .map(|c| if c == '/' || c == '\\' { '_' } else { c })
            .collect()
    }
}

/// What a stage produced.
#[derive(Debug, Default, Clone)]
pub struct StageOutput {
    /// Files written, relative to `out_dir`, each with its row count when it is a table.
    pub files: Vec<(String, Option<u64>)>,
    /// Facts recorded in the lock's `summary:` (rows, schema, per-split counts, …).
    pub summary: BTreeMap<String, serde_json::Value>,
    /// Things the user should know (mixed-type columns, skipped files…); reported and recorded.
    pub warnings: Vec<String>,
    /// A terminal summary printed after the stage finishes (validation findings, split
    /// distributions…). Not recorded: the same facts are in `summary` and the reports.
    pub display: Option<String>,
}

/// A stage failure, for people: what went wrong and what to do.
#[derive(Debug, Clone)]
pub struct StageError {
    pub message: String,
    pub hint: Option<String>,
    /// Outputs a failed stage still delivers (the formats of an export that succeeded while
    /// another failed): placed in the dataset folder, never recorded in the lock or run cache.
    pub partial: Option<Box<StageOutput>>,
}

impl StageError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            partial: None,
        }
    }
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Build a stage of `kind` from canonical parameters (from the spec or from a lockfile).
pub fn build(kind: &str, params: &serde_json::Value) -> Result<Box<dyn Stage>, String> {
    KindInfo::get(kind)
        .ok_or_else(|| format!("unknown stage kind `{kind}` (kinds: {})", KINDS.join(", ")))?
        .build(params)
}
