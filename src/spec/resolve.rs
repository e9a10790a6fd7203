//! From a parsed spec to a [`Project`]: names checked, inputs resolved, cycles refused,
//! matrices expanded, output folders assigned, nodes in topological order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_saphyr::Location;

use super::error::{SourceFile, SpecError, did_you_mean};
use super::graph::{Dag, topological_order};
use super::model::{Spec, StageEntry};
use crate::stages::{self, Stage};

/// At most this many nodes after matrix expansion.
pub const MAX_NODES: usize = 10_000;

/// A source as declared.
#[derive(Debug, Clone)]
pub struct SourceDef {
    pub uri: String,
    pub files: Option<Vec<String>>,
    /// A pinned SHA-256 of an `https://` source's content.
    pub sha256: Option<String>,
    /// Hub config (subset) and split selection.
    pub config: Option<String>,
    pub split: Option<String>,
}

#[derive(Debug)]
pub enum NodeKind {
    Source(SourceDef),
    Stage(Box<dyn Stage>),
}

/// One node of the DAG: a source or one (matrix member of a) stage.
#[derive(Debug)]
pub struct Node {
    /// Unique name, e.g. `tokens[max_length=512]`.
    pub name: String,
    /// The spec entry it comes from, e.g. `tokens`.
    pub group: String,
    /// Matrix values of this member (empty outside a matrix).
    pub combination: BTreeMap<String, serde_json::Value>,
    /// 1-based position among the members of its group, and their count.
    pub member: (usize, usize),
    /// Indices of input nodes.
    pub inputs: Vec<usize>,
    pub kind: NodeKind,
    /// Output folder inside the dataset folder (stages only).
    pub output: String,
}

impl Node {
    pub fn is_source(&self) -> bool {
        matches!(self.kind, NodeKind::Source(_))
    }
    pub fn kind_name(&self) -> &str {
        match &self.kind {
            NodeKind::Source(_) => "source",
            NodeKind::Stage(s) => s.kind(),
        }
    }
}

/// A resolved dataset project.
#[derive(Debug)]
pub struct Project {
    /// Directory of the spec; relative paths are resolved against it.
    pub root: PathBuf,
    /// Spec path relative to `root` (as recorded in the lock).
    pub spec_path: String,
    /// `b3:` hash of the spec text.
    pub spec_hash: String,
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    /// Dataset folder relative to `root`.
    pub out_dir: String,
    /// Nodes in topological order (ties: sources, then stages in spec order).
    pub nodes: Vec<Node>,
    /// The same nodes as a graph (edges from each node's `inputs`), and their names.
    pub dag: Dag,
}

/// Where a stage's seed came from, when the spec gives none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOrigin {
    /// `--seed` on the command line.
    CommandLine,
    /// Kept from the previous build's lock.
    Lock,
    /// Drawn now, to be recorded in the lock.
    Drawn,
}

impl Project {
    /// Give every stage whose spec leaves `seed:` out a seed: `--seed` if given, else the one
    /// the lock recorded, else a freshly drawn one (so the first build draws and every later
    /// build reuses it, like a lockfile pins a version). Returns the stages that were given one
    /// and where it came from.
    pub fn pin_seeds(
        &mut self,
        old: Option<&crate::lockfile::Lock>,
        cli: Option<u64>,
    ) -> Result<Vec<(String, u64, SeedOrigin)>, String> {
        let mut pinned = Vec::new();
        for node in &mut self.nodes {
            let NodeKind::Stage(stage) = &node.kind else {
                continue;
            };
            let mut params = stage.params();
            if !params.get("seed").is_some_and(serde_json::Value::is_null) {
                continue;
            }
            let kind = stage.kind();
            let locked = old
                .and_then(|l| l.stages.get(&node.name))
                .filter(|e| e.kind == kind)
                .and_then(|e| e.params.get("seed"))
                .and_then(serde_json::Value::as_u64);
            let (seed, origin) = match (cli, locked) {
                (Some(s), _) => (s, SeedOrigin::CommandLine),
                (None, Some(s)) => (s, SeedOrigin::Lock),
                (None, None) => (draw_seed(), SeedOrigin::Drawn),
            };
            params["seed"] = seed.into();
            node.kind = NodeKind::Stage(crate::stages::build(kind, &params)?);
            pinned.push((node.name.clone(), seed, origin));
        }
        Ok(pinned)
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.dag.index_of(name)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(lock_name(&self.spec_path))
    }

