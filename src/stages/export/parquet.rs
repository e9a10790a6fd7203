//! The `parquet` format: one file per split, the input's Arrow schema kept exactly, dataset
//! metadata and the Hugging Face features in the footer.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::options::{ParquetCompression, ParquetOptions};
use super::writer::{
    Artifact, ExportContext, FormatResult, FormatWriter, SplitInfo, check_rows, file_err, rel,
};
use crate::stages::StageError;
use crate::stages::features;

/// The footer key holding mldatabuild's own metadata (dataset, version, content hash, split).
pub const MLDATABUILD_KEY: &str = "mldatabuild";

/// Writer properties for an exported file: the chosen codec and row-group size, and the
/// dataset metadata (plus the `huggingface` features) in the footer. Fixed for reproducible
/// bytes.
pub fn writer_properties(
    cx: &ExportContext,
    opts: &ParquetOptions,
    split: &str,
) -> Result<WriterProperties, StageError> {
    let bad = |e: parquet::errors::ParquetError| StageError::new(format!("parquet options: {e}"));
    let compression = match opts.compression {
        ParquetCompression::None => Compression::UNCOMPRESSED,
        ParquetCompression::Snappy => Compression::SNAPPY,
        ParquetCompression::Gzip => Compression::GZIP(match opts.level {
            Some(l) => GzipLevel::try_new(l).map_err(bad)?,
            None => GzipLevel::default(),
        }),
        ParquetCompression::Lz4 => Compression::LZ4_RAW,
        ParquetCompression::Brotli => Compression::BROTLI(match opts.level {
            Some(l) => BrotliLevel::try_new(l).map_err(bad)?,
            None => BrotliLevel::default(),
        }),
        ParquetCompression::Zstd => Compression::ZSTD(match opts.level {
            Some(l) => ZstdLevel::try_new(l as i32).map_err(bad)?,
            None => ZstdLevel::try_new(3).map_err(bad)?,
        }),
    };
    let ours = serde_json::json!({
        "dataset": cx.dataset.name,
        "version": cx.dataset.version,
        "content_hash": cx.dataset.content_hash,
        "split": split,
    });
    Ok(WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(
            usize::try_from(opts.row_group_size).unwrap_or(usize::MAX),
        ))
        .set_created_by("mldatabuild".to_owned())
        .set_key_value_metadata(Some(vec![
            KeyValue::new(
                features::METADATA_KEY.to_owned(),
                features::metadata_value(&cx.features),
            ),
            KeyValue::new(MLDATABUILD_KEY.to_owned(), ours.to_string()),
        ]))
        .build())
}

/// The input schema with the export's `huggingface` features in its metadata: `datasets`
/// and pyarrow take the features from the Arrow schema stored in the file, not from the
/// footer's key-value pairs (which carry them too).
pub fn export_schema(cx: &ExportContext) -> arrow::datatypes::SchemaRef {
    let mut meta = cx.schema.metadata().clone();
    meta.insert(
        features::METADATA_KEY.to_owned(),
        features::metadata_value(&cx.features),
    );
    meta.remove(MLDATABUILD_KEY);
    std::sync::Arc::new(arrow::datatypes::Schema::new_with_metadata(
        cx.schema.fields().clone(),
        meta,
    ))
}

/// Read a written Parquet file back: its row count and Arrow schema must be the ones written.
/// Returns (uncompressed, compressed) data bytes.
pub fn read_back(
    path: &Path,
    schema: &arrow::datatypes::Schema,
    rows: u64,
) -> Result<(u64, u64), StageError> {
    let file = File::open(path).map_err(|e| file_err(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| file_err(path, e))?;
    let meta = reader.metadata();
    let found = u64::try_from(meta.file_metadata().num_rows()).unwrap_or(0);
    check_rows(path, rows, found)?;
    let back = parquet::arrow::parquet_to_arrow_schema(
        meta.file_metadata().schema_descr(),
        meta.file_metadata().key_value_metadata(),
    )
    .map_err(|e| file_err(path, e))?;
    if back.fields() != schema.fields() {
        return Err(StageError::new(format!(
            "`{}` reads back with a different schema than was written",
            path.display()
        ))
        .hint("this is a bug in mldatabuild; please report it with the spec"));
    }
    let (mut raw, mut packed) = (0u64, 0u64);
    for rg in meta.row_groups() {
        raw += u64::try_from(rg.total_byte_size()).unwrap_or(0);
        packed += u64::try_from(rg.compressed_size()).unwrap_or(0);
    }
    Ok((raw, packed))
}

/// Writes `<folder>/<split>.parquet`.
pub struct ParquetWriter {
    cx: ExportContext,
    opts: ParquetOptions,
    dir: PathBuf,
    schema: arrow::datatypes::SchemaRef,
    current: Option<(SplitInfo, PathBuf, ArrowWriter<File>)>,
    written: Vec<(SplitInfo, PathBuf)>,
}

impl ParquetWriter {
    pub fn create(
        cx: &ExportContext,
        opts: &ParquetOptions,
        folder: &str,
    ) -> Result<Box<dyn FormatWriter>, StageError> {
        Ok(Box::new(ParquetWriter {
            dir: cx.format_dir(folder)?,
            schema: export_schema(cx),
            cx: cx.clone(),
            opts: opts.clone(),
            current: None,
            written: Vec::new(),
        }))
    }
}

impl FormatWriter for ParquetWriter {
    fn begin_split(&mut self, split: &SplitInfo) -> Result<(), StageError> {
        let path = self.dir.join(format!("{}.parquet", split.name));
        let props = writer_properties(&self.cx, &self.opts, &split.name)?;
        let file = File::create(&path).map_err(|e| file_err(&path, e))?;
        let w = ArrowWriter::try_new(file, self.schema.clone(), Some(props))
            .map_err(|e| file_err(&path, e))?;
        self.current = Some((split.clone(), path, w));
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        let Some((_, path, w)) = &mut self.current else {
            return Err(StageError::new(
                "internal error: parquet batch outside a split",
            ));
        };
        let batch = RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec())
            .map_err(|e| file_err(path, e))?;
        w.write(&batch).map_err(|e| file_err(path, e))
    }

    fn end_split(&mut self) -> Result<(), StageError> {
        if let Some((split, path, w)) = self.current.take() {
            w.close().map_err(|e| file_err(&path, e))?;
            self.written.push((split, path));
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<FormatResult, StageError> {
        let mut res = FormatResult::default();
        let (mut raw, mut packed) = (0u64, 0u64);
        for (split, path) in &self.written {
            let (r, p) = read_back(path, &self.schema, split.rows)?;
            raw += r;
            packed += p;
            res.artifacts.push(Artifact {
                path: rel(&self.cx, path),
                rows: Some(split.rows),
                split: Some(split.name.clone()),
            });
        }
        res.facts
            .insert("compression".into(), self.opts.compression.as_str().into());
        if packed > 0 {
            let ratio = (raw as f64 / packed as f64 * 100.0).round() / 100.0;
            res.facts.insert("compression_ratio".into(), ratio.into());
        }
        let dir = rel(&self.cx, &self.dir);
        res.snippet = Some(format!(
            "import pyarrow.parquet as pq\ntable = pq.read_table(\"{dir}/{}.parquet\")",
            self.written
                .first()
                .map_or("train", |(s, _)| s.name.as_str())
        ));
        Ok(res)
    }
}
