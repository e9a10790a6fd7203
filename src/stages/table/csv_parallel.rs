//! CSV decoded on the rayon pool, a chunk of the file per task, batches out in file order.
//!
//! One thread reads the file through the [`RecordGuard`] and cuts it into chunks of about
//! [`CHUNK_BYTES`] at record boundaries: the guard follows quoted fields as csv-core does (a
//! line break inside quotes does not end a record), and `record_start` is where the record
//! being read began, so every byte before it belongs to whole records. Each chunk is decoded
//! by its own arrow-csv `Decoder` (the first one skipping the header) on the pool, and the
//! consumer takes the chunks' batches in order. At most [`in_flight`] chunks are read ahead,
//! so memory stays bounded whatever the file's size.
//!
//! The values are those of one sequential decoder: a record is decoded the same wherever the
//! chunk around it starts. The batches' sizes differ (a chunk ends with a short batch), so
//! callers put them back into whole batches (`rebatch`) before anything depends on them.
//!
//! Errors name the line the sequential decoder would: a chunk that fails is decoded again
//! behind as many empty records as came before it, which the decoder skips and counts. When a
//! stretch of the file holds several bad values, the one named may differ from the sequential
//! decoder's (each decodes in its own windows of rows), but it is a real error at its line.
//!
//! Assumes what the guard assumes: a quote character, no escape character, no comment lines.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use arrow::array::RecordBatch;
use arrow::csv::reader::{Decoder, Format, ReaderBuilder};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;

use super::RecordGuard;

/// Bytes per chunk (a chunk holds whole records, so one may be longer).
const CHUNK_BYTES: usize = 4 << 20;
/// Bytes asked of the reader at a time.
const READ_BYTES: usize = 1 << 20;

/// Chunks read ahead of the consumer (being decoded or decoded): enough to keep every thread
/// of the pool busy while the consumer works on one.
fn in_flight() -> usize {
    (rayon::current_num_threads() + 2).clamp(3, 16)
}

/// The batches of a CSV stream.
pub(super) type Batches = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>;

/// What decoding a chunk needs.
struct Config {
    schema: SchemaRef,
    /// The format of the first chunk (with the header, if the file has one).
    format: Format,
    header: bool,
    rows: usize,
    delimiter: u8,
    quote: u8,
    /// [`CHUNK_BYTES`] and [`READ_BYTES`] (smaller in tests).
    chunk: usize,
    read: usize,
}

impl Config {
    fn decoder(&self, first: bool, skip: usize) -> Decoder {
        let format = if first {
            self.format.clone()
        } else {
            self.format.clone().with_header(false)
        };
        let mut b = ReaderBuilder::new(self.schema.clone())
            .with_format(format)
            .with_batch_size(self.rows);
        if skip > 0 {
            b = b.with_bounds(skip, usize::MAX);
        }
        b.build_decoder()
    }
}

/// A decoded chunk: its batches and how many records it held (the header included).
type Decoded = Result<(Vec<RecordBatch>, usize), Failed>;

struct Failed {
    error: ArrowError,
    /// The chunk's bytes, to locate the error (`None`: a read error, located already).
    bytes: Option<Vec<u8>>,
}

/// The CSV read through `guard` as batches of `schema`, decoded in parallel. `format` is the
/// whole file's format, `header` whether it has a header row, `rows` the decoder's batch size.
/// On a rayon worker thread (whose pool might have no other thread to decode), it decodes
/// sequentially instead.
pub(super) fn decode<R: Read + Send + 'static>(
    guard: RecordGuard<R>,
    schema: SchemaRef,
    format: Format,
    header: bool,
    rows: usize,
) -> Result<Batches, ArrowError> {
    decode_sized(
        guard,
        schema,
        format,
        header,
        rows,
        (CHUNK_BYTES, READ_BYTES),
    )
}

/// [`decode`] with chunks of about `sizes.0` bytes, read `sizes.1` bytes at a time.
fn decode_sized<R: Read + Send + 'static>(
    guard: RecordGuard<R>,
    schema: SchemaRef,
    format: Format,
    header: bool,
    rows: usize,
    (chunk, read): (usize, usize),
) -> Result<Batches, ArrowError> {
    let (quote, delimiter) = guard.csv.unwrap_or((b'"', b','));
    if rayon::current_thread_index().is_some() {
        let reader = ReaderBuilder::new(schema)
            .with_format(format)
            .with_batch_size(rows)
            .build(guard)?;
        return Ok(Box::new(reader));
    }
    let config = Arc::new(Config {
        schema,
        format,
        header,
        rows,
        delimiter,
        quote,
        chunk: chunk.max(1),
        read: read.max(1),
    });
    let (tx, rx) = sync_channel(in_flight());
    let cx = config.clone();
    std::thread::Builder::new()
        .name("csv-chunks".into())
        .spawn(move || cut(guard, &cx, &tx))
        .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
    Ok(Box::new(Ordered {
        config,
        chunks: rx,
        pending: VecDeque::new(),
        records: 0,
        done: false,
    }))
}