    pub fn out_path(&self) -> PathBuf {
        self.root.join(&self.out_dir)
    }

    /// `targets` and everything they depend on.
    pub fn upstream_closure(&self, targets: &[usize]) -> BTreeSet<usize> {
        self.dag.upstream_closure(targets)
    }
}

/// `dataset.yaml` → `dataset.lock`; any other `x.yaml` → `x.lock`.
pub fn lock_name(spec_path: &str) -> String {
    let file = Path::new(spec_path)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("dataset.yaml");
    let stem = file
        .strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".yml"))
        .unwrap_or(file);
    let lock = format!("{stem}.lock");
    match Path::new(spec_path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        Some(dir) => dir.join(lock).to_string_lossy().into_owned(),
        None => lock,
    }
}

pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The canonical text of a matrix value inside a node name.
pub fn value_label(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn member_name(group: &str, combination: &BTreeMap<String, serde_json::Value>) -> String {
    if combination.is_empty() {
        return group.to_owned();
    }
    let parts: Vec<String> = combination
        .iter()
        .map(|(k, v)| format!("{k}={}", value_label(v)))
        .collect();
    format!("{group}[{}]", parts.join(","))
}

/// An `output:` value, checked and without a trailing `/`.
fn output_path(file: &SourceFile, o: &serde_saphyr::Spanned<String>) -> Result<String, SpecError> {
    check_output_path(&o.value).map_err(|why| {
        SpecError::new(format!("`output` {why}: got `{}`", o.value)).at(file, o.referenced, "here")
    })?;
    Ok(o.value.trim_end_matches('/').to_owned())
}

/// Check a relative output path: no absolute paths, no `..`, no empty segments.
fn check_output_path(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("is empty".into());
    }
    if p.starts_with('/') || p.starts_with('\\') || p.contains(':') {
        return Err("must be a relative path".into());
    }
    if p.split('/').any(|s| s.is_empty() || s == ".." || s == ".") {
        return Err("must not contain `..`, `.` or empty segments".into());
    }
    Ok(())
}

