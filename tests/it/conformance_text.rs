//! CSV and JSON written by the real pandas and polars in their everyday settings (index or
//! not, CRLF, BOM, `;` with decimal commas, NA markers, latin-1/cp1252/UTF-16/Shift JIS, files
//! whose columns differ, every `to_json` orient, polars' NDJSON, mixed kinds, keys first seen
//! late): each case is normalized through the real binary and every value of the output is
//! compared with what pandas (or polars) reads from the same file.

use crate::context::TestContext;
use crate::python::{python_json, run_python};

const GEN: &str = include_str!("conformance_text/gen.py");
const COMPARE: &str = include_str!("conformance_text/compare.py");

#[test]
fn csv_and_json_from_pandas_and_polars_read_value_for_value() {
    let cx = TestContext::new();
    let cases_dir = cx.path("cases");
    run_python(cx.root(), GEN, &[cases_dir.to_str().unwrap()]);
    let cases: Vec<String> =
        serde_json::from_str(&cx.read("cases/cases.json")).expect("the case list");
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut yaml = String::from("name: conf\nversion: 1.0.0\nsources:\n");
    for c in &cases {
        yaml.push_str(&format!("  src_{c}: {{uri: cases/{c}/data/}}\n"));
    }
    yaml.push_str("stages:\n");
    for c in &cases {
        yaml.push_str(&format!(
            "  {c}:\n    kind: normalize\n    input: src_{c}\n"
        ));
        for line in cx.read(&format!("cases/{c}/params.yaml")).lines() {
            yaml.push_str(&format!("    {line}\n"));
        }
    }
    cx.spec(&yaml);
    let out = cx.run(&["build"]);
    out.success()
        // What was detected or decided is said.
        .stderr_has("`a.csv` is not UTF-8 (byte 0xFC on line 2); it is read as Windows-1252")
        .stderr_has("`score` holds numbers with decimal commas")
        .stderr_has("pandas' index (`to_csv()` without `index=False`); it is left out")
        .stderr_has("column `count` is missing from `b.csv` (null in its rows)")
        .stderr_has("column `v` mixes 2 numbers and 1 string");
    let report = python_json(
        cx.root(),
        COMPARE,
        &[
            cases_dir.to_str().unwrap(),
            cx.path("out/conf").to_str().unwrap(),
        ],
    );
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems.is_empty(),
        "values differ from pandas/polars:\n{}",
        problems
            .iter()
            .map(|p| p.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(report["cases"].as_u64().unwrap() as usize, cases.len());
}
