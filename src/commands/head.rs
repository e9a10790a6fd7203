//! `mldatabuild head STAGE|PATH`: the first rows of a built stage's table, or of any file the
//! tool reads (CSV, TSV, JSON, JSON Lines, Parquet, Arrow IPC / Feather, compressed), with the
//! schema on top, like `parquet-tools head` or the Hub's dataset viewer.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::HeadArgs;
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::stages::detect;
use crate::stages::table::{ReadLimits, Table};

/// The tables `head` reads, in order, and how to name them.
fn stage_tables(settings: &Settings, args: &HeadArgs) -> Result<Vec<(String, PathBuf)>> {
    let (project, lock) = super::tokens::built(settings)?;
    let entries = super::tokens::select(&lock, &args.target)?;
    let mut all = Vec::new();
    for (_, st) in entries {
        let out = project.out_path();
        for f in &st.outputs {
            let rel = crate::lockfile::output_rel(&st.output, &f.path);
            // The stage's tables: Parquet files at the top of its folder (not reports, not
            // export artifacts nested in format folders).
            if rel.contains('/') || !rel.ends_with(".parquet") {
                continue;
            }
            let path = crate::trust::join_beneath(&out, &f.path)
                .map_err(|e| Error::user(format!("an output {e}")))?;
            all.push((rel, format!("{}/{}", project.out_dir, f.path), path));
        }
    }
    if all.is_empty() {
        return Err(Error::user(format!(
            "stage `{}` has no table to show",
            args.target
        ))
        .hint("head reads the Parquet tables a stage writes (normalize, validate, split, tokenize)"));
    }
    let chosen: Vec<_> = match &args.split {
        Some(s) => {
            let want = format!("{s}.parquet");
            let hit: Vec<_> = all.iter().filter(|(r, _, _)| *r == want).cloned().collect();
            if hit.is_empty() {
                let names: Vec<&str> = all
                    .iter()
                    .map(|(r, _, _)| r.trim_end_matches(".parquet"))
                    .collect();
                return Err(
                    Error::user(format!("stage `{}` has no split `{s}`", args.target))
                        .hint(format!("its tables: {}", names.join(", "))),
                );
            }
            hit
        }
        // A split stage's `train`, else every table in order (a normalize stage's parts).
        None => match all.iter().find(|(r, _, _)| r == "train.parquet") {
            Some(t) => vec![t.clone()],
            None => all,
        },
    };
    Ok(chosen.into_iter().map(|(_, shown, p)| (shown, p)).collect())
}

/// A file as a [`Table`] for reading; formats that need seeking must not be compressed.
fn open(shown: &str, path: &Path) -> Result<Table> {
    let name = path
        .file_name()
        .map_or_else(|| shown.to_owned(), |n| n.to_string_lossy().into_owned());
    let detected =
        detect::detect(&name, path, None).map_err(|e| Error::user(format!("`{shown}`: {e}")))?;
    if detected.archive.is_some() {
        return Err(Error::user(format!("`{shown}` is an archive")).hint(
            "head reads one table; build a normalize stage over the archive, or extract it",
        ));
    }
    let format = detected.format.unwrap_or(detect::Format::Csv);
    if format.needs_seek() && detected.compression.is_some() {
        return Err(
            Error::user(format!("`{shown}` is a compressed {} file", format.name()))
                .hint("decompress it first; a normalize stage reads it as it is"),
        );
    }
    Ok(Table {
        name,
        path: path.to_path_buf(),
        compression: detected.compression,
        detected,
        json_field: None,
        limits: ReadLimits::from_env().map_err(|e| Error::user(e.message))?,
        csv: crate::stages::csvread::CsvOptions::default(),
        learned: std::sync::Arc::default(),
        read: crate::stages::table::ReadOptions::default(),
    })
}

