//! `mldatabuild ls`, `rm`, `stats` and `sample`: the built dataset, its tokenizations and
//! their history; removing one stage's outputs and what depends on them; a stage's statistics
//! again; decoded sequences of a tokenize stage, page by page.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::UInt32Type;

use crate::cli::{LsArgs, RmArgs, SampleArgs, StatsArgs};
use crate::error::{Error, Result};
use crate::lockfile::{Lock, StageLock};
use crate::settings::Settings;
use crate::stages::tokenize::TOKENIZER_FILE;

/// The project and its lock (an error when nothing was built yet).
pub(super) fn built(settings: &Settings) -> Result<(crate::spec::Project, Lock)> {
    let project = super::load_project(settings)?;
    match super::read_lock(&project)? {
        Some(l) => Ok((project, l)),
        None => Err(Error::user(format!(
            "`{}` has not been built yet (no {})",
            project.name,
            crate::spec::resolve::lock_name(&project.spec_path)
        ))
        .hint("run `mldatabuild build` first")),
    }
}

/// The lock entries `name` designates: one node, or every member of a matrix stage.
pub(super) fn select<'a>(lock: &'a Lock, name: &str) -> Result<Vec<(&'a String, &'a StageLock)>> {
    if let Some((k, v)) = lock.stages.get_key_value(name) {
        return Ok(vec![(k, v)]);
    }
    let members: Vec<_> = lock
        .stages
        .iter()
        .filter(|(_, s)| s.group == name)
        .collect();
    if !members.is_empty() {
        return Ok(members);
    }
    let names: BTreeSet<&str> = lock
        .stages
        .iter()
        .flat_map(|(k, s)| [k.as_str(), s.group.as_str()])
        .collect();
    let mut err = Error::user(format!("no stage `{name}` in the lock"));
    err = match crate::spec::error::did_you_mean(name, names.iter().copied()) {
        Some(h) => err.hint(h),
        None => err.hint(format!(
            "built stages: {}",
            names.into_iter().collect::<Vec<_>>().join(", ")
        )),
    };
    Err(err)
}

/// Where a file the lock lists (a path inside the dataset folder) is.
fn output_file(project: &crate::spec::Project, path: &str) -> PathBuf {
    project.out_path().join(path)
}

/// Whether a lock output path is a report (`reports/…`).
fn is_report_path(path: &str) -> bool {
    path.starts_with(&format!("{}/", crate::lockfile::REPORTS_DIR))
}

/// `mldatabuild stats STAGE`.
pub(crate) fn stats(settings: &Settings, args: &StatsArgs) -> Result<u8> {
    let (project, lock) = built(settings)?;
    let mut out = String::new();
    for (name, st) in select(&lock, &args.stage)? {
        let report = st
            .outputs
            .iter()
            .find(|f| {
                is_report_path(&f.path)
                    && Path::new(&f.path).extension().is_some_and(|e| e == "json")
            })
            .ok_or_else(|| {
                Error::user(format!(
                    "stage `{name}` ({}) keeps no statistics report",
                    st.kind
                ))
                .hint("`tokenize` and `validate` stages write reports/<stage>.json")
            })?;
        let path = output_file(&project, &report.path);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::user(format!("cannot read `{}`: {e}", path.display()))
                .hint("the dataset folder is incomplete: run `mldatabuild build` to restore it")
        })?;
        if args.json {
            out.push_str(text.trim_end());
            out.push('\n');
            continue;
        }
        let rendered = crate::stages::tokenize::render_stored(&text)
            .or_else(|| crate::stages::validate::render_stored(&text))
            .ok_or_else(|| {
                Error::user(format!(
                    "`{}` is not a report this version reads",
                    path.display()
                ))
            })?;
        let _ = writeln!(out, "{name} ({})", st.kind);
        out.push_str(&rendered);
    }
    print!("{out}");
    Ok(0)
}

