//! `mldatabuild validate <path>`, `split <path>` and `export <path>`: for data without a spec.
//!
//! Each writes a small `dataset.yaml` (normalize, then the one stage) into its output folder
//! and builds it there: the same engine, caching and lockfile as a spec'd build, and the spec
//! is left for the user to adopt (`mldatabuild -C <folder> build` repeats it).
//!
//! What these commands wrote reads back ([`data_input`]): a folder written by one of them
//! stands for its tables, and a split's index files (`train.csv` beside `train.parquet`) are
//! not read as data.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::cli::{BuildArgs, ExportCmdArgs, SplitCmdArgs, ValidateCmdArgs};
use crate::error::{Error, Result};
use crate::settings::Settings;

/// A YAML scalar, quoted (JSON strings are YAML).
fn q(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn input_path(settings: &Settings, path: &Path) -> Result<PathBuf> {
    let p = settings.cwd.join(path);
    if !p.exists() {
        return Err(
            Error::user(format!("`{}`: no such file or folder", path.display()))
                .hint("name a data file (CSV, JSON Lines, Parquet…) or a folder of them"),
        );
    }
    p.canonicalize()
        .map_err(|e| Error::user(format!("`{}`: {e}", path.display())))
}

/// What an ad-hoc command reads: a file or folder, as the generated spec's `raw` source.
struct DataInput {
    path: PathBuf,
    /// A folder's data files (its source's `files:`), when some of its files are not data:
    /// the index files a `split` wrote beside its tables.
    files: Option<Vec<String>>,
}

impl DataInput {
    /// The `raw:` source entry of a generated spec.
    fn source_yaml(&self) -> String {
        let mut s = format!("{{uri: {}", q(&self.path.display().to_string()));
        if let Some(files) = &self.files {
            let globs: Vec<String> = files.iter().map(|f| q(&glob::Pattern::escape(f))).collect();
            let _ = write!(s, ", files: [{}]", globs.join(", "));
        }
        s.push('}');
        s
    }
}

/// The folder of tables in a project folder written by `validate`, `split` or `export`
/// (`# Written by \`mldatabuild <command>\`` heads its dataset.yaml).
fn generated_tables(dir: &Path, spec: &str) -> Result<PathBuf> {
    let command = spec
        .strip_prefix(GENERATED)
        .and_then(|r| r.strip_prefix(' '))
        .and_then(|r| r.split('`').next())
        .unwrap_or_default();
    let tables = match command {
        "split" => dir.join("dataset/splits"),
        "validate" => dir.join("dataset/validation"),
        "export" => dir.join("dataset/export/parquet"),
        _ => PathBuf::new(),
    };
    if tables.is_dir() {
        return Ok(tables);
    }
    Err(Error::user(format!(
        "`{}` is a project folder (it holds a dataset.yaml), not a folder of data",
        dir.display()
    ))
    .hint(format!(
        "name the folder of the tables to read, e.g. `{}`",
        dir.join("dataset/<stage>").display()
    )))
}

/// Whether `path` is an index file that a `split` stage wrote beside its table: `<split>.csv`,
/// `.txt` or `.json` next to `<split>.parquet`, starting as split writes them.
fn is_split_index(path: &Path) -> bool {
    use std::io::Read as _;
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return false;
    };
    let head: &[u8] = match ext {
        "csv" | "txt" => b"# mldatabuild split=",
        "json" => b"{\"split\":",
        _ => return false,
    };
    if !path.with_extension("parquet").is_file() {
        return false;
    }
    let mut buf = vec![0u8; head.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok_and(|()| buf == head)
}

/// What `input` (an existing file or folder) stands for. A project folder written by one of
/// these commands stands for its tables (`split`: the splits), another project folder is an
/// error; in a folder, the index files a split wrote are left out (they list rows of the
/// tables beside them, they are not data).
fn data_input(input: PathBuf) -> Result<DataInput> {
    if !input.is_dir() {
        return Ok(DataInput {
            path: input,
            files: None,
        });
    }
    let path = match std::fs::read_to_string(input.join("dataset.yaml")) {
        Ok(spec) => generated_tables(&input, &spec)?,
        Err(_) => input,
    };
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for (rel, file) in crate::source::folder_files(&path).filter_map(std::result::Result::ok) {
        if is_split_index(&file) {
            skipped.push(rel);
        } else {
            kept.push(rel);
        }
    }
    if skipped.is_empty() {
        return Ok(DataInput { path, files: None });
    }
    eprintln!(
        "note: reading the tables of `{}`; the split index files {} are not data",
        path.display(),
        skipped
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(DataInput {
        path,
        files: Some(kept),
    })
}

fn default_output(settings: &Settings, input: &Path, suffix: &str) -> PathBuf {
    let stem = input
        .file_name()
        .map_or_else(|| "data".to_owned(), |s| s.to_string_lossy().into_owned());
    let stem = stem.split('.').next().unwrap_or("data").to_owned();
    settings.cwd.join(format!("{stem}-{suffix}"))
}

/// Dataset names allow letters, digits, `-`, `_` and `.`.
fn dataset_name(input: &Path) -> String {
    let raw = input
        .file_stem()
        .map_or_else(|| "data".to_owned(), |s| s.to_string_lossy().into_owned());
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() { "data".into() } else { name }
}

/// Write the spec into `dir` (refusing to overwrite a different spec unless `force`) and
/// return settings that build it.
fn prepare(settings: &Settings, dir: &Path, spec: &str, force: bool) -> Result<Settings> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::failure(format!("cannot create `{}`: {e}", dir.display())))?;
    let file = dir.join("dataset.yaml");
    if let Ok(old) = std::fs::read_to_string(&file)
        && old != spec
        && !force
        && !old.starts_with(GENERATED)
    {
        return Err(Error::user(format!(
            "`{}` already holds a dataset.yaml that this command did not write",
            dir.display()
        ))
        .hint("choose another `--output` folder, or pass `--force` to replace it"));
    }
    crate::lockfile::write_atomic(&file, spec)
        .map_err(|e| Error::failure(format!("cannot write `{}`: {e}", file.display())))?;
    Ok(Settings {
        cwd: dir.to_path_buf(),
        spec_file: file,
        spec_display: "dataset.yaml".into(),
        verbosity: settings.verbosity,
        progress: settings.progress,
    })
}

