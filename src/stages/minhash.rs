//! Near-duplicate text detection by MinHash + LSH (locality-sensitive hashing), as a library for
//! the `validate` stage (rows of a text column) and `split`'s cross-split leakage check.
//!
//! # Pipeline
//!
//! 1. **Words.** A document is lowercased (Unicode) and split into words on every character that
//!    is not alphanumeric (`char::is_alphanumeric`), so case, punctuation and whitespace
//!    differences disappear. Words are never materialized: each is hashed on the fly (FNV-1a over
//!    the lowercased code points, then the MurmurHash3 64-bit finalizer).
//! 2. **Shingles.** Word `ngram`-grams (5 by default), each hashed to 64 bits from its word
//!    hashes. A document with fewer than `ngram` words is one shingle of all its words; a document
//!    with no word has no signature and is never a near-duplicate of anything.
//! 3. **Signature.** `bands × rows` (14 × 8 = 112 by default, as datatrove uses) permutations,
//!    each a multiply-add-shift universal hash of the 64-bit shingle hash, `(a·x + b) mod 2⁶⁴ >> 32`
//!    with `a` odd; the signature keeps the minimum of each. Values are **u32**: half the memory of
//!    u64, and two different minima collide with probability 2⁻³², which moves an estimate over
//!    112 values by far less than its own sampling error (about ±0.02 at similarity 0.95).
//! 4. **Candidates.** Per band, the `rows` values are hashed to 64 bits; `(band hash, document)`
//!    pairs are sorted and each run of equal hashes gives candidate pairs. A run of at most
//!    [`FULL_RUN`] documents yields all of its pairs; a longer run (many copies of one text)
//!    would cost O(k²), so each member is only paired with the run's first member and with its
//!    predecessor: 2k pairs, which still connect the whole run, so clusters stay complete while
//!    `pairs` lists a spanning subset of that group's pairs.
//! 5. **Verification.** A candidate is kept when the fraction of equal signature values, the
//!    estimated Jaccard similarity of the two shingle sets, is at least `threshold`.
//! 6. **Clusters.** Union-find over the verified pairs; a cluster's representative is its
//!    smallest document id, so `action: drop` keeps the first row of each cluster.
//!
//! # Memory
//!
//! Per indexed document the index keeps its signature, `bands × rows` u32 values (448 bytes with
//! the defaults), and its u64 id: **456 bytes per document** (456 MB per million). Band hashes are
//! not kept: [`MinHashIndex::finish`] recomputes them one band at a time into one reused array of
//! `(u64 band hash, u32 document)` (16 bytes per document), plus 8 bytes per candidate pair.
//!
//! # Determinism
//!
//! Signatures depend only on the text and [`MinHashParams`]; documents keep their insertion
//! order; every sort is on unique keys. Results are identical whatever the thread count.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The default seed of the permutations (the bytes of `"minhash!"`).
pub const DEFAULT_SEED: u64 = 0x6d69_6e68_6173_6821;

/// The most documents one index holds (documents are numbered with u32 inside).
pub const MAX_DOCS: usize = u32::MAX as usize;

/// The most signature values (`bands × rows`) accepted.
pub const MAX_PERMUTATIONS: usize = 4096;

/// The longest run of equal band hashes whose pairs are all compared; longer runs compare each
/// member with the first member and with its predecessor only.
pub const FULL_RUN: usize = 16;

/// Parameters of near-duplicate detection. Part of a stage's parameters: any change changes
/// the results.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinHashParams {
    /// Words per shingle.
    pub ngram: usize,
    /// LSH bands.
    pub bands: usize,
    /// Signature values per band.
    pub rows: usize,
    /// Estimated Jaccard similarity at or above which two documents are near-duplicates.
    pub threshold: f64,
    /// Seed of the word hash and the permutations.
    pub seed: u64,
}

impl Default for MinHashParams {
    fn default() -> Self {
        Self {
            ngram: 5,
            bands: 14,
            rows: 8,
            threshold: 0.95,
            seed: DEFAULT_SEED,
        }
    }
}

impl MinHashParams {
    /// Signature length: `bands × rows` (saturating; [`MinHashParams::validate`] bounds it).
    pub fn num_perm(&self) -> usize {
        self.bands.saturating_mul(self.rows)
    }

