//! Command-line interface: clap types only. Resolution into settings happens in `settings.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "mldatabuild",
    version,
    about = "A declarative, content-hashed build system for machine-learning datasets"
)]
#[command(propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Run as if started in DIR.
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// The spec file [default: dataset.yaml].
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print only errors and warnings.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more: fresh stages, reasons, hashes.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    /// Hide progress spinners.
    #[arg(long, global = true)]
    pub no_progress: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the dataset (or the named stages and what they need); rebuild only what changed.
    Build(BuildArgs),
    /// Show whether each stage is fresh or stale, and why.
    Status(StatusArgs),
    /// Explain why a stage would run: the first part of its key that changed.
    Why(WhyArgs),
    /// Reproduce the dataset from a lockfile in a fresh folder and verify every artifact.
    Rebuild(RebuildArgs),
    /// Check the outputs on disk and the lockfile's consistency, without building.
    Verify(VerifyArgs),
    /// Compare two builds: lockfiles, manifest.yaml files or git revisions of the lockfile.
    Diff(DiffArgs),
    /// Remove the dataset folder and the project's local state.
    Clean(CleanArgs),
    /// List the built dataset: its stages, tokenizations and their history.
    Ls(LsArgs),
    /// Delete one stage's outputs (a tokenization…) and everything built from them.
    Rm(RmArgs),
    /// Show a stage's statistics again (tokenize, validate reports).
    Stats(StatsArgs),
    /// Page through a tokenize stage's sequences, decoded.
    Sample(SampleArgs),
    /// The first rows of a stage's table or of a data file, with its schema.
    Head(HeadArgs),
    /// Print or write the JSON Schemas of dataset.yaml and dataset.lock.
    Schema(SchemaArgs),
    /// Write a commented starter dataset.yaml.
    Init(InitArgs),
    /// Print the stage graph.
    Dag(DagArgs),
    /// Check a data file or folder without a spec: duplicates, missing values, schema, labels.
    Validate(ValidateCmdArgs),
    /// Split a data file or folder without a spec: ratios, stratified, by key or group.
    Split(SplitCmdArgs),
    /// Export a data file or folder without a spec: Parquet, JSON Lines, CSV, Hub layouts…
    Export(ExportCmdArgs),
    /// The download cache of remote sources: list, size, evict, clear.
    Cache(CacheArgs),
    /// Free the store ($MLDATA_HOME): keep what the locks of projects built here reference and
    /// what was built recently.
    Gc(GcArgs),
    /// Credentials for the Hugging Face Hub, Kaggle and OpenML.
    Auth(AuthArgs),
    /// Search the Hugging Face Hub, Kaggle and OpenML at once.
    Search(SearchArgs),
    /// A remote dataset's metadata, schema and sample rows; or a local data file's format,
    /// size, rows, schema and first rows.
    Info(InfoArgs),
    /// Download a remote dataset into a folder (default `./mldata/<name>/`).
    Pull(PullArgs),
    /// Check the set-up: storage, credentials (never shown), endpoints, this project.
    Doctor,
    /// Release the built dataset: check its version, write the CHANGELOG entry, record the
    /// lock; optionally a DVC pointer file or Git LFS rules for the dataset folder.
    Release(ReleaseArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Tasks `search --task` knows (Hugging Face task categories).
pub const TASKS: &[&str] = &[
    "text-classification",
    "token-classification",
    "question-answering",
    "summarization",
    "translation",
    "text-generation",
    "fill-mask",
    "sentence-similarity",
    "zero-shot-classification",
    "table-question-answering",
    "feature-extraction",
    "image-classification",
    "object-detection",
    "image-segmentation",
    "image-to-text",
    "text-to-image",
    "visual-question-answering",
    "automatic-speech-recognition",
    "audio-classification",
    "text-to-speech",
    "tabular-classification",
    "tabular-regression",
    "time-series-forecasting",
    "reinforcement-learning",
];

/// Licenses `search --license` knows.
pub const LICENSES: &[&str] = &[
    "mit",
    "apache-2.0",
    "bsd-2-clause",
    "bsd-3-clause",
    "cc0-1.0",
    "cc-by-4.0",
    "cc-by-sa-4.0",
    "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0",
    "cc-by-nd-4.0",
    "odc-by",
    "odbl",
    "pddl",
    "gpl-3.0",
    "openrail",
    "other",
    "unknown",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SearchSource {
    Hf,
    Kaggle,
    Openml,
}

impl SearchSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hf => "hf",
            Self::Kaggle => "kaggle",
            Self::Openml => "openml",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Modality {
    Text,
    Image,
    Audio,
    Video,
    Tabular,
    Timeseries,
    #[value(name = "3d")]
    ThreeD,
    Geospatial,
}

impl Modality {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Tabular => "tabular",
            Self::Timeseries => "timeseries",
            Self::ThreeD => "3d",
            Self::Geospatial => "geospatial",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Words to look for in dataset names.
    pub query: String,
    /// Sources to search (comma-separated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub source: Vec<SearchSource>,
    #[arg(long, value_enum)]
    pub modality: Option<Modality>,
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(TASKS))]
    pub task: Option<String>,
    /// Smallest size, e.g. 10MB.
    #[arg(long, value_name = "SIZE")]
    pub min_size: Option<String>,
    /// Largest size, e.g. 2GB.
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(LICENSES))]
    pub license: Option<String>,
    /// Rows to show.
    #[arg(long, default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000))]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// hf://owner/name[@revision], kaggle://…, openml://…, https://…, or a local data file
    /// (any format `normalize` reads).
    pub uri: String,
    /// Sample rows to show (at most 100): from the Hub's dataset viewer, the first bytes of a
    /// Kaggle CSV/TSV/JSON Lines file or an OpenML ARFF file (one ranged request), or a local
    /// file's first rows.
    #[arg(long, default_value_t = 5)]
    pub sample: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// hf://…, kaggle://…, openml://… or https://…
    pub uri: String,
    /// The folder to download into [default: ./mldata/<name>].
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Replace a non-empty output folder.
    #[arg(long)]
    pub force: bool,
    /// Only these files (globs over the dataset's paths).
    #[arg(long, value_name = "GLOB")]
    pub files: Vec<String>,
    /// For hf://: the dataset config (subset) to pull, as a source's `config:`.
    #[arg(long, value_name = "NAME")]
    pub config: Option<String>,
    /// For hf://: only this split's files, as a source's `split:`.
    #[arg(long, value_name = "NAME")]
    pub split: Option<String>,
    /// Fetch again even when the download cache has the dataset.
    #[arg(long)]
    pub no_cache: bool,
    /// Print events as JSON Lines on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Cached sources: URI, revision, files, size, last use.
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// The cache's size and limit.
    Size {
        #[arg(long)]
        json: bool,
    },
    /// Evict least-recently-used sources down to the limit (`cache.max_size_gb`) and drop
    /// unused files and week-old partial downloads.
    Gc {
        /// The limit to evict down to [default: cache.max_size_gb]; 0 empties it.
        #[arg(long, value_name = "GB")]
        max_size_gb: Option<f64>,
    },
    /// Remove everything in the cache.
    Clear,
}