pub(crate) fn head(settings: &Settings, args: &HeadArgs) -> Result<u8> {
    if args.rows > 10_000 {
        return Err(
            Error::user(format!("-n {} is more than 10000 rows", args.rows))
                .hint("use `mldatabuild export` to convert a whole table"),
        );
    }
    let as_path = settings.cwd.join(&args.target);
    let tables: Vec<(String, PathBuf)> = if as_path.is_file() {
        vec![(args.target.clone(), as_path)]
    } else {
        stage_tables(settings, args)?
    };
    let mut schema: Option<arrow::datatypes::SchemaRef> = None;
    let mut batches = Vec::new();
    let mut left = args.rows;
    let mut warnings = Vec::new();
    for (shown, path) in &tables {
        let table = open(shown, path)?;
        let (s, w) = table
            .infer(Some(1000))
            .map_err(|e| Error::user(e.message).hint(e.hint.unwrap_or_default()))?;
        warnings.extend(w);
        let s = std::sync::Arc::new(s);
        if schema.is_none() {
            schema = Some(s.clone());
        }
        if left == 0 {
            continue;
        }
        for b in table
            .batches(&s)
            .map_err(|e| Error::user(e.message).hint(e.hint.unwrap_or_default()))?
        {
            let b = b.map_err(|e| Error::user(e.message).hint(e.hint.unwrap_or_default()))?;
            let take = b.num_rows().min(left);
            batches.push(b.slice(0, take));
            left -= take;
            if left == 0 {
                break;
            }
        }
        warnings.extend(table.notes());
    }
    let Some(schema) = schema else {
        return Err(Error::user("nothing to show"));
    };
    let source = tables
        .iter()
        .map(|(s, _)| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let columns: Vec<usize> = if args.columns.is_empty() {
        (0..schema.fields().len()).collect()
    } else {
        args.columns
            .iter()
            .map(|c| {
                schema.index_of(c).map_err(|_| {
                    let names: Vec<&str> =
                        schema.fields().iter().map(|f| f.name().as_str()).collect();
                    let close = crate::spec::error::did_you_mean(c, names.iter().copied());
                    Error::user(format!("`{source}` has no column `{c}`")).hint(format!(
                        "{}the columns are: {}",
                        close.map_or_else(String::new, |m| format!("did you mean `{m}`? ")),
                        crate::stages::rows::shorten_list(&names, 30)
                    ))
                })
            })
            .collect::<Result<_>>()?
    };
    let projected: Vec<arrow::array::RecordBatch> = batches
        .iter()
        .map(|b| b.project(&columns))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::failure(e.to_string()))?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        // Rows as arrays in column order (a JSON object would sort its keys); nulls included.
        let mut rows: Vec<Vec<serde_json::Value>> = Vec::new();
        for b in &projected {
            let cols: Vec<Vec<serde_json::Value>> = b
                .columns()
                .iter()
                .map(|a| crate::stages::rows::json_values(a.as_ref()))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| Error::failure(e.message))?;
            rows.extend((0..b.num_rows()).map(|r| cols.iter().map(|c| c[r].clone()).collect()));
        }
        let cols: Vec<serde_json::Value> = columns
            .iter()
            .map(|&i| {
                let f = schema.field(i);
                serde_json::json!({"name": f.name(), "type": crate::stages::table::type_name(f.data_type())})
            })
            .collect();
        let _ = writeln!(
            stdout,
            "{}",
            serde_json::json!({"source": source, "schema": cols, "rows": rows})
        );
        return Ok(0);
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let _ = writeln!(stdout, "{source}");
    let name_w = columns
        .iter()
        .map(|&i| schema.field(i).name().chars().count())
        .max()
        .unwrap_or(0);
    for &i in &columns {
        let f = schema.field(i);
        let _ = writeln!(
            stdout,
            "  {:name_w$}  {}",
            f.name(),
            crate::stages::table::type_name(f.data_type())
        );
    }
    let _ = writeln!(stdout);
    // Cells as text, shortened to one line of at most `--width` characters.
    let mut cells: Vec<Vec<String>> = vec![
        columns
            .iter()
            .map(|&i| schema.field(i).name().clone())
            .collect(),
    ];
    for b in &projected {
        let cols: Vec<Vec<Option<String>>> = b
            .columns()
            .iter()
            .map(|a| crate::stages::rows::value_strings(a.as_ref()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::failure(e.message))?;
        for r in 0..b.num_rows() {
            cells.push(
                cols.iter()
                    .map(|c| {
                        c[r].as_deref().map_or_else(
                            || "null".to_owned(),
                            |v| crate::stages::rows::preview(v, args.width.max(4)),
                        )
                    })
                    .collect(),
            );
        }
    }
    for line in crate::report::human::aligned(&cells) {
        let _ = writeln!(stdout, "{line}");
    }
    let shown = cells.len() - 1;
    let _ = writeln!(
        stdout,
        "({shown} row{}{})",
        if shown == 1 { "" } else { "s" },
        if shown == args.rows {
            ", -n for more"
        } else {
            ""
        }
    );
    Ok(0)
}
