//! The `croissant` format: `croissant/croissant.json`, Croissant 1.1 JSON-LD metadata
//! describing the exported Parquet files, so that Croissant tools (`mlcroissant`) can find,
//! check and load them.
//!
//! It runs after the data formats, from the files they wrote. Each Parquet file is a
//! `cr:FileObject` (path relative to `croissant.json`, SHA-256, size). Croissant cannot
//! concatenate several file objects into one record set, so each split (each file, when a
//! split has several shards) is a record set of its own whose fields are typed from the Arrow
//! schema; a `cr:Split` record set lists the splits, and every record set's `split` field
//! references it. Nothing time-based is written (no `datePublished`): the same export gives
//! the same bytes.

use std::fmt::Write as _;

use arrow::datatypes::DataType;
use serde_json::{Value, json};

use super::options::FormatName;
use super::writer::{Artifact, DescribedFile, ExportContext, FormatResult, file_err};
use crate::stages::StageError;

/// The Croissant version written.
pub const CONFORMS_TO: &str = "http://mlcommons.org/croissant/1.1";

/// The JSON-LD `@context` of Croissant 1.1, as the spec and `mlcroissant` define it.
fn context() -> Value {
    json!({
        "@language": "en",
        "@vocab": "https://schema.org/",
        "arrayShape": "cr:arrayShape",
        "citeAs": "cr:citeAs",
        "column": "cr:column",
        "conformsTo": "dct:conformsTo",
        "containedIn": "cr:containedIn",
        "cr": "http://mlcommons.org/croissant/",
        "rai": "http://mlcommons.org/croissant/RAI/",
        "data": {"@id": "cr:data", "@type": "@json"},
        "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
        "dct": "http://purl.org/dc/terms/",
        "description": {"@container": "@language"},
        "equivalentProperty": "cr:equivalentProperty",
        "examples": {"@id": "cr:examples", "@type": "@json"},
        "extract": "cr:extract",
        "field": "cr:field",
        "fileProperty": "cr:fileProperty",
        "fileObject": "cr:fileObject",
        "fileSet": "cr:fileSet",
        "format": "cr:format",
        "includes": "cr:includes",
        "isArray": "cr:isArray",
        "isLiveDataset": "cr:isLiveDataset",
        "jsonPath": "cr:jsonPath",
        "key": "cr:key",
        "md5": "cr:md5",
        "name": {"@container": "@language"},
        "parentField": "cr:parentField",
        "path": "cr:path",
        "recordSet": "cr:recordSet",
        "references": "cr:references",
        "regex": "cr:regex",
        "repeated": "cr:repeated",
        "replace": "cr:replace",
        "samplingRate": "cr:samplingRate",
        "sc": "https://schema.org/",
        "separator": "cr:separator",
        "source": "cr:source",
        "subField": "cr:subField",
        "transform": "cr:transform"
    })
}

/// Common SPDX ids in their canonical spelling, so that `cc-by-4.0` links to
/// `https://spdx.org/licenses/CC-BY-4.0.html`.
const SPDX: &[&str] = &[
    "0BSD",
    "AFL-3.0",
    "AGPL-3.0",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-3-Clause-Clear",
    "BSL-1.0",
    "C-UDA-1.0",
    "CC-BY-2.0",
    "CC-BY-2.5",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-NC-2.0",
    "CC-BY-NC-3.0",
    "CC-BY-NC-4.0",
    "CC-BY-NC-ND-3.0",
    "CC-BY-NC-ND-4.0",
    "CC-BY-NC-SA-2.0",
    "CC-BY-NC-SA-3.0",
    "CC-BY-NC-SA-4.0",
    "CC-BY-ND-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDLA-Permissive-1.0",
    "CDLA-Permissive-2.0",
    "CDLA-Sharing-1.0",
    "ECL-2.0",
    "EPL-1.0",
    "EPL-2.0",
    "EUPL-1.1",
    "EUPL-1.2",
    "GFDL-1.3",
    "GPL-2.0",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "ISC",
    "LGPL-2.1",
    "LGPL-2.1-only",
    "LGPL-3.0",
    "LGPL-3.0-only",
    "LPPL-1.3c",
    "MIT",
    "MIT-0",
    "MPL-2.0",
    "MS-PL",
    "NCSA",
    "ODbL-1.0",
    "ODC-By-1.0",
    "OFL-1.1",
    "OSL-3.0",
    "PDDL-1.0",
    "PostgreSQL",
    "Unlicense",
    "UPL-1.0",
    "WTFPL",
    "Zlib",
];