    /// Check the parameters: every count at least 1, at most [`MAX_PERMUTATIONS`] values,
    /// a threshold in [0, 1].
    pub fn validate(&self) -> Result<(), MinHashError> {
        let bad = |m: String| Err(MinHashError::InvalidParams(m));
        if self.ngram == 0 {
            return bad("ngram must be at least 1".into());
        }
        if self.bands == 0 || self.rows == 0 {
            return bad(format!(
                "bands and rows must be at least 1: got {} × {}",
                self.bands, self.rows
            ));
        }
        if self.num_perm() > MAX_PERMUTATIONS {
            return bad(format!(
                "bands × rows must be at most {MAX_PERMUTATIONS}: got {} × {}",
                self.bands, self.rows
            ));
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return bad(format!(
                "threshold must be in [0, 1]: got {}",
                self.threshold
            ));
        }
        Ok(())
    }
}

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinHashError {
    #[error("invalid near-duplicate parameters: {0}")]
    InvalidParams(String),
    #[error("too many documents for one near-duplicate index (at most {MAX_DOCS})")]
    TooManyDocuments,
    #[error("signature has {got} values, expected {expected}")]
    SignatureLength { got: usize, expected: usize },
}

/// Reusable buffers for [`MinHasher::signature_into`]: one per thread.
#[derive(Debug, Default, Clone)]
pub struct SignatureScratch {
    words: Vec<u64>,
}

/// Computes signatures: the word hash and the permutations drawn from the seed.
#[derive(Debug, Clone)]
pub struct MinHasher {
    params: MinHashParams,
    word_seed: u64,
    shingle_seed: u64,
    band_seed: u64,
    /// Per permutation: odd multiplier `a` and addend `b`.
    mul: Box<[u64]>,
    add: Box<[u64]>,
}

impl MinHasher {
    pub fn new(params: MinHashParams) -> Result<Self, MinHashError> {
        params.validate()?;
        let mut state = params.seed;
        let word_seed = splitmix64(&mut state);
        let shingle_seed = splitmix64(&mut state);
        let band_seed = splitmix64(&mut state);
        let k = params.num_perm();
        let mut mul = Vec::with_capacity(k);
        let mut add = Vec::with_capacity(k);
        for _ in 0..k {
            mul.push(splitmix64(&mut state) | 1);
            add.push(splitmix64(&mut state));
        }
        Ok(Self {
            params,
            word_seed,
            shingle_seed,
            band_seed,
            mul: mul.into(),
            add: add.into(),
        })
    }

    pub fn params(&self) -> &MinHashParams {
        &self.params
    }

    /// Signature length: `bands × rows`.
    pub fn num_perm(&self) -> usize {
        self.mul.len()
    }

    /// The signature of `text`, or `None` when it has no word.
    pub fn signature(&self, text: &str) -> Option<Vec<u32>> {
        let mut out = vec![0; self.num_perm()];
        self.signature_into(text, &mut SignatureScratch::default(), &mut out)
            .then_some(out)
    }

    /// Write the signature of `text` into `out` (`num_perm()` values) without allocating once
    /// `scratch` has grown. Returns false, leaving `out` unspecified, when `text` has no word.
    pub fn signature_into(
        &self,
        text: &str,
        scratch: &mut SignatureScratch,
        out: &mut [u32],
    ) -> bool {
        assert_eq!(out.len(), self.num_perm(), "signature buffer length");
        let words = &mut scratch.words;
        word_hashes(text, self.word_seed, words);
        if words.is_empty() {
            return false;
        }
        out.fill(u32::MAX);
        let n = self.params.ngram.min(words.len());
        for window in words.windows(n) {
            let x = shingle_hash(self.shingle_seed, window);
            self.permute_min(x, out);
        }
        true
    }

    /// `out[i] = min(out[i], (a[i]·x + b[i]) >> 32)`, a tight loop over the permutations.
    #[inline]
    fn permute_min(&self, x: u64, out: &mut [u32]) {
        for ((o, &a), &b) in out.iter_mut().zip(&*self.mul).zip(&*self.add) {
            let v = (a.wrapping_mul(x).wrapping_add(b) >> 32) as u32;
            *o = (*o).min(v);
        }
    }