/// A new seed: small enough to read and type (below 2^31), from the OS's randomness.
fn draw_seed() -> u64 {
    let mut b = [0u8; 8];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !from_os {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = (t as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    u64::from_le_bytes(b) % (1 << 31)
}

/// Resolve a parsed spec into a project.
pub fn resolve(
    file: &SourceFile,
    spec: Spec,
    root: PathBuf,
    spec_path: String,
) -> Result<Project, SpecError> {
    let name = spec.name.value.clone();
    if !valid_name(&name) {
        return Err(SpecError::new(format!("invalid dataset name `{name}`"))
            .at(file, spec.name.referenced, "invalid name")
            .help("use letters, digits, `-`, `_` and `.`, starting with a letter or digit"));
    }
    let version = spec.version.value.clone();
    if !is_semver(&version) {
        return Err(SpecError::new(format!(
            "`version` must be a semantic version like 1.2.0: got `{version}`"
        ))
        .at(file, spec.version.referenced, "not MAJOR.MINOR.PATCH"));
    }
    let out_dir = match &spec.output {
        Some(o) => output_path(file, o)?,
        None => format!("out/{name}"),
    };

    // Names: sources and stages share one namespace.
    let mut defined: HashMap<String, Location> = HashMap::new();
    for (sname, src) in &spec.sources {
        if !valid_name(sname) {
            return Err(SpecError::new(format!("invalid source name `{sname}`"))
                .at(file, src.referenced, "this source")
                .help("use letters, digits, `-`, `_` and `.`"));
        }
        defined.insert(sname.clone(), src.referenced);
    }
    for st in &spec.stages {
        let n = &st.name.value;
        if !valid_name(n) {
            return Err(SpecError::new(format!("invalid stage name `{n}`"))
                .at(file, st.name.referenced, "invalid name")
                .help("use letters, digits, `-`, `_` and `.`, starting with a letter or digit"));
        }
        if defined.contains_key(n) {
            return Err(SpecError::new(format!(
                "duplicate name `{n}`: it names both a source and a stage"
            ))
            .at(file, st.name.referenced, "stage defined here")
            .help("sources and stages share one namespace; rename one of them"));
        }
        defined.insert(n.clone(), st.name.referenced);
    }

    // Inputs exist (a group name, or one member of a matrix group).
    let group_of = |input: &str| input.split_once('[').map_or(input, |(g, _)| g).to_owned();
    for st in &spec.stages {
        let input = &st.common.input.value;
        if !defined.contains_key(&group_of(input)) {
            let mut err = SpecError::new(format!(
                "stage `{}` reads `{input}`, which is not a source or stage",
                st.name.value
            ))
            .at(file, st.common.input.referenced, "unknown input");
            let names: Vec<&str> = defined.keys().map(String::as_str).collect();
            err = if let Some(h) = did_you_mean(input, names.iter().copied()) {
                err.help(h)
            } else {
                let mut sorted = names.clone();
                sorted.sort_unstable();
                err.help(format!("defined names: {}", sorted.join(", ")))
            };
            return Err(err);
        }
    }

    // Cycles, on the stage-level graph.
    let order = stage_order(file, &spec.stages, &group_of)?;

    // Sources first, in name order.
    let mut nodes: Vec<Node> = Vec::new();
    for (sname, src) in &spec.sources {
        let uri = &src.value.uri;
        let remote = crate::fetch::uri::parse(&uri.value).map_err(|e| {
            let (msg, hint) = e.split_once(" | hint: ").unwrap_or((&e, ""));
            SpecError::new(format!("source `{sname}`: {msg}"))
                .at(file, uri.referenced, "here")
                .help(hint.to_owned())
        })?;
        if (src.value.config.is_some() || src.value.split.is_some())
            && !matches!(remote, Some(crate::fetch::uri::Remote::Hf { .. }))
        {
            return Err(SpecError::new(format!(
                "source `{sname}`: `config` and `split` select files of an `hf://` dataset"
            ))
            .at(file, uri.referenced, "not a Hugging Face dataset")
            .help("for other sources, select files with `files:` globs"));
        }
        if let Some(pin) = &src.value.sha256 {
            let ok = pin.value.len() == 64 && pin.value.chars().all(|c| c.is_ascii_hexdigit());
            if !ok {
                return Err(SpecError::new(format!(
                    "source `{sname}`: `sha256` must be 64 hexadecimal digits: got `{}`",
                    pin.value
                ))
                .at(file, pin.referenced, "here")
                .help("the SHA-256 of the file's content, as `sha256sum` prints it"));
            }
            if !matches!(remote, Some(crate::fetch::uri::Remote::Http { .. })) {
                return Err(SpecError::new(format!(
                    "source `{sname}`: `sha256` pins the content of an `https://` source"
                ))
                .at(file, pin.referenced, "here")
                .help("Hub sources are pinned by commit in the lockfile; local files are hashed on every build"));
            }
        }
        nodes.push(Node {
            name: sname.clone(),
            group: sname.clone(),
            combination: BTreeMap::new(),
            member: (1, 1),
            inputs: Vec::new(),
            kind: NodeKind::Source(SourceDef {
                uri: src.value.uri.value.clone(),
                files: src.value.files.clone(),
                sha256: src
                    .value
                    .sha256
                    .as_ref()
                    .map(|s| s.value.to_ascii_lowercase()),
                config: src.value.config.clone(),
                split: src.value.split.clone(),
            }),
            output: String::new(),
        });
    }

    // Stages in topological order, each expanded over its matrix and its input's members.
    let mut members: HashMap<String, Vec<usize>> = HashMap::new();
    let mut source_index: HashMap<String, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        members.insert(n.name.clone(), vec![i]);
        source_index.insert(n.name.clone(), i);
    }
    let mut outputs: Vec<(String, String, Location)> = Vec::new();
    for &si in &order {
        let st = &spec.stages[si];
        let input = &st.common.input.value;
        let input_nodes: Vec<usize> = if input.contains('[') {
            if let Some(i) = nodes.iter().position(|n| &n.name == input) {
                vec![i]
            } else {
                let group = group_of(input);
                let names: Vec<String> = members
                    .get(&group)
                    .into_iter()
                    .flatten()
                    .map(|&i| nodes[i].name.clone())
                    .collect();
                return Err(SpecError::new(format!(
                    "stage `{}` reads `{input}`, which is not a member of `{group}`",
                    st.name.value
                ))
                .at(file, st.common.input.referenced, "no such member")
                .help(format!("members: {}", names.join(", "))));
            }
        } else {
            members.get(input).cloned().unwrap_or_default()
        };
        let combos = matrix_combinations(file, st)?;
        let total = input_nodes.len() * combos.len();
        if nodes.len() + total > MAX_NODES {
            let loc = st
                .common
                .matrix
                .as_ref()
                .map_or(st.name.referenced, |m| m.referenced);
            return Err(SpecError::new(format!(
                "stage `{}` expands to {total} nodes ({} inputs × {} combinations); a spec may have at most {MAX_NODES} nodes",
                st.name.value,
                input_nodes.len(),
                combos.len()
            ))
            .at(file, loc, "expands here")
            .help("a stage reading a matrix stage runs once per member of it; shrink one of the matrices"));
        }
        let mut group_members = Vec::new();
        for &inp in &input_nodes {
            for combo in &combos {
                let mut params = st.params.clone();
                if st.common.kind.value == "export"
                    && let Some(obj) = params.as_object_mut()
                {
                    // Exports write the dataset's name, version and description into their
                    // metadata: they are parameters (hashed), defaulting to the spec's.
                    let defaults = [
                        ("name", name.as_str()),
                        ("version", version.as_str()),
                        (
                            "dataset_description",
                            spec.description.as_deref().unwrap_or(""),
                        ),
                    ];
                    for (k, v) in defaults {
                        if obj
                            .get(k)
                            .and_then(|x| x.as_str())
                            .is_none_or(str::is_empty)
                        {
                            obj.insert(k.into(), v.into());
                        }
                    }
                }
                for (k, v) in combo {
                    if let Some(obj) = params.as_object_mut() {
                        obj.insert(k.clone(), v.clone());
                    }
                }
                let stage = stages::build(&st.common.kind.value, &params).map_err(|e| {
                    let (loc, label) = match &st.common.matrix {
                        Some(m) if !combo.is_empty() => (m.referenced, "in this matrix"),
                        _ => (st.name.referenced, "in this stage"),
                    };
                    // Bound checks carry their hint after ` | hint: `.
                    let (msg, hint) = e.split_once(" | hint: ").unwrap_or((e.as_str(), ""));
                    let err = SpecError::new(format!("stage `{}`: {msg}", st.name.value))
                        .at(file, loc, label);
                    if hint.is_empty() { err } else { err.help(hint) }
                })?;
                // Members inherit the matrix values of the input member they read.
                let mut combination = nodes[inp].combination.clone();
                combination.extend(combo.iter().map(|(k, v)| (k.clone(), v.clone())));
                let name = member_name(&st.name.value, &combination);
                let base = match &st.common.output {
                    Some(o) => output_path(file, o)?,
                    None => stage.default_output(&st.name.value),
                };
                if base == crate::lockfile::REPORTS_DIR
                    || base.starts_with(&format!("{}/", crate::lockfile::REPORTS_DIR))
                {
                    let (loc, label) = match &st.common.output {
                        Some(o) => (o.referenced, "here"),
                        None => (st.name.referenced, "this stage's default output folder"),
                    };
                    return Err(SpecError::new(format!(
                        "stage `{}` writes to `{base}/`, which holds the stages' reports",
                        st.name.value
                    ))
                    .at(file, loc, label)
                    .help("choose another `output:` folder (or another stage name)"));
                }
                let output = if combination.is_empty() {
                    base
                } else {
                    let suffix: Vec<String> = combination
                        .iter()
                        .map(|(k, v)| format!("{k}={}", value_label(v).replace('/', "_")))
                        .collect();
                    format!("{base}/{}", suffix.join(","))
                };
                let loc = st
                    .common
                    .output
                    .as_ref()
                    .map_or(st.name.referenced, |o| o.referenced);
                outputs.push((output.clone(), name.clone(), loc));
                let mut inputs = vec![inp];
                for aux in stage.aux_inputs() {
                    let i = aux_source(&mut nodes, &mut source_index, &aux).map_err(|e| {
                        SpecError::new(format!("stage `{}`: {e}", st.name.value)).at(
                            file,
                            st.name.referenced,
                            "in this stage",
                        )
                    })?;
                    inputs.push(i);
                }
                group_members.push(nodes.len());
                nodes.push(Node {
                    name,
                    group: st.name.value.clone(),
                    combination,
                    member: (group_members.len(), total),
                    inputs,
                    kind: NodeKind::Stage(stage),
                    output,
                });
            }
        }
        members.insert(st.name.value.clone(), group_members);
    }

    // Output folders must not overlap: no two equal, none inside another. Each folder is
    // checked against its own ancestors, so this stays linear in the number of nodes.
    let mut by_path: HashMap<&str, (&str, Location)> = HashMap::with_capacity(outputs.len());
    for (path, name, loc) in &outputs {
        if let Some((other, _)) = by_path.insert(path.as_str(), (name.as_str(), *loc)) {
            return Err(overlap(file, other, name, path, path, *loc));
        }
    }
    for (path, name, loc) in &outputs {
        let mut ancestor = path.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            if let Some((other, _)) = by_path.get(parent) {
                return Err(overlap(file, other, name, parent, path, *loc));
            }
            ancestor = parent;
        }
    }

    let nodes = sources_first(nodes);
    check_edges(file, &spec.stages, &nodes)?;
    let dag = Dag::of(&nodes);
    let spec_hash = format!("b3:{}", blake3::hash(file.text.as_bytes()).to_hex());
    Ok(Project {
        root,
        spec_path,
        spec_hash,
        name,
        version,
        description: spec.description,
        out_dir,
        nodes,
        dag,
    })
}

