//! Image and audio folders (Hugging Face `imagefolder` / `audiofolder`): one row per media file,
//! a label from its class folder, columns from `metadata.csv` / `metadata.jsonl` joined by
//! `file_name`, and header metadata read without decoding (image size and format; audio sample
//! rate, channels and duration).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Float64Builder, RecordBatch, StringBuilder, StructArray, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema};

use super::InputFile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Audio,
}

impl Kind {
    pub fn column(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Audio => "audio",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Image => "images",
            Kind::Audio => "audio files",
        }
    }

    fn is_media(self, name: &str) -> bool {
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match self {
            Kind::Image => matches!(
                ext.as_str(),
                "jpg" | "jpeg" | "png" | "gif" | "bmp" | "webp" | "tif" | "tiff"
            ),
            Kind::Audio => matches!(
                ext.as_str(),
                "wav" | "flac" | "mp3" | "ogg" | "opus" | "m4a"
            ),
        }
    }
}

/// Width, height and format from an image's header.
pub fn image_info(path: &Path) -> Result<(u32, u32, &'static str), String> {
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path)
        .and_then(|f| f.take(64).read_to_end(&mut head))
        .map_err(|e| e.to_string())?;
    let ty = imagesize::image_type(&head)
        .map_err(|_| "not a recognized image (unsupported or damaged)".to_owned())?;
    let format = match ty {
        imagesize::ImageType::Jpeg => "jpeg",
        imagesize::ImageType::Png => "png",
        imagesize::ImageType::Gif => "gif",
        imagesize::ImageType::Bmp => "bmp",
        imagesize::ImageType::Webp => "webp",
        imagesize::ImageType::Tiff => "tiff",
        _ => "other",
    };
    let size = imagesize::size(path).map_err(|e| format!("cannot read the image size: {e}"))?;
    let w = u32::try_from(size.width).map_err(|_| "image too wide".to_owned())?;
    let h = u32::try_from(size.height).map_err(|_| "image too tall".to_owned())?;
    Ok((w, h, format))
}

/// Sample rate, channels, duration (s) and format from an audio file's header (WAV and FLAC;
/// other formats are recognized by name, with unknown values).
pub fn audio_info(
    path: &Path,
) -> Result<(Option<u32>, Option<u32>, Option<f64>, &'static str), String> {
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|e| e.to_string())?;
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        // Walk the chunks for `fmt ` and `data`.
        let (mut pos, mut rate, mut channels, mut byte_rate, mut data_len) =
            (12usize, None, None, None, None);
        while pos + 8 <= head.len() {
            let id = &head[pos..pos + 4];
            let len =
                u32::from_le_bytes([head[pos + 4], head[pos + 5], head[pos + 6], head[pos + 7]])
                    as usize;
            if id == b"fmt " && pos + 24 <= head.len() {
                channels = Some(u32::from(u16::from_le_bytes([
                    head[pos + 10],
                    head[pos + 11],
                ])));
                rate = Some(u32::from_le_bytes([
                    head[pos + 12],
                    head[pos + 13],
                    head[pos + 14],
                    head[pos + 15],
                ]));
                byte_rate = Some(u32::from_le_bytes([
                    head[pos + 16],
                    head[pos + 17],
                    head[pos + 18],
                    head[pos + 19],
                ]));
            } else if id == b"data" {
                data_len = Some((len as u64).min(size.saturating_sub(pos as u64 + 8)));
                break;
            }
            pos += 8 + len + (len & 1);
        }
        let duration = match (data_len, byte_rate) {
            (Some(d), Some(b)) if b > 0 => Some(d as f64 / f64::from(b)),
            _ => None,
        };
        if rate.is_none() {
            return Err("a WAV file without a `fmt ` chunk (damaged?)".into());
        }
        return Ok((rate, channels, duration, "wav"));
    }
    if head.len() >= 4 + 4 + 18 && &head[..4] == b"fLaC" {
        // STREAMINFO is the first metadata block: 20 bits rate, 3 bits channels-1, 5 bits bps-1, 36 bits samples.
        let b = &head[8..26];
        let rate = (u32::from(b[10]) << 12) | (u32::from(b[11]) << 4) | (u32::from(b[12]) >> 4);
        let channels = u32::from((b[12] >> 1) & 0x7) + 1;
        let samples = (u64::from(b[13] & 0x0f) << 32)
            | u64::from(u32::from_be_bytes([b[14], b[15], b[16], b[17]]));
        let duration = (rate > 0 && samples > 0).then(|| samples as f64 / f64::from(rate));
        return Ok((Some(rate), Some(channels), duration, "flac"));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let format = match name.rsplit_once('.').map(|(_, e)| e) {
        Some("mp3") => "mp3",
        Some("ogg") => "ogg",
        Some("opus") => "opus",
        Some("m4a") => "m4a",
        _ => return Err("not a recognized audio file (unsupported or damaged)".into()),
    };
    Ok((None, None, None, format))
}