const GENERATED: &str = "# Written by `mldatabuild";

fn build_args(seed: Option<u64>) -> BuildArgs {
    BuildArgs {
        stages: Vec::new(),
        force: false,
        dry_run: false,
        keep_going: false,
        locked: false,
        frozen: false,
        jobs: None,
        no_run_cache: false,
        json: false,
        seed,
        offline: false,
        refresh: false,
        no_cache: false,
        register_checksums: false,
    }
}

pub(crate) fn validate(settings: &Settings, args: &ValidateCmdArgs) -> Result<u8> {
    let input = input_path(settings, &args.path)?;
    let data = data_input(input.clone())?;
    let dir = args.output.as_ref().map_or_else(
        || default_output(settings, &input, "validation"),
        |o| settings.cwd.join(o),
    );
    let mut spec = format!(
        "{GENERATED} validate`; `mldatabuild -C {} build` repeats it.\nname: {}\nversion: 0.1.0\noutput: dataset\nsources:\n  raw: {}\nstages:\n  table: {{kind: normalize, input: raw}}\n  validation:\n    kind: validate\n    input: table\n",
        q(&dir.display().to_string()),
        dataset_name(&input),
        data.source_yaml(),
    );
    let action = if args.strict { "fail" } else { "report" };
    let _ = writeln!(spec, "    duplicates: {{action: {action}}}");
    let _ = writeln!(spec, "    missing: {{action: {action}}}");
    let _ = writeln!(spec, "    schema: {{action: {action}}}");
    if let Some(l) = &args.label {
        let _ = writeln!(spec, "    labels: {{column: {}, action: {action}}}", q(l));
    }
    if let Some(t) = &args.near_duplicates {
        let _ = writeln!(
            spec,
            "    near_duplicates: {{column: {}, threshold: {}, action: {action}}}",
            q(t),
            args.threshold
        );
    }
    if let Some(f) = &args.files {
        let _ = writeln!(
            spec,
            "    files: {{column: {}, full: {}, quarantine: {}, action: {action}}}",
            q(f),
            args.full,
            args.quarantine
        );
    }
    let s = prepare(settings, &dir, &spec, args.force)?;
    let (code, outcome) = super::build::build_outcome(&s, &build_args(None))?;
    // The stage prints its summary when it runs; a fresh one prints the stored report.
    if !matches!(
        outcome.statuses.get("validation"),
        Some(crate::executor::Status::Ran)
    ) && let Ok(text) = std::fs::read_to_string(dir.join("dataset/reports/validation.json"))
        && let Some(summary) = crate::stages::validate::render_stored(&text)
    {
        eprint!("{summary}");
    }
    eprintln!(
        "Reports: {}",
        dir.join("dataset/reports/validation.md").display()
    );
    Ok(code)
}

