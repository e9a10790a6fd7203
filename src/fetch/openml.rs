//! OpenML datasets: `openml://ID`.

use super::cache::Cache;
use super::http::Client;
use super::{FetchError, FetchEvent, FetchOptions, Fetched};
use crate::spec::SourceDef;

/// Fetch an OpenML dataset into the cache (or find it there).
pub fn fetch(
    _cache: &Cache,
    _client: &Client,
    def: &SourceDef,
    _id: u64,
    _pinned: Option<&str>,
    _opts: FetchOptions,
    _events: &mut dyn FnMut(FetchEvent),
) -> Result<Fetched, FetchError> {
    Err(FetchError::new(format!(
        "`{}`: OpenML sources are not supported in this version",
        def.uri
    ))
    .hint("download the files and point a local source at them, or use hf:// or https://")
    .user())
}