#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    pub command: AuthCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Store a credential (read without echo; or from stdin when it is not a terminal).
    Login {
        /// hf, kaggle or openml.
        #[arg(value_parser = ["hf", "kaggle", "openml"])]
        service: String,
    },
    /// Which credentials are present and where from (never their values).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Forget a stored credential.
    Logout {
        #[arg(value_parser = ["hf", "kaggle", "openml"])]
        service: String,
    },
}

#[derive(Debug, Args)]
pub struct ExportCmdArgs {
    /// The data: a file (CSV, JSON Lines, Parquet…) or a folder of them. Parquet files keep
    /// their file names as split names (`train.parquet`, `test.parquet`).
    pub path: PathBuf,
    /// The formats, comma-separated: parquet, jsonl, json, csv, hf, hf-disk, tfrecord,
    /// webdataset, pytorch, croissant.
    #[arg(long, value_delimiter = ',', required = true, value_name = "FORMATS")]
    pub format: Vec<String>,
    /// Parquet compression: none, snappy, gzip, lz4, brotli, zstd.
    #[arg(long, value_name = "CODEC")]
    pub compression: Option<String>,
    /// Where the generated spec, lockfile and exported files go [default: ./<name>-export].
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Export into a folder that already holds files this command did not write (a
    /// dataset.yaml there is replaced).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ValidateCmdArgs {
    /// The data: a file (CSV, JSON Lines, Parquet…) or a folder of them.
    pub path: PathBuf,
    /// The label column: counts, imbalance and a histogram.
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<String>,
    /// Find near-duplicates in this text (or image) column.
    #[arg(long, value_name = "COLUMN")]
    pub near_duplicates: Option<String>,
    /// Similarity from which texts are near-duplicates.
    #[arg(long, default_value_t = 0.95, value_name = "X")]
    pub threshold: f64,
    /// Check that the media files in this column decode.
    #[arg(long, value_name = "COLUMN")]
    pub files: Option<String>,
    /// With --files: check every file, not a sample of 1000.
    #[arg(long)]
    pub full: bool,
    /// With --files: copy unusable files to the reports folder.
    #[arg(long)]
    pub quarantine: bool,
    /// Exit 1 when any check finds something.
    #[arg(long)]
    pub strict: bool,
    /// Where the generated spec, lockfile and reports go [default: ./<name>-validation].
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Replace a dataset.yaml in the output folder that this command did not write.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SplitCmdArgs {
    /// The data: a file (CSV, JSON Lines, Parquet…) or a folder of them.
    pub path: PathBuf,
    /// Shares of the splits, e.g. 0.7,0.2,0.1 (normalized when they do not sum to 1).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.8,0.1,0.1",
        value_name = "SHARES"
    )]
    pub ratios: Vec<f64>,
    /// Split names [default: train,test or train,validation,test].
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub names: Option<Vec<String>>,
    /// Balance the splits on this label column.
    #[arg(long, value_name = "COLUMN", conflicts_with_all = ["key", "group"])]
    pub stratify: Option<String>,
    /// Assign rows by a hash of this column: adding rows never moves existing ones.
    #[arg(long, value_name = "COLUMN", conflicts_with = "group")]
    pub key: Option<String>,
    /// Keep each value of this column in one split.
    #[arg(long, value_name = "COLUMN")]
    pub group: Option<String>,
    /// Seed [default: drawn, printed, and kept in the lockfile].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Index files next to the split tables.
    #[arg(long, value_enum, default_value_t = IndexArg::Csv)]
    pub index: IndexArg,
    /// Fail when identical rows end up in two splits.
    #[arg(long)]
    pub fail_on_leakage: bool,
    /// Where the generated spec, lockfile and splits go [default: ./<name>-splits].
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Replace a dataset.yaml in the output folder that this command did not write.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IndexArg {
    Csv,
    Json,
    Txt,
    None,
}

impl IndexArg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Txt => "txt",
            Self::None => "none",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Stages to build (with everything they depend on); all when none are given.
    #[arg(value_name = "STAGE")]
    pub stages: Vec<String>,
    /// Run the selected stages even when they are fresh (and skip the run cache).
    #[arg(long)]
    pub force: bool,
    /// Print what would run and why, and change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Keep building independent stages after a failure.
    #[arg(short = 'k', long)]
    pub keep_going: bool,
    /// Fail with exit code 3 instead of changing dataset.lock.
    #[arg(long, conflicts_with = "frozen")]
    pub locked: bool,
    /// Never write dataset.lock.
    #[arg(long)]
    pub frozen: bool,
    /// Stages to run at once, and threads per stage [default: all cores].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
    /// Do not restore outputs from the run cache.
    #[arg(long)]
    pub no_run_cache: bool,
    /// Print events as JSON Lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// Seed for the stages whose spec sets none (instead of the lock's or a drawn one).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Never use the network: remote sources come from the download cache, at the revisions
    /// the lockfile pins (also `MLDATA_OFFLINE=1` or `HF_HUB_OFFLINE=1`).
    #[arg(long, conflicts_with = "refresh")]
    pub offline: bool,
    /// Resolve remote sources again (`@main`, a URL's current content) instead of using the
    /// revisions the lockfile pins.
    #[arg(long)]
    pub refresh: bool,
    /// Download remote sources again even when the cache has them.
    #[arg(long)]
    pub no_cache: bool,
    /// Write the SHA-256 of every `https://` source without one into dataset.yaml (`sha256:`).
    #[arg(long, conflicts_with_all = ["locked", "frozen", "dry_run"])]
    pub register_checksums: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The stage (or matrix member) to explain.
    pub stage: String,
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// A dataset.lock or a shipped manifest.yaml [default: the spec's lockfile].
    pub lock: Option<PathBuf>,
    /// Build into this (new or empty) folder instead of a temporary one, and keep it.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where the lock's local sources are [default: the lock's project folder].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Stages to run at once [default: all cores].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A dataset.lock or manifest.yaml [default: the spec's lockfile].
    pub lock: Option<PathBuf>,
    /// The project folder the lock's local sources are relative to [default: the lockfile's
    /// folder; for a manifest.yaml, the folder that holds its dataset folder].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old build: a lockfile, a manifest.yaml, or a git revision (e.g. HEAD~1, v1.0).
    pub old: String,
    /// The new build [default: the working tree's lockfile].
    pub new: Option<String>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also compare the tables row by row: rows added, removed, changed, moved between splits.
    #[arg(long)]
    pub detailed: bool,
    /// With `--detailed`: the column identifying a row [default: the whole row's content].
    #[arg(long, value_name = "COLUMN", requires = "detailed")]
    pub key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Also write `<dataset folder>.dvc` (DVC 3's pointer file) and add the folder to the
    /// `.gitignore` next to it.
    #[arg(long, conflicts_with = "git_lfs")]
    pub dvc: bool,
    /// Also add Git LFS rules for the dataset folder's large files to `.gitattributes`.
    #[arg(long)]
    pub git_lfs: bool,
    /// Compare with the lockfile at this git revision (or a lockfile path) instead of the
    /// highest release recorded in `.mldatabuild/releases/`.
    #[arg(long, value_name = "REV")]
    pub since: Option<String>,
    /// The changelog to write [default: CHANGELOG.md next to the spec].
    #[arg(long, value_name = "PATH")]
    pub changelog: Option<PathBuf>,
    /// Print the entry and what would be written, and write nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Also remove dataset.lock.
    #[arg(long)]
    pub lock: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Every dataset built on this machine with this store, not only this project's.
    #[arg(long)]
    pub all: bool,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// A stage or matrix member (`tokens`, `tokens[max_length=512]`), or the dataset's name to
    /// remove the whole dataset folder and its lock entries.
    pub name: String,
    /// Show what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The stage (or matrix member); all members of a matrix stage when it has several.
    pub stage: String,
    /// Print the stored report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Also keep outputs built in the last N days that no lock references (earlier
    /// parameters, removed stages), so reverting restores them.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub keep_days: u64,
    /// Then drop the oldest of those until the store's objects fit (e.g. 20GB); what a lock
    /// references is always kept.
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Say what would be removed and how much, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct HeadArgs {
    /// A built stage (or matrix member), or a data file: CSV, TSV, JSON, JSON Lines, Parquet,
    /// Arrow IPC/Feather, optionally compressed.
    pub target: String,
    /// How many rows (at most 10000).
    #[arg(short = 'n', long = "rows", default_value_t = 10)]
    pub rows: usize,
    /// A stage's table to read (`train`, `test`…) [default: `train`, else all its tables].
    #[arg(long)]
    pub split: Option<String>,
    /// Only these columns, in this order (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Vec<String>,
    /// The longest value shown, in characters (longer ones are shortened with `…`).
    #[arg(long, default_value_t = 40)]
    pub width: usize,
    /// Print one JSON object: `source`, `schema` (name, type) and `rows`, each an array of
    /// typed values in column order.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The tokenize stage (or matrix member).
    pub stage: String,
    /// The table (split) to read [default: `train`, else the first].
    #[arg(long)]
    pub split: Option<String>,
    /// The page, from 1.
    #[arg(long, default_value_t = 1)]
    pub page: u64,
    /// Sequences per page (1 to 1000).
    #[arg(long, default_value_t = 5)]
    pub page_size: u64,
    /// Also list each sequence's tokens.
    #[arg(long)]
    pub tokens: bool,
    /// Print JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Write `schemas/dataset.schema.json` and `schemas/lockfile.schema.json` under DIR.
    #[arg(long)]
    pub write: bool,
    /// Exit 1 when the files under DIR differ from what this version generates.
    #[arg(long, conflicts_with = "write")]
    pub check: bool,
    /// Which schema to print.
    #[arg(long, value_enum, default_value_t = SchemaKind::Dataset)]
    pub kind: SchemaKind,
    /// The folder holding `schemas/` [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaKind {
    Dataset,
    Lockfile,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The dataset's name [default: the folder's name].
    #[arg(long)]
    pub name: Option<String>,
    /// Overwrite an existing spec.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DagArgs {
    #[arg(long, value_enum, default_value_t = DagFormat::Text)]
    pub format: DagFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DagFormat {
    Text,
    Dot,
    Mermaid,
}
