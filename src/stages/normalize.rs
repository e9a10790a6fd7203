//! `normalize`: CSV, TSV, JSON Lines or Parquet files into one typed Parquet table.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::table::{self, Format};
use super::{Stage, StageContext, StageError, StageOutput};

/// Bumped whenever the same inputs and parameters would give different bytes.
const VERSION: u32 = 1;

/// Parameters of `normalize` (see docs/stages.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NormalizeParams {
    #[serde(default)]
    pub columns: Option<BTreeMap<String, ColumnSpec>>,
    #[serde(default)]
    pub drop_nulls: Vec<String>,
    #[serde(default)]
    pub format: InputFormat,
}

/// One output column: where it comes from and its type.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// The input column to take it from (default: the same name).
    #[serde(default)]
    pub from: Option<String>,
    /// Cast to this type; a value that does not convert fails the stage (strict).
    #[serde(default, rename = "type")]
    pub ty: Option<ColumnType>,
}

/// Column types a `normalize` stage can cast to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Int64,
    Int32,
    Float64,
    Float32,
    Bool,
    Date,
}

impl ColumnType {
    fn arrow(self) -> DataType {
        match self {
            ColumnType::String => DataType::Utf8,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Date => DataType::Date32,
        }
    }
}

/// How to read the input files.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// From each file's extension.
    #[default]
    Auto,
    Csv,
    Tsv,
    Jsonl,
    Parquet,
}

#[derive(Debug)]
pub struct Normalize {
    params: NormalizeParams,
}

impl Normalize {
    pub fn new(params: NormalizeParams) -> Result<Self, String> {
        if let Some(columns) = &params.columns
            && columns.is_empty()
        {
            return Err("`columns` is empty: list at least one column, or leave `columns` out to keep them all".into());
        }
        Ok(Self { params })
    }

    fn format_of(&self, name: &str) -> Result<Format, StageError> {
        match self.params.format {
            InputFormat::Csv => Ok(Format::Csv),
            InputFormat::Tsv => Ok(Format::Tsv),
            InputFormat::Jsonl => Ok(Format::Jsonl),
            InputFormat::Parquet => Ok(Format::Parquet),
            InputFormat::Auto => Format::from_name(name).ok_or_else(|| {
                StageError::new(format!("`{name}`: unknown file format")).hint(format!(
                    "supported: {}; set `format:` on the stage to read it as one of them",
                    table::SUPPORTED
                ))
            }),
        }
    }

    /// Select, rename and cast columns as the spec says, in the input's column order.
    fn project(&self, schema: &SchemaRef) -> Result<Vec<(usize, Field)>, StageError> {
        let Some(columns) = &self.params.columns else {
            return Ok(schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| (i, f.as_ref().clone()))
                .collect());
        };
        let mut picked = Vec::new();
        for (out_name, spec) in columns {
            let from = spec.from.as_deref().unwrap_or(out_name);
            let Ok(idx) = schema.index_of(from) else {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                let mut err = StageError::new(format!("column `{from}` not found in the input"));
                err = err.hint(
                    match crate::spec::error::did_you_mean(from, names.iter().copied()) {
                        Some(h) => format!("{h} (columns: {})", names.join(", ")),
                        None => format!("the input's columns are: {}", names.join(", ")),
                    },
                );
                return Err(err);
            };
            let source = schema.field(idx);
            let dt = spec
                .ty
                .map_or_else(|| source.data_type().clone(), ColumnType::arrow);
            picked.push((idx, Field::new(out_name, dt, source.is_nullable())));
        }
        picked.sort_by_key(|(idx, _)| *idx);
        Ok(picked)
    }
}

impl Stage for Normalize {
    fn kind(&self) -> &'static str {
        "normalize"
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }

    fn default_output(&self, group: &str) -> String {
        group.to_owned()
    }

    fn run(&self, cx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        if cx.input.is_empty() {
            return Err(StageError::new("the input has no files")
                .hint("check the source's `uri` and `files` globs"));
        }
        let mut formats = Vec::new();
        let mut schemas = Vec::new();
        for file in cx.input {
            let format = self.format_of(&file.name)?;
            schemas.push(table::infer_schema(file, format)?);
            formats.push(format);
        }
        let schema = Arc::new(table::merge_schemas(&schemas));
        let picked = self.project(&schema)?;
        for col in &self.params.drop_nulls {
            if !picked.iter().any(|(_, f)| f.name() == col) {
                return Err(StageError::new(format!(
                    "`drop_nulls` names column `{col}`, which is not in the output"
                ))
                .hint("name output columns (after renaming)"));
            }
        }
        let out_schema = Arc::new(Schema::new(
            picked.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>(),
        ));
        let strict = CastOptions {
            safe: false,
            ..CastOptions::default()
        };
        let mut out = Vec::new();
        let mut rows_in = 0u64;
        for (file, format) in cx.input.iter().zip(&formats) {
            for batch in table::read_file(file, *format, &schema)? {
                rows_in += batch.num_rows() as u64;
                let mut columns = Vec::with_capacity(picked.len());
                for (idx, field) in &picked {
                    let col = batch.column(*idx);
                    let cast = if col.data_type() == field.data_type() {
                        col.clone()
                    } else {
                        cast_with_options(col, field.data_type(), &strict).map_err(|e| {
                            StageError::new(format!(
                                "`{}`: column `{}` does not convert to {}: {e}",
                                file.name,
                                field.name(),
                                table::type_name(field.data_type())
                            ))
                            .hint("fix the value, or leave out `type:` to keep the inferred type")
                        })?
                    };
                    columns.push(cast);
                }
                let mut batch = RecordBatch::try_new(out_schema.clone(), columns)
                    .map_err(|e| StageError::new(format!("`{}`: {e}", file.name)))?;
                if !self.params.drop_nulls.is_empty() {
                    let keep: BooleanArray =
                        (0..batch.num_rows())
                            .map(|row| {
                                Some(self.params.drop_nulls.iter().all(|c| {
                                    batch.column_by_name(c).is_some_and(|a| a.is_valid(row))
                                }))
                            })
                            .collect();
                    batch = filter_record_batch(&batch, &keep)
                        .map_err(|e| StageError::new(e.to_string()))?;
                }
                out.push(batch);
            }
        }
        let rows = table::write_parquet(&cx.out_dir.join("part-0.parquet"), &out_schema, &out)?;
        let mut summary = BTreeMap::new();
        summary.insert("rows".into(), rows.into());
        summary.insert("rows_dropped".into(), (rows_in - rows).into());
        summary.insert("schema".into(), table::schema_summary(&out_schema));
        let detected: BTreeMap<String, serde_json::Value> = cx
            .input
            .iter()
            .zip(&formats)
            .map(|(f, fmt)| (f.name.clone(), fmt.name().into()))
            .collect();
        summary.insert(
            "formats".into(),
            serde_json::to_value(detected).unwrap_or_default(),
        );
        Ok(StageOutput {
            files: vec![("part-0.parquet".into(), Some(rows))],
            summary,
        })
    }
}