/// Every stage's `input:` gives what its kind reads (the registry's `accepts`, narrowed by
/// its parameters, against what the input node `produces`): refused here, at the `input:`
/// line, rather than when the stage runs. Auxiliary inputs are files by their role and are not
/// checked. Each matrix member is checked with its own parameters.
fn check_edges(file: &SourceFile, stages: &[StageEntry], nodes: &[Node]) -> Result<(), SpecError> {
    use crate::stages::{Data, REGISTRY};
    for node in nodes {
        let (NodeKind::Stage(stage), Some(&from)) = (&node.kind, node.inputs.first()) else {
            continue;
        };
        let input = &nodes[from];
        let accepts = stage.accepts();
        let gives = match &input.kind {
            NodeKind::Source(_) => Data::SourceFiles,
            NodeKind::Stage(s) => s.produces(),
        };
        if accepts.data.contains(&gives) {
            continue;
        }
        let Some(st) = stages.iter().find(|s| s.name.value == node.group) else {
            continue;
        };
        let named = &st.common.input.value;
        let what = match &input.kind {
            NodeKind::Source(_) => format!("the source `{named}`"),
            NodeKind::Stage(s) => format!("the `{}` stage `{named}`", s.kind()),
        };
        let why = accepts.because.map_or_else(
            || format!("`{}` reads {}", stage.kind(), accepts.describe()),
            str::to_owned,
        );
        // A kind that turns what the input gives into what this stage reads (`normalize`:
        // a source's files into tables).
        let bridge = REGISTRY
            .iter()
            .find(|k| k.accepts.data.contains(&gives) && accepts.data.contains(&k.produces));
        let hint = match (gives, bridge) {
            (Data::Artifacts, _) => {
                let upstream = input
                    .inputs
                    .first()
                    .map_or("", |&i| nodes[i].group.as_str());
                format!(
                    "an export writes files for people and other tools, not tables for stages: read what `{}` reads (`{upstream}`) instead",
                    input.group
                )
            }
            (_, Some(k)) => format!(
                "put a `{}` stage between `{}` and `{}`: it reads {} and writes {}",
                k.name,
                input.group,
                st.name.value,
                gives.describe(),
                k.produces.describe()
            ),
            (_, None) if accepts.data == [Data::SourceFiles] => {
                "set `input:` to one of the `sources:`".to_owned()
            }
            (_, None) => format!("set `input:` to a stage that writes {}", accepts.describe()),
        };
        // A matrix member by its own name: its parameters may be what narrows the kind.
        return Err(
            SpecError::new(format!("stage `{}` reads {what}, but {why}", node.name))
                .at(
                    file,
                    st.common.input.referenced,
                    format!("{}, not {}", gives.describe(), accepts.describe()),
                )
                .help(hint),
        );
    }
    Ok(())
}

