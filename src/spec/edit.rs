//! Small, format-preserving edits of `dataset.yaml` (`build --register-checksums`).

use std::collections::BTreeMap;

use super::SourceFile;
use super::model::Spec;

/// End (byte offset) of the scalar starting at `start`: a quoted string's closing quote, or
/// the end of a plain scalar (before `,`, `}`, ` #` or the line's end).
fn scalar_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    if let Some(&q @ (b'"' | b'\'')) = bytes.get(start) {
        let mut i = start + 1;
        while i < bytes.len() {
            if bytes[i] == b'\\' && q == b'"' {
                i += 2;
                continue;
            }
            if bytes[i] == q {
                if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                return i + 1;
            }
            i += 1;
        }
        return bytes.len();
    }
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b',' | b'}' | b'\n' | b'\r' => break,
            b'#' if i > start && bytes[i - 1] == b' ' => break,
            _ => i += 1,
        }
    }
    while i > start && bytes[i - 1] == b' ' {
        i -= 1;
    }
    i
}

/// The spec text with `sha256: <hex>` added to each named source (after its `uri`), keeping
/// everything else as written. Sources that already have a pin are left alone.
pub fn pin_sources(file: &SourceFile, spec: &Spec, pins: &BTreeMap<String, String>) -> String {
    let text: &str = &file.text;
    let mut inserts: Vec<(usize, String)> = Vec::new();
    for (name, sha) in pins {
        let Some(src) = spec.sources.get(name) else {
            continue;
        };
        if src.value.sha256.is_some() {
            continue;
        }
        let (start, _) = file.range(src.value.uri.referenced);
        let end = scalar_end(text, start);
        let after = text[end..].trim_start_matches([' ', '\t']);
        if after.starts_with([',', '}']) {
            inserts.push((end, format!(", sha256: {sha}")));
        } else {
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            let indent: String = text[line_start..]
                .chars()
                .take_while(|c| *c == ' ')
                .collect();
            let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
            inserts.push((line_end, format!("\n{indent}sha256: {sha}")));
        }
    }
    inserts.sort_by_key(|i| std::cmp::Reverse(i.0));
    let mut out = text.to_owned();
    for (at, s) in inserts {
        out.insert_str(at, &s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(yaml: &str) -> String {
        let file = SourceFile::new("dataset.yaml", yaml);
        let spec = super::super::load::parse(&file).unwrap();
        let pins = BTreeMap::from([("raw".to_owned(), "ab".repeat(32))]);
        pin_sources(&file, &spec, &pins)
    }

    #[test]
    fn block_and_flow_styles() {
        let sha = "ab".repeat(32);
        let block = "name: d\nversion: 1.0.0\nsources:\n  raw:\n    uri: https://h/x.csv   # the data\n    files: null\n";
        assert_eq!(
            pin(block),
            format!(
                "name: d\nversion: 1.0.0\nsources:\n  raw:\n    uri: https://h/x.csv   # the data\n    sha256: {sha}\n    files: null\n"
            )
        );
        let flow = "name: d\nversion: 1.0.0\nsources:\n  raw: {uri: \"https://h/x.csv\"}\n";
        assert_eq!(
            pin(flow),
            format!(
                "name: d\nversion: 1.0.0\nsources:\n  raw: {{uri: \"https://h/x.csv\", sha256: {sha}}}\n"
            )
        );
        let last_line = "name: d\nversion: 1.0.0\nsources:\n  raw:\n    uri: https://h/x.csv";
        assert!(pin(last_line).ends_with(&format!("uri: https://h/x.csv\n    sha256: {sha}")));
    }
}