/// `mldatabuild sample STAGE --page N`.
pub(crate) fn sample(settings: &Settings, args: &SampleArgs) -> Result<u8> {
    if args.page == 0 {
        return Err(Error::user("--page counts from 1"));
    }
    if !(1..=1000).contains(&args.page_size) {
        return Err(Error::user(format!(
            "--page-size must be between 1 and 1000: got {}",
            args.page_size
        )));
    }
    let (project, lock) = built(settings)?;
    let members = select(&lock, &args.stage)?;
    let [(name, st)] = members.as_slice() else {
        let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        return Err(Error::user(format!(
            "`{}` has {} members; sample one",
            args.stage,
            names.len()
        ))
        .hint(format!("for example: mldatabuild sample '{}'", names[0])));
    };
    if st.kind != "tokenize" {
        return Err(Error::user(format!(
            "`{name}` is a {} stage; `sample` pages through tokenize stages",
            st.kind
        )));
    }
    let tables: Vec<&str> = st
        .outputs
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| p.ends_with(".parquet") && !is_report_path(p))
        .collect();
    let stem = |p: &str| {
        let rel = crate::lockfile::output_rel(&st.output, p);
        rel.trim_end_matches(".parquet").to_owned()
    };
    let table = match &args.split {
        Some(s) => tables
            .iter()
            .find(|p| stem(p) == *s)
            .copied()
            .ok_or_else(|| {
                Error::user(format!("`{name}` has no table `{s}`")).hint(format!(
                    "its tables: {}",
                    tables
                        .iter()
                        .map(|p| stem(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
        None => tables
            .iter()
            .find(|p| stem(p) == "train")
            .or(tables.first())
            .copied()
            .ok_or_else(|| Error::user(format!("`{name}` wrote no table")))?,
    };
    let tok_path = output_file(&project, &format!("{}/{TOKENIZER_FILE}", st.output));
    let tok = crate::tokenizer::Tokenizer::from_file(&tok_path).map_err(|e| {
        Error::user(e.to_string()).hint("run `mldatabuild build` to restore the dataset folder")
    })?;
    let path = output_file(&project, table);
    let (rows, total) = read_page(&path, (args.page - 1) * args.page_size, args.page_size)?;
    let pages = total.div_ceil(args.page_size).max(1);
    if rows.is_empty() {
        return Err(Error::user(format!(
            "page {} is past the end: `{table}` has {total} sequences ({pages} pages of {})",
            args.page, args.page_size
        )));
    }
    let mut out = String::new();
    if !args.json {
        let _ = writeln!(
            out,
            "{name} · {table} · page {} of {pages} ({total} sequences)\n",
            args.page
        );
    }
    for (i, ids) in rows {
        let text = tok
            .decode(&ids, false)
            .map_err(|e| Error::failure(e.to_string()))?;
        if args.json {
            let mut v = serde_json::json!({"index": i, "length": ids.len(), "text": text, "input_ids": ids});
            if args.tokens {
                v["tokens"] = ids
                    .iter()
                    .map(|&id| tok.id_to_token(id).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .into();
            }
            let _ = writeln!(out, "{v}");
            continue;
        }
        let _ = writeln!(out, "#{i} · {} tokens", ids.len());
        let shown: String = text.chars().take(2000).collect();
        let more = if text.chars().count() > 2000 {
            " …"
        } else {
            ""
        };
        for line in shown.lines() {
            let _ = writeln!(out, "  │ {line}");
        }
        if more.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "  │{more}\n");
        }
        if args.tokens {
            let pieces: Vec<String> = ids
                .iter()
                .map(|&id| format!("{}:{id}", tok.id_to_token(id).unwrap_or_default()))
                .collect();
            let _ = writeln!(out, "  tokens: {}\n", pieces.join(" "));
        }
    }
    print!("{out}");
    let _ = std::io::stdout().flush();
    Ok(0)
}

/// Rows `[offset, offset + n)` of a tokenized table's `input_ids`, and the table's row count.
fn read_page(path: &Path, offset: u64, n: u64) -> Result<(Vec<(u64, Vec<u32>)>, u64)> {
    let err = |e: &dyn std::fmt::Display| {
        Error::user(format!("cannot read `{}`: {e}", path.display()))
            .hint("run `mldatabuild build` to restore the dataset folder")
    };
    let file = std::fs::File::open(path).map_err(|e| err(&e))?;
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| err(&e))?;
    let total = u64::try_from(b.metadata().file_metadata().num_rows()).unwrap_or(0);
    let Some(col) = b.schema().index_of("input_ids").ok() else {
        return Err(err(&"it has no `input_ids` column"));
    };
    let mask = parquet::arrow::ProjectionMask::roots(b.parquet_schema(), [col]);
    let reader = b
        .with_projection(mask)
        .with_offset(usize::try_from(offset).unwrap_or(usize::MAX))
        .with_limit(usize::try_from(n).unwrap_or(usize::MAX))
        .build()
        .map_err(|e| err(&e))?;
    let mut rows = Vec::new();
    let mut i = offset;
    for batch in reader {
        let batch = batch.map_err(|e| err(&e))?;
        let lists = batch.column(0).as_list::<i32>();
        for r in 0..lists.len() {
            let v = lists.value(r);
            let ids = v.as_primitive::<UInt32Type>().values().to_vec();
            rows.push((i, ids));
            i += 1;
        }
    }
    Ok((rows, total))
}

/// `mldatabuild ls`.
/// `ls --all`: every project registered in the store (by its builds), from its lockfile.
fn ls_all(args: &LsArgs) -> Result<u8> {
    let store = super::open_store()?;
    let mut rows = Vec::new();
    for (_, p) in store.projects() {
        let mut entry = serde_json::json!({
            "path": p.root.display().to_string(),
            "last_build": p.built,
        });
        match Lock::read(&p.lock) {
            Ok(Some(lock)) => {
                let out = p.root.join(&lock.output);
                let files: Vec<&crate::lockfile::FileLock> =
                    lock.stages.values().flat_map(|s| &s.outputs).collect();
                let missing = files
                    .iter()
                    .filter(|f| {
                        crate::trust::join_beneath(&out, &f.path).map_or(true, |p| !p.is_file())
                    })
                    .count();
                entry["dataset"] = lock.dataset.name.clone().into();
                entry["version"] = lock.dataset.version.clone().into();
                entry["stages"] = lock.stages.len().into();
                entry["bytes"] = files.iter().map(|f| f.size).sum::<u64>().into();
                entry["rows"] = lock
                    .stages
                    .values()
                    .filter_map(|s| s.summary.get("rows").and_then(serde_json::Value::as_u64))
                    .max()
                    .into();
                entry["status"] = if missing == 0 {
                    "ok".into()
                } else {
                    format!(
                        "{missing} output{} missing",
                        if missing == 1 { "" } else { "s" }
                    )
                    .into()
                };
            }
            Ok(None) => entry["status"] = "lockfile gone".into(),
            Err(e) => entry["status"] = format!("unreadable lock: {e}").into(),
        }
        rows.push(entry);
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(stdout, "{}", serde_json::Value::Array(rows));
        return Ok(0);
    }
    if rows.is_empty() {
        let _ = writeln!(
            stdout,
            "No dataset has been built with this store ({}) yet",
            store.root.display()
        );
        return Ok(0);
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let mut table = vec![
        [
            "dataset",
            "version",
            "stages",
            "size",
            "rows",
            "last build",
            "status",
            "path",
        ]
        .map(str::to_owned),
    ];
    for r in &rows {
        table.push([
            text(&r["dataset"]),
            text(&r["version"]),
            text(&r["stages"]),
            r["bytes"]
                .as_u64()
                .map_or_else(|| "-".into(), crate::report::human::size),
            text(&r["rows"]),
            text(&r["last_build"]),
            text(&r["status"]),
            text(&r["path"]),
        ]);
    }
    for line in crate::report::human::aligned(&table) {
        let _ = writeln!(stdout, "{line}");
    }
    Ok(0)
}

pub(crate) fn ls(settings: &Settings, args: &LsArgs) -> Result<u8> {
    if args.all {
        return ls_all(args);
    }
    let (project, lock) = built(settings)?;
    let (_, statuses, _) = super::status::plan(settings, Vec::new())?;
    let store = super::open_store()?;
    let runs = store.runs();
    let out_dir = project.out_path();
    let mut stages = Vec::new();
    for (name, st) in &lock.stages {
        let bytes: u64 = st.outputs.iter().map(|f| f.size).sum();
        let on_disk = st
            .outputs
            .iter()
            .all(|f| output_file(&project, &f.path).is_file());
        let status = match statuses.get(name) {
            Some(s) if !on_disk && matches!(s, crate::executor::Status::Fresh) => {
                "missing".to_owned()
            }
            Some(s) => status_word(s).to_owned(),
            None => "not in spec".to_owned(),
        };
        // Earlier runs of this stage of this dataset, from the run cache.
        let mut history: Vec<serde_json::Value> = runs
            .iter()
            .filter_map(|r| r.origin.as_ref().map(|o| (r, o)))
            .filter(|(_, o)| o.dataset == lock.dataset.name && o.group == st.group)
            .map(|(r, o)| {
                serde_json::json!({
                    "at": o.at,
                    "stage": o.stage,
                    "key": r.key,
                    "current": r.key == st.key,
                    "rows": r.summary.get("rows"),
                    "tokens": r.summary.get("tokens"),
                    "params": changed_params(&o.params, &st.params),
                })
            })
            .collect();
        history.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
        let mut entry = serde_json::json!({
            "stage": name,
            "kind": st.kind,
            "status": status,
            "output": st.output,
            "bytes": bytes,
            "rows": st.summary.get("rows"),
            "history": history,
        });
        if st.kind == "tokenize" {
            entry["tokenizer"] = st
                .params
                .get("tokenizer")
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or_else(|| "trained".into());
            entry["max_length"] = st.params.get("max_length").cloned().unwrap_or_default();
            entry["tokens"] = st.summary.get("tokens").cloned().unwrap_or_default();
        }
        stages.push(entry);
    }
    let total: u64 = stages.iter().filter_map(|s| s["bytes"].as_u64()).sum();
    if args.json {
        let v = serde_json::json!({
            "dataset": lock.dataset.name,
            "version": lock.dataset.version,
            "folder": out_dir.display().to_string(),
            "bytes": total,
            "stages": stages,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(0);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} · {} · {}",
        lock.dataset.name,
        lock.dataset.version,
        project.out_dir,
        crate::report::human::size(total)
    );
    let w = stages
        .iter()
        .filter_map(|s| s["stage"].as_str().map(|n| n.chars().count()))
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        out,
        "  {:<w$}  {:<9} {:<8} {:>10} {:>12}",
        "stage", "kind", "status", "size", "rows"
    );
    for s in &stages {
        let _ = writeln!(
            out,
            "  {:<w$}  {:<9} {:<8} {:>10} {:>12}",
            s["stage"].as_str().unwrap_or(""),
            s["kind"].as_str().unwrap_or(""),
            s["status"].as_str().unwrap_or(""),
            crate::report::human::size(s["bytes"].as_u64().unwrap_or(0)),
            s["rows"]
                .as_u64()
                .map(|r| r.to_string())
                .unwrap_or_default(),
        );
    }
    let tokenizations: Vec<&serde_json::Value> =
        stages.iter().filter(|s| s["kind"] == "tokenize").collect();
    if !tokenizations.is_empty() {
        let _ = writeln!(out, "\nTokenizations:");
        for s in tokenizations {
            let _ = writeln!(
                out,
                "  {}: tokenizer {}, max_length {}, {} tokens",
                s["stage"].as_str().unwrap_or(""),
                label(&s["tokenizer"]),
                label(&s["max_length"]),
                label(&s["tokens"]),
            );
            for h in s["history"].as_array().into_iter().flatten() {
                let changed = h["params"]
                    .as_object()
                    .filter(|m| !m.is_empty())
                    .map_or_else(
                        || "same parameters".into(),
                        |m| {
                            m.iter()
                                .map(|(k, v)| format!("{k}={}", label(v)))
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                    );
                let _ = writeln!(
                    out,
                    "    {} {} {} tokens ({changed}){}",
                    h["at"].as_str().unwrap_or("?"),
                    h["stage"].as_str().unwrap_or(""),
                    label(&h["tokens"]),
                    if h["current"] == true {
                        "  ← current"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    print!("{out}");
    Ok(0)
}

fn label(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "none".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn status_word(s: &crate::executor::Status) -> &'static str {
    match s {
        crate::executor::Status::Fresh => "fresh",
        crate::executor::Status::Planned { .. } => "stale",
        other => other.label(),
    }
}

/// The parameters of an earlier run that differ from the current ones.
fn changed_params(old: &serde_json::Value, now: &serde_json::Value) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    if let (Some(o), Some(n)) = (old.as_object(), now.as_object()) {
        for (k, v) in o {
            if n.get(k) != Some(v) {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    m.into()
}

/// `mldatabuild rm NAME`.
pub(crate) fn rm(settings: &Settings, args: &RmArgs) -> Result<u8> {
    let _guard = super::project_lock(settings)?;
    let (project, mut lock) = built(settings)?;
    let whole = args.name == lock.dataset.name && !lock.stages.contains_key(&args.name);
    let doomed: BTreeSet<String> = if whole {
        lock.stages.keys().cloned().collect()
    } else {
        let start: Vec<String> = select(&lock, &args.name)?
            .into_iter()
            .map(|(n, _)| n.clone())
            .collect();
        dependents(&lock, &start)
    };
    let mut files: Vec<PathBuf> = Vec::new();
    let mut bytes = 0u64;
    for name in &doomed {
        if let Some(st) = lock.stages.get(name) {
            for f in &st.outputs {
                let path = crate::trust::join_beneath(&project.out_path(), &f.path).map_err(|e| {
                    Error::user(format!(
                        "`{}`: an output {e}; `rm` deletes only inside `{}`",
                        project.lock_path().display(),
                        project.out_dir
                    ))
                    .hint("remove the symbolic link, or regenerate the lock with `mldatabuild build`")
                })?;
                files.push(path);
                bytes += f.size;
            }
        }
    }
    let verb = if args.dry_run {
        "Would remove"
    } else {
        "Removed"
    };
    let direct: BTreeSet<String> = if whole {
        doomed.clone()
    } else {
        select(&lock, &args.name)?
            .into_iter()
            .map(|(n, _)| n.clone())
            .collect()
    };
    let downstream: Vec<&str> = doomed
        .iter()
        .filter(|n| !direct.contains(*n))
        .map(String::as_str)
        .collect();
    let mut msg = format!(
        "{verb} {} ({} files, {})",
        direct.iter().cloned().collect::<Vec<_>>().join(", "),
        files.len(),
        crate::report::human::size(bytes)
    );
    if !downstream.is_empty() {
        let _ = write!(msg, " and what depends on it: {}", downstream.join(", "));
    }
    if args.dry_run {
        eprintln!("{msg}");
        return Ok(0);
    }
    for f in &files {
        match std::fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::failure(format!(
                    "cannot remove `{}`: {e}",
                    f.display()
                )));
            }
        }
    }
    // Folders left empty.
    let out = project.out_path();
    if whole {
        let _ = std::fs::remove_file(out.join("manifest.yaml"));
    }
    let mut dirs: BTreeSet<PathBuf> = files
        .iter()
        .flat_map(|f| {
            f.ancestors()
                .skip(1)
                .map(Path::to_path_buf)
                .collect::<Vec<_>>()
        })
        .filter(|d| d.starts_with(&out))
        .collect();
    if whole {
        dirs.insert(out.clone());
    }
    for d in dirs.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    for name in &doomed {
        lock.stages.remove(name);
    }
    // The lockfile and the dataset folder's manifest.yaml say the same, as after a build; with
    // the whole dataset removed there is no dataset folder to hold a manifest.
    let text = lock.to_yaml();
    let mut targets = vec![project.lock_path()];
    if !whole && out.is_dir() {
        targets.push(out.join("manifest.yaml"));
    }
    for path in targets {
        crate::lockfile::write_atomic(&path, &text)
            .map_err(|e| Error::failure(format!("cannot write `{}`: {e}", path.display())))?;
    }
    eprintln!("{msg}");
    eprintln!(
        "The outputs stay in the run cache: `mldatabuild build` restores them while the spec still names the stage; `mldatabuild gc` frees them once no lock needs them."
    );
    Ok(0)
}

/// `start` and every stage that reads, directly or not, from one of them.
fn dependents(lock: &Lock, start: &[String]) -> BTreeSet<String> {
    let mut readers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, st) in &lock.stages {
        for i in &st.inputs {
            readers.entry(i.name.as_str()).or_default().push(name);
        }
    }
    let mut out: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<&str> = start.iter().map(String::as_str).collect();
    while let Some(n) = stack.pop() {
        if out.insert(n.to_owned()) {
            stack.extend(readers.get(n).into_iter().flatten());
        }
    }
    out
}