    /// The 64-bit hash of band `band` of a signature.
    fn band_hash(&self, band: usize, sig: &[u32]) -> u64 {
        let rows = self.params.rows;
        let mut h = self.band_seed ^ band as u64;
        for &v in &sig[band * rows..(band + 1) * rows] {
            h = (h.rotate_left(29) ^ u64::from(v)).wrapping_mul(MIX_K);
        }
        fmix64(h)
    }
}

/// The fraction of equal values of two signatures of the same length: the estimated Jaccard
/// similarity of their shingle sets.
pub fn similarity(a: &[u32], b: &[u32]) -> f64 {
    equal_values(a, b) as f64 / a.len().max(1) as f64
}

fn equal_values(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x == y).count()
}

/// Two near-duplicate documents, `a < b`, with their estimated similarity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DuplicatePair {
    pub a: u64,
    pub b: u64,
    pub similarity: f64,
}

/// A group of documents connected by near-duplicate pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    /// The smallest id of the cluster: the document to keep.
    pub representative: u64,
    /// Every member, ascending (the representative first); at least 2.
    pub members: Vec<u64>,
}

/// What [`MinHashIndex::finish`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NearDuplicates {
    /// Documents indexed (those with at least one word).
    pub documents: usize,
    /// Candidate pairs compared (distinct pairs sharing at least one band).
    pub candidates: usize,
    /// Verified pairs, sorted by `(a, b)`.
    pub pairs: Vec<DuplicatePair>,
    /// Clusters, sorted by representative.
    pub clusters: Vec<Cluster>,
}

impl NearDuplicates {
    /// Every cluster member but its representative, ascending: the rows `action: drop` removes.
    pub fn redundant_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .clusters
            .iter()
            .flat_map(|c| c.members.iter().copied().filter(|&m| m != c.representative))
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// Accumulates `(id, signature)` of documents arriving in batches, then finds near-duplicates.
/// Ids are the caller's (e.g. row numbers) and should be unique; pairs of equal ids are ignored.
#[derive(Debug)]
pub struct MinHashIndex {
    hasher: MinHasher,
    ids: Vec<u64>,
    /// `num_perm` values per document, in insertion order.
    sigs: Vec<u32>,
    scratch: SignatureScratch,
}

impl MinHashIndex {
    pub fn new(params: MinHashParams) -> Result<Self, MinHashError> {
        Ok(Self::with_hasher(MinHasher::new(params)?))
    }

    pub fn with_hasher(hasher: MinHasher) -> Self {
        Self {
            hasher,
            ids: Vec::new(),
            sigs: Vec::new(),
            scratch: SignatureScratch::default(),
        }
    }

    pub fn hasher(&self) -> &MinHasher {
        &self.hasher
    }

    /// Documents indexed so far (those with at least one word).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Index one document. Returns whether it has a signature (false: no word, not indexed).
    pub fn add(&mut self, id: u64, text: &str) -> Result<bool, MinHashError> {
        if self.ids.len() >= MAX_DOCS {
            return Err(MinHashError::TooManyDocuments);
        }
        let k = self.hasher.num_perm();
        let start = self.sigs.len();
        self.sigs.resize(start + k, 0);
        let ok = self
            .hasher
            .signature_into(text, &mut self.scratch, &mut self.sigs[start..]);
        if ok {
            self.ids.push(id);
        } else {
            self.sigs.truncate(start);
        }
        Ok(ok)
    }

    /// Index a batch of `(id, text)`, computing signatures in parallel on the current rayon
    /// pool. Returns how many had a signature.
    pub fn add_batch<S: AsRef<str> + Sync>(
        &mut self,
        docs: &[(u64, S)],
    ) -> Result<usize, MinHashError> {
        if self.ids.len().saturating_add(docs.len()) > MAX_DOCS {
            return Err(MinHashError::TooManyDocuments);
        }
        let k = self.hasher.num_perm();
        let start = self.sigs.len();
        self.sigs.resize(start + docs.len() * k, 0);
        let hasher = &self.hasher;
        let has_sig: Vec<bool> = self.sigs[start..]
            .par_chunks_mut(k)
            .zip(docs.par_iter())
            .with_min_len(64)
            .map_init(SignatureScratch::default, |scratch, (out, (_, text))| {
                hasher.signature_into(text.as_ref(), scratch, out)
            })
            .collect();
        // Compact: drop the slots of documents without a signature, keeping order.
        let mut kept = 0;
        for (i, (&ok, &(id, _))) in has_sig.iter().zip(docs).enumerate() {
            if ok {
                if kept != i {
                    let from = start + i * k;
                    self.sigs.copy_within(from..from + k, start + kept * k);
                }
                self.ids.push(id);
                kept += 1;
            }
        }
        self.sigs.truncate(start + kept * k);
        Ok(kept)
    }

