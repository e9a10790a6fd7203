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
        let _ = writeln!(
            stdout,
            "{}",
            serde_json::json!({"source": source, "schema": schema_json(&schema, &columns), "rows": json_rows(&projected)?})
        );
        return Ok(0);
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let _ = writeln!(stdout, "{source}");
    print_schema(&mut stdout, &schema, &columns, "  ");
    let _ = writeln!(stdout);
    let shown = print_rows(&mut stdout, &schema, &columns, &projected, args.width)?;
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

/// The columns' names and types as JSON objects, in order.
fn schema_json(schema: &arrow::datatypes::Schema, columns: &[usize]) -> Vec<serde_json::Value> {
    columns
        .iter()
        .map(|&i| {
            let f = schema.field(i);
            serde_json::json!({"name": f.name(), "type": crate::stages::table::type_name(f.data_type())})
        })
        .collect()
}

/// Rows as arrays in column order (a JSON object would sort its keys), nulls included.
fn json_rows(batches: &[arrow::array::RecordBatch]) -> Result<Vec<Vec<serde_json::Value>>> {
    let mut rows: Vec<Vec<serde_json::Value>> = Vec::new();
    for b in batches {
        let cols: Vec<Vec<serde_json::Value>> = b
            .columns()
            .iter()
            .map(|a| crate::stages::rows::json_values(a.as_ref()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::failure(e.message))?;
        rows.extend((0..b.num_rows()).map(|r| cols.iter().map(|c| c[r].clone()).collect()));
    }
    Ok(rows)
}

/// One line per column: name and type, names aligned.
fn print_schema(
    stdout: &mut impl Write,
    schema: &arrow::datatypes::Schema,
    columns: &[usize],
    indent: &str,
) {
    let name_w = columns
        .iter()
        .map(|&i| schema.field(i).name().chars().count())
        .max()
        .unwrap_or(0);
    for &i in columns {
        let f = schema.field(i);
        let _ = writeln!(
            stdout,
            "{indent}{:name_w$}  {}",
            f.name(),
            crate::stages::table::type_name(f.data_type())
        );
    }
}

/// The rows as an aligned table of values shortened to `width` characters; returns how many.
fn print_rows(
    stdout: &mut impl Write,
    schema: &arrow::datatypes::Schema,
    columns: &[usize],
    projected: &[arrow::array::RecordBatch],
    width: usize,
) -> Result<usize> {
    // Cells as text, shortened to one line of at most `--width` characters.
    let mut cells: Vec<Vec<String>> = vec![
        columns
            .iter()
            .map(|&i| schema.field(i).name().clone())
            .collect(),
    ];
    for b in projected {
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
                            |v| crate::stages::rows::preview(v, width.max(4)),
                        )
                    })
                    .collect(),
            );
        }
    }
    for line in crate::report::human::aligned(&cells) {
        let _ = writeln!(stdout, "{line}");
    }
    Ok(cells.len() - 1)
}

/// A Parquet codec as people name it (`zstd`, `lz4`, `lz4 (Hadoop)`). The footer does not
/// record a level (the reader reports a default one), so none is shown.
fn codec_name(c: parquet::basic::Compression) -> String {
    use parquet::basic::Compression as C;
    match c {
        C::UNCOMPRESSED => "uncompressed".into(),
        C::SNAPPY => "snappy".into(),
        C::GZIP(_) => "gzip".into(),
        C::LZO => "lzo".into(),
        C::BROTLI(_) => "brotli".into(),
        C::LZ4 => "lz4 (Hadoop)".into(),
        C::ZSTD(_) => "zstd".into(),
        C::LZ4_RAW => "lz4".into(),
    }
}

/// The Parquet footer's facts: row groups, codecs, the writer.
fn parquet_facts(path: &Path) -> Option<serde_json::Value> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(path).ok()?).ok()?;
    let meta = reader.metadata();
    let mut codecs: Vec<String> = meta
        .row_groups()
        .iter()
        .flat_map(|g| g.columns().iter().map(|c| codec_name(c.compression())))
        .collect();
    codecs.sort();
    codecs.dedup();
    Some(serde_json::json!({
        "rows": meta.file_metadata().num_rows(),
        "row_groups": meta.num_row_groups(),
        "codecs": codecs,
        "created_by": meta.file_metadata().created_by(),
        "format_version": meta.file_metadata().version(),
    }))
}

