//! Kaggle datasets: `kaggle://owner/slug[@version]`.

use super::cache::Cache;
use super::http::Client;
use super::{FetchError, FetchEvent, FetchOptions, Fetched};
use crate::spec::SourceDef;

/// Fetch a Kaggle dataset version into the cache (or find it there).
#[expect(
    clippy::too_many_arguments,
    reason = "the fetch's whole context, as for the Hub"
)]
pub fn fetch(
    _cache: &Cache,
    _client: &Client,
    def: &SourceDef,
    _owner: &str,
    _slug: &str,
    _version: Option<u32>,
    _pinned: Option<&str>,
    _opts: FetchOptions,
    _events: &mut dyn FnMut(FetchEvent),
) -> Result<Fetched, FetchError> {
    Err(FetchError::new(format!(
        "`{}`: Kaggle sources are not supported in this version",
        def.uri
    ))
    .hint("download the files and point a local source at them, or use hf:// or https://")
    .user())
}