/// The license as Croissant wants it: a URL (an SPDX page for an SPDX-looking id), the text
/// as given otherwise, or `unknown`.
pub fn license_value(license: &str) -> String {
    let l = license.trim();
    if l.is_empty() || l.eq_ignore_ascii_case("unknown") {
        return "unknown".into();
    }
    if l.contains("://") {
        return l.to_owned();
    }
    let spdx_like = l
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'+'));
    if !spdx_like || l.starts_with("LicenseRef-") {
        return l.to_owned();
    }
    let id = SPDX
        .iter()
        .find(|s| s.eq_ignore_ascii_case(l))
        .map_or(l, |s| *s);
    format!("https://spdx.org/licenses/{id}.html")
}

/// The Parquet files to describe: the `parquet` format's, else the `hf` format's.
fn parquet_files(files: &[DescribedFile]) -> Result<Vec<&DescribedFile>, StageError> {
    for format in [FormatName::Parquet, FormatName::Hf] {
        let picked: Vec<&DescribedFile> = files
            .iter()
            .filter(|f| {
                f.format == format
                    && f.artifact.path.ends_with(".parquet")
                    && f.artifact.split.is_some()
            })
            .collect();
        if !picked.is_empty() {
            return Ok(picked);
        }
    }
    Err(
        StageError::new("croissant describes the exported Parquet files, and none were exported")
            .hint("add `parquet` (or `hf`) to `formats`, next to `croissant`"),
    )
}

/// The Croissant data type of a scalar Arrow type.
fn scalar_type(dt: &DataType) -> &'static str {
    match dt {
        DataType::Boolean => "sc:Boolean",
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => "sc:Integer",
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "sc:Float",
        DataType::Date32 | DataType::Date64 => "sc:Date",
        DataType::Timestamp(..) => "sc:DateTime",
        DataType::Time32(_) | DataType::Time64(_) => "sc:Time",
        _ => "sc:Text",
    }
}

fn feature_type(feature: Option<&Value>) -> Option<&str> {
    feature?.get("_type")?.as_str()
}

/// One `cr:Field` for column `column` (or a sub-field, with `json_path`) of record set `rs`.
fn field(
    id: &str,
    column: &str,
    json_path: Option<&str>,
    dt: &DataType,
    feature: Option<&Value>,
    file_id: &str,
) -> Value {
    let mut source = json!({"fileObject": {"@id": file_id}, "extract": {"column": column}});
    if let Some(p) = json_path {
        source["transform"] = json!({"jsonPath": p});
    }
    let mut f = json!({"@type": "cr:Field", "@id": id, "name": id});
    let description;
    match (feature_type(feature), dt) {
        (Some(kind @ ("Image" | "Audio")), DataType::Struct(_)) => {
            f["dataType"] = if kind == "Image" {
                "sc:ImageObject"
            } else {
                "sc:AudioObject"
            }
            .into();
            // The media are stored as {bytes, path}: the bytes are the object.
            let p = json_path.map_or_else(|| "bytes".to_owned(), |p| format!("{p}.bytes"));
            source["transform"] = json!({"jsonPath": p});
            description = format!("{kind} from column `{column}` (its bytes).");
        }
        (Some("ClassLabel"), _) => {
            f["dataType"] = "sc:Integer".into();
            let names: Vec<String> = feature
                .and_then(|v| v.get("names"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .enumerate()
                        .map(|(i, n)| format!("{i} = {}", n.as_str().unwrap_or("?")))
                        .collect()
                })
                .unwrap_or_default();
            description = format!("Class label ids: {}.", names.join(", "));
        }
        (_, DataType::List(item) | DataType::LargeList(item)) => {
            f["dataType"] = scalar_type(item.data_type()).into();
            f["isArray"] = true.into();
            f["arrayShape"] = "-1".into();
            description = format!("Column `{column}`: a list of {}.", item.data_type());
        }
        (_, DataType::FixedSizeList(item, n)) => {
            f["dataType"] = scalar_type(item.data_type()).into();
            f["isArray"] = true.into();
            f["arrayShape"] = n.to_string().into();
            description = format!(
                "Column `{column}`: a list of {n} {} values.",
                item.data_type()
            );
        }
        (_, DataType::Struct(children)) if json_path.is_none() => {
            let subs: Vec<Value> = children
                .iter()
                .map(|c| {
                    let sub_feature = feature.and_then(|v| v.get(c.name()));
                    field(
                        &format!("{id}/{}", c.name()),
                        column,
                        Some(c.name()),
                        c.data_type(),
                        sub_feature,
                        file_id,
                    )
                })
                .collect();
            f["subField"] = subs.into();
            f["description"] = format!("Column `{column}` (a struct).").into();
            return f;
        }
        _ => {
            f["dataType"] = scalar_type(dt).into();
            description = match json_path {
                Some(p) => format!("Field `{p}` of column `{column}` ({dt})."),
                None => format!("Column `{column}` ({dt})."),
            };
        }
    }
    f["description"] = description.into();
    f["source"] = source;
    f
}