/// The source node an auxiliary input reads: a declared source of that name, an implicit
/// source made for the same URI earlier, or a new implicit source named `<role>:<uri>`.
/// `sources` indexes the source nodes by name (a hash lookup, so a 10,000-member matrix of
/// stages naming one tokenizer stays linear).
fn aux_source(
    nodes: &mut Vec<Node>,
    sources: &mut HashMap<String, usize>,
    aux: &stages::AuxInput,
) -> Result<usize, String> {
    if let Some(&i) = sources.get(&aux.uri) {
        return Ok(i);
    }
    if crate::fetch::uri::redacted(&aux.uri) != aux.uri {
        // The URI is a stage parameter: recorded in the lock, shown by `dag` and events.
        return Err(format!(
            "{} URL has a password, which would be recorded with the stage's parameters \
             (declare it as a source, `sources: {{tok: {{uri: …}}}}`, and name the source here)",
            aux.role
        ));
    }
    let name = format!("{}:{}", aux.role, aux.uri);
    if let Some(&i) = sources.get(&name) {
        return Ok(i);
    }
    crate::fetch::uri::parse(&aux.uri).map_err(|e| {
        let (msg, hint) = e.split_once(" | hint: ").unwrap_or((&e, ""));
        format!("{} {msg} ({hint})", aux.role)
    })?;
    nodes.push(Node {
        name: name.clone(),
        group: name,
        combination: BTreeMap::new(),
        member: (1, 1),
        inputs: Vec::new(),
        kind: NodeKind::Source(SourceDef {
            uri: aux.uri.clone(),
            files: aux.files.clone(),
            sha256: None,
            config: None,
            split: None,
        }),
        output: String::new(),
    });
    sources.insert(nodes[nodes.len() - 1].name.clone(), nodes.len() - 1);
    Ok(nodes.len() - 1)
}