/// The reading thread: cut the stream into chunks at record boundaries and hand each to the
/// pool, in order. Ends at the end of the input, at a read error (sent as the last chunk), or
/// when the consumer is gone.
fn cut<R: Read>(
    mut guard: RecordGuard<R>,
    config: &Arc<Config>,
    tx: &SyncSender<Receiver<Decoded>>,
) {
    let (chunk_bytes, read_bytes) = (config.chunk, config.read);
    let mut buf: Vec<u8> = Vec::with_capacity(chunk_bytes + read_bytes);
    // The offset of `buf[0]` in the stream.
    let mut base: u64 = 0;
    let mut first = true;
    let mut eof = false;
    while !(eof && buf.is_empty()) {
        // Read up to a chunk's worth, and on until a record ends in it.
        while !eof && (buf.len() < chunk_bytes || guard.record_start <= base) {
            let len = buf.len();
            buf.resize(len + read_bytes, 0);
            match guard.read(&mut buf[len..]) {
                Ok(0) => {
                    buf.truncate(len);
                    eof = true;
                }
                Ok(n) => buf.truncate(len + n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(len),
                Err(e) => {
                    let (done, result) = sync_channel(1);
                    let _ = done.send(Err(Failed {
                        error: ArrowError::from(e),
                        bytes: None,
                    }));
                    let _ = tx.send(result);
                    return;
                }
            }
        }
        let end = if eof {
            buf.len()
        } else {
            usize::try_from(guard.record_start - base).unwrap_or(buf.len())
        };
        let rest = buf[end..].to_vec();
        let mut chunk = std::mem::replace(&mut buf, rest);
        chunk.truncate(end);
        buf.reserve(chunk_bytes + read_bytes);
        base += end as u64;
        let (done, result) = sync_channel(1);
        if tx.send(result).is_err() {
            return;
        }
        let config = config.clone();
        let is_first = std::mem::replace(&mut first, false);
        rayon::spawn(move || {
            let _ = done.send(decode_chunk(&config, chunk, is_first));
        });
    }
}

/// Decode one chunk, as arrow-csv's reader decodes a stream.
fn decode_chunk(config: &Config, bytes: Vec<u8>, first: bool) -> Decoded {
    let mut decoder = config.decoder(first, 0);
    let header = usize::from(first && config.header);
    match feed(&mut decoder, &bytes) {
        Ok(batches) => {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            Ok((batches, rows + header))
        }
        Err(error) => Err(Failed {
            error,
            bytes: (!first).then_some(bytes),
        }),
    }
}

/// Every batch of `bytes` (then the end of the input).
fn feed(decoder: &mut Decoder, mut bytes: &[u8]) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut batches = Vec::new();
    loop {
        let used = decoder.decode(bytes)?;
        bytes = &bytes[used..];
        if used == 0 || decoder.capacity() == 0 {
            // `None`: nothing more (arrow-csv's reader ends its stream there too).
            match decoder.flush()? {
                Some(b) => batches.push(b),
                None => return Ok(batches),
            }
        }
    }
}

/// The error of a chunk that failed, with the line numbers of the whole file: the chunk decoded
/// again behind `before` empty records, which the decoder skips but counts.
fn locate(config: &Config, bytes: &[u8], before: usize, original: ArrowError) -> ArrowError {
    let mut decoder = config.decoder(false, before);
    let fields = config.schema.fields().len();
    let empty: Vec<u8> = if fields > 1 {
        let mut r = vec![config.delimiter; fields - 1];
        r.push(b'\n');
        r
    } else {
        vec![config.quote, config.quote, b'\n']
    };
    let per = (64 * 1024 / empty.len()).max(1);
    let block: Vec<u8> = empty.repeat(per);
    let mut left = before;
    while left > 0 {
        let n = left.min(per);
        let mut part = &block[..n * empty.len()];
        while !part.is_empty() {
            match decoder.decode(part) {
                Ok(0) | Err(_) => return original,
                Ok(used) => part = &part[used..],
            }
        }
        left -= n;
    }
    match feed(&mut decoder, bytes) {
        Err(e) => e,
        Ok(_) => original,
    }
}

/// The consumer's side: chunks in order, their batches one by one.
struct Ordered {
    config: Arc<Config>,
    chunks: Receiver<Receiver<Decoded>>,
    pending: VecDeque<RecordBatch>,
    /// Records in the chunks taken so far (the header included).
    records: usize,
    done: bool,
}