/// A regex matching the escaped literal `s`.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `<out_dir>/<a>/<b>` relative to `<out_dir>/croissant/`.
fn content_url(artifact: &Artifact) -> String {
    format!("../{}", artifact.path)
}

/// The file name of an artifact path.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The whole document.
pub fn document(cx: &ExportContext, files: &[&DescribedFile]) -> Value {
    let d = &cx.dataset;
    let splits: Vec<&str> = cx.splits.iter().map(|s| s.name.as_str()).collect();
    let mut distribution = Vec::new();
    for f in files {
        distribution.push(json!({
            "@type": "cr:FileObject",
            "@id": f.artifact.path,
            "name": file_name(&f.artifact.path),
            "description": format!(
                "Split `{}`: {} rows ({} format).",
                f.artifact.split.as_deref().unwrap_or(""),
                f.artifact.rows.unwrap_or(0),
                f.format.as_str()
            ),
            "contentUrl": content_url(&f.artifact),
            "contentSize": format!("{} B", f.size),
            "encodingFormat": "application/x-parquet",
            "sha256": f.sha256,
        }));
    }
    // Names must not collide: the split record set with a split's, the split field with a
    // column.
    let split_rs = ["splits", "split_names", "_splits"]
        .into_iter()
        .find(|n| !splits.contains(n))
        .unwrap_or("__splits");
    let split_key = format!("{split_rs}/split_name");
    let column_names: Vec<&str> = cx
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let split_field = ["split", "_split", "__split"]
        .into_iter()
        .find(|n| !column_names.contains(n))
        .unwrap_or("___split");
    let mut record_sets = vec![json!({
        "@type": "cr:RecordSet",
        "@id": split_rs,
        "name": split_rs,
        "description": "The splits of the dataset.",
        "dataType": "cr:Split",
        "key": {"@id": split_key},
        "field": [{
            "@type": "cr:Field",
            "@id": split_key,
            "name": split_key,
            "description": "The name of the split.",
            "dataType": "sc:Text",
        }],
        "data": splits.iter().map(|s| json!({ split_key.clone(): s })).collect::<Vec<_>>(),
    })];
    for f in files {
        let split = f.artifact.split.clone().unwrap_or_default();
        let shards = files
            .iter()
            .filter(|g| g.artifact.split.as_deref() == Some(split.as_str()))
            .count();
        // A split in one file is one record set named after it; a sharded split gets one
        // record set per file, named after the file.
        let rs = if shards == 1 {
            split.clone()
        } else {
            file_name(&f.artifact.path)
                .trim_end_matches(".parquet")
                .to_owned()
        };
        let file_id = f.artifact.path.as_str();
        let mut fields = vec![json!({
            "@type": "cr:Field",
            "@id": format!("{rs}/{split_field}"),
            "name": format!("{rs}/{split_field}"),
            "description": "The split the record belongs to.",
            "dataType": "sc:Text",
            "references": {"field": {"@id": split_key}},
            "source": {
                "fileObject": {"@id": file_id},
                "extract": {"fileProperty": "filename"},
                // mlcroissant applies the regex again to the joined value (the bare split
                // name), so it matches that too.
                "transform": {"regex": format!(
                    "^({})(?:-[0-9]{{5}}-of-[0-9]{{5}})?(?:\\.parquet)?$",
                    regex_escape(&split)
                )},
            },
        })];
        for col in cx.schema.fields() {
            fields.push(field(
                &format!("{rs}/{}", col.name()),
                col.name(),
                None,
                col.data_type(),
                cx.features.get(col.name()),
                file_id,
            ));
        }
        record_sets.push(json!({
            "@type": "cr:RecordSet",
            "@id": rs,
            "name": rs,
            "description": format!("The records of split `{split}` in `{}`.", f.artifact.path),
            "field": fields,
        }));
    }
    let description = if d.description.trim().is_empty() {
        format!("The `{}` dataset, exported by mldatabuild.", d.name)
    } else {
        d.description.clone()
    };
    let mut doc = json!({
        "@context": context(),
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": d.name,
        "description": description,
        "license": license_value(&d.license),
        // Without a `url:` the dataset's address is unknown; the export folder holding the
        // files (relative to this file) stands for it.
        "url": if d.url.is_empty() { "../".to_owned() } else { d.url.clone() },
        "citeAs": cite_as(cx),
        "distribution": distribution,
        "recordSet": record_sets,
    });
    if !d.version.is_empty() {
        doc["version"] = d.version.clone().into();
    }
    if !d.creator.is_empty() {
        doc["creator"] = json!({"@type": "sc:Organization", "name": d.creator});
    }
    doc
}

