//! The registry of stage kinds: every kind once, with what it reads and what it writes.
//!
//! A kind is one module (`src/stages/<kind>.rs`) that declares its parameters once, with
//! [`stage_params!`], and implements [`Kind`]; plus one line in the [`kinds!`] list below. From
//! those two come the spec struct `dataset.yaml` is read into (`spec::load`), the JSON Schema
//! with the kind's `kind: const` (`schema.rs`), the canonical params recorded in the lock,
//! [`KINDS`], [`super::build`], and the load-time check that each stage's `input:` gives what
//! its kind reads (`spec::resolve`). docs/stages.md, "Adding a kind", walks through one.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AuxInput, Stage, StageContext, StageError, StageOutput};
use crate::spec::model::StageCommon;

kinds! {
    super::normalize::Normalize,
    super::validate::Validate,
    super::split::Split,
    super::tokenize::Tokenize,
    super::export::Export,
}

/// What flows along an edge of the DAG: what a node gives the stages that read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// A source's files as they are: CSV, JSON, Parquet, spreadsheets, images, archives…
    SourceFiles,
    /// Parquet tables, written by a stage.
    Tables,
    /// Files for people and other tools (an export's formats): no stage reads them.
    Artifacts,
}

impl Data {
    /// In words, for errors.
    pub fn describe(self) -> &'static str {
        match self {
            Self::SourceFiles => "a source's files",
            Self::Tables => "tables",
            Self::Artifacts => "export artifacts",
        }
    }
}

/// How many inputs a kind reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// One `input:`, a source or a stage. A kind reading several (a join) would add a variant
    /// here and a list form of `input:` to the spec; none does yet.
    One,
}

/// What a kind reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts {
    pub inputs: Arity,
    /// What its input may give.
    pub data: &'static [Data],
    /// When parameters narrow what the kind reads: why, for the error (`format: imagefolder`
    /// reads a source folder).
    pub because: Option<&'static str>,
}

impl Accepts {
    /// One input giving any of `data`.
    pub const fn one(data: &'static [Data]) -> Self {
        Self {
            inputs: Arity::One,
            data,
            because: None,
        }
    }

    /// The same, narrowed by a parameter: `why` is shown when an input does not fit.
    #[must_use]
    pub const fn because(self, why: &'static str) -> Self {
        Self {
            because: Some(why),
            ..self
        }
    }

    /// `a source's files or tables`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.data.iter().map(|d| d.describe()).collect();
        names.join(" or ")
    }
}

/// A stage kind: implemented by each kind's stage struct, in its own module. Everything else
/// knows stages as `dyn` [`Stage`], which every `Kind` is.
pub trait Kind: fmt::Debug + Send + Sync + Sized + 'static {
    /// `kind:` in `dataset.yaml`.
    const NAME: &'static str;
    /// The implementation version: bumped whenever the same inputs and parameters would give
    /// different outputs. Part of the action key.
    const VERSION: u32;
    /// What it reads (checked against every `input:` when the spec is loaded).
    const ACCEPTS: Accepts;
    /// What it writes, for the stages that read it.
    const PRODUCES: Data;
    /// Its parameters, declared with [`stage_params!`].
    type Params: Params;

    /// Check the parameters (what one key's `Deserialize` cannot) and make the stage.
    fn new(params: Self::Params) -> Result<Self, String>;
    /// The parameters it was made with (canonical: all defaults filled in).
    fn params(&self) -> &Self::Params;
    /// What this stage reads: [`Kind::ACCEPTS`], unless a parameter narrows it.
    fn accepts(&self) -> Accepts {
        Self::ACCEPTS
    }
    /// See [`Stage::default_output`].
    fn default_output(&self, group: &str) -> String;
    /// See [`Stage::reports_schema`].
    fn reports_schema(&self) -> bool {
        false
    }
    /// See [`Stage::aux_inputs`].
    fn aux_inputs(&self) -> Vec<AuxInput> {
        Vec::new()
    }
    /// See [`Stage::run`].
    fn run(&self, cx: &StageContext<'_>) -> Result<StageOutput, StageError>;
}