/// Move the sources (implicit ones were added among the stages) before the stages, keeping
/// both orders, and renumber the inputs: still a topological order.
fn sources_first(nodes: Vec<Node>) -> Vec<Node> {
    let n = nodes.len();
    let order: Vec<usize> = (0..n)
        .filter(|&i| nodes[i].is_source())
        .chain((0..n).filter(|&i| !nodes[i].is_source()))
        .collect();
    let mut new_index = vec![0; n];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|&old| slots[old].take())
        .map(|mut node| {
            for i in &mut node.inputs {
                *i = new_index[*i];
            }
            node
        })
        .collect()
}

fn overlap(file: &SourceFile, a: &str, b: &str, pa: &str, pb: &str, loc: Location) -> SpecError {
    SpecError::new(format!(
        "stages `{a}` and `{b}` write to overlapping folders `{pa}` and `{pb}`"
    ))
    .at(file, loc, "this stage")
    .help("set `output:` on one of them to a folder of its own")
}

/// `MAJOR.MINOR.PATCH` followed by anything after a `-` or `+`: looser than
/// [`crate::release::Version::parse`] (and the `semver` crate), on purpose, so specs that load
/// today keep loading.
fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Topological order of spec stages (ties by spec order); a cycle is an error that prints it.
fn stage_order(
    file: &SourceFile,
    stages: &[StageEntry],
    group_of: &dyn Fn(&str) -> String,
) -> Result<Vec<usize>, SpecError> {
    let index: HashMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.value.as_str(), i))
        .collect();
    // The stage each stage reads (none when it reads a source).
    let inputs: Vec<Vec<usize>> = stages
        .iter()
        .map(|s| {
            index
                .get(group_of(&s.common.input.value).as_str())
                .copied()
                .into_iter()
                .collect()
        })
        .collect();
    topological_order(stages.len(), |i| &inputs[i]).map_err(|cycle| {
        // `cycle[k]` reads `cycle[k + 1]`: print in data-flow order (a → b: b reads a),
        // starting and ending at the stage whose input closes it.
        let mut flow: Vec<&str> = cycle
            .iter()
            .chain(cycle.first())
            .map(|&i| stages[i].name.value.as_str())
            .collect();
        flow.reverse();
        let first = &stages[cycle[0]];
        SpecError::new(format!("the stages form a cycle: {}", flow.join(" → ")))
            .at(
                file,
                first.common.input.referenced,
                "this input closes the cycle",
            )
            .help(
                "a stage cannot depend on its own output; break the cycle by changing one `input:`",
            )
    })
}