/// `mldatabuild info PATH`: what a local data file is, as `info` shows a remote dataset: its
/// format, size, row count (from the footer of Parquet, otherwise by reading the file), schema,
/// the Hugging Face features it carries, and its first rows.
pub(crate) fn info_local(
    settings: &Settings,
    target: &str,
    sample: usize,
    json: bool,
) -> Result<u8> {
    let path = settings.cwd.join(target);
    if path.is_dir() {
        return Err(Error::user(format!("`{target}` is a folder")).hint(
            "info describes one file (or a remote dataset: hf://, kaggle://, openml://, https://); `mldatabuild head STAGE` shows a built stage's table",
        ));
    }
    if !path.is_file() {
        return Err(Error::user(format!("`{target}` is not a file here")).hint(
            "give a data file, or a remote dataset: hf://owner/name, kaggle://owner/name, openml://ID, https://…",
        ));
    }
    let table = open(target, &path)?;
    let user =
        |e: crate::stages::StageError| Error::user(e.message).hint(e.hint.unwrap_or_default());
    let (schema, mut warnings) = table
        .infer(Some(crate::stages::table::SAMPLE_ROWS))
        .map_err(user)?;
    let schema = std::sync::Arc::new(schema);
    let format = table.format();
    let parquet = (format == detect::Format::Parquet && table.compression.is_none())
        .then(|| parquet_facts(&path))
        .flatten();
    // The first rows; every row counted unless the footer holds the count.
    let mut batches = Vec::new();
    let mut left = sample;
    let mut rows = parquet.as_ref().and_then(|p| p["rows"].as_u64());
    let counted = rows.is_none();
    let mut n = 0u64;
    for b in table.batches(&schema).map_err(user)? {
        let b = b.map_err(user)?;
        let take = b.num_rows().min(left);
        if take > 0 {
            batches.push(b.slice(0, take));
            left -= take;
        }
        n += b.num_rows() as u64;
        if left == 0 && !counted {
            break;
        }
    }
    if counted {
        rows = Some(n);
    }
    warnings.extend(table.notes());
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let columns: Vec<usize> = (0..schema.fields().len()).collect();
    let features = crate::stages::features::from_metadata(&schema);
    let kind = match table.compression {
        Some(c) => format!("{} ({} compressed)", format.name(), c.name()),
        None => format.name().to_owned(),
    };
    let mut stdout = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({
            "path": target, "format": format.name(),
            "compression": table.compression.map(detect::Compression::name),
            "bytes": bytes, "rows": rows, "rows_counted": counted,
            "schema": schema_json(&schema, &columns),
            "features": features, "parquet": parquet,
            "sample": json_rows(&batches)?, "warnings": warnings,
        });
        let _ = writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
        return Ok(0);
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let _ = writeln!(stdout, "{target}");
    let _ = writeln!(stdout, "  format    {kind}");
    if let Some(p) = &parquet {
        let codecs: Vec<&str> = p["codecs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str())
            .collect();
        let _ = writeln!(
            stdout,
            "  parquet   {} row group{}, {}{}",
            p["row_groups"],
            if p["row_groups"] == 1 { "" } else { "s" },
            codecs.join(", "),
            p["created_by"]
                .as_str()
                .map_or_else(String::new, |w| format!(", written by {w}"))
        );
    }
    let _ = writeln!(stdout, "  size      {}", crate::report::human::size(bytes));
    let _ = writeln!(
        stdout,
        "  rows      {}{}",
        rows.unwrap_or(0),
        if counted {
            " (counted by reading the file)"
        } else {
            ""
        }
    );
    let _ = writeln!(stdout, "  columns   {}", columns.len());
    if let Some(f) = &features {
        let labels: Vec<String> = f
            .keys()
            .filter_map(|c| {
                let names = crate::stages::features::class_names(&schema, c)?;
                Some(format!(
                    "{c} ({})",
                    crate::stages::rows::shorten_list(
                        &names.iter().map(String::as_str).collect::<Vec<_>>(),
                        10
                    )
                ))
            })
            .collect();
        let _ = writeln!(
            stdout,
            "  features  Hugging Face features for {} column{}{}",
            f.len(),
            if f.len() == 1 { "" } else { "s" },
            if labels.is_empty() {
                String::new()
            } else {
                format!("; class labels: {}", labels.join("; "))
            }
        );
    }
    let _ = writeln!(stdout, "\nschema");
    print_schema(&mut stdout, &schema, &columns, "  ");
    if sample > 0 {
        let _ = writeln!(stdout, "\nfirst rows");
        print_rows(&mut stdout, &schema, &columns, &batches, 40)?;
    }
    Ok(0)
}
