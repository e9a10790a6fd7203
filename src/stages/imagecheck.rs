//! Media integrity checks and perceptual hashing, for the `validate` stage.
//!
//! - [`check_image`] decodes an image fully, with limits against decompression bombs, and also
//!   walks the container (PNG chunks, JPEG markers, GIF blocks, the WebP RIFF size) because some
//!   decoders accept truncated data silently (a JPEG cut in half decodes to a grey lower half).
//! - [`check_audio`] reads audio containers without decoding: WAV/RF64 chunks against the file
//!   length, FLAC metadata blocks and the first frame, MP3 frame headers (after an ID3v2 tag),
//!   Ogg pages, MP4/M4A boxes. It finds truncation and damaged headers, not damaged samples.
//! - [`perceptual_hash`] is a 64-bit pHash; [`near_duplicate_images`] finds the pairs of hashes
//!   within a Hamming distance without comparing every pair.
//!
//! `media.rs` reads the same headers for the table columns; its helpers take a path, read only
//! the first bytes and clamp a short WAV `data` chunk to the file, so this module parses the
//! bytes itself.
//!
//! Everything here works on untrusted bytes: no panics, no allocation sized by a header before
//! the size is checked, and every loop over the data advances.

use std::fmt;
use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

/// Images wider or taller than this are refused before decoding (`too_large`).
pub const MAX_IMAGE_DIMENSION: u32 = 32_768;

/// The most memory a decoder may allocate for one image (the decoded pixels count), 512 MiB:
/// a 8192×8192 RGBA image with 16-bit channels, or a 11585×11585 RGBA 8-bit one.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// The default Hamming distance between two [`perceptual_hash`]es for a near-duplicate pair.
///
/// Re-encoding (JPEG quality 50 and up, lossless formats) and resizing move a 64-bit pHash by
/// 0–4 bits in practice (the tests' scenes: 0–2); trimming 1.5% off each side moves it by 2–6.
/// Two unrelated pictures are about 32 ± 4 bits apart (the tests' scenes: 22–40), and at most 6
/// bits of 64 happens for independent hashes with a probability of 4.5·10⁻¹² per pair (≈ 2
/// false pairs among a million random hashes). 6 leaves a margin over those edits while staying
/// far from chance, and splits the hash into 7 bands of 9–10 bits for the pigeonhole search.
/// (Hashes split at the median nearly always have 32 bits set, so distances are even: 6 and 7
/// behave alike.) Raise it to 8–10 to also catch crops and heavier edits (a logo, a caption),
/// at the price of more false pairs among similar-looking pictures.
pub const DEFAULT_MAX_DISTANCE: u32 = 6;

/// What a decoded image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub width: u32,
    pub height: u32,
    /// `png`, `jpeg`, `gif`, `bmp`, `webp` or `tiff`.
    pub format: &'static str,
}

/// What an audio file's headers say; values the container does not state are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    /// `wav`, `flac`, `mp3`, `ogg` (Vorbis, FLAC… in Ogg), `opus` or `m4a`.
    pub format: &'static str,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    /// From sample counts where the container has them; for an MP3 without a Xing/Info/VBRI
    /// header, estimated from the first frame's bit rate.
    pub duration_s: Option<f64>,
}

/// Why a media file is unusable. `Display` is a sentence for people; [`MediaProblem::kind`] a
/// short tag for counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaProblem {
    /// Zero bytes.
    Empty,
    /// The data ends early (an interrupted download or copy).
    Truncated(String),
    /// The data is complete as far as we can tell but malformed.
    Corrupt(String),
    /// Not a format we read (or a feature of one that the decoder lacks).
    Unsupported(String),
    /// Refused before decoding: too many pixels or too much memory (a decompression bomb?).
    TooLarge(String),
}

impl MediaProblem {
    /// `empty`, `truncated`, `corrupt`, `unsupported` or `too_large`.
    pub fn kind(&self) -> &'static str {
        match self {
            MediaProblem::Empty => "empty",
            MediaProblem::Truncated(_) => "truncated",
            MediaProblem::Corrupt(_) => "corrupt",
            MediaProblem::Unsupported(_) => "unsupported",
            MediaProblem::TooLarge(_) => "too_large",
        }
    }
}

impl fmt::Display for MediaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaProblem::Empty => f.write_str("empty file"),
            MediaProblem::Truncated(d) => write!(f, "truncated: {d}"),
            MediaProblem::Corrupt(d) => write!(f, "corrupt: {d}"),
            MediaProblem::Unsupported(d) => f.write_str(d),
            MediaProblem::TooLarge(d) => write!(f, "too large: {d}"),
        }
    }
}

impl std::error::Error for MediaProblem {}

fn truncated(d: impl Into<String>) -> MediaProblem {
    MediaProblem::Truncated(d.into())
}

fn corrupt(d: impl Into<String>) -> MediaProblem {
    MediaProblem::Corrupt(d.into())
}

