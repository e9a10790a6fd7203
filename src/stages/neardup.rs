//! Near-duplicate text detection for stages: collects MinHash signatures of a text column as
//! batches stream by, then finds similar pairs (the method is in [`super::minhash`]).

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;

use super::StageError;
use super::minhash::{MinHashIndex, MinHashParams, NearDuplicates};

/// Collects the signatures of one text column, row by row; `None` until a text is added.
pub struct Collector {
    params: MinHashParams,
    index: Option<MinHashIndex>,
}

fn err(e: impl std::fmt::Display) -> StageError {
    StageError::new(format!("near-duplicate detection: {e}"))
}

impl Collector {
    pub fn new(threshold: f64) -> Self {
        Self {
            params: MinHashParams {
                threshold,
                ..MinHashParams::default()
            },
            index: None,
        }
    }

    /// Add the texts of rows `first_row..first_row + column.len()` (nulls are skipped).
    pub fn add_column(&mut self, first_row: u64, column: &dyn Array) -> Result<(), StageError> {
        let utf8 = if column.data_type() == &DataType::Utf8 {
            None
        } else {
            Some(arrow::compute::cast(column, &DataType::Utf8).map_err(err)?)
        };
        let strings = utf8.as_deref().unwrap_or(column).as_string::<i32>();
        let docs: Vec<(u64, &str)> = strings
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (first_row + i as u64, s)))
            .collect();
        if self.index.is_none() {
            self.index = Some(MinHashIndex::new(self.params).map_err(err)?);
        }
        if let Some(index) = &mut self.index {
            index.add_batch(&docs).map_err(err)?;
        }
        Ok(())
    }

    /// Every near-duplicate pair and cluster found.
    pub fn finish(self) -> NearDuplicates {
        self.index.map(MinHashIndex::finish).unwrap_or_default()
    }

    /// Near-duplicate pairs whose rows are in different splits: (row, row, similarity).
    pub fn cross_split_pairs(self, assignment: &[u8]) -> Result<Vec<(u64, u64, f64)>, StageError> {
        let split = |r: u64| {
            assignment
                .get(usize::try_from(r).unwrap_or(usize::MAX))
                .copied()
        };
        Ok(self
            .finish()
            .pairs
            .into_iter()
            .filter(|p| split(p.a) != split(p.b))
            .map(|p| (p.a, p.b, p.similarity))
            .collect())
    }
}
