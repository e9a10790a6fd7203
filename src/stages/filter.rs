//! Simple row filters: `column op value`, e.g. `stars >= 3`, `lang == 'en'`,
//! `label in [0, 1]`, `text is not null`. Several filters are ANDed. On a `class_labels`
//! column (class ids), a quoted value is a class name: `label == 'pos'`.

use std::collections::BTreeMap;
use std::fmt;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Datum, Float64Array, RecordBatch, Scalar, StringArray,
};
use arrow::compute::kernels::cmp;
use arrow::compute::{and, cast, is_not_null, is_null, or};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Str(String),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Cmp(Op, Value),
    In(Vec<Value>, bool),
    IsNull(bool),
}

/// One parsed filter, kept with its source text (which is what is hashed and recorded).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub text: String,
    pub column: String,
    pub cond: Cond,
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Filter::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Filter {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Filter".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "`column op value`: op is ==, !=, <, <=, >, >=, in [..], not in [..], is null, is not null",
            "examples": ["stars >= 3", "lang == 'en'", "label in [0, 1]", "text is not null"]
        })
    }
}

/// A value as the filter language writes it: `3`, `'en'`, `true`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Num(n) => write!(f, "{n}"),
            Value::Str(s) => write!(f, "'{s}'"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_value(s: &str) -> Result<Value, String> {
    let s = s.trim();
    if let Some(q) = s.chars().next().filter(|c| *c == '\'' || *c == '"') {
        return s
            .strip_prefix(q)
            .and_then(|r| r.strip_suffix(q))
            .map(|v| Value::Str(v.to_owned()))
            .ok_or_else(|| format!("unterminated string `{s}`"));
    }
    match s {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    s.parse::<f64>()
        .map(Value::Num)
        .map_err(|_| format!("`{s}` is not a number, a quoted string, true or false"))
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, String> {
        let err = |why: String| {
            format!(
                "filter `{text}`: {why} | hint: write `column op value`, e.g. `stars >= 3`, `lang == 'en'`, `label in [0, 1]`, `text is not null`"
            )
        };
        let t = text.trim();
        let (column, rest) = t
            .split_once(char::is_whitespace)
            .ok_or_else(|| err("expected `column op value`".into()))?;
        let rest = rest.trim();
        let cond = if rest == "is null" {
            Cond::IsNull(true)
        } else if rest == "is not null" {
            Cond::IsNull(false)
        } else if let Some(list) = rest
            .strip_prefix("not in ")
            .or_else(|| rest.strip_prefix("in "))
        {
            let negate = rest.starts_with("not in ");
            let inner = list
                .trim()
                .strip_prefix('[')
                .and_then(|l| l.strip_suffix(']'))
                .ok_or_else(|| err("`in` takes a list: `in [a, b]`".into()))?;
            let values = inner
                .split(',')
                .filter(|v| !v.trim().is_empty())
                .map(parse_value)
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            if values.is_empty() {
                return Err(err("the list is empty".into()));
            }
            Cond::In(values, negate)
        } else {
            let ops = [
                ("==", Op::Eq),
                ("!=", Op::Ne),
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("<", Op::Lt),
                (">", Op::Gt),
            ];
            let (op, value) = ops
                .iter()
                .find_map(|(sym, op)| rest.strip_prefix(sym).map(|v| (*op, v)))
                .ok_or_else(|| err(format!("unknown operator in `{rest}`")))?;
            Cond::Cmp(op, parse_value(value).map_err(err)?)
        };
        Ok(Filter {
            text: text.to_owned(),
            column: column.to_owned(),
            cond,
        })
    }

    /// Which rows pass (null never passes a comparison). `classes` names the class ids of
    /// the column, when it is a `class_labels` column.
    pub fn eval(
        &self,
        batch: &RecordBatch,
        classes: Option<&[String]>,
    ) -> Result<BooleanArray, String> {
        let col = batch
            .column_by_name(&self.column)
            .ok_or_else(|| format!("filter `{}`: no column `{}`", self.text, self.column))?;
        let value = |v: &Value| -> Result<Value, String> {
            match (v, classes) {
                (Value::Str(name), Some(names)) => names
                    .iter()
                    .position(|n| n == name)
                    .map(|i| Value::Num(i as f64))
                    .ok_or_else(|| {
                        format!(
                            "filter `{}`: `{name}` is not a class of the class-label column `{}`; its classes are {}",
                            self.text,
                            self.column,
                            names
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }),
                _ => Ok(v.clone()),
            }
        };
        let mask = match &self.cond {
            Cond::IsNull(true) => is_null(col).map_err(|e| e.to_string())?,
            Cond::IsNull(false) => is_not_null(col).map_err(|e| e.to_string())?,
            Cond::Cmp(op, v) => {
                compare(col, *op, &value(v)?).map_err(|e| format!("filter `{}`: {e}", self.text))?
            }
            Cond::In(values, negate) => {
                let mut acc: Option<BooleanArray> = None;
                for v in values {
                    let m = compare(col, Op::Eq, &value(v)?)
                        .map_err(|e| format!("filter `{}`: {e}", self.text))?;
                    acc = Some(match acc {
                        None => m,
                        Some(a) => or(&a, &m).map_err(|e| e.to_string())?,
                    });
                }
                let m = acc.unwrap_or_else(|| BooleanArray::from(vec![false; col.len()]));
                if *negate {
                    arrow::compute::not(&m).map_err(|e| e.to_string())?
                } else {
                    m
                }
            }
        };
        // Nulls in the mask mean "unknown": drop those rows.
        Ok(mask.iter().map(|v| Some(v.unwrap_or(false))).collect())
    }
}

fn scalar_for(col: &ArrayRef, v: &Value) -> Result<Scalar<ArrayRef>, String> {
    let one: ArrayRef = match v {
        Value::Num(n) => std::sync::Arc::new(Float64Array::from(vec![*n])),
        Value::Str(s) => std::sync::Arc::new(StringArray::from(vec![s.as_str()])),
        Value::Bool(b) => std::sync::Arc::new(BooleanArray::from(vec![*b])),
    };
    let typed = cast(&one, col.data_type()).map_err(|e| {
        format!(
            "cannot compare a {} column with `{v}`: {e}",
            super::table::type_name(col.data_type())
        )
    })?;
    if typed.is_null(0) {
        return Err(format!(
            "`{v}` does not convert to the column's type, {}",
            super::table::type_name(col.data_type())
        ));
    }
    Ok(Scalar::new(typed))
}

fn compare(col: &ArrayRef, op: Op, v: &Value) -> Result<BooleanArray, String> {
    let s = scalar_for(col, v)?;
    let c: &dyn Datum = col;
    let r = match op {
        Op::Eq => cmp::eq(c, &s),
        Op::Ne => cmp::neq(c, &s),
        Op::Lt => cmp::lt(c, &s),
        Op::Le => cmp::lt_eq(c, &s),
        Op::Gt => cmp::gt(c, &s),
        Op::Ge => cmp::gt_eq(c, &s),
    };
    r.map_err(|e| e.to_string())
}

/// All filters ANDed. `classes` holds the class names of the `class_labels` columns.
pub fn mask(
    filters: &[Filter],
    batch: &RecordBatch,
    classes: &BTreeMap<&str, &[String]>,
) -> Result<Option<BooleanArray>, String> {
    let mut acc: Option<BooleanArray> = None;
    for f in filters {
        let m = f.eval(batch, classes.get(f.column.as_str()).copied())?;
        acc = Some(match acc {
            None => m,
            Some(a) => and(&a, &m).map_err(|e| e.to_string())?,
        });
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            Filter::parse("stars >= 3").unwrap().cond,
            Cond::Cmp(Op::Ge, Value::Num(3.0))
        );
        assert_eq!(
            Filter::parse("lang == 'en'").unwrap().cond,
            Cond::Cmp(Op::Eq, Value::Str("en".into()))
        );
        assert_eq!(
            Filter::parse("t is not null").unwrap().cond,
            Cond::IsNull(false)
        );
        assert!(
            matches!(Filter::parse("l not in [1, 2]").unwrap().cond, Cond::In(ref v, true) if v.len() == 2)
        );
        assert!(
            Filter::parse("stars => 3")
                .unwrap_err()
                .contains("unknown operator")
        );
        assert!(Filter::parse("stars").is_err());
    }
}
