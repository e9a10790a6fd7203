//! Raw encode throughput of the tokenizer crate the `tokenize` stage uses, on the stage's batches.
//!
//!     tokenize-raw MODE TOKENIZER_JSON PARQUET_DIR [OUT_DIR]
//!
//! MODE:
//! - `encode`: read every batch's texts first (timed apart and excluded), then encode the
//!   batches one after another exactly as the stage does (the same batch sizing as
//!   `read_batches`, the same call as `src/tokenizer.rs`'s `encode_batch`, ids copied out to
//!   `Vec<u32>`). The figure the stage is held to (≥ 90 % of it).
//! - `phases`: the stage's loop, serial as the stage runs it, each phase timed: Parquet read
//!   and decode, text extraction (`batch_texts`: owned `String`s), encode, building the output
//!   batch (`take` of the kept column, the `List<UInt32>`), Parquet write (zstd 1, row groups of
//!   131,072 rows, as `ParquetSink`), close. No statistics. Where the stage's time goes, and
//!   its CPU: `encode_cpu_s` (the encoder's pool, all threads) and `io_cpu_s` (everything
//!   else), which bound what any pipelining can reach on `cores` cores (benches/tokenize/README.md).
//! - `pipelined`: the same work on three threads as the stage runs it since 453be6d: Parquet
//!   reading on one, text extraction + encoding on the caller's, building + writing on a third
//!   (bounded channels of 2 batches). No statistics. `read_s`/`write_s` are those threads' busy
//!   time, `encode_s` includes extraction.
//!
//! `phases` and `pipelined` write as the stage does (`token_writer_properties`: zstd 1, no
//! dictionary, page statistics, parquet's defaults otherwise); RAW_COMPRESSION (`zstd3`, `zstd1`, `snappy`,
//! `lz4`, `none`), RAW_ENCODING of the ids (`plain`, `delta`: DELTA_BINARY_PACKED, `bss`:
//! BYTE_STREAM_SPLIT), RAW_DICT (`1`: dictionary) and RAW_STATS (`page`, `chunk`, `none`) try
//! other settings.
//!
//! Prints one JSON object on stdout. Threads: the tokenizer's own pool (available parallelism),
//! or RAW_THREADS of them (as the stage's `--jobs`; RAYON_NUM_THREADS does not size that pool).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, AsArray, ListArray, RecordBatch, RecordBatchReader, UInt32Array, UInt64Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use tokenizers::pipeline::{EncodeOptions, Override, PipelineTokenizer};

/// As src/stages/tokenize.rs.
const BATCH_MAX_ROWS: usize = 8192;
const BATCH_MAX_BYTES: usize = 8 << 20;
/// As src/stages/table.rs.
const ROW_GROUP_ROWS: usize = 128 * 1024;

type Err = Box<dyn std::error::Error + Send + Sync>;

// ---- the encode call, as src/tokenizer.rs makes it -------------------------------------------

struct Tok {
    inner: PipelineTokenizer,
}

impl Tok {
    fn load(path: &Path) -> Result<Tok, Err> {
        // A `tokenizer.json` saved by the Python package is version 1.0: canonicalize it first.
        let json = tokenizers::canonicalize_file(path).map_err(|e| format!("{e}"))?;
        let inner = tokenizers::from_json(&json).map_err(|e| format!("{e}"))?;
        Ok(Tok { inner })
    }

    /// `Tokenizer::encode_batch` of src/tokenizer.rs: ids of each text, in order.
    fn encode_batch(&self, texts: &[&str], add_special_tokens: bool) -> Result<Vec<Vec<u32>>, Err> {
        let opts = EncodeOptions {
            add_special_tokens,
            encode_special_tokens: false,
            padding: Override::Off,
            truncation: Override::Off,
        };
        let inputs: Vec<String> = texts.iter().map(|s| (*s).to_owned()).collect();
        let encodings = self
            .inner
            .encode(inputs, &opts)
            .wait()
            .map_err(|e| format!("{e}"))?;
        Ok(encodings
            .iter()
            .map(|e| tokenizers::pipeline::PipelineToken::cast_slice(e.ids()).to_vec())
            .collect())
    }
}

// ---- reading, as the stage's read_batches / batch_texts --------------------------------------

fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, Err> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(format!("no .parquet file in {}", dir.display()).into());
    }
    Ok(v)
}

