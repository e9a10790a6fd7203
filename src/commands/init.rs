//! `mldatabuild init`: a commented starter dataset.yaml.

use std::io::Write;

use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::settings::Settings;

pub(crate) const SCHEMA_PATH: &str = ".mldatabuild/dataset.schema.json";

pub(crate) fn starter(name: &str) -> String {
    format!(
        r#"# yaml-language-server: $schema={SCHEMA_PATH}
# mldatabuild dataset spec. Every key: docs/dataset-yaml.md. Build with `mldatabuild build`.
name: {name}
version: 0.1.0                 # the dataset's own semantic version
description: Describe the dataset in a sentence or two.

sources:
  raw:
    uri: data/                 # a local file, folder or glob, relative to this file
    # files: ["*.csv"]            # optional globs inside a folder

stages:
  clean:
    kind: normalize            # CSV, TSV, JSON Lines or Parquet → one typed Parquet table
    input: raw
    # columns:                 # keep, rename (from) and cast (type) columns
    #   text: {{from: review_body, type: string}}
    #   label: {{type: int64}}
    # drop_nulls: [text]
  splits:
    kind: split                # rows to named splits, deterministic for a seed
    input: clean
    ratios: {{train: 0.8, validation: 0.1, test: 0.1}}
    seed: 42
"#
    )
}

pub(crate) fn init(settings: &Settings, args: &InitArgs) -> Result<u8> {
    let path = &settings.spec_file;
    if path.exists() && !args.force {
        return Err(
            Error::user(format!("`{}` already exists", settings.spec_display))
                .hint("pass --force to overwrite it"),
        );
    }
    let folder = settings
        .root()
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = args.name.clone().unwrap_or_else(|| {
        let n: String = folder
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let n = n
            .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_owned();
        if n.is_empty() { "my-dataset".into() } else { n }
    });
    if !crate::spec::resolve::valid_name(&name) {
        return Err(Error::user(format!("invalid dataset name `{name}`"))
            .hint("use letters, digits, `-`, `_` and `.`"));
    }
    let text = starter(&name);
    crate::lockfile::write_atomic(path, &text)
        .map_err(|e| Error::failure(format!("cannot write `{}`: {e}", path.display())))?;
    let schema = settings.root().join(SCHEMA_PATH);
    crate::lockfile::write_atomic(&schema, &crate::schema::dataset_schema())
        .map_err(|e| Error::failure(format!("cannot write `{}`: {e}", schema.display())))?;
    let _ = writeln!(
        std::io::stderr(),
        "Wrote {} (and {SCHEMA_PATH} for editors)\nNext: put data files in data/, then run `mldatabuild build`",
        settings.spec_display
    );
    Ok(0)
}