impl<K: Kind> Stage for K {
    fn kind(&self) -> &'static str {
        K::NAME
    }
    fn version(&self) -> u32 {
        K::VERSION
    }
    fn params(&self) -> serde_json::Value {
        serde_json::to_value(Kind::params(self)).unwrap_or_default()
    }
    fn accepts(&self) -> Accepts {
        Kind::accepts(self)
    }
    fn produces(&self) -> Data {
        K::PRODUCES
    }
    fn default_output(&self, group: &str) -> String {
        Kind::default_output(self, group)
    }
    fn reports_schema(&self) -> bool {
        Kind::reports_schema(self)
    }
    fn aux_inputs(&self) -> Vec<AuxInput> {
        Kind::aux_inputs(self)
    }
    fn run(&self, cx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        Kind::run(self, cx)
    }
}

/// A kind's parameters: made by [`stage_params!`], with the spec struct that reads them.
pub trait Params:
    Serialize + DeserializeOwned + fmt::Debug + Clone + Send + Sync + 'static
{
    /// The kind's entry in `dataset.yaml`: the keys every stage has, then these parameters.
    type Spec: DeserializeOwned + JsonSchema;
    /// Split a spec entry into its common keys and its parameters.
    fn from_spec(spec: Self::Spec) -> (StageCommon, Self);
}

/// One row of the registry, for code that holds a kind's name rather than its type.
#[derive(Clone, Copy)]
pub struct KindInfo {
    pub name: &'static str,
    pub version: u32,
    pub accepts: Accepts,
    pub produces: Data,
    build: fn(&serde_json::Value) -> Result<Box<dyn Stage>, String>,
    spec_schema: fn(&mut SchemaGenerator) -> Schema,
}

impl fmt::Debug for KindInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KindInfo")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("accepts", &self.accepts)
            .field("produces", &self.produces)
            .finish_non_exhaustive()
    }
}

impl KindInfo {
    pub const fn of<K: Kind>() -> Self {
        Self {
            name: K::NAME,
            version: K::VERSION,
            accepts: K::ACCEPTS,
            produces: K::PRODUCES,
            build: build::<K>,
            spec_schema: spec_schema::<K>,
        }
    }

    /// The kind named `name`.
    pub fn get(name: &str) -> Option<&'static Self> {
        REGISTRY.iter().find(|k| k.name == name)
    }

    /// A stage of this kind from canonical parameters (from the spec or from a lockfile).
    pub fn build(&self, params: &serde_json::Value) -> Result<Box<dyn Stage>, String> {
        (self.build)(params)
    }

    /// The schema of this kind's `dataset.yaml` entry (a `$ref` to its definition, which
    /// holds its `kind: const`).
    pub fn spec_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        (self.spec_schema)(generator)
    }
}

fn build<K: Kind>(params: &serde_json::Value) -> Result<Box<dyn Stage>, String> {
    let params: K::Params = serde_json::from_value(params.clone()).map_err(|e| e.to_string())?;
    Ok(Box::new(K::new(params)?))
}

fn spec_schema<K: Kind>(generator: &mut SchemaGenerator) -> Schema {
    type SpecOf<K> = <<K as Kind>::Params as Params>::Spec;
    let reference = generator.subschema_for::<SpecOf<K>>();
    let def: Cow<'static, str> = SpecOf::<K>::schema_name();
    // The spec struct types `kind` as a string; this kind's entry takes its own name only, so
    // an editor can tell each kind's keys from the others'.
    if let Some(props) = generator
        .definitions_mut()
        .get_mut(def.as_ref())
        .and_then(|d| d.get_mut("properties"))
        .and_then(serde_json::Value::as_object_mut)
    {
        props.insert(
            "kind".into(),
            serde_json::json!({"description": "The stage kind.", "const": K::NAME}),
        );
    }
    reference
}

/// Something done with one kind's type, picked by its name at run time: [`visit_kind`].
pub(crate) trait KindVisitor {
    type Output;
    fn visit<K: Kind>(self) -> Self::Output;
}

/// Reads the next value of a map as the spec entry of one kind (`spec::load`'s pass 2).
pub(crate) struct NextSpec<'a, 'de, A>(pub &'a mut A, pub PhantomData<&'de ()>);

impl<'de, A: serde::de::MapAccess<'de>> KindVisitor for NextSpec<'_, 'de, A> {
    type Output = Result<(StageCommon, serde_json::Value), A::Error>;
    fn visit<K: Kind>(self) -> Self::Output {
        let spec = self.0.next_value::<<K::Params as Params>::Spec>()?;
        let (common, params) = K::Params::from_spec(spec);
        let params = serde_json::to_value(params).map_err(serde::de::Error::custom)?;
        Ok((common, params))
    }
}