pub(crate) fn split(settings: &Settings, args: &SplitCmdArgs) -> Result<u8> {
    let input = input_path(settings, &args.path)?;
    let data = data_input(input.clone())?;
    let shares: Vec<f64> = args.ratios.clone();
    let names: Vec<String> = match &args.names {
        Some(n) => n.clone(),
        None => match shares.len() {
            2 => vec!["train".into(), "test".into()],
            3 => vec!["train".into(), "validation".into(), "test".into()],
            k => {
                return Err(Error::user(format!(
                    "--ratios gives {k} shares; name the splits with --names"
                ))
                .hint("e.g. --ratios 0.6,0.2,0.1,0.1 --names train,validation,test,holdout"));
            }
        },
    };
    if names.len() != shares.len() {
        return Err(Error::user(format!(
            "--names gives {} splits but --ratios {} shares",
            names.len(),
            shares.len()
        ))
        .hint("give one name per share, in the same order"));
    }
    for (n, r) in names.iter().zip(&shares) {
        crate::stages::split::check_ratio(n, *r).map_err(|e| {
            let (msg, hint) = e.split_once(" | hint: ").unwrap_or((e.as_str(), ""));
            Error::user(format!("--ratios: {msg}")).hint(hint.to_owned())
        })?;
    }
    let dir = args.output.as_ref().map_or_else(
        || default_output(settings, &input, "splits"),
        |o| settings.cwd.join(o),
    );
    let ratios: Vec<String> = names
        .iter()
        .zip(&shares)
        .map(|(n, r)| format!("{n}: {r}"))
        .collect();
    let mut spec = format!(
        "{GENERATED} split`; `mldatabuild -C {} build` repeats it.\nname: {}\nversion: 0.1.0\noutput: dataset\nsources:\n  raw: {}\nstages:\n  table: {{kind: normalize, input: raw}}\n  splits:\n    kind: split\n    input: table\n    ratios: {{{}}}\n",
        q(&dir.display().to_string()),
        dataset_name(&input),
        data.source_yaml(),
        ratios.join(", ")
    );
    if let Some(seed) = args.seed {
        let _ = writeln!(spec, "    seed: {seed}");
    }
    for (key, v) in [
        ("stratify", &args.stratify),
        ("key", &args.key),
        ("group", &args.group),
    ] {
        if let Some(v) = v {
            let _ = writeln!(spec, "    {key}: {}", q(v));
        }
    }
    let _ = writeln!(spec, "    index: {}", args.index.as_str());
    if args.fail_on_leakage {
        let _ = writeln!(spec, "    fail_on_leakage: true");
    }
    let s = prepare(settings, &dir, &spec, args.force)?;
    let (code, _) = super::build::build_outcome(&s, &build_args(None))?;
    eprintln!("Splits: {}", dir.join("dataset/splits").display());
    Ok(code)
}