/// Batches of the `text` and `id` columns, sized as the stage sizes them (8 MB of text at
/// most, from the text column chunks' uncompressed size per row, 16..8192 rows).
fn read_batches(path: &Path) -> Result<(ParquetRecordBatchReader, usize, usize, usize), Err> {
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?;
    let schema = b.schema().clone();
    let text = schema.index_of("text")?;
    let id = schema.index_of("id")?;
    let meta = b.metadata().clone();
    let descr = meta.file_metadata().schema_descr();
    let mut text_bytes: i64 = 0;
    for rg in meta.row_groups() {
        for (ci, c) in rg.columns().iter().enumerate() {
            if descr.get_column_root_idx(ci) == text {
                text_bytes += c.uncompressed_size();
            }
        }
    }
    let rows_total = meta.file_metadata().num_rows().max(0) as u64;
    let per_row = if rows_total > 0 {
        (text_bytes.max(0) as u64 / rows_total).max(1)
    } else {
        1
    };
    let rows = ((BATCH_MAX_BYTES as u64 / per_row) as usize).clamp(16, BATCH_MAX_ROWS);
    let mut roots = vec![text, id];
    roots.sort_unstable();
    let text_at = roots.iter().position(|&r| r == text).unwrap_or(0);
    let id_at = roots.iter().position(|&r| r == id).unwrap_or(0);
    let mask = ProjectionMask::roots(descr, roots);
    Ok((
        b.with_projection(mask).with_batch_size(rows).build()?,
        rows,
        text_at,
        id_at,
    ))
}

/// `batch_texts`: one owned String per row (no nulls in this data).
fn batch_texts(batch: &RecordBatch, col: usize) -> Vec<String> {
    let s = batch.column(col).as_string::<i32>();
    (0..batch.num_rows())
        .map(|r| s.value(r).to_owned())
        .collect()
}

// ---- writing, as the stage's build_batch / ParquetSink --------------------------------------

fn out_schema(id_field: &Field) -> SchemaRef {
    Arc::new(Schema::new(vec![
        id_field.clone(),
        Field::new(
            "input_ids",
            DataType::List(Arc::new(Field::new_list_field(DataType::UInt32, false))),
            false,
        ),
    ]))
}

fn writer(path: &Path, schema: &SchemaRef) -> Result<ArrowWriter<File>, Err> {
    // The stage's properties; RAW_COMPRESSION / RAW_DICT / RAW_STATS try others.
    let compression = match std::env::var("RAW_COMPRESSION").as_deref() {
        Ok("zstd3") => Compression::ZSTD(ZstdLevel::try_new(3)?),
        Err(_) | Ok("zstd1") => Compression::ZSTD(ZstdLevel::try_new(1)?),
        Ok("snappy") => Compression::SNAPPY,
        Ok("lz4") => Compression::LZ4_RAW,
        Ok("none") => Compression::UNCOMPRESSED,
        Ok(o) => return Err(format!("RAW_COMPRESSION={o}?").into()),
    };
    let stats = match std::env::var("RAW_STATS").as_deref() {
        Err(_) | Ok("page") => EnabledStatistics::Page,
        Ok("chunk") => EnabledStatistics::Chunk,
        Ok("none") => EnabledStatistics::None,
        Ok(o) => return Err(format!("RAW_STATS={o}?").into()),
    };
    let dict = std::env::var("RAW_DICT").is_ok_and(|v| v == "1");
    let encoding = match std::env::var("RAW_ENCODING").as_deref() {
        Err(_) | Ok("plain") => None,
        Ok("delta") => Some(parquet::basic::Encoding::DELTA_BINARY_PACKED),
        Ok("bss") => Some(parquet::basic::Encoding::BYTE_STREAM_SPLIT),
        Ok(o) => return Err(format!("RAW_ENCODING={o}?").into()),
    };
    let mut props = WriterProperties::builder();
    if let Some(e) = encoding {
        props = props.set_column_encoding(
            parquet::schema::types::ColumnPath::new(vec![
                "input_ids".into(),
                "list".into(),
                "item".into(),
            ]),
            e,
        );
    }
    let props = props
        .set_compression(compression)
        .set_dictionary_enabled(dict)
        .set_statistics_enabled(stats)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by("mldatabuild".to_owned())
        .build();
    Ok(ArrowWriter::try_new(
        File::create(path)?,
        schema.clone(),
        Some(props),
    )?)
}

fn build_batch(
    schema: &SchemaRef,
    input: &RecordBatch,
    id_at: usize,
    seqs: &[Vec<u32>],
) -> Result<RecordBatch, Err> {
    let rows = UInt64Array::from_iter_values(0..seqs.len() as u64);
    let id = arrow::compute::take(input.column(id_at), &rows, None)?;
    let ids = UInt32Array::from_iter_values(seqs.iter().flat_map(|s| s.iter().copied()));
    let offsets = OffsetBuffer::<i32>::from_lengths(seqs.iter().map(Vec::len));
    let list = ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::UInt32, false)),
        offsets,
        Arc::new(ids),
        None,
    )?;
    let cols: Vec<ArrayRef> = vec![id, Arc::new(list)];
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

