//! Build events: the executor emits them; the human and JSON reporters render them.
//! The JSON form (`--json`, one object per line on stdout) is documented in docs/cli.md.

use serde::{Deserialize, Serialize};

use crate::dirty::{PlanAction, Reason};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    BuildStarted {
        dataset: String,
        version: String,
        nodes: usize,
        jobs: usize,
        dry_run: bool,
    },
    SourceHashed {
        name: String,
        files: usize,
        bytes: u64,
        rehashed: u64,
    },
    /// A remote source: found in the cache, downloading, resumed, fetched.
    SourceFetch {
        name: String,
        message: String,
    },
    /// Bytes of a remote source downloaded so far (a few times a second while it downloads).
    SourceProgress {
        name: String,
        done: u64,
        /// 0 when the sizes are not known in advance.
        total: u64,
        files_done: usize,
        files_total: usize,
        /// Seconds since a byte arrived.
        idle_secs: u64,
        /// The files downloading right now (name, bytes done, size or 0).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<crate::fetch::FileProgress>,
    },
    /// Rows of a running stage done so far (a few times a second, from stages that report it).
    StageProgress {
        name: String,
        done: u64,
        /// 0 when not known in advance.
        total: u64,
        /// Tokens produced so far (tokenize stages).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tokens: Option<u64>,
        /// Seconds since the stage started.
        elapsed: f64,
    },
    /// Up to date: nothing to do.
    StageFresh {
        name: String,
    },
    /// Will run (dry run only).
    StagePlanned {
        name: String,
        action: PlanAction,
        reason: Reason,
    },
    StageStarted {
        name: String,
        kind: String,
        reason: Reason,
        member: usize,
        members: usize,
    },
    /// Outputs restored from the run cache instead of running.
    StageRestored {
        name: String,
        reason: Reason,
    },
    StageFinished {
        name: String,
        seconds: f64,
        peak_rss_mb: u64,
        rows: Option<u64>,
        outputs: usize,
        /// The output table's columns, for stages that define a schema (normalize).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        schema: Vec<ColumnInfo>,
        /// A terminal summary of the stage's findings (validation, split distributions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<String>,
    },
    StageFailed {
        name: String,
        error: String,
        hint: Option<String>,
    },
    StageSkipped {
        name: String,
        reason: Reason,
    },
    Warning {
        message: String,
    },
    /// A stage's spec sets no seed and the lock has none: this one was drawn and is recorded.
    SeedDrawn {
        stage: String,
        seed: u64,
    },
    BuildFinished(BuildSummary),
    /// `pull` put a dataset's files into a folder.
    Pulled {
        /// The URI pulled (a password in it masked).
        uri: String,
        /// The folder the files are in.
        output: String,
        /// What the URI resolved to: a Hub commit, `sha256:<hex>` of a URL's content…
        revision: String,
        files: usize,
        bytes: u64,
        /// Files that are hard links to the download cache; the others were copied (the cache
        /// is on another file system).
        linked: usize,
        seconds: f64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildSummary {
    pub dataset: String,
    pub output: String,
    pub dry_run: bool,
    /// False for `--locked`, `--frozen`, dry runs and `rebuild`.
    pub writes_lock: bool,
    pub ok: bool,
    pub lock_changed: bool,
    pub seconds: f64,
    pub stages: Vec<StageRow>,
    /// Files of the dataset folder (path inside it, size), for the tree view.
    #[serde(default)]
    pub files: Vec<(String, u64)>,
}

/// One column of a table's schema.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageRow {
    pub name: String,
    pub kind: String,
    /// fresh, ran, restored, failed, skipped, planned
    pub status: String,
    pub rows: Option<u64>,
    pub seconds: Option<f64>,
    pub peak_rss_mb: Option<u64>,
}

/// Where events go.
pub trait Reporter: Send + Sync {
    fn event(&self, event: &Event);
}
