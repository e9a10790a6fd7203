//! `mldatabuild dag`: text, Graphviz dot or Mermaid, drawn from the project's graph
//! ([`crate::spec::graph::Dag`]).

use std::fmt::Write as _;
use std::io::Write;

use crate::cli::{DagArgs, DagFormat};
use crate::error::Result;
use crate::settings::Settings;
use crate::spec::Project;

pub(crate) fn dag(settings: &Settings, args: &DagArgs) -> Result<u8> {
    let project = super::load_project(settings)?;
    let text = match args.format {
        DagFormat::Text => text(&project),
        DagFormat::Dot => dot(&project),
        DagFormat::Mermaid => mermaid(&project),
    };
    let _ = write!(std::io::stdout().lock(), "{text}");
    Ok(0)
}

pub(crate) fn text(p: &Project) -> String {
    let mut s = String::new();
    let w = p.nodes.iter().map(|n| n.name.len()).max().unwrap_or(4);
    for (j, n) in p.nodes.iter().enumerate() {
        let inputs: Vec<&str> = p
            .dag
            .inputs(j)
            .into_iter()
            .map(|i| p.nodes[i].name.as_str())
            .collect();
        let from = if inputs.is_empty() {
            String::new()
        } else {
            format!(" ← {}", inputs.join(", "))
        };
        let _ = writeln!(s, "{:<w$}  {:<10}{from}", n.name, n.kind_name());
    }
    s
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

pub(crate) fn dot(p: &Project) -> String {
    let mut s = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n",
        quote(&p.name)
    );
    for n in &p.nodes {
        let shape = if n.is_source() { "cylinder" } else { "box" };
        let _ = writeln!(
            s,
            "  \"{}\" [shape={shape}, label=\"{}\\n{}\"];",
            quote(&n.name),
            quote(&n.name),
            n.kind_name()
        );
    }
    for (i, j) in p.dag.edges() {
        let _ = writeln!(
            s,
            "  \"{}\" -> \"{}\";",
            quote(&p.nodes[i].name),
            quote(&p.nodes[j].name)
        );
    }
    s.push_str("}\n");
    s
}

pub(crate) fn mermaid(p: &Project) -> String {
    let mut s = String::from("flowchart LR\n");
    for (i, n) in p.nodes.iter().enumerate() {
        let label = n.name.replace('"', "#quot;");
        if n.is_source() {
            let _ = writeln!(s, "  n{i}[(\"{label}\")]");
        } else {
            let _ = writeln!(s, "  n{i}[\"{label}<br/>{}\"]", n.kind_name());
        }
    }
    for (i, j) in p.dag.edges() {
        let _ = writeln!(s, "  n{i} --> n{j}");
    }
    s
}