/// The matrix combinations of a stage (one empty combination when it has no matrix).
fn matrix_combinations(
    file: &SourceFile,
    st: &StageEntry,
) -> Result<Vec<Vec<(String, serde_json::Value)>>, SpecError> {
    let Some(matrix) = &st.common.matrix else {
        return Ok(vec![Vec::new()]);
    };
    let params = st.params.as_object().cloned().unwrap_or_default();
    let mut combos: Vec<Vec<(String, serde_json::Value)>> = vec![Vec::new()];
    if matrix.value.is_empty() {
        return Err(
            SpecError::new(format!("stage `{}`: `matrix` is empty", st.name.value))
                .at(file, matrix.referenced, "empty matrix")
                .help("give at least one parameter with a list of values, or remove `matrix:`"),
        );
    }
    for (key, values) in &matrix.value {
        if !params.contains_key(key) {
            let mut err = SpecError::new(format!(
                "matrix key `{key}` is not a parameter of `{}` stages",
                st.common.kind.value
            ))
            .at(file, values.referenced, "unknown parameter");
            err = match did_you_mean(key, params.keys().map(String::as_str)) {
                Some(h) => err.help(h),
                None => err.help(format!(
                    "parameters: {}",
                    params.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            };
            return Err(err);
        }
        if values.value.is_empty() {
            return Err(SpecError::new(format!("matrix.{key} is empty"))
                .at(file, values.referenced, "no values")
                .help("list at least one value"));
        }
        let mut seen = BTreeSet::new();
        for v in &values.value {
            if !seen.insert(v.to_string()) {
                return Err(SpecError::new(format!(
                    "matrix.{key} lists `{}` twice",
                    value_label(v)
                ))
                .at(file, values.referenced, "duplicate value"));
            }
        }
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.value.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((key.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    if combos.len() > 10_000 {
        return Err(SpecError::new(format!(
            "matrix of stage `{}` expands to {} combinations; at most 10000",
            st.name.value,
            combos.len()
        ))
        .at(file, matrix.referenced, "too many combinations"));
    }
    Ok(combos)
}