/// A BibTeX entry for the dataset, from what the spec says about it.
fn cite_as(cx: &ExportContext) -> String {
    let d = &cx.dataset;
    let key: String = d
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let clean = |s: &str| s.replace(['{', '}'], "");
    let mut s = format!("@misc{{{key},\n  title = {{{}}}", clean(&d.name));
    if !d.creator.is_empty() {
        let _ = write!(s, ",\n  author = {{{}}}", clean(&d.creator));
    }
    if !d.version.is_empty() {
        let _ = write!(s, ",\n  version = {{{}}}", clean(&d.version));
    }
    if !d.url.is_empty() {
        let _ = write!(s, ",\n  url = {{{}}}", clean(&d.url));
    }
    let _ = write!(s, ",\n  note = {{content hash {}}}\n}}", d.content_hash);
    s
}

/// Write `croissant/croissant.json` describing `files` (every artifact of the data formats).
pub fn write(cx: &ExportContext, files: &[DescribedFile]) -> Result<FormatResult, StageError> {
    let picked = parquet_files(files)?;
    let dir = cx.format_dir("croissant")?;
    let path = dir.join("croissant.json");
    let doc = document(cx, &picked);
    let mut text = serde_json::to_string_pretty(&doc)
        .map_err(|e| StageError::new(format!("internal error writing Croissant: {e}")))?;
    text.push('\n');
    std::fs::write(&path, &text).map_err(|e| file_err(&path, e))?;
    // Read back: the same document, every file it names present with the recorded size.
    let back: Value =
        serde_json::from_slice(&std::fs::read(&path).map_err(|e| file_err(&path, e))?)
            .map_err(|e| file_err(&path, format!("not valid JSON when read back: {e}")))?;
    if back != doc {
        return Err(
            file_err(&path, "reads back different from what was written")
                .hint("the disk is full or failing; run the export again"),
        );
    }
    for f in &picked {
        let p = cx.out_dir.join(&f.artifact.path);
        let size = std::fs::metadata(&p).map_err(|e| file_err(&p, e))?.len();
        if size != f.size {
            return Err(file_err(
                &p,
                format!("is {size} bytes, but croissant.json records {}", f.size),
            ));
        }
    }
    let mut res = FormatResult::default();
    res.artifacts.push(Artifact {
        path: super::writer::rel(cx, &path),
        rows: None,
        split: None,
    });
    res.facts
        .insert("described_files".into(), picked.len().into());
    res.facts.insert(
        "described_format".into(),
        picked
            .first()
            .map(|f| f.format.as_str())
            .unwrap_or_default()
            .into(),
    );
    let first_rs = back["recordSet"]
        .as_array()
        .and_then(|a| a.get(1))
        .and_then(|r| r["@id"].as_str())
        .unwrap_or("train")
        .to_owned();
    res.snippet = Some(format!(
        "import mlcroissant as mlc\nds = mlc.Dataset(\"{}\")\nrecords = ds.records(\"{first_rs}\")",
        super::writer::rel(cx, &path)
    ));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_become_spdx_urls() {
        assert_eq!(
            license_value("cc-by-4.0"),
            "https://spdx.org/licenses/CC-BY-4.0.html"
        );
        assert_eq!(license_value("mit"), "https://spdx.org/licenses/MIT.html");
        assert_eq!(
            license_value("Apache-2.0"),
            "https://spdx.org/licenses/Apache-2.0.html"
        );
        assert_eq!(license_value("LicenseRef-custom"), "LicenseRef-custom");
        assert_eq!(license_value(""), "unknown");
        assert_eq!(license_value("Unknown"), "unknown");
        assert_eq!(
            license_value("https://example.org/terms"),
            "https://example.org/terms"
        );
        assert_eq!(license_value("see the README"), "see the README");
    }

    #[test]
    fn split_regexes_escape_names() {
        assert_eq!(regex_escape("train"), "train");
        assert_eq!(regex_escape("dev.v2"), "dev\\.v2");
    }
}