// ---- modes ------------------------------------------------------------------------------------

#[derive(Default)]
struct Totals {
    rows: u64,
    text_bytes: u64,
    tokens: u64,
    batches: u64,
    batch_rows: usize,
    read: Duration,
    extract: Duration,
    encode: Duration,
    build: Duration,
    write: Duration,
    close: Duration,
    /// CPU time (all threads) of the encode calls, and of everything else in the loop
    /// (`phases` only: the phases run one after another, so each one's CPU is measurable).
    encode_cpu: Duration,
    io_cpu: Duration,
}

/// CPU time used so far by the live threads of this process (the encoder's pool lives as long
/// as the process), from /proc/self/task/*/schedstat (nanoseconds).
fn process_cpu() -> Duration {
    let mut ns = 0u64;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
                ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(ns)
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn encode_mode(tok: &Tok, files: &[PathBuf], t: &mut Totals) -> Result<(), Err> {
    // Read everything first (not counted), then encode batch after batch.
    let t0 = Instant::now();
    let mut batches: Vec<Vec<String>> = Vec::new();
    for f in files {
        let (reader, rows, text_at, _) = read_batches(f)?;
        t.batch_rows = rows;
        for b in reader {
            let b = b?;
            batches.push(batch_texts(&b, text_at));
        }
    }
    t.read = t0.elapsed();
    for texts in &batches {
        t.rows += texts.len() as u64;
        t.text_bytes += texts.iter().map(|s| s.len() as u64).sum::<u64>();
        t.batches += 1;
        let t1 = Instant::now();
        let c1 = process_cpu();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let ids = tok.encode_batch(&refs, true)?;
        t.encode += t1.elapsed();
        t.encode_cpu += process_cpu() - c1;
        t.tokens += ids.iter().map(|v| v.len() as u64).sum::<u64>();
    }
    Ok(())
}

fn phases_mode(tok: &Tok, files: &[PathBuf], out: &Path, t: &mut Totals) -> Result<(), Err> {
    for f in files {
        let (mut reader, rows, text_at, id_at) = read_batches(f)?;
        t.batch_rows = rows;
        let id_field = reader.schema().field(id_at).clone();
        let schema = out_schema(&id_field);
        let mut w = writer(&out.join(f.file_name().unwrap()), &schema)?;
        let mut c0 = process_cpu();
        loop {
            let t0 = Instant::now();
            let Some(b) = reader.next() else { break };
            let b = b?;
            t.read += t0.elapsed();

            let t0 = Instant::now();
            let texts = batch_texts(&b, text_at);
            t.extract += t0.elapsed();
            t.rows += texts.len() as u64;
            t.text_bytes += texts.iter().map(|s| s.len() as u64).sum::<u64>();
            t.batches += 1;

            let t0 = Instant::now();
            let c1 = process_cpu();
            t.io_cpu += c1 - c0;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let seqs = tok.encode_batch(&refs, true)?;
            drop(refs);
            drop(texts);
            t.encode += t0.elapsed();
            c0 = process_cpu();
            t.encode_cpu += c0 - c1;
            t.tokens += seqs.iter().map(|v| v.len() as u64).sum::<u64>();

            let t0 = Instant::now();
            let ob = build_batch(&schema, &b, id_at, &seqs)?;
            drop(seqs);
            t.build += t0.elapsed();

            let t0 = Instant::now();
            w.write(&ob)?;
            t.write += t0.elapsed();
        }
        let t0 = Instant::now();
        w.close()?;
        t.close += t0.elapsed();
        t.io_cpu += process_cpu() - c0;
    }
    Ok(())
}

fn pipelined_mode(tok: &Tok, files: &[PathBuf], out: &Path, t: &mut Totals) -> Result<(), Err> {
    for f in files {
        let (reader, rows, text_at, id_at) = read_batches(f)?;
        t.batch_rows = rows;
        let id_field = reader.schema().field(id_at).clone();
        let schema = out_schema(&id_field);
        let dest = out.join(f.file_name().unwrap());
        let (in_tx, in_rx) = sync_channel::<RecordBatch>(2);
        let (out_tx, out_rx) = sync_channel::<(RecordBatch, Vec<Vec<u32>>)>(2);
        std::thread::scope(|s| -> Result<(), Err> {
            let rd = s.spawn(move || -> Result<Duration, Err> {
                let mut busy = Duration::ZERO;
                let mut reader = reader;
                loop {
                    let t0 = Instant::now();
                    let Some(b) = reader.next() else { break };
                    let b = b?;
                    busy += t0.elapsed();
                    if in_tx.send(b).is_err() {
                        break;
                    }
                }
                Ok(busy)
            });
            let schema2 = schema.clone();
            let wr = s.spawn(move || -> Result<Duration, Err> {
                let mut w = writer(&dest, &schema2)?;
                let mut busy = Duration::ZERO;
                for (b, seqs) in out_rx {
                    let t0 = Instant::now();
                    let ob = build_batch(&schema2, &b, id_at, &seqs)?;
                    w.write(&ob)?;
                    busy += t0.elapsed();
                }
                let t0 = Instant::now();
                w.close()?;
                busy += t0.elapsed();
                Ok(busy)
            });
            for b in in_rx {
                let t0 = Instant::now();
                let texts = batch_texts(&b, text_at);
                t.rows += texts.len() as u64;
                t.text_bytes += texts.iter().map(|s| s.len() as u64).sum::<u64>();
                t.batches += 1;
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let seqs = tok.encode_batch(&refs, true)?;
                drop(refs);
                drop(texts);
                t.encode += t0.elapsed();
                t.tokens += seqs.iter().map(|v| v.len() as u64).sum::<u64>();
                out_tx.send((b, seqs)).map_err(|_| "writer thread ended")?;
            }
            drop(out_tx);
            t.read += rd.join().map_err(|_| "reader panicked")??;
            t.write += wr.join().map_err(|_| "writer panicked")??;
            Ok(())
        })?;
    }
    Ok(())
}

fn main() -> Result<(), Err> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err(
            "usage: tokenize-raw encode|phases|pipelined TOKENIZER_JSON PARQUET_DIR [OUT_DIR]"
                .into(),
        );
    }
    let mode = args[1].as_str();
    let t_load = Instant::now();
    // RAW_THREADS: the library's encode pool (as the stage's `--jobs`); RAYON_NUM_THREADS
    // does not size it.
    if let Some(n) = std::env::var("RAW_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tokenizers::parallelism::set_num_threads(n);
    }
    let tok = Tok::load(Path::new(&args[2]))?;
    let load = t_load.elapsed();
    let files = parquet_files(Path::new(&args[3]))?;
    let out = args.get(4).map(PathBuf::from);
    let mut t = Totals::default();
    let wall = Instant::now();
    match (mode, &out) {
        ("encode", _) => encode_mode(&tok, &files, &mut t)?,
        ("phases", Some(o)) => {
            std::fs::create_dir_all(o)?;
            phases_mode(&tok, &files, o, &mut t)?
        }
        ("pipelined", Some(o)) => {
            std::fs::create_dir_all(o)?;
            pipelined_mode(&tok, &files, o, &mut t)?
        }
        _ => return Err(format!("unknown mode `{mode}`, or OUT_DIR missing").into()),
    }
    let wall = wall.elapsed();
    // The figure compared: encode-only time in `encode`, the whole loop otherwise.
    let basis = if mode == "encode" { t.encode } else { wall };
    let mb_s = t.text_bytes as f64 / 1e6 / basis.as_secs_f64();
    let tok_s = t.tokens as f64 / basis.as_secs_f64();
    println!(
        "{{\"tool\": \"tokenizers-rs\", \"version\": \"1.0.0-rc.3\", \"mode\": \"{mode}\", \
         \"threads\": {threads}, \"rows\": {rows}, \"text_bytes\": {tb}, \"tokens\": {tk}, \
         \"batches\": {nb}, \"batch_rows\": {br}, \"tokenizer_load_s\": {ld}, \"wall_s\": {w}, \
         \"read_s\": {rd}, \"extract_s\": {ex}, \"encode_s\": {en}, \"build_s\": {bu}, \
         \"write_s\": {wr}, \"close_s\": {cl}, \"encode_cpu_s\": {ec}, \"io_cpu_s\": {ic}, \
         \"cores\": {cores}, \"mb_per_s\": {mb:.3}, \"tokens_per_s\": {ts:.0}}}",
        threads = tokenizers::parallelism::current_num_threads(),
        rows = t.rows,
        tb = t.text_bytes,
        tk = t.tokens,
        nb = t.batches,
        br = t.batch_rows,
        ld = secs(load),
        w = secs(wall),
        rd = secs(t.read),
        ex = secs(t.extract),
        en = secs(t.encode),
        bu = secs(t.build),
        wr = secs(t.write),
        cl = secs(t.close),
        ec = secs(t.encode_cpu),
        ic = secs(t.io_cpu),
        cores = std::thread::available_parallelism().map_or(1, |n| n.get()),
        mb = mb_s,
        ts = tok_s,
    );
    Ok(())
}