/// A media folder read into one table.
pub struct Folder {
    pub batch: RecordBatch,
    /// Whether the `label` column came from class folders.
    pub labels_from_folders: bool,
    pub found: usize,
    /// Files named in metadata that do not exist, and media files that could not be read.
    pub missing: Vec<String>,
    pub unreadable: Vec<(String, String)>,
    pub metadata_files: Vec<String>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Read metadata rows: `file_name` (relative to the metadata file's folder) → other columns.
fn read_metadata(file: &InputFile) -> Result<Vec<BTreeMap<String, serde_json::Value>>, String> {
    let mut rows = Vec::new();
    if file.name.to_ascii_lowercase().ends_with(".csv") {
        let mut rdr = csv::Reader::from_path(&file.path).map_err(err)?;
        let headers = rdr.headers().map_err(err)?.clone();
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| format!("line {}: {e}", i + 2))?;
            rows.push(
                headers
                    .iter()
                    .zip(rec.iter())
                    .map(|(h, v)| (h.to_owned(), serde_json::Value::String(v.to_owned())))
                    .collect(),
            );
        }
    } else {
        let text = std::fs::read_to_string(&file.path).map_err(err)?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
            let serde_json::Value::Object(o) = v else {
                return Err(format!("line {}: not a JSON object", i + 1));
            };
            rows.push(o.into_iter().collect());
        }
    }
    Ok(rows)
}