    /// Index a signature computed elsewhere with an equal [`MinHasher`].
    pub fn add_signature(&mut self, id: u64, signature: &[u32]) -> Result<(), MinHashError> {
        if signature.len() != self.hasher.num_perm() {
            return Err(MinHashError::SignatureLength {
                got: signature.len(),
                expected: self.hasher.num_perm(),
            });
        }
        if self.ids.len() >= MAX_DOCS {
            return Err(MinHashError::TooManyDocuments);
        }
        self.sigs.extend_from_slice(signature);
        self.ids.push(id);
        Ok(())
    }

    /// Find the near-duplicate pairs and clusters (see the module docs for the method).
    pub fn finish(self) -> NearDuplicates {
        let n = self.ids.len();
        let k = self.hasher.num_perm();
        let sig = |i: u32| &self.sigs[i as usize * k..(i as usize + 1) * k];

        // Candidates: (smaller index, larger index), deduplicated after each band.
        let mut candidates: Vec<(u32, u32)> = Vec::new();
        let mut keys: Vec<(u64, u32)> = Vec::with_capacity(n);
        for band in 0..self.hasher.params.bands {
            self.sigs
                .par_chunks(k)
                .enumerate()
                .map(|(i, s)| (self.hasher.band_hash(band, s), i as u32))
                .collect_into_vec(&mut keys);
            keys.par_sort_unstable();
            let before = candidates.len();
            for run in keys.chunk_by(|x, y| x.0 == y.0) {
                if run.len() <= FULL_RUN {
                    for (i, &(_, a)) in run.iter().enumerate() {
                        candidates.extend(run[i + 1..].iter().map(|&(_, b)| (a, b)));
                    }
                } else {
                    let first = run[0].1;
                    for w in run.windows(2) {
                        candidates.push((w[0].1, w[1].1));
                        if w[0].1 != first {
                            candidates.push((first, w[1].1));
                        }
                    }
                }
            }
            if candidates.len() > before {
                candidates.par_sort_unstable();
                candidates.dedup();
            }
        }
        drop(keys);

        let threshold = self.hasher.params.threshold;
        let verified: Vec<(u32, u32, usize)> = candidates
            .par_iter()
            .filter_map(|&(a, b)| {
                let equal = equal_values(sig(a), sig(b));
                (equal as f64 / k as f64 >= threshold).then_some((a, b, equal))
            })
            .collect();

        let mut pairs: Vec<DuplicatePair> = verified
            .iter()
            .filter_map(|&(a, b, equal)| {
                let (ia, ib) = (self.ids[a as usize], self.ids[b as usize]);
                (ia != ib).then(|| DuplicatePair {
                    a: ia.min(ib),
                    b: ia.max(ib),
                    similarity: equal as f64 / k as f64,
                })
            })
            .collect();
        pairs.sort_unstable_by_key(|x| (x.a, x.b));
        pairs.dedup_by(|x, y| (x.a, x.b) == (y.a, y.b));

        NearDuplicates {
            documents: n,
            candidates: candidates.len(),
            clusters: clusters(&self.ids, &verified),
            pairs,
        }
    }
}

/// Union-find over the verified pairs (document indices); a cluster's representative is its
/// smallest id.
fn clusters(ids: &[u64], verified: &[(u32, u32, usize)]) -> Vec<Cluster> {
    let mut members: Vec<u32> = verified.iter().flat_map(|&(a, b, _)| [a, b]).collect();
    members.sort_unstable();
    members.dedup();
    // Union-find on positions in `members`, so memory follows the duplicates, not the corpus.
    let pos = |i: u32| members.binary_search(&i).unwrap_or_default();
    let mut parent: Vec<usize> = (0..members.len()).collect();
    for &(a, b, _) in verified {
        let (ra, rb) = (find(&mut parent, pos(a)), find(&mut parent, pos(b)));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut by_root: Vec<(usize, u64)> = (0..members.len())
        .map(|p| (find(&mut parent, p), ids[members[p] as usize]))
        .collect();
    by_root.sort_unstable();
    let mut out: Vec<Cluster> = by_root
        .chunk_by(|x, y| x.0 == y.0)
        .filter_map(|group| {
            let mut ids: Vec<u64> = group.iter().map(|&(_, id)| id).collect();
            ids.sort_unstable();
            ids.dedup();
            (ids.len() >= 2).then(|| Cluster {
                representative: ids[0],
                members: ids,
            })
        })
        .collect();
    out.sort_unstable_by_key(|c| c.representative);
    out
}

/// The root of `x`, halving paths on the way.
fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const MIX_K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hash every word of `text` (lowercased, split on non-alphanumeric characters) into `out`.
fn word_hashes(text: &str, seed: u64, out: &mut Vec<u64>) {
    out.clear();
    let start = FNV_OFFSET ^ seed;
    let mut h = start;
    let mut len = 0u64;
    let end_word = |h: &mut u64, len: &mut u64, out: &mut Vec<u64>| {
        if *len > 0 {
            out.push(fmix64(*h ^ len.wrapping_mul(MIX_K)));
            *h = start;
            *len = 0;
        }
    };
    for c in text.chars() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                h = (h ^ u64::from(c.to_ascii_lowercase())).wrapping_mul(FNV_PRIME);
                len += 1;
            } else {
                end_word(&mut h, &mut len, out);
            }
        } else if c.is_alphanumeric() {
            for l in c.to_lowercase() {
                h = (h ^ u64::from(l)).wrapping_mul(FNV_PRIME);
                len += 1;
            }
        } else {
            end_word(&mut h, &mut len, out);
        }
    }
    end_word(&mut h, &mut len, out);
}