// ---------------------------------------------------------------------------------------------
// Byte readers that never panic.

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn be24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(3)?)?;
    Some(u32::from_be_bytes([0, s[0], s[1], s[2]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// A four-character code for messages (`fmt `, `IDAT`…), escaped if not printable.
fn fourcc(b: &[u8]) -> String {
    b.iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Images

fn format_name(format: ImageFormat) -> Result<&'static str, MediaProblem> {
    Ok(match format {
        ImageFormat::Png => "png",
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Gif => "gif",
        ImageFormat::Bmp => "bmp",
        ImageFormat::WebP => "webp",
        ImageFormat::Tiff => "tiff",
        other => {
            return Err(MediaProblem::Unsupported(format!(
                "unsupported image format: {}",
                other.extensions_str().first().unwrap_or(&"unknown")
            )));
        }
    })
}

/// Check that an image decodes completely; its size and format.
///
/// Distinguishes an empty file, an unknown format, truncated data (also when the decoder
/// tolerates it), corrupt data, and images too large to decode safely (more than
/// [`MAX_IMAGE_DIMENSION`] pixels a side or [`MAX_DECODE_BYTES`] of memory).
pub fn check_image(bytes: &[u8]) -> Result<ImageInfo, MediaProblem> {
    decode_checked(bytes, false).map(|(info, _)| info)
}

/// [`check_image`] and [`perceptual_hash`] with one decode.
pub fn check_and_hash_image(bytes: &[u8]) -> Result<(ImageInfo, u64), MediaProblem> {
    let (info, image) = decode_checked(bytes, true)?;
    Ok((info, perceptual_hash_of(&image)))
}

/// The 64-bit pHash of an encoded image (see [`perceptual_hash_of`]). Needs only that the
/// image decodes (within the same limits as [`check_image`]); it does not look for truncation.
pub fn perceptual_hash(bytes: &[u8]) -> Result<u64, MediaProblem> {
    let format = sniff_image(bytes)?;
    let (_, image) = decode(bytes, format, true)?;
    Ok(perceptual_hash_of(&image))
}

fn sniff_image(bytes: &[u8]) -> Result<ImageFormat, MediaProblem> {
    if bytes.is_empty() {
        return Err(MediaProblem::Empty);
    }
    let format = image::guess_format(bytes)
        .map_err(|_| MediaProblem::Unsupported("not an image: unknown format".into()))?;
    format_name(format)?;
    Ok(format)
}

fn decode_checked(bytes: &[u8], orient: bool) -> Result<(ImageInfo, DynamicImage), MediaProblem> {
    let format = sniff_image(bytes)?;
    match format {
        ImageFormat::Png => png_structure(bytes)?,
        ImageFormat::Jpeg => jpeg_structure(bytes)?,
        ImageFormat::Gif => gif_structure(bytes)?,
        ImageFormat::WebP => webp_structure(bytes)?,
        _ => {}
    }
    decode(bytes, format, orient)
}

/// Decode within the limits. `orient`: turn the pixels as the EXIF orientation says (for the
/// hash: what people see); `ImageInfo` keeps the stored size either way, as `media.rs` does.
fn decode(
    bytes: &[u8],
    format: ImageFormat,
    orient: bool,
) -> Result<(ImageInfo, DynamicImage), MediaProblem> {
    let name = format_name(format)?;
    let upper = name.to_ascii_uppercase();
    let problem = |e: ImageError| decode_problem(&e, &upper);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    // Width and height are checked below, with the numbers in the message; the allocation limit
    // also bounds the decoders' own buffers (PNG, TIFF).
    limits.max_image_width = None;
    limits.max_image_height = None;
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(problem)?;
    let (width, height) = decoder.dimensions();
    if width > MAX_IMAGE_DIMENSION || height > MAX_IMAGE_DIMENSION {
        return Err(MediaProblem::TooLarge(format!(
            "{width}×{height} pixels; at most {MAX_IMAGE_DIMENSION} a side are decoded"
        )));
    }
    if width == 0 || height == 0 {
        return Err(corrupt(format!(
            "the {upper} image is {width}×{height} pixels"
        )));
    }
    let need = decoder.total_bytes();
    if need > MAX_DECODE_BYTES {
        return Err(MediaProblem::TooLarge(format!(
            "{width}×{height} pixels need {} MiB to decode; the limit is {} MiB",
            need.div_ceil(1 << 20),
            MAX_DECODE_BYTES >> 20
        )));
    }
    // A damaged EXIF block is not the image's problem: no turn then.
    let orientation = if orient {
        decoder.orientation().unwrap_or(Orientation::NoTransforms)
    } else {
        Orientation::NoTransforms
    };
    let mut image = DynamicImage::from_decoder(decoder).map_err(problem)?;
    image.apply_orientation(orientation);
    let info = ImageInfo {
        width,
        height,
        format: name,
    };
    Ok((info, image))
}

fn decode_problem(e: &ImageError, upper: &str) -> MediaProblem {
    match e {
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            truncated(format!("the {upper} data ends early"))
        }
        ImageError::Limits(l) => match l.kind() {
            image::error::LimitErrorKind::DimensionError => {
                MediaProblem::TooLarge(format!("more than {MAX_IMAGE_DIMENSION} pixels a side"))
            }
            image::error::LimitErrorKind::InsufficientMemory => MediaProblem::TooLarge(format!(
                "decoding needs more than {} MiB",
                MAX_DECODE_BYTES >> 20
            )),
            _ => MediaProblem::TooLarge(l.to_string()),
        },
        ImageError::Unsupported(u) => {
            MediaProblem::Unsupported(format!("unsupported {upper} variant: {u}"))
        }
        other => {
            let text = other.to_string();
            let lower = text.to_ascii_lowercase();
            if lower.contains("eof")
                || lower.contains("end of file")
                || lower.contains("unexpected end")
                || lower.contains("no more data")
            {
                truncated(format!("the {upper} data ends early ({text})"))
            } else {
                corrupt(format!("{upper}: {text}"))
            }
        }
    }
}

/// PNG: walk the chunks (lengths and types only) up to `IEND`.
fn png_structure(b: &[u8]) -> Result<(), MediaProblem> {
    let end = || truncated("the PNG data ends early (no IEND chunk)");
    let mut pos = 8usize;
    let mut first = true;
    loop {
        let (Some(len), Some(ty)) = (be32(b, pos), b.get(pos + 4..pos + 8)) else {
            return Err(end());
        };
        if !ty.iter().all(u8::is_ascii_alphabetic) || len > 0x7FFF_FFFF {
            return Err(corrupt(format!(
                "PNG: a damaged chunk header at byte {pos}"
            )));
        }
        if first && (ty != b"IHDR" || len != 13) {
            return Err(corrupt("PNG: the first chunk is not a valid IHDR"));
        }
        first = false;
        let next = pos + 12 + len as usize;
        if next > b.len() {
            return Err(truncated(format!(
                "the PNG data ends early (inside the `{}` chunk at byte {pos})",
                fourcc(ty)
            )));
        }
        if ty == b"IEND" {
            return Ok(());
        }
        pos = next;
    }
}

/// JPEG: walk the marker segments and entropy-coded data up to the EOI marker (`FF D9`). The
/// walk skips APPn segments by length, so EXIF thumbnails (with their own EOI) and data appended
/// after the image's EOI do not confuse it.
fn jpeg_structure(b: &[u8]) -> Result<(), MediaProblem> {
    let end = || truncated("the JPEG data ends early (no end-of-image marker)");
    if b.get(2) != Some(&0xFF) {
        return Err(corrupt("JPEG: no marker after the start-of-image"));
    }
    let mut pos = 2usize;
    loop {
        // Find the next marker (tolerating stray bytes and fill bytes).
        while b.get(pos).ok_or_else(end)? != &0xFF {
            pos += 1;
        }
        while b.get(pos + 1).ok_or_else(end)? == &0xFF {
            pos += 1;
        }
        let marker = b[pos + 1];
        match marker {
            0xD9 => return Ok(()),
            0x00 | 0x01 | 0xD0..=0xD8 => pos += 2,
            0x02..=0xBF => {
                return Err(corrupt(format!(
                    "JPEG: an invalid marker FF {marker:02X} at byte {pos}"
                )));
            }
            _ => {
                let len = usize::from(be16(b, pos + 2).ok_or_else(end)?);
                if len < 2 {
                    return Err(corrupt(format!(
                        "JPEG: a segment with an invalid length at byte {pos}"
                    )));
                }
                pos += 2 + len;
                if pos > b.len() {
                    return Err(end());
                }
                if marker == 0xDA {
                    // Entropy-coded data: FF is followed by 00 (a stuffed byte) or a restart
                    // marker; anything else is the next marker.
                    loop {
                        let ff = b
                            .get(pos..)
                            .and_then(|rest| rest.iter().position(|&c| c == 0xFF))
                            .ok_or_else(end)?;
                        pos += ff;
                        match b.get(pos + 1).ok_or_else(end)? {
                            0x00 | 0xD0..=0xD7 => pos += 2,
                            0xFF => pos += 1,
                            _ => break,
                        }
                    }
                }
            }
        }
    }
}

/// GIF: walk the blocks up to the trailer (`0x3B`).
fn gif_structure(b: &[u8]) -> Result<(), MediaProblem> {
    let end = || truncated("the GIF data ends early (no trailer)");
    let table = |flags: u8| {
        if flags & 0x80 != 0 {
            3usize << ((flags & 7) + 1)
        } else {
            0
        }
    };
    let skip_sub_blocks = |mut pos: usize| -> Result<usize, MediaProblem> {
        loop {
            let n = usize::from(*b.get(pos).ok_or_else(end)?);
            pos += 1 + n;
            if n == 0 {
                return Ok(pos);
            }
        }
    };
    let mut pos = 13 + table(*b.get(10).ok_or_else(end)?);
    loop {
        match b.get(pos).ok_or_else(end)? {
            0x3B => return Ok(()),
            0x21 => pos = skip_sub_blocks(pos + 2)?,
            0x2C => {
                let flags = *b.get(pos + 9).ok_or_else(end)?;
                pos = skip_sub_blocks(pos + 10 + table(flags) + 1)?;
            }
            other => {
                return Err(corrupt(format!(
                    "GIF: an unknown block 0x{other:02X} at byte {pos}"
                )));
            }
        }
    }
}

/// WebP: the RIFF size against the file length.
fn webp_structure(b: &[u8]) -> Result<(), MediaProblem> {
    let size = u64::from(le32(b, 4).unwrap_or(0)) + 8;
    if size > b.len() as u64 {
        return Err(truncated(format!(
            "the WebP data ends early ({} of {size} bytes)",
            b.len()
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Perceptual hash

/// `round(16384 · cos(kπ/64))` for k = 0..=32: a quarter period of the DCT basis, in integers so
/// that the hash is the same on every platform (no `cos` from the system's math library).
const COS_Q14: [i64; 33] = [
    16_384, 16_364, 16_305, 16_207, 16_069, 15_893, 15_679, 15_426, 15_137, 14_811, 14_449, 14_053,
    13_623, 13_160, 12_665, 12_140, 11_585, 11_003, 10_394, 9_760, 9_102, 8_423, 7_723, 7_005,
    6_270, 5_520, 4_756, 3_981, 3_196, 2_404, 1_606, 804, 0,
];

/// The DCT-II basis of frequencies 1..=8 over 32 samples: `BASIS[u][x] = cos((2x+1)(u+1)π/64)`,
/// scaled by 2¹⁴.
const BASIS: [[i64; 32]; 8] = {
    let mut t = [[0i64; 32]; 8];
    let mut u = 0;
    while u < 8 {
        let mut x = 0;
        while x < 32 {
            let a = ((2 * x + 1) * (u + 1)) % 128;
            t[u][x] = if a <= 32 {
                COS_Q14[a]
            } else if a <= 64 {
                -COS_Q14[64 - a]
            } else if a <= 96 {
                -COS_Q14[a - 64]
            } else {
                COS_Q14[128 - a]
            };
            x += 1;
        }
        u += 1;
    }
    t
};

/// The 64-bit pHash of a decoded image.
///
/// pHash rather than dHash: it keeps the low-frequency structure of the whole picture, so it
/// survives re-encoding, resizing, small shifts and gamma changes better than dHash's signs of
/// neighbouring-pixel differences, which flip on flat areas and noise.
///
/// 1. Luma (integer sRGB weights, alpha ignored); [`perceptual_hash`] and
///    [`check_and_hash_image`] first turn the image as its EXIF orientation says.
/// 2. Area average (box filter) down to 32×32, in integers with 8 fractional bits: every source
///    pixel counts once, so no aliasing when shrinking a large image; a side under 32 pixels is
///    repeated (nearest).
/// 3. 2-D DCT-II, kept only for frequencies 1..=8 on each axis (the 8×8 block next to the DC
///    term, as in the reference pHash; row and column 0 are left out with DC, since they hold
///    the overall brightness gradient), with an integer basis and exact `i64` sums.
/// 4. Bit `63 − (8·(v−1) + (u−1))` (v vertical, u horizontal frequency) is set when the
///    coefficient is above the median of the 64.
///
/// Every step is integer arithmetic in a fixed order, so the hash of given pixels is the same on
/// every platform. A flat image hashes to 0.
pub fn perceptual_hash_of(image: &DynamicImage) -> u64 {
    let luma = image.to_luma8();
    let (w, h) = luma.dimensions();
    if w == 0 || h == 0 {
        return 0;
    }
    let (w, h) = (w as usize, h as usize);
    let px = luma.as_raw();
    // Source ranges per output cell: [a, b), partitions when the side is >= 32.
    let ranges = |n: usize| -> [(usize, usize); 32] {
        std::array::from_fn(|c| {
            let a = c * n / 32;
            (a, ((c + 1) * n / 32).max(a + 1))
        })
    };
    let (xr, yr) = (ranges(w), ranges(h));
    let mut cells = [[0i64; 32]; 32];
    for (row, &(y0, y1)) in cells.iter_mut().zip(&yr) {
        for (cell, &(x0, x1)) in row.iter_mut().zip(&xr) {
            let mut sum = 0u64;
            for y in y0..y1 {
                sum += px[y * w + x0..y * w + x1]
                    .iter()
                    .map(|&p| u64::from(p))
                    .sum::<u64>();
            }
            let count = ((y1 - y0) * (x1 - x0)) as u64;
            *cell = ((sum * 256 + count / 2) / count) as i64;
        }
    }
    // Rows: r[y][u] = Σx BASIS[u][x]·p[y][x]; then columns: f[v][u] = Σy BASIS[v][y]·r[y][u].
    // |p| < 2¹⁶, |basis| ≤ 2¹⁴: |r| < 2³⁵, |f| < 2⁵⁴; no overflow.
    let mut r = [[0i64; 8]; 32];
    for (ry, py) in r.iter_mut().zip(&cells) {
        for (ru, basis) in ry.iter_mut().zip(&BASIS) {
            *ru = basis.iter().zip(py).map(|(c, p)| c * p).sum();
        }
    }
    let mut coeffs = [0i64; 64];
    for (v, basis) in BASIS.iter().enumerate() {
        for u in 0..8 {
            coeffs[v * 8 + u] = basis.iter().zip(&r).map(|(c, ry)| c * ry[u]).sum();
        }
    }
    let mut sorted = coeffs;
    sorted.sort_unstable();
    let twice_median = sorted[31] + sorted[32];
    coeffs.iter().fold(0u64, |hash, &c| {
        (hash << 1) | u64::from(2 * c > twice_median)
    })
}

/// The number of differing bits.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Pairs of rows whose hashes are at most `max_distance` bits apart: `(smaller id, larger id,
/// distance)`, sorted, without repeats. `hashes` holds `(row id, hash)`; ids should be distinct.
///
/// Pigeonhole search: split the 64 bits into `max_distance + 1` bands; two hashes within the
/// distance agree exactly on at least one band. Rows are sorted by each band's value, only rows
/// sharing a value are compared, and a pair is kept in the first band it shares. On spread-out
/// hashes this costs about `(d+1) · n²/2^(64/(d+1))` comparisons (n = 10⁶, d = 6: ~7·10⁹ cheap
/// XOR/popcounts, seconds) instead of n²/2. Many identical hashes (blank images) still make a
/// quadratic number of pairs, as they must. Above 15 (bands under 4 bits) it compares all pairs.
pub fn near_duplicate_images(hashes: &[(u64, u64)], max_distance: u32) -> Vec<(u64, u64, u32)> {
    let mut out = Vec::new();
    let mut push = |(ia, ha): (u64, u64), (ib, hb): (u64, u64)| {
        let d = hamming(ha, hb);
        if d <= max_distance {
            out.push((ia.min(ib), ia.max(ib), d));
        }
    };
    if max_distance >= 16 || hashes.len() < 32 {
        for (i, &a) in hashes.iter().enumerate() {
            for &b in &hashes[i + 1..] {
                push(a, b);
            }
        }
    } else {
        let k = max_distance + 1;
        // Band i covers bits [start, start + width); the first 64 % k bands are one bit wider.
        let bands: Vec<(u32, u64)> = (0..k)
            .scan(0u32, |start, i| {
                let width = 64 / k + u32::from(i < 64 % k);
                let band = (*start, u64::MAX >> (64 - width));
                *start += width;
                Some(band)
            })
            .collect();
        let band_of = |h: u64, (shift, mask): (u32, u64)| (h >> shift) & mask;
        let mut order: Vec<(u64, usize)> = Vec::with_capacity(hashes.len());
        for (bi, &band) in bands.iter().enumerate() {
            order.clear();
            order.extend(
                hashes
                    .iter()
                    .enumerate()
                    .map(|(i, &(_, h))| (band_of(h, band), i)),
            );
            order.sort_unstable();
            for run in order.chunk_by(|a, b| a.0 == b.0) {
                for (x, &(_, i)) in run.iter().enumerate() {
                    for &(_, j) in &run[x + 1..] {
                        let (a, b) = (hashes[i], hashes[j]);
                        let diff = a.1 ^ b.1;
                        // Found already in an earlier shared band?
                        if bands[..bi].iter().any(|&e| band_of(diff, e) == 0) {
                            continue;
                        }
                        push(a, b);
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

// ---------------------------------------------------------------------------------------------
// Audio

/// Check an audio file's container: recognized format, consistent sizes, headers present.
/// `name_hint` (a file name or path) only words the problem when the content is not
/// recognized: a `.wav` without a RIFF header is corrupt, an unknown extension unsupported.
pub fn check_audio(bytes: &[u8], name_hint: &str) -> Result<AudioInfo, MediaProblem> {
    if bytes.is_empty() {
        return Err(MediaProblem::Empty);
    }
    let head = |at: usize, magic: &[u8]| bytes.get(at..at + magic.len()) == Some(magic);
    if (head(0, b"RIFF") || head(0, b"RF64")) && head(8, b"WAVE") {
        return check_wav(bytes);
    }
    if head(0, b"OggS") {
        return check_ogg(bytes);
    }
    if head(4, b"ftyp") {
        return check_mp4(bytes);
    }
    let id3 = id3v2_len(bytes)?;
    if bytes.get(id3..id3 + 4) == Some(b"fLaC") {
        return check_flac(bytes, id3);
    }
    if let Some(result) = check_mp3(bytes, id3) {
        return result;
    }
    let ext = name_hint
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let expected = match ext.as_str() {
        "wav" | "wave" => Some("WAV file: no RIFF/WAVE header"),
        "flac" => Some("FLAC file: no `fLaC` header"),
        "mp3" => Some("MP3 file: no ID3 tag or MPEG audio frame at the start"),
        "ogg" | "oga" | "opus" => Some("Ogg file: no `OggS` page at the start"),
        "m4a" | "mp4" | "aac" => Some("M4A file: no `ftyp` box at the start"),
        _ => None,
    };
    Err(match expected {
        Some(what) => corrupt(format!("not a valid {what}")),
        None => MediaProblem::Unsupported("not a recognized audio format".into()),
    })
}

struct WavFmt {
    channels: u16,
    rate: u32,
    byte_rate: u32,
}

/// WAV and RF64: every chunk inside the file, `fmt ` before `data`, the RIFF size not past the
/// end (a size of 0 or 0xFFFFFFFF means "unknown", as streaming writers leave it).
fn check_wav(b: &[u8]) -> Result<AudioInfo, MediaProblem> {
    let len = b.len();
    let rf64 = b.starts_with(b"RF64");
    let riff_size = le32(b, 4).unwrap_or(0);
    let mut riff_end = match riff_size {
        0 | 0xFFFF_FFFF => None,
        n => Some(u64::from(n) + 8),
    };
    let mut rf64_data = None;
    if rf64 {
        if b.get(12..16) != Some(b"ds64") {
            return Err(corrupt("an RF64 file without a ds64 chunk"));
        }
        let (Some(riff), Some(data)) = (le64(b, 20), le64(b, 28)) else {
            return Err(truncated("the RF64 ds64 chunk is cut off"));
        };
        riff_end = Some(riff.saturating_add(8));
        rf64_data = Some(data);
    }
    let end = riff_end.map_or(len, |e| e.min(len as u64) as usize);
    let (mut fmt, mut data) = (None, None);
    let mut pos = 12usize;
    while pos + 8 <= end {
        let id = &b[pos..pos + 4];
        let size = le32(b, pos + 4).unwrap_or(0);
        let body = pos + 8;
        let available = (len - body) as u64;
        let size = match (id, size) {
            (b"data", 0xFFFF_FFFF) => rf64_data.unwrap_or(available),
            (b"data", 0) if riff_end.is_none() => available,
            (_, n) => u64::from(n),
        };
        if size > available {
            return Err(truncated(if id == b"data" {
                format!("the WAV data chunk holds {available} of its {size} bytes")
            } else {
                format!(
                    "the WAV `{}` chunk runs past the end of the file",
                    fourcc(id)
                )
            }));
        }
        if id == b"fmt " {
            let (Some(channels), Some(rate), Some(byte_rate)) =
                (le16(b, body + 2), le32(b, body + 4), le32(b, body + 8))
            else {
                return Err(corrupt("the WAV fmt chunk is too short"));
            };
            if size < 16 {
                return Err(corrupt("the WAV fmt chunk is too short"));
            }
            if channels == 0 || rate == 0 {
                return Err(corrupt(format!(
                    "the WAV fmt chunk says {channels} channels at {rate} Hz"
                )));
            }
            fmt = Some(WavFmt {
                channels,
                rate,
                byte_rate,
            });
        } else if id == b"data" {
            if fmt.is_none() {
                return Err(corrupt("the WAV data chunk comes before the fmt chunk"));
            }
            data.get_or_insert(size);
        }
        // usize holds `size` here: it is at most the bytes available.
        pos = body + size as usize + (size & 1) as usize;
    }
    if pos < end && pos + 8 > len {
        return Err(truncated("a WAV chunk header is cut off"));
    }
    if let Some(e) = riff_end.filter(|&e| e > len as u64) {
        return Err(truncated(format!(
            "the RIFF header declares {e} bytes, the file has {len}"
        )));
    }
    let Some(fmt) = fmt else {
        return Err(corrupt("a WAV file without a fmt chunk"));
    };
    let Some(data) = data else {
        return Err(corrupt("a WAV file without a data chunk"));
    };
    Ok(AudioInfo {
        format: "wav",
        sample_rate: Some(fmt.rate),
        channels: Some(fmt.channels),
        duration_s: (fmt.byte_rate > 0).then(|| data as f64 / f64::from(fmt.byte_rate)),
    })
}

/// The length of an ID3v2 tag at the start (0 if none).
fn id3v2_len(b: &[u8]) -> Result<usize, MediaProblem> {
    if !b.starts_with(b"ID3") {
        return Ok(0);
    }
    let Some(h) = b.get(..10) else {
        return Err(truncated("the ID3 tag header is cut off"));
    };
    if h[6..10].iter().any(|&x| x & 0x80 != 0) {
        return Err(corrupt("the ID3 tag has an invalid size"));
    }
    let size = h[6..10]
        .iter()
        .fold(0usize, |s, &x| (s << 7) | usize::from(x));
    let total = 10 + size + if h[5] & 0x10 != 0 { 10 } else { 0 };
    if total > b.len() {
        return Err(truncated("the ID3 tag runs past the end of the file"));
    }
    Ok(total)
}

/// FLAC STREAMINFO fields used here.
struct StreamInfo {
    max_block: u16,
    min_frame: u32,
    rate: u32,
    channels: u16,
    samples: u64,
}

/// Parse the 34-byte STREAMINFO block body.
fn streaminfo(s: &[u8]) -> Option<StreamInfo> {
    let s = s.get(..34)?;
    Some(StreamInfo {
        max_block: be16(s, 2)?,
        min_frame: be24(s, 4)?,
        rate: (u32::from(s[10]) << 12) | (u32::from(s[11]) << 4) | (u32::from(s[12]) >> 4),
        channels: u16::from((s[12] >> 1) & 7) + 1,
        samples: (u64::from(s[13] & 0x0F) << 32) | u64::from(be32(s, 14)?),
    })
}

/// FLAC: STREAMINFO first, every metadata block inside the file, then a frame sync; and the
/// audio at least as long as the declared samples need (frames × the smallest frame size).
fn check_flac(b: &[u8], start: usize) -> Result<AudioInfo, MediaProblem> {
    let mut pos = start + 4;
    let mut info = None;
    loop {
        let Some(&header) = b.get(pos) else {
            return Err(truncated("the FLAC metadata ends early"));
        };
        let Some(size) = be24(b, pos + 1) else {
            return Err(truncated("the FLAC metadata ends early"));
        };
        let (ty, size) = (header & 0x7F, size as usize);
        if info.is_none() {
            if ty != 0 || size != 34 {
                return Err(corrupt("the first FLAC metadata block is not STREAMINFO"));
            }
            info = b.get(pos + 4..pos + 4 + size).and_then(streaminfo);
        } else if ty == 127 {
            return Err(corrupt("an invalid FLAC metadata block type"));
        }
        pos += 4 + size;
        if pos > b.len() {
            return Err(truncated("the FLAC metadata ends early"));
        }
        if header & 0x80 != 0 {
            break;
        }
    }
    let Some(si) = info else {
        return Err(truncated("the FLAC metadata ends early"));
    };
    if si.rate == 0 {
        return Err(corrupt("the FLAC STREAMINFO says 0 Hz"));
    }
    let audio = b.len() - pos;
    if audio == 0 {
        if si.samples > 0 {
            return Err(truncated("the FLAC file has metadata but no audio frames"));
        }
    } else if !(b[pos] == 0xFF && b.get(pos + 1).is_some_and(|&x| x & 0xFE == 0xF8)) {
        return Err(corrupt("no FLAC frame after the metadata"));
    }
    if si.samples > 0 && si.max_block > 0 && si.min_frame > 0 {
        let frames = si.samples.div_ceil(u64::from(si.max_block));
        let need = frames.saturating_mul(u64::from(si.min_frame));
        if (audio as u64) < need {
            let samples = si.samples;
            return Err(truncated(format!(
                "the FLAC stream declares {samples} samples, which take at least {need} bytes; \
                 the file has {audio}"
            )));
        }
    }
    Ok(AudioInfo {
        format: "flac",
        sample_rate: Some(si.rate),
        channels: Some(si.channels),
        duration_s: (si.samples > 0).then(|| si.samples as f64 / f64::from(si.rate)),
    })
}

/// An MPEG audio frame header.
struct MpegFrame {
    rate: u32,
    channels: u16,
    kbps: u32,
    /// Samples per frame.
    samples: u32,
    /// Frame length in bytes (`None` for the free bit rate).
    len: Option<usize>,
    /// Bytes between the header and a Xing/Info tag in the first frame (Layer III).
    side_info: Option<usize>,
}

fn mpeg_frame(b: &[u8], at: usize) -> Option<MpegFrame> {
    const KBPS: [[u32; 15]; 5] = [
        [
            0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ], // V1 L1
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ], // V1 L2
        [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ], // V1 L3
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ], // V2 L1
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160], // V2 L2, L3
    ];
    let h = b.get(at..at + 4)?;
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 0: MPEG 2.5, 1: reserved, 2: MPEG 2, 3: MPEG 1
    let layer = 4 - ((h[1] >> 1) & 3); // 1, 2, 3 (4: reserved)
    let (bitrate, rate) = (usize::from(h[2] >> 4), usize::from((h[2] >> 2) & 3));
    if version == 1 || layer == 4 || bitrate == 15 || rate == 3 {
        return None;
    }
    let v1 = version == 3;
    let table = match (v1, layer) {
        (true, l) => usize::from(l - 1),
        (false, 1) => 3,
        (false, _) => 4,
    };
    let kbps = KBPS[table][bitrate];
    let rate = [44_100, 48_000, 32_000][rate] >> (3 - version).min(2);
    let padding = usize::from((h[2] >> 1) & 1);
    let mono = h[3] >> 6 == 3;
    let samples = match layer {
        1 => 384,
        3 if !v1 => 576,
        _ => 1152,
    };
    let bytes_per_sec = kbps as usize * 1000;
    let len = (kbps > 0).then(|| {
        if layer == 1 {
            (12 * bytes_per_sec / rate as usize + padding) * 4
        } else {
            samples as usize / 8 * bytes_per_sec / rate as usize + padding
        }
    });
    let side_info = (layer == 3).then_some(match (v1, mono) {
        (true, true) | (false, false) => 17,
        (true, false) => 32,
        (false, true) => 9,
    });
    Some(MpegFrame {
        rate,
        channels: if mono { 1 } else { 2 },
        kbps,
        samples,
        len,
        side_info,
    })
}

/// MP3: an MPEG audio frame right after the ID3v2 tag (zero padding allowed) or at the start.
/// Without a tag, a second frame must follow the first, since 11 sync bits alone are weak
/// evidence. `None` when this is not an MP3 at all.
fn check_mp3(b: &[u8], id3: usize) -> Option<Result<AudioInfo, MediaProblem>> {
    let pos = if id3 > 0 {
        id3 + b.get(id3..)?.iter().take_while(|&&x| x == 0).count()
    } else {
        0
    };
    if id3 > 0 && pos >= b.len() {
        return Some(Err(truncated("an ID3 tag without audio after it")));
    }
    let Some(frame) = mpeg_frame(b, pos) else {
        return (id3 > 0).then(|| Err(corrupt("no MPEG audio frame after the ID3 tag")));
    };
    if let Some(len) = frame.len {
        let next = pos + len;
        if next > b.len() {
            return (id3 > 0).then(|| Err(truncated("the first MPEG audio frame is cut off")));
        }
        if id3 == 0 && next < b.len() && mpeg_frame(b, next).is_none() {
            return None;
        }
    } else if id3 == 0 {
        return None;
    }
    // Xing/Info (LAME) or VBRI (Fraunhofer) header in the first frame: frame and byte counts.
    let tag = frame.side_info.map_or(usize::MAX, |s| pos + 4 + s);
    let (mut frames, mut stream_bytes) = (None, None);
    if matches!(b.get(tag..tag + 4), Some(b"Xing" | b"Info")) {
        let flags = be32(b, tag + 4).unwrap_or(0);
        let mut at = tag + 8;
        if flags & 1 != 0 {
            frames = be32(b, at);
            at += 4;
        }
        if flags & 2 != 0 {
            stream_bytes = be32(b, at);
        }
    } else if b.get(pos + 36..pos + 40) == Some(b"VBRI") {
        stream_bytes = be32(b, pos + 46);
        frames = be32(b, pos + 50);
    }
    let id3v1 = if b.len() >= pos + 128 && b[b.len() - 128..].starts_with(b"TAG") {
        128
    } else {
        0
    };
    let audio = b.len() - pos - id3v1;
    if let Some(n) = stream_bytes.filter(|&n| n as usize > audio) {
        return Some(Err(truncated(format!(
            "the MP3 header declares {n} bytes of audio; the file has {audio}"
        ))));
    }
    let duration_s = match frames {
        Some(n) if n > 0 => Some(f64::from(n) * f64::from(frame.samples) / f64::from(frame.rate)),
        _ => (frame.kbps > 0).then(|| audio as f64 * 8.0 / (f64::from(frame.kbps) * 1000.0)),
    };
    Some(Ok(AudioInfo {
        format: "mp3",
        sample_rate: Some(frame.rate),
        channels: Some(frame.channels),
        duration_s,
    }))
}

/// Ogg: every page starts with `OggS` and ends inside the file; the first page's codec header
/// gives rate and channels (Vorbis, Opus, FLAC), the last granule position of the first stream
/// the duration.
fn check_ogg(b: &[u8]) -> Result<AudioInfo, MediaProblem> {
    let mut pos = 0usize;
    let mut page = 0u64;
    let mut stream: Option<(u32, &'static str, Option<u32>, Option<u16>, u64)> = None;
    let mut last_granule = None;
    while pos < b.len() {
        page += 1;
        if b.len() - pos < 27 {
            return Err(truncated(format!("Ogg page {page} is cut off")));
        }
        if &b[pos..pos + 4] != b"OggS" || b[pos + 4] != 0 {
            return Err(corrupt(format!(
                "Ogg page {page} (byte {pos}) does not start with `OggS`"
            )));
        }
        let granule = le64(b, pos + 6).unwrap_or(u64::MAX);
        let serial = le32(b, pos + 14).unwrap_or(0);
        let segments = usize::from(b[pos + 26]);
        let Some(table) = b.get(pos + 27..pos + 27 + segments) else {
            return Err(truncated(format!("Ogg page {page} is cut off")));
        };
        let body = pos + 27 + segments;
        let next = body + table.iter().map(|&s| usize::from(s)).sum::<usize>();
        if next > b.len() {
            return Err(truncated(format!("Ogg page {page} is cut off")));
        }
        let packet = &b[body..next];
        match stream {
            None => {
                stream = Some(if packet.starts_with(b"\x01vorbis") {
                    let rate = le32(packet, 12);
                    let channels = packet.get(11).map(|&c| u16::from(c));
                    (serial, "ogg", rate, channels, 0)
                } else if packet.starts_with(b"OpusHead") {
                    let channels = packet.get(9).map(|&c| u16::from(c));
                    let pre_skip = le16(packet, 10).map_or(0, u64::from);
                    (serial, "opus", Some(48_000), channels, pre_skip)
                } else if packet.starts_with(b"\x7FFLAC") {
                    let si = packet.get(17..).and_then(streaminfo);
                    let rate = si.as_ref().map(|s| s.rate);
                    (serial, "ogg", rate, si.map(|s| s.channels), 0)
                } else {
                    (serial, "ogg", None, None, 0)
                });
            }
            Some((first, ..)) if first == serial && granule != u64::MAX => {
                last_granule = Some(granule);
            }
            Some(_) => {}
        }
        pos = next;
    }
    let Some((_, format, rate, channels, pre_skip)) = stream else {
        return Err(truncated("an Ogg file without pages"));
    };
    let duration_s = match (rate, last_granule) {
        (Some(r), Some(g)) if r > 0 => Some(g.saturating_sub(pre_skip) as f64 / f64::from(r)),
        _ => None,
    };
    Ok(AudioInfo {
        format,
        sample_rate: rate.filter(|&r| r > 0),
        channels,
        duration_s,
    })
}

/// MP4/M4A: every top-level box inside the file and a `moov` box; the duration from `mvhd`.
fn check_mp4(b: &[u8]) -> Result<AudioInfo, MediaProblem> {
    let boxes = |mut pos: usize, end: usize, f: &mut dyn FnMut(&[u8], usize, usize)| {
        while pos < end {
            let (Some(size), Some(ty)) = (be32(b, pos), b.get(pos + 4..pos + 8)) else {
                return Err(truncated("an MP4 box header is cut off"));
            };
            let (header, size) = match size {
                0 => (8, (end - pos) as u64),
                1 => (
                    16,
                    be64(b, pos + 8).ok_or_else(|| truncated("an MP4 box header is cut off"))?,
                ),
                n => (8, u64::from(n)),
            };
            if size < header {
                return Err(corrupt(format!(
                    "the MP4 `{}` box has an invalid size",
                    fourcc(ty)
                )));
            }
            if size > (end - pos) as u64 {
                return Err(truncated(format!(
                    "the MP4 `{}` box runs past the end of the file",
                    fourcc(ty)
                )));
            }
            let next = pos + size as usize;
            f(ty, pos + header as usize, next);
            pos = next;
        }
        Ok(())
    };
    let mut moov = None;
    boxes(0, b.len(), &mut |ty, body, end| {
        if ty == b"moov" {
            moov = Some((body, end));
        }
    })?;
    let Some((body, end)) = moov else {
        return Err(corrupt("an MP4 file without a moov box"));
    };
    let mut mvhd = None;
    boxes(body, end, &mut |ty, body, _| {
        if ty == b"mvhd" {
            mvhd = Some(body);
        }
    })?;
    let duration_s = mvhd.and_then(|m| {
        let (scale, duration) = if b.get(m) == Some(&1) {
            (be32(b, m + 20)?, be64(b, m + 24)?)
        } else {
            (be32(b, m + 12)?, u64::from(be32(b, m + 16)?))
        };
        (scale > 0).then(|| duration as f64 / f64::from(scale))
    });
    Ok(AudioInfo {
        format: "m4a",
        sample_rate: None,
        channels: None,
        duration_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, RgbImage};
    use proptest::prelude::*;

    fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, format).expect("encode");
        buf.into_inner()
    }

    fn jpeg(img: &DynamicImage, quality: u8) -> Vec<u8> {
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
            .encode_image(&img.to_rgb8())
            .expect("encode");
        buf
    }

    /// A gradient with a few shapes placed by `seed`.
    fn scene(seed: u64, w: u32, h: u32) -> DynamicImage {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let shapes: Vec<(f64, f64, f64, [u8; 3], bool)> = (0..4)
            .map(|_| {
                let c = rnd().to_le_bytes();
                (
                    (rnd() % 1000) as f64 / 1000.0,
                    (rnd() % 1000) as f64 / 1000.0,
                    0.1 + (rnd() % 250) as f64 / 1000.0,
                    [c[0], c[1], c[2]],
                    rnd() % 2 == 0,
                )
            })
            .collect();
        let img: RgbImage = ImageBuffer::from_fn(w, h, |x, y| {
            let (fx, fy) = (f64::from(x) / f64::from(w), f64::from(y) / f64::from(h));
            let mut p = Rgb([(fx * 200.0) as u8, (fy * 200.0) as u8, 90]);
            for &(cx, cy, r, color, round) in &shapes {
                let inside = if round {
                    (fx - cx).powi(2) + (fy - cy).powi(2) < r * r
                } else {
                    (fx - cx).abs() < r && (fy - cy).abs() < r / 2.0
                };
                if inside {
                    p = Rgb(color);
                }
            }
            p
        });
        DynamicImage::ImageRgb8(img)
    }

    fn kind(r: Result<ImageInfo, MediaProblem>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        }
    }

    #[test]
    fn valid_images_pass_with_their_size() {
        let img = scene(1, 120, 80);
        for (format, name) in [
            (ImageFormat::Png, "png"),
            (ImageFormat::Jpeg, "jpeg"),
            (ImageFormat::Gif, "gif"),
            (ImageFormat::Bmp, "bmp"),
            (ImageFormat::WebP, "webp"),
            (ImageFormat::Tiff, "tiff"),
        ] {
            let bytes = if format == ImageFormat::Jpeg {
                jpeg(&img, 90)
            } else {
                encode(&img, format)
            };
            assert_eq!(
                check_image(&bytes),
                Ok(ImageInfo {
                    width: 120,
                    height: 80,
                    format: name
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn cut_images_are_truncated() {
        let img = scene(2, 200, 150);
        for (format, bytes) in [
            ("png", encode(&img, ImageFormat::Png)),
            ("jpeg", jpeg(&img, 85)),
            ("gif", encode(&img, ImageFormat::Gif)),
            ("bmp", encode(&img, ImageFormat::Bmp)),
            ("webp", encode(&img, ImageFormat::WebP)),
            ("tiff", encode(&img, ImageFormat::Tiff)),
        ] {
            let half = &bytes[..bytes.len() / 2];
            let r = check_image(half);
            assert_eq!(kind(r.clone()), "truncated", "{format}: {r:?}");
            // A few bytes short is as bad as half.
            let short = &bytes[..bytes.len() - 3];
            assert_eq!(kind(check_image(short)), "truncated", "{format} -3");
        }
        let r = check_image(&encode(&img, ImageFormat::Png)[..1000]);
        assert_eq!(
            r.map_err(|e| e.to_string()),
            Err("truncated: the PNG data ends early (inside the `IDAT` chunk at byte 33)".into())
        );
    }

    #[test]
    fn jpeg_trailers_and_thumbnails_are_fine() {
        let img = scene(3, 64, 64);
        let mut bytes = jpeg(&img, 90);
        // Data after EOI (camera trailers) does not count as truncation.
        bytes.extend_from_slice(b"trailing vendor data");
        assert_eq!(kind(check_image(&bytes)), "ok");
        // An APP1 segment holding a complete JPEG (an EXIF thumbnail) is skipped by length.
        let thumb = jpeg(&scene(4, 8, 8), 50);
        let full = jpeg(&img, 90);
        let mut with_app1 = full[..2].to_vec();
        with_app1.extend_from_slice(&[0xFF, 0xE1]);
        with_app1.extend_from_slice(&u16::try_from(thumb.len() + 2).unwrap().to_be_bytes());
        with_app1.extend_from_slice(&thumb);
        with_app1.extend_from_slice(&full[2..]);
        assert_eq!(kind(check_image(&with_app1)), "ok");
        let cut = &with_app1[..with_app1.len() - 100];
        assert_eq!(kind(check_image(cut)), "truncated");
    }

    #[test]
    fn garbage_is_unsupported_or_corrupt() {
        assert_eq!(check_image(&[]), Err(MediaProblem::Empty));
        assert_eq!(check_image(&[]).unwrap_err().to_string(), "empty file");
        let mut s = 0x1234_5678_9ABC_DEF1u64;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect();
        let r = check_image(&random);
        assert_eq!(kind(r.clone()), "unsupported");
        assert_eq!(r.unwrap_err().to_string(), "not an image: unknown format");
        for magic in [&b"\x89PNG\r\n\x1a\n"[..], b"\xFF\xD8\xFF", b"GIF89a"] {
            let mut bytes = magic.to_vec();
            bytes.extend_from_slice(&random);
            assert_eq!(kind(check_image(&bytes)), "corrupt", "{magic:?}");
        }
        // A valid PNG with a damaged IDAT is corrupt, not truncated.
        let mut png = encode(&scene(5, 64, 64), ImageFormat::Png);
        let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
        for b in &mut png[idat + 4..idat + 40] {
            *b ^= 0x5A;
        }
        assert_eq!(kind(check_image(&png)), "corrupt");
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A small PNG whose IHDR claims `w`×`h` (with a valid CRC).
    fn png_claiming(w: u32, h: u32) -> Vec<u8> {
        let mut png = encode(
            &DynamicImage::ImageRgba8(ImageBuffer::new(4, 4)),
            ImageFormat::Png,
        );
        png[16..20].copy_from_slice(&w.to_be_bytes());
        png[20..24].copy_from_slice(&h.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        png
    }

    #[test]
    fn bombs_are_refused_before_decoding() {
        let start = std::time::Instant::now();
        let r = check_image(&png_claiming(100_000, 100_000));
        assert_eq!(kind(r.clone()), "too_large", "{r:?}");
        assert!(r.unwrap_err().to_string().contains("100000×100000"));
        // Within the side limit but 30000×30000 RGBA = 3.4 GiB.
        let r = check_image(&png_claiming(30_000, 30_000));
        assert_eq!(kind(r.clone()), "too_large", "{r:?}");
        assert!(perceptual_hash(&png_claiming(30_000, 30_000)).is_err());
        assert!(start.elapsed().as_secs() < 2, "{:?}", start.elapsed());
    }

    #[test]
    fn dct_basis_matches_cos() {
        for (u, row) in BASIS.iter().enumerate() {
            for (x, &c) in row.iter().enumerate() {
                let exact = 16384.0
                    * (std::f64::consts::PI * (2 * x + 1) as f64 * (u + 1) as f64 / 64.0).cos();
                assert_eq!(c, exact.round() as i64, "u={u} x={x}");
            }
        }
    }

    #[test]
    fn phash_survives_resize_and_reencoding() {
        for seed in 0..8 {
            let img = scene(seed, 256, 256);
            let original = perceptual_hash(&encode(&img, ImageFormat::Png)).unwrap();
            let half = img.resize_exact(128, 128, image::imageops::FilterType::Triangle);
            let small_jpeg = perceptual_hash(&jpeg(&half, 80)).unwrap();
            let d = hamming(original, small_jpeg);
            assert!(d <= DEFAULT_MAX_DISTANCE, "seed {seed}: distance {d}");
            let webp = perceptual_hash(&encode(&img, ImageFormat::WebP)).unwrap();
            assert_eq!(webp, original, "lossless re-encoding keeps the hash");
        }
    }

    #[test]
    fn phash_separates_different_images() {
        let gradient = DynamicImage::ImageRgb8(ImageBuffer::from_fn(256, 256, |x, y| {
            Rgb([x as u8, y as u8, 128])
        }));
        let checker = DynamicImage::ImageRgb8(ImageBuffer::from_fn(256, 256, |x, y| {
            if (x / 32 + y / 32) % 2 == 0 {
                Rgb([255, 255, 255])
            } else {
                Rgb([0, 0, 0])
            }
        }));
        let (g, c) = (perceptual_hash_of(&gradient), perceptual_hash_of(&checker));
        assert!(
            hamming(g, c) > 3 * DEFAULT_MAX_DISTANCE,
            "{}",
            hamming(g, c)
        );
        let hashes: Vec<u64> = (0..12)
            .map(|s| perceptual_hash_of(&scene(s, 256, 256)))
            .collect();
        for (i, &a) in hashes.iter().enumerate() {
            for &b in &hashes[i + 1..] {
                assert!(
                    hamming(a, b) > 2 * DEFAULT_MAX_DISTANCE,
                    "{a:016x} {b:016x}"
                );
            }
        }
        // Flat images hash to 0; tiny images work.
        assert_eq!(
            perceptual_hash_of(&DynamicImage::ImageRgb8(ImageBuffer::new(5, 3))),
            0
        );
        let tiny = scene(1, 7, 5);
        let _ = perceptual_hash_of(&tiny);
        let (info, hash) = check_and_hash_image(&encode(&img_ref(), ImageFormat::Png)).unwrap();
        assert_eq!((info.width, hash), (64, perceptual_hash_of(&img_ref())));
    }

    #[test]
    fn phash_follows_exif_orientation() {
        let img = scene(11, 160, 96);
        let original = perceptual_hash_of(&img);
        // Stored turned a quarter to the left, with orientation 6 ("turn 90° right to show").
        let stored = jpeg(&img.rotate270(), 90);
        let exif: &[u8] =
            b"Exif\0\0MM\0\x2A\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
        let mut with_exif = vec![0xFF, 0xD8, 0xFF, 0xE1];
        with_exif.extend_from_slice(&u16::try_from(exif.len() + 2).unwrap().to_be_bytes());
        with_exif.extend_from_slice(exif);
        with_exif.extend_from_slice(&stored[2..]);
        let (info, hash) = check_and_hash_image(&with_exif).unwrap();
        assert_eq!((info.width, info.height), (96, 160), "stored size");
        assert!(hamming(hash, original) <= 2, "{}", hamming(hash, original));
        assert!(hamming(perceptual_hash(&stored).unwrap(), original) > DEFAULT_MAX_DISTANCE);
    }

    fn img_ref() -> DynamicImage {
        scene(9, 64, 48)
    }

    fn brute_force(hashes: &[(u64, u64)], d: u32) -> Vec<(u64, u64, u32)> {
        let mut out = Vec::new();
        for (i, &(ia, ha)) in hashes.iter().enumerate() {
            for &(ib, hb) in &hashes[i + 1..] {
                if hamming(ha, hb) <= d {
                    out.push((ia.min(ib), ia.max(ib), hamming(ha, hb)));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    proptest! {
        #[test]
        fn near_duplicates_match_brute_force(
            bases in proptest::collection::vec(any::<u64>(), 1..20),
            flips in proptest::collection::vec((0usize..20, any::<u64>(), 0u32..12), 0..300),
            d in 0u32..20,
        ) {
            // Hashes near a few bases (so that pairs exist), with ids in a shuffled order.
            let hashes: Vec<(u64, u64)> = flips
                .iter()
                .enumerate()
                .map(|(i, &(base, bits, n))| {
                    let mut h = bases[base % bases.len()];
                    let mut bits = bits;
                    for _ in 0..n {
                        h ^= 1 << (bits % 64);
                        bits /= 64;
                    }
                    ((i as u64).wrapping_mul(7919) % 1000, h)
                })
                .collect();
            let mut seen = std::collections::BTreeSet::new();
            let hashes: Vec<(u64, u64)> =
                hashes.into_iter().filter(|(id, _)| seen.insert(*id)).collect();
            prop_assert_eq!(near_duplicate_images(&hashes, d), brute_force(&hashes, d));
        }
    }

    #[test]
    fn near_duplicates_at_scale() {
        let mut s = 42u64;
        let mut hashes: Vec<(u64, u64)> = (0..20_000u64)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (i, s)
            })
            .collect();
        // Plant near-duplicates: 100 rows 3 bits away from others.
        for i in 0..100u64 {
            let h = hashes[(i * 97) as usize].1 ^ 0b1001_0001 << (i % 50);
            hashes.push((100_000 + i, h));
        }
        let pairs = near_duplicate_images(&hashes, DEFAULT_MAX_DISTANCE);
        assert_eq!(pairs.len(), 100);
        assert!(
            pairs
                .iter()
                .all(|&(a, b, d)| d == 3 && a == (b - 100_000) * 97)
        );
    }

    // ----- audio

    fn wav(rate: u32, channels: u16, frames: u32) -> Vec<u8> {
        let block = channels * 2;
        let data = frames * u32::from(block);
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        b.extend_from_slice(&block.to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data.to_le_bytes());
        b.resize(b.len() + data as usize, 0);
        b
    }

    fn audio_kind(r: Result<AudioInfo, MediaProblem>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        }
    }

    #[test]
    fn wav_checks() {
        let good = wav(16_000, 2, 8000);
        assert_eq!(
            check_audio(&good, "a.wav"),
            Ok(AudioInfo {
                format: "wav",
                sample_rate: Some(16_000),
                channels: Some(2),
                duration_s: Some(0.5),
            })
        );
        // Trailing bytes after the RIFF chunk are tolerated.
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"junk");
        assert_eq!(audio_kind(check_audio(&trailing, "a.wav")), "ok");
        let cut = &good[..good.len() - 1000];
        let r = check_audio(cut, "a.wav");
        assert_eq!(
            r.map_err(|e| e.to_string()),
            Err("truncated: the WAV data chunk holds 31000 of its 32000 bytes".into())
        );
        assert_eq!(audio_kind(check_audio(&good[..30], "a.wav")), "truncated");
        let mut magic = good.clone();
        magic[..4].copy_from_slice(b"RIFX");
        assert_eq!(audio_kind(check_audio(&magic, "a.wav")), "corrupt");
        assert_eq!(
            check_audio(&magic, "a.bin").unwrap_err().to_string(),
            "not a recognized audio format"
        );
        let mut no_rate = good.clone();
        no_rate[24..28].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(audio_kind(check_audio(&no_rate, "a.wav")), "corrupt");
        // Streaming writers leave the sizes at 0xFFFFFFFF: the data runs to the end.
        let mut streamed = good.clone();
        streamed[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        streamed[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            check_audio(&streamed, "a.wav").unwrap().duration_s,
            Some(0.5)
        );
        assert_eq!(check_audio(&[], "a.wav"), Err(MediaProblem::Empty));
    }

    fn flac(samples: u64, frames_bytes: usize) -> Vec<u8> {
        let mut b = b"fLaC".to_vec();
        b.extend_from_slice(&[0x80, 0, 0, 34]); // last block, STREAMINFO, 34 bytes
        b.extend_from_slice(&4096u16.to_be_bytes());
        b.extend_from_slice(&4096u16.to_be_bytes());
        b.extend_from_slice(&[0, 0, 100]); // min frame 100 bytes
        b.extend_from_slice(&[0, 0x20, 0]); // max frame
        // 44100 Hz (20 bits), 2 channels (3 bits: 1), 16 bits (5 bits: 15), samples (36 bits).
        let rate = 44_100u64;
        let packed: u64 = (rate << 44) | (1 << 41) | (15 << 36) | samples;
        b.extend_from_slice(&packed.to_be_bytes());
        b.extend_from_slice(&[0; 16]); // MD5
        let mut frames = vec![0u8; frames_bytes];
        if frames_bytes >= 2 {
            frames[0] = 0xFF;
            frames[1] = 0xF8;
        }
        b.extend_from_slice(&frames);
        b
    }

    #[test]
    fn flac_checks() {
        let ok = check_audio(&flac(44_100, 11 * 100), "x.flac").unwrap();
        assert_eq!(
            (ok.format, ok.sample_rate, ok.channels, ok.duration_s),
            ("flac", Some(44_100), Some(2), Some(1.0))
        );
        // 11 frames of at least 100 bytes do not fit in 500.
        assert_eq!(
            audio_kind(check_audio(&flac(44_100, 500), "x.flac")),
            "truncated"
        );
        assert_eq!(
            audio_kind(check_audio(&flac(44_100, 0), "x.flac")),
            "truncated"
        );
        assert_eq!(
            audio_kind(check_audio(&flac(44_100, 0)[..20], "x.flac")),
            "truncated"
        );
        let mut bad = flac(44_100, 2000);
        bad[4] = 0x84; // the first block is not STREAMINFO
        assert_eq!(audio_kind(check_audio(&bad, "x.flac")), "corrupt");
    }

    /// MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, stereo: 417-byte frames.
    fn mp3(frames: usize, id3: bool) -> Vec<u8> {
        let mut b = Vec::new();
        if id3 {
            b.extend_from_slice(b"ID3\x04\x00\x00\x00\x00\x00\x14");
            b.resize(b.len() + 20, 0);
        }
        for _ in 0..frames {
            let start = b.len();
            b.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x00]);
            b.resize(start + 417, 0x55);
        }
        b
    }

    #[test]
    fn mp3_checks() {
        let info = check_audio(&mp3(10, true), "s.mp3").unwrap();
        assert_eq!(
            (info.format, info.sample_rate, info.channels),
            ("mp3", Some(44_100), Some(2))
        );
        let d = info.duration_s.unwrap();
        assert!((d - 10.0 * 1152.0 / 44_100.0).abs() < 0.01, "{d}");
        assert_eq!(audio_kind(check_audio(&mp3(10, false), "s.mp3")), "ok");
        assert_eq!(
            audio_kind(check_audio(&mp3(1, true)[..200], "s.mp3")),
            "truncated"
        );
        assert_eq!(audio_kind(check_audio(&mp3(0, true), "s.mp3")), "truncated");
        let mut no_sync = mp3(3, true);
        no_sync[30] = 0x12;
        assert_eq!(audio_kind(check_audio(&no_sync, "s.mp3")), "corrupt");
        // Xing header declaring more bytes than present.
        let mut xing = mp3(4, false);
        xing[36..40].copy_from_slice(b"Xing");
        xing[40..44].copy_from_slice(&3u32.to_be_bytes());
        xing[44..48].copy_from_slice(&100u32.to_be_bytes());
        xing[48..52].copy_from_slice(&100_000u32.to_be_bytes());
        assert_eq!(audio_kind(check_audio(&xing, "s.mp3")), "truncated");
        xing[48..52].copy_from_slice(&(4u32 * 417).to_be_bytes());
        let d = check_audio(&xing, "s.mp3").unwrap().duration_s.unwrap();
        assert!((d - 100.0 * 1152.0 / 44_100.0).abs() < 1e-9);
    }

    fn ogg_page(serial: u32, granule: u64, body: &[u8]) -> Vec<u8> {
        let mut p = b"OggS\0\0".to_vec();
        p.extend_from_slice(&granule.to_le_bytes());
        p.extend_from_slice(&serial.to_le_bytes());
        p.extend_from_slice(&[0; 8]); // sequence, CRC (not checked)
        let mut segs = vec![255u8; body.len() / 255];
        segs.push((body.len() % 255) as u8);
        p.push(segs.len() as u8);
        p.extend_from_slice(&segs);
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn ogg_checks() {
        let mut head = b"OpusHead\x01\x02".to_vec();
        head.extend_from_slice(&312u16.to_le_bytes());
        head.extend_from_slice(&44_100u32.to_le_bytes());
        head.extend_from_slice(&[0, 0, 0]);
        let mut b = ogg_page(7, 0, &head);
        b.extend(ogg_page(7, 0, b"OpusTags"));
        b.extend(ogg_page(7, 48_000 + 312, &[1; 600]));
        let info = check_audio(&b, "v.opus").unwrap();
        assert_eq!(
            info,
            AudioInfo {
                format: "opus",
                sample_rate: Some(48_000),
                channels: Some(2),
                duration_s: Some(1.0)
            }
        );
        assert_eq!(
            audio_kind(check_audio(&b[..b.len() - 10], "v.opus")),
            "truncated"
        );
        let mut bad = b.clone();
        let second = ogg_page(7, 0, &head).len();
        bad[second] = b'X';
        assert_eq!(audio_kind(check_audio(&bad, "v.opus")), "corrupt");
        let mut vorbis = b"\x01vorbis".to_vec();
        vorbis.extend_from_slice(&[0, 0, 0, 0, 1]);
        vorbis.extend_from_slice(&22_050u32.to_le_bytes());
        vorbis.resize(30, 0);
        let mut v = ogg_page(1, 0, &vorbis);
        v.extend(ogg_page(1, 44_100, &[0; 10]));
        let info = check_audio(&v, "v.ogg").unwrap();
        assert_eq!(
            (
                info.format,
                info.sample_rate,
                info.channels,
                info.duration_s
            ),
            ("ogg", Some(22_050), Some(1), Some(2.0))
        );
    }

    fn mp4_box(ty: [u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = u32::try_from(body.len() + 8)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        b.extend_from_slice(&ty);
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn m4a_checks() {
        let mut mvhd = vec![0u8; 100];
        mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
        mvhd[16..20].copy_from_slice(&2500u32.to_be_bytes());
        let mut b = mp4_box(*b"ftyp", b"M4A \0\0\0\0");
        b.extend(mp4_box(*b"moov", &mp4_box(*b"mvhd", &mvhd)));
        b.extend(mp4_box(*b"mdat", &[0; 300]));
        let info = check_audio(&b, "a.m4a").unwrap();
        assert_eq!((info.format, info.duration_s), ("m4a", Some(2.5)));
        assert_eq!(
            audio_kind(check_audio(&b[..b.len() - 1], "a.m4a")),
            "truncated"
        );
        assert_eq!(
            audio_kind(check_audio(&mp4_box(*b"ftyp", b"M4A \0\0\0\0"), "a.m4a")),
            "corrupt"
        );
    }

    #[test]
    fn unknown_audio_is_unsupported() {
        let r = check_audio(b"hello world, not audio", "notes.txt");
        assert_eq!(audio_kind(r), "unsupported");
        let r = check_audio(b"hello world, not audio", "song.mp3");
        assert_eq!(audio_kind(r), "corrupt");
    }

    proptest! {
        #[test]
        fn no_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            prefix in 0usize..9,
        ) {
            let magics: [&[u8]; 9] = [
                b"", b"\x89PNG\r\n\x1a\n", b"\xFF\xD8\xFF", b"GIF89a", b"RIFF\0\0\0\0WEBP",
                b"RIFF\x10\0\0\0WAVE", b"fLaC", b"OggS\0", b"\0\0\0\x10ftyp",
            ];
            let mut b = magics[prefix].to_vec();
            b.extend_from_slice(&bytes);
            let _ = check_image(&b);
            let _ = perceptual_hash(&b);
            let _ = check_audio(&b, "x.wav");
            let mut id3 = b"ID3\x03\0\0\0\0\0\x02\0\0\xFF\xFB".to_vec();
            id3.extend_from_slice(&bytes);
            let _ = check_audio(&id3, "x.mp3");
        }
    }
}