/// Scan the input files of a media folder.
pub fn read(kind: Kind, input: &[InputFile], embed: bool) -> Result<Folder, String> {
    let media: Vec<&InputFile> = input.iter().filter(|f| kind.is_media(&f.name)).collect();
    let meta_files: Vec<&InputFile> = input
        .iter()
        .filter(|f| {
            let base = f.name.rsplit('/').next().unwrap_or(&f.name);
            base == "metadata.csv" || base == "metadata.jsonl"
        })
        .collect();
    // Metadata rows keyed by the media file's path inside the source.
    let mut meta: BTreeMap<String, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
    let mut columns: Vec<String> = Vec::new();
    let mut missing = Vec::new();
    for mf in &meta_files {
        let dir = mf.name.rsplit_once('/').map_or("", |(d, _)| d);
        for mut row in read_metadata(mf).map_err(|e| format!("`{}`: {e}", mf.name))? {
            let Some(serde_json::Value::String(file_name)) = row.remove("file_name") else {
                return Err(format!(
                    "`{}`: every row needs a `file_name` column naming a file relative to it",
                    mf.name
                ));
            };
            let key = if dir.is_empty() {
                file_name.clone()
            } else {
                format!("{dir}/{file_name}")
            };
            if !media.iter().any(|m| m.name == key) {
                missing.push(key.clone());
                continue;
            }
            for k in row.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
            meta.insert(key, row);
        }
    }
    // Labels from class folders: every media file sits in a folder, at the same depth.
    let depths: BTreeSet<usize> = media.iter().map(|m| m.name.matches('/').count()).collect();
    let labels_from_folders = !media.is_empty()
        && depths.len() == 1
        && depths.first().is_some_and(|&d| d >= 1)
        && !columns.iter().any(|c| c == "label");
    let mut unreadable = Vec::new();
    let mut path_b = StringBuilder::new();
    let mut bytes_b = BinaryBuilder::new();
    let (mut w_b, mut h_b, mut fmt_b) = (
        UInt32Builder::new(),
        UInt32Builder::new(),
        StringBuilder::new(),
    );
    let (mut rate_b, mut ch_b, mut dur_b) = (
        UInt32Builder::new(),
        UInt32Builder::new(),
        Float64Builder::new(),
    );
    let mut label_b = StringBuilder::new();
    let mut meta_b: Vec<StringBuilder> = columns.iter().map(|_| StringBuilder::new()).collect();
    let mut found = 0;
    for m in &media {
        let info = match kind {
            Kind::Image => image_info(&m.path).map(|(w, h, f)| (Some(w), Some(h), None, f)),
            Kind::Audio => audio_info(&m.path)
                .map(|(r, c, d, f)| (r, c, d.map(|d| (d * 1e6).round() / 1e6), f)),
        };
        let (a, b, d, format) = match info {
            Ok(x) => x,
            Err(e) => {
                unreadable.push((m.name.clone(), e));
                continue;
            }
        };
        found += 1;
        path_b.append_value(&m.name);
        if embed {
            bytes_b.append_value(std::fs::read(&m.path).map_err(|e| format!("`{}`: {e}", m.name))?);
        } else {
            bytes_b.append_null();
        }
        match kind {
            Kind::Image => {
                w_b.append_option(a);
                h_b.append_option(b);
            }
            Kind::Audio => {
                rate_b.append_option(a);
                ch_b.append_option(b);
                dur_b.append_option(d);
            }
        }
        fmt_b.append_value(format);
        if labels_from_folders {
            let parent = m.name.rsplit_once('/').map_or("", |(p, _)| p);
            label_b.append_value(parent.rsplit('/').next().unwrap_or(parent));
        }
        let row = meta.get(&m.name);
        for (c, b) in columns.iter().zip(meta_b.iter_mut()) {
            match row.and_then(|r| r.get(c)) {
                None | Some(serde_json::Value::Null) => b.append_null(),
                Some(serde_json::Value::String(s)) => b.append_value(s),
                Some(v) => b.append_value(v.to_string()),
            }
        }
    }
    let media_fields = Fields::from(vec![
        Field::new("bytes", DataType::Binary, true),
        Field::new("path", DataType::Utf8, true),
    ]);
    let media_col: ArrayRef = Arc::new(StructArray::new(
        media_fields.clone(),
        vec![
            Arc::new(bytes_b.finish()) as ArrayRef,
            Arc::new(path_b.finish()) as ArrayRef,
        ],
        None,
    ));
    let mut fields = vec![Field::new(
        kind.column(),
        DataType::Struct(media_fields),
        true,
    )];
    let mut arrays: Vec<ArrayRef> = vec![media_col];
    match kind {
        Kind::Image => {
            fields.extend([
                Field::new("width", DataType::UInt32, true),
                Field::new("height", DataType::UInt32, true),
            ]);
            arrays.extend([
                Arc::new(w_b.finish()) as ArrayRef,
                Arc::new(h_b.finish()) as ArrayRef,
            ]);
        }
        Kind::Audio => {
            fields.extend([
                Field::new("sample_rate", DataType::UInt32, true),
                Field::new("channels", DataType::UInt32, true),
                Field::new("duration", DataType::Float64, true),
            ]);
            arrays.extend([
                Arc::new(rate_b.finish()) as ArrayRef,
                Arc::new(ch_b.finish()) as ArrayRef,
                Arc::new(dur_b.finish()) as ArrayRef,
            ]);
        }
    }
    fields.push(Field::new("format", DataType::Utf8, true));
    arrays.push(Arc::new(fmt_b.finish()));
    if labels_from_folders {
        fields.push(Field::new("label", DataType::Utf8, true));
        arrays.push(Arc::new(label_b.finish()));
    }
    // Metadata columns get types as a CSV column would (numbers, booleans, dates…).
    for (c, mut b) in columns.iter().zip(meta_b) {
        let strings = b.finish();
        let mut stats = super::infer::ColumnStats::default();
        for v in &strings {
            stats.add(v.unwrap_or(""));
        }
        let (dt, _) = stats.resolve(c);
        let typed =
            arrow::compute::cast(&strings, &dt).unwrap_or_else(|_| Arc::new(strings.clone()));
        fields.push(Field::new(c, typed.data_type().clone(), true));
        arrays.push(typed);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(err)?;
    Ok(Folder {
        batch,
        labels_from_folders,
        found,
        missing,
        unreadable,
        metadata_files: meta_files.iter().map(|f| f.name.clone()).collect(),
    })
}

/// "Found 10,000 images, 5 missing" for the report.
pub fn found_line(kind: Kind, f: &Folder) -> String {
    let mut s = format!("found {} {}", f.found, kind.noun());
    if !f.missing.is_empty() {
        s.push_str(&format!(", {} missing", f.missing.len()));
    }
    if !f.unreadable.is_empty() {
        s.push_str(&format!(", {} unreadable", f.unreadable.len()));
    }
    s
}