/// The 64-bit hash of a sequence of word hashes (order matters).
#[inline]
fn shingle_hash(seed: u64, words: &[u64]) -> u64 {
    let mut h = seed ^ words.len() as u64;
    for &w in words {
        h = (h.rotate_left(25) ^ w).wrapping_mul(MIX_K);
    }
    fmix64(h)
}

/// MurmurHash3's 64-bit finalizer: a bijection with full avalanche.
#[inline]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(MIX_K);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` pseudo-random words from a 5,000-word vocabulary.
    fn words(seed: u64, n: usize) -> Vec<String> {
        let mut state = seed;
        (0..n)
            .map(|_| format!("w{}", splitmix64(&mut state) % 5000))
            .collect()
    }

    fn find(docs: &[(u64, String)], params: MinHashParams) -> NearDuplicates {
        let mut index = MinHashIndex::new(params).unwrap();
        index.add_batch(docs).unwrap();
        index.finish()
    }

    fn pair_ids(found: &NearDuplicates) -> Vec<(u64, u64)> {
        found.pairs.iter().map(|p| (p.a, p.b)).collect()
    }

    #[test]
    fn defaults_are_datatrove_like() {
        let p = MinHashParams::default();
        assert_eq!((p.ngram, p.bands, p.rows, p.threshold), (5, 14, 8, 0.95));
        assert_eq!(MinHasher::new(p).unwrap().num_perm(), 112);
    }

    #[test]
    fn invalid_params_are_rejected() {
        for p in [
            MinHashParams {
                ngram: 0,
                ..Default::default()
            },
            MinHashParams {
                bands: 0,
                ..Default::default()
            },
            MinHashParams {
                rows: 0,
                ..Default::default()
            },
            MinHashParams {
                threshold: 1.5,
                ..Default::default()
            },
            MinHashParams {
                threshold: f64::NAN,
                ..Default::default()
            },
            MinHashParams {
                bands: usize::MAX,
                rows: 2,
                ..Default::default()
            },
        ] {
            assert!(
                matches!(MinHashIndex::new(p), Err(MinHashError::InvalidParams(_))),
                "{p:?}"
            );
        }
    }

    #[test]
    fn identical_documents_are_found() {
        let text = words(1, 60).join(" ");
        let docs = vec![(0, text.clone()), (1, words(2, 60).join(" ")), (2, text)];
        let found = find(&docs, MinHashParams::default());
        assert_eq!(pair_ids(&found), [(0, 2)]);
        assert_eq!(found.pairs[0].similarity, 1.0);
        assert_eq!(found.redundant_ids(), [2]);
    }

    #[test]
    fn case_punctuation_and_whitespace_do_not_matter() {
        let h = MinHasher::new(MinHashParams::default()).unwrap();
        let a = h.signature("The quick brown fox jumps over the lazy dog, again and again.");
        let b = h.signature("  the QUICK brown-fox\tjumps over... the lazy DOG again--AND again ");
        assert!(a.is_some());
        assert_eq!(a, b);
        let c = h.signature("Ünïcödé WORDS straße ΣΊΣΥΦΟΣ, one two three");
        let d = h.signature("ünïcödé words STRASSE σίσυφοσ one two three");
        let e = h.signature("ünïcödé words straße σίσυφοσ one two three");
        assert_ne!(c, d, "ß lowercases to itself, not ss");
        assert_eq!(c, e);
    }

    #[test]
    fn one_changed_word_in_200_is_found_at_0_9() {
        let a = words(3, 200);
        let mut b = a.clone();
        b[100] = "changed".into();
        let docs = vec![
            (10, a.join(" ")),
            (11, b.join(" ")),
            (12, words(4, 200).join(" ")),
        ];
        let params = MinHashParams {
            threshold: 0.9,
            ..Default::default()
        };
        let found = find(&docs, params);
        assert_eq!(pair_ids(&found), [(10, 11)]);
        let s = found.pairs[0].similarity;
        assert!(
            (0.9..1.0).contains(&s),
            "estimate {s}, true Jaccard 191/201 ≈ 0.95"
        );
    }

    #[test]
    fn unrelated_documents_are_not_found() {
        let docs: Vec<(u64, String)> = (0..200)
            .map(|i| (i, words(100 + i, 50).join(" ")))
            .collect();
        let params = MinHashParams {
            threshold: 0.5,
            ..Default::default()
        };
        let found = find(&docs, params);
        assert!(found.pairs.is_empty(), "{:?}", found.pairs);
        assert!(found.clusters.is_empty());
        assert_eq!(found.documents, 200);
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        // Groups of copies and near-copies among unrelated documents; one group large enough
        // to take the long-run path.
        let mut docs: Vec<(u64, String)> = Vec::new();
        let mut id = 0;
        for g in 0..40u64 {
            let base = words(1000 + g, 80);
            let copies = if g == 0 {
                FULL_RUN + 10
            } else {
                (g % 4) as usize + 1
            };
            for c in 0..copies {
                let mut w = base.clone();
                if c % 2 == 1 {
                    w.push(format!("tail{c}"));
                }
                docs.push((id * 7 % 1009, w.join(" ")));
                id += 1;
            }
        }
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut index = MinHashIndex::new(MinHashParams::default()).unwrap();
                for batch in docs.chunks(37) {
                    index.add_batch(batch).unwrap();
                }
                index.finish()
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert!(one.pairs.len() > 40 && one.clusters.len() >= 30, "{one:?}");
        // Sequential `add` gives the same answer.
        let mut index = MinHashIndex::new(MinHashParams::default()).unwrap();
        for (id, text) in &docs {
            index.add(*id, text).unwrap();
        }
        assert_eq!(one, index.finish());
    }

    #[test]
    fn representative_is_smallest_id() {
        let text = words(5, 40).join(" ");
        let docs = vec![
            (42, text.clone()),
            (7, text.clone()),
            (19, text),
            (3, words(6, 40).join(" ")),
        ];
        let found = find(&docs, MinHashParams::default());
        assert_eq!(
            found.clusters,
            [Cluster {
                representative: 7,
                members: vec![7, 19, 42]
            }]
        );
        assert_eq!(found.redundant_ids(), [19, 42]);
        assert!(found.pairs.iter().all(|p| p.a < p.b));
    }

    #[test]
    fn long_runs_still_form_one_cluster() {
        let text = words(8, 30).join(" ");
        let docs: Vec<(u64, String)> = (0..100).map(|i| (1000 - i, text.clone())).collect();
        let found = find(&docs, MinHashParams::default());
        assert_eq!(found.clusters.len(), 1);
        assert_eq!(found.clusters[0].representative, 901);
        assert_eq!(found.clusters[0].members.len(), 100);
        // First-member and predecessor pairs only: linear, not quadratic.
        assert!(found.pairs.len() < 2 * 100, "{}", found.pairs.len());
    }

    #[test]
    fn empty_documents_have_no_signature() {
        let h = MinHasher::new(MinHashParams::default()).unwrap();
        assert_eq!(h.signature(""), None);
        assert_eq!(h.signature(" ,.;-- \n\t"), None);
        let docs = vec![
            (0, String::new()),
            (1, "...".into()),
            (2, String::new()),
            (3, "a b".into()),
        ];
        let mut index = MinHashIndex::new(MinHashParams::default()).unwrap();
        assert_eq!(index.add_batch(&docs).unwrap(), 1);
        assert!(!index.add(4, "").unwrap());
        assert_eq!(index.len(), 1);
        let found = index.finish();
        assert!(found.pairs.is_empty());
        assert_eq!(found.documents, 1);
    }

    #[test]
    fn short_documents_are_one_shingle() {
        let h = MinHasher::new(MinHashParams::default()).unwrap();
        let a = h.signature("Hello, world!").unwrap();
        assert_eq!(h.signature("hello world").unwrap(), a);
        assert_ne!(h.signature("world hello").unwrap(), a, "word order matters");
        assert!(similarity(&a, &h.signature("hello there").unwrap()) < 0.1);
        let docs = vec![
            (0, "Hello, world!".to_string()),
            (1, "hello   WORLD".into()),
            (2, "hello".into()),
        ];
        let found = find(&docs, MinHashParams::default());
        assert_eq!(pair_ids(&found), [(0, 1)]);
        // Exactly `ngram` words: one shingle too, distinct from a shorter prefix.
        let five = h.signature("one two three four five").unwrap();
        assert!(similarity(&five, &h.signature("one two three four").unwrap()) < 0.1);
    }

    #[test]
    fn batches_with_gaps_keep_ids_aligned() {
        let a = words(9, 50).join(" ");
        let b = words(10, 50).join(" ");
        let docs = vec![
            (0, a.clone()),
            (1, String::new()),
            (2, b.clone()),
            (3, "!".into()),
            (4, a),
            (5, b),
        ];
        let found = find(&docs, MinHashParams::default());
        assert_eq!(pair_ids(&found), [(0, 4), (2, 5)]);
    }

    #[test]
    fn add_signature_checks_length() {
        let mut index = MinHashIndex::new(MinHashParams::default()).unwrap();
        let sig = index.hasher().signature("some words here").unwrap();
        index.add_signature(1, &sig).unwrap();
        index.add_signature(2, &sig).unwrap();
        assert_eq!(
            index.add_signature(3, &sig[1..]),
            Err(MinHashError::SignatureLength {
                got: 111,
                expected: 112
            })
        );
        assert_eq!(pair_ids(&index.finish()), [(1, 2)]);
    }

    #[test]
    fn estimate_tracks_true_jaccard() {
        // Docs sharing a prefix: true 5-gram Jaccard known; the estimate is within sampling error.
        let h = MinHasher::new(MinHashParams::default()).unwrap();
        let base = words(11, 300);
        for keep in [150usize, 240, 285] {
            let mut other = base[..keep].to_vec();
            other.extend(words(12, 300 - keep));
            // Shingles: 296 each; shared: keep - 4.
            let shared = (keep - 4) as f64;
            let jaccard = shared / (2.0 * 296.0 - shared);
            let est = similarity(
                &h.signature(&base.join(" ")).unwrap(),
                &h.signature(&other.join(" ")).unwrap(),
            );
            assert!(
                (est - jaccard).abs() < 0.12,
                "keep {keep}: estimate {est}, true {jaccard}"
            );
        }
    }
}
