//! How long does the Parquet writer take to encode a table under other settings?
//!
//!     normalize-encode-exp TABLE.parquet OUT_DIR [REPEATS]
//!
//! Reads TABLE.parquet (mldatabuild's output of the benchmark's CSV) into memory as 64Ki-row
//! batches, as the `normalize` stage hands them to its writer, then writes it again with each
//! variant below and prints the best of REPEATS (default 2) wall times and the file size. The
//! baseline is mldatabuild's `writer_properties()` (src/stages/table.rs): zstd level 3, row
//! groups of 128Ki rows, parquet-rs defaults otherwise (dictionary encoding on for every
//! column), one thread.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{RecordBatch, RecordBatchReader};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, SchemaRef};
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

const ROW_GROUP_ROWS: usize = 128 * 1024;

fn base(level: i32, rows: usize) -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(level).unwrap()))
        .set_max_row_group_row_count(Some(rows))
        .set_created_by("mldatabuild".to_owned())
}

fn no_dict(mut b: WriterPropertiesBuilder, schema: &SchemaRef, pick: impl Fn(&str, &DataType) -> bool) -> WriterPropertiesBuilder {
    for f in schema.fields() {
        if pick(f.name(), f.data_type()) {
            b = b.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
        }
    }
    b
}

fn numeric(dt: &DataType) -> bool {
    matches!(dt, DataType::Int64 | DataType::Int32 | DataType::Float64 | DataType::Float32)
}

/// Single-threaded, as mldatabuild's ParquetSink does.
fn write_serial(path: &Path, schema: &SchemaRef, batches: &[RecordBatch], props: WriterProperties) {
    let f = File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, schema.clone(), Some(props)).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

/// The columns of each row group encoded in parallel on a rayon pool, chunks appended in order.
fn write_parallel(path: &Path, schema: &SchemaRef, batches: &[RecordBatch], props: WriterProperties, rows: usize) {
    let props = Arc::new(props);
    let parquet_schema = ArrowSchemaConverter::new()
        .with_coerce_types(props.coerce_types())
        .convert(schema)
        .unwrap();
    let f = File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(f, parquet_schema.root_schema_ptr(), props.clone()).unwrap();
    let factory = ArrowRowGroupWriterFactory::new(&writer, schema.clone());
    let per_group = rows / batches[0].num_rows().max(1);
    for (i, group) in batches.chunks(per_group.max(1)).enumerate() {
        let rg = concat_batches(schema, group).unwrap();
        let writers = factory.create_column_writers(i).unwrap();
        let chunks: Vec<ArrowColumnChunk> = writers
            .into_par_iter()
            .zip(rg.columns().par_iter().zip(schema.fields().par_iter()))
            .map(|(mut w, (arr, field))| {
                for leaf in compute_leaves(field, arr).unwrap() {
                    w.write(&leaf).unwrap();
                }
                w.close().unwrap()
            })
            .collect();
        let mut rgw = writer.next_row_group().unwrap();
        for c in chunks {
            c.append_to_row_group(&mut rgw).unwrap();
        }
        rgw.close().unwrap();
    }
    writer.close().unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let input = PathBuf::from(&args[1]);
    let out_dir = PathBuf::from(&args[2]);
    let repeats: usize = args.get(3).map_or(2, |s| s.parse().unwrap());
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&input).unwrap())
        .unwrap()
        .with_batch_size(64 * 1024)
        .build()
        .unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mem: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
    println!("{} rows in {} batches, {:.0} MB in memory", rows, batches.len(), mem as f64 / 1e6);
    // Columns with few distinct values in the benchmark's table; everything else is
    // high-cardinality (ids, measurements, free text).
    let low_card = |name: &str| matches!(name, "category" | "active" | "signup");

    type Variant<'a> = (&'a str, Box<dyn Fn() -> WriterProperties + 'a>, bool, usize);
    let s = &schema;
    let variants: Vec<Variant> = vec![
        ("baseline (mldatabuild: zstd 3, 128Ki-row groups, dictionary on)", Box::new(|| base(3, ROW_GROUP_ROWS).build()), false, ROW_GROUP_ROWS),
        ("zstd level 1", Box::new(|| base(1, ROW_GROUP_ROWS).build()), false, ROW_GROUP_ROWS),
        ("no dictionary for numeric columns", Box::new(move || no_dict(base(3, ROW_GROUP_ROWS), s, |_, dt| numeric(dt)).build()), false, ROW_GROUP_ROWS),
        ("no dictionary for high-cardinality columns", Box::new(move || no_dict(base(3, ROW_GROUP_ROWS), s, |n, _| !low_card(n)).build()), false, ROW_GROUP_ROWS),
        ("zstd 1 + no dictionary for numeric columns", Box::new(move || no_dict(base(1, ROW_GROUP_ROWS), s, |_, dt| numeric(dt)).build()), false, ROW_GROUP_ROWS),
        ("1Mi-row groups (pyarrow's default)", Box::new(|| base(3, 1024 * 1024).build()), false, 1024 * 1024),
        ("baseline, columns encoded in parallel (2 threads)", Box::new(|| base(3, ROW_GROUP_ROWS).build()), true, ROW_GROUP_ROWS),
        ("no dictionary for numeric columns, parallel (2 threads)", Box::new(move || no_dict(base(3, ROW_GROUP_ROWS), s, |_, dt| numeric(dt)).build()), true, ROW_GROUP_ROWS),
    ];
    rayon::ThreadPoolBuilder::new().num_threads(2).build_global().unwrap();
    let out = out_dir.join("encode-exp.parquet");
    let mut base_secs = None;
    println!("{:<62} {:>8} {:>9} {:>10}", "variant", "seconds", "vs base", "size MB");
    for (name, props, parallel, rg) in &variants {
        let mut best = f64::INFINITY;
        for _ in 0..repeats {
            let t = Instant::now();
            if *parallel {
                write_parallel(&out, &schema, &batches, props(), *rg);
            } else {
                write_serial(&out, &schema, &batches, props());
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        let size = std::fs::metadata(&out).unwrap().len();
        let b = *base_secs.get_or_insert(best);
        println!("{name:<62} {best:>8.2} {:>8.2}x {:>10.1}", best / b, size as f64 / 1e6);
    }
    std::fs::remove_file(&out).ok();
}