/// The registry: [`REGISTRY`], [`KINDS`] and [`visit_kind`] from one list of kind types.
macro_rules! kinds {
    ($($kind:ty),* $(,)?) => {
        /// Every stage kind, in the order errors, docs and the JSON Schema list them.
        pub const REGISTRY: &[KindInfo] = &[$(KindInfo::of::<$kind>()),*];

        /// The `kind:` names, in registry order.
        pub const KINDS: &[&str] = &[$(<$kind as Kind>::NAME),*];

        /// `v.visit::<K>()` for the kind named `name`; `None` when no kind has that name.
        pub(crate) fn visit_kind<V: KindVisitor>(name: &str, v: V) -> Option<V::Output> {
            $(
                if name == <$kind as Kind>::NAME {
                    return Some(v.visit::<$kind>());
                }
            )*
            None
        }
    };
}
use kinds;

/// Declares a kind's parameters once: the params struct (canonical JSON in the lock and the
/// action key; `Serialize`, `Deserialize`, `JsonSchema`, `deny_unknown_fields`) and, from the
/// same fields, its spec struct (the keys every stage has, then these), which `dataset.yaml`
/// is read into and the JSON Schema describes. Field doc comments are the schema's
/// descriptions; `#[serde(...)]` attributes apply to both.
///
/// ```ignore
/// stage_params! {
///     /// Parameters of `dedup`.
///     #[derive(PartialEq)]
///     pub struct DedupParams in DedupSpec {
///         /// Columns that make two rows the same (default: all).
///         #[serde(default)]
///         pub columns: Option<Vec<String>>,
///     }
/// }
/// ```
macro_rules! stage_params {
    (
        $(#[$meta:meta])*
        pub struct $params:ident in $spec:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, ::serde::Serialize, ::serde::Deserialize, ::schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $params {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        // No doc comment: it would become the schema definition's description.
        #[derive(Debug, ::serde::Deserialize, ::schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $spec {
            /// The stage kind.
            #[schemars(with = "String")]
            pub kind: ::serde_saphyr::Spanned<String>,
            /// The source or stage this stage reads.
            #[schemars(with = "String")]
            pub input: ::serde_saphyr::Spanned<String>,
            /// Free text; not hashed.
            #[serde(default)]
            pub description: Option<String>,
            /// Where the outputs go inside the dataset folder (default depends on the kind).
            #[serde(default)]
            #[schemars(with = "Option<String>")]
            pub output: Option<::serde_saphyr::Spanned<String>>,
            /// Expand the stage into one node per combination of these parameter values.
            #[serde(default)]
            #[schemars(with = "Option<std::collections::BTreeMap<String, Vec<serde_json::Value>>>")]
            pub matrix: Option<
                ::serde_saphyr::Spanned<
                    std::collections::BTreeMap<String, ::serde_saphyr::Spanned<Vec<serde_json::Value>>>,
                >,
            >,
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::stages::registry::Params for $params {
            type Spec = $spec;
            fn from_spec(spec: $spec) -> ($crate::spec::model::StageCommon, Self) {
                (
                    $crate::spec::model::StageCommon {
                        kind: spec.kind,
                        input: spec.input,
                        description: spec.description,
                        output: spec.output,
                        matrix: spec.matrix,
                    },
                    Self { $( $field: spec.$field, )* },
                )
            }
        }
    };
}
pub(crate) use stage_params;

#[cfg(test)]
mod tests {
    use super::{Data, KINDS, REGISTRY};

    #[test]
    fn kinds_are_the_registry_names_and_unique() {
        let names: Vec<&str> = REGISTRY.iter().map(|k| k.name).collect();
        assert_eq!(names, KINDS);
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a kind is registered twice");
    }

    /// Every kind reads something a source or another kind gives.
    #[test]
    fn every_kind_can_be_fed() {
        for k in REGISTRY {
            assert!(!k.accepts.data.is_empty(), "{}: accepts nothing", k.name);
            assert!(
                !k.accepts.data.contains(&Data::Artifacts),
                "{}: no stage reads an export's artifacts",
                k.name
            );
        }
    }
}