impl Iterator for Ordered {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some(Ok(b));
            }
            if self.done {
                return None;
            }
            let Ok(chunk) = self.chunks.recv() else {
                self.done = true;
                return None;
            };
            match chunk.recv() {
                Ok(Ok((batches, records))) => {
                    self.records += records;
                    self.pending.extend(batches);
                }
                Ok(Err(failed)) => {
                    self.done = true;
                    let error = match failed.bytes {
                        Some(bytes) => locate(&self.config, &bytes, self.records, failed.error),
                        None => failed.error,
                    };
                    return Some(Err(error));
                }
                Err(_) => {
                    self.done = true;
                    return Some(Err(ArrowError::CsvError(
                        "internal error: a CSV decoding task stopped".into(),
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::RecordBatch;
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use proptest::prelude::*;

    use super::super::{RecordGuard, Tripwire};
    use super::*;

    fn schema(types: &[DataType]) -> SchemaRef {
        Arc::new(Schema::new(
            types
                .iter()
                .enumerate()
                .map(|(i, t)| Field::new(format!("c{i}"), t.clone(), true))
                .collect::<Vec<_>>(),
        ))
    }

    fn guard(text: &str) -> RecordGuard<std::io::Cursor<Vec<u8>>> {
        RecordGuard::new(
            std::io::Cursor::new(text.as_bytes().to_vec()),
            Some((b'"', b',')),
            u64::MAX,
            Tripwire::default(),
        )
    }

    fn format(header: bool) -> Format {
        Format::default()
            .with_header(header)
            .with_delimiter(b',')
            .with_quote(b'"')
    }

    /// All the rows in one batch, or the error's message.
    fn all(
        schema: &SchemaRef,
        batches: impl Iterator<Item = Result<RecordBatch, ArrowError>>,
    ) -> Result<RecordBatch, String> {
        let batches: Vec<RecordBatch> = batches
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        Ok(arrow::compute::concat_batches(schema, &batches).unwrap())
    }

    fn sequential(
        text: &str,
        schema: &SchemaRef,
        header: bool,
        rows: usize,
    ) -> Result<RecordBatch, String> {
        let reader = ReaderBuilder::new(schema.clone())
            .with_format(format(header))
            .with_batch_size(rows)
            .build(text.as_bytes())
            .unwrap();
        all(schema, reader)
    }

    fn chunked(
        text: &str,
        schema: &SchemaRef,
        header: bool,
        rows: usize,
        sizes: (usize, usize),
    ) -> Result<RecordBatch, String> {
        let batches = decode_sized(
            guard(text),
            schema.clone(),
            format(header),
            header,
            rows,
            sizes,
        )
        .unwrap();
        all(schema, batches)
    }

    #[test]
    fn chunks_cut_at_record_boundaries_whatever_their_size() {
        let text = "a,b\n1,\"x\ny\"\n2,\"say \"\"hi\"\"\"\r\n3,\"a,b\"\r\n\n4,5\" in\n5,last";
        let s = schema(&[DataType::Int64, DataType::Utf8]);
        let want = sequential(text, &s, true, 2).unwrap();
        assert_eq!(want.num_rows(), 5);
        for chunk in 1..text.len() + 2 {
            for read in [1, 2, 3, 7, 64] {
                assert_eq!(
                    chunked(text, &s, true, 2, (chunk, read)).unwrap(),
                    want,
                    "chunk {chunk} read {read}"
                );
            }
        }
    }

    #[test]
    fn errors_name_the_line_of_the_whole_file() {
        let s = schema(&[DataType::Int64, DataType::Utf8]);
        let mut text = String::from("a,b\n");
        for i in 0..50 {
            text.push_str(&format!("{i},\"t\nt\"\n"));
        }
        for (bad, what) in [
            ("x,y\n", "Error while parsing value 'x'"),
            ("1\n", "incorrect number of fields"),
        ] {
            let t = format!("{text}{bad}7,z\n");
            let want = sequential(&t, &s, true, 8).unwrap_err();
            assert!(want.contains(what) && want.contains("line 5"), "{want}");
            for chunk in [1, 5, 16, 100, 10_000] {
                assert_eq!(
                    chunked(&t, &s, true, 8, (chunk, 3)).unwrap_err(),
                    want,
                    "chunk {chunk}"
                );
            }
        }
        // A one-column file (an empty record is a quoted empty field).
        let s1 = schema(&[DataType::Int64]);
        let t = "a\n1\n2\n3\nx\n4\n";
        let want = sequential(t, &s1, true, 2).unwrap_err();
        assert_eq!(chunked(t, &s1, true, 2, (2, 1)).unwrap_err(), want);
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9 ]{0,6}",
            "[a-z,\n\r\" ]{0,8}".prop_map(|s| format!("\"{}\"", s.replace('"', "\"\""))),
            "-?[0-9]{1,4}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random records (quoted fields with delimiters, quotes and line breaks, CRLF and LF,
        /// blank lines) decode to the same rows whatever the chunk and read sizes.
        #[test]
        fn chunked_equals_sequential(
            rows in proptest::collection::vec(proptest::collection::vec(field(), 3), 0..40),
            crlf in proptest::collection::vec(any::<bool>(), 40),
            chunk in 1usize..200,
            read in 1usize..50,
            header in any::<bool>(),
        ) {
            let mut text = String::new();
            if header {
                text.push_str("a,b,c\n");
            }
            for (i, r) in rows.iter().enumerate() {
                text.push_str(&r.join(","));
                text.push_str(if crlf[i] { "\r\n" } else { "\n" });
            }
            let s = schema(&[DataType::Utf8, DataType::Utf8, DataType::Utf8]);
            let want = sequential(&text, &s, header, 4);
            let got = chunked(&text, &s, header, 4, (chunk, read));
            prop_assert_eq!(got, want);
        }
    }
}