/// Whether `data` is a Parquet file, or a folder whose data files are all Parquet (split
/// tables): then the export reads it directly, one split per file.
fn is_parquet_tables(data: &DataInput) -> bool {
    let is_pq = |f: &Path| f.extension().is_some_and(|e| e == "parquet");
    let p = data.path.as_path();
    if p.is_file() {
        return is_pq(p);
    }
    if let Some(files) = &data.files {
        return !files.is_empty() && files.iter().all(|f| is_pq(Path::new(f)));
    }
    let files: Vec<PathBuf> = walkdir::WalkDir::new(p)
        .into_iter()
        .filter_map(std::result::Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .filter(|f| {
            !f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    !files.is_empty() && files.iter().all(|f| is_pq(f))
}

pub(crate) fn export(settings: &Settings, args: &ExportCmdArgs) -> Result<u8> {
    use crate::stages::export::options::FormatName;
    let mut formats = Vec::new();
    for f in &args.format {
        let f = f.trim();
        let Some(name) = FormatName::parse(f) else {
            let mut err = Error::user(format!("unknown export format `{f}`"));
            let all = FormatName::ALL.iter().map(|x| x.as_str());
            err = match crate::spec::error::did_you_mean(f, all) {
                Some(h) => err.hint(format!("{h} (formats: {})", FormatName::names())),
                None => err.hint(format!("the formats are: {}", FormatName::names())),
            };
            return Err(err);
        };
        if name == FormatName::Template {
            return Err(Error::user("`--format template` needs a template")
                .hint("write a dataset.yaml with an `export` stage and a `template:` block (docs/dataset-yaml.md)"));
        }
        if !formats.contains(&name) {
            formats.push(name);
        }
    }
    if let Some(c) = &args.compression
        && !["none", "snappy", "gzip", "lz4", "brotli", "zstd"].contains(&c.as_str())
    {
        return Err(Error::user(format!("unknown compression `{c}`"))
            .hint("--compression takes none, snappy, gzip, lz4, brotli or zstd"));
    }
    let input = input_path(settings, &args.path)?;
    let data = data_input(input.clone())?;
    let dir = args.output.as_ref().map_or_else(
        || default_output(settings, &input, "export"),
        |o| settings.cwd.join(o),
    );
    // An existing folder with files of its own is not ours to write into.
    let ours =
        std::fs::read_to_string(dir.join("dataset.yaml")).is_ok_and(|s| s.starts_with(GENERATED));
    let occupied = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some());
    if occupied && !ours && !args.force {
        return Err(Error::user(format!(
            "the output folder `{}` already exists and holds other files",
            dir.display()
        ))
        .hint("choose another `--output` folder, or pass `--force` to export into it"));
    }
    let direct = is_parquet_tables(&data);
    let names: Vec<&str> = formats.iter().map(|f| f.as_str()).collect();
    let mut spec = format!(
        "{GENERATED} export`; `mldatabuild -C {} build` repeats it.\nname: {}\nversion: 0.1.0\noutput: dataset\nsources:\n  raw: {}\nstages:\n",
        q(&dir.display().to_string()),
        dataset_name(&input),
        data.source_yaml(),
    );
    let from = if direct {
        "raw"
    } else {
        spec.push_str("  table: {kind: normalize, input: raw}\n");
        "table"
    };
    let _ = writeln!(
        spec,
        "  export:\n    kind: export\n    input: {from}\n    output: export\n    formats: [{}]",
        names.join(", ")
    );
    if let Some(c) = &args.compression {
        let _ = writeln!(spec, "    parquet: {{compression: {c}}}");
    }
    let s = prepare(settings, &dir, &spec, args.force)?;
    let (code, _) = super::build::build_outcome(&s, &build_args(None))?;
    eprintln!("Exported to: {}", dir.join("dataset/export").display());
    Ok(code)
}
