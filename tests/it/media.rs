//! normalize with `format: imagefolder` / `audiofolder`.

use crate::context::TestContext;

/// A PNG header (signature + IHDR) for a `w`×`h` image: enough for its size to be read.
fn png(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    v.extend(w.to_be_bytes());
    v.extend(h.to_be_bytes());
    v.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    v
}

fn gif(w: u16, h: u16) -> Vec<u8> {
    let mut v = b"GIF89a".to_vec();
    v.extend(w.to_le_bytes());
    v.extend(h.to_le_bytes());
    v.extend([0u8; 8]);
    v
}

/// A WAV file: 16-bit PCM, `rate` Hz, `channels`, `frames` frames of silence.
fn wav(rate: u32, channels: u16, frames: u32) -> Vec<u8> {
    let block = u32::from(channels) * 2;
    let data = frames * block;
    let mut v = b"RIFF".to_vec();
    v.extend((36 + data).to_le_bytes());
    v.extend(b"WAVEfmt ");
    v.extend(16u32.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(channels.to_le_bytes());
    v.extend(rate.to_le_bytes());
    v.extend((rate * block).to_le_bytes());
    v.extend((block as u16).to_le_bytes());
    v.extend(16u16.to_le_bytes());
    v.extend(b"data");
    v.extend(data.to_le_bytes());
    v.extend(vec![0u8; data as usize]);
    v
}

/// A FLAC stream header with STREAMINFO: `rate` Hz, `channels`, `samples` samples.
fn flac(rate: u32, channels: u8, samples: u64) -> Vec<u8> {
    let mut v = b"fLaC".to_vec();
    v.extend([0x80, 0, 0, 34]); // last block, STREAMINFO, 34 bytes
    v.extend([0x10, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0]); // block sizes, frame sizes
    v.push((rate >> 12) as u8);
    v.push((rate >> 4) as u8);
    v.push((((rate & 0xf) as u8) << 4) | ((channels - 1) << 1));
    v.push(((15u8) << 4) | ((samples >> 32) as u8 & 0x0f));
    v.extend(((samples & 0xffff_ffff) as u32).to_be_bytes());
    v.extend([0u8; 16]); // md5
    v
}

fn spec(extra: &str) -> String {
    format!(
        "name: pics\nversion: 1.0.0\nsources:\n  raw: {{uri: data}}\nstages:\n  clean:\n    kind: normalize\n    input: raw\n{extra}"
    )
}

#[test]
fn imagefolder_with_class_folders() {
    let cx = TestContext::new();
    cx.file("data/cat/1.png", png(32, 16))
        .file("data/cat/2.gif", gif(8, 8))
        .file("data/dog/3.png", png(64, 48))
        .file("data/dog/notes.txt", "x");
    cx.spec(&spec("    format: imagefolder\n"));
    let out = cx.run(&["build"]);
    out.success().stderr_has("found 3 images");
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("image:\n          _type: Image"), "{lock}");
    assert!(lock.contains("label:\n          _type: ClassLabel\n          names:\n          - cat\n          - dog"), "{lock}");
    assert!(
        lock.contains("name: width") && lock.contains("type: uint32") && lock.contains("rows: 3"),
        "{lock}"
    );
}

#[test]
fn imagefolder_metadata_missing_files_fail_or_warn() {
    let cx = TestContext::new();
    cx.file("data/a.png", png(10, 10))
        .file("data/b.png", png(20, 10));
    cx.file(
        "data/metadata.csv",
        "file_name,caption,score\na.png,a red square,0.5\nb.png,a wide one,0.75\nc.png,gone,1\n",
    );
    cx.spec(&spec("    format: imagefolder\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("found 2 images, 1 missing: `c.png` is named in metadata but missing")
        .stderr_has("on_error: skip");
    cx.spec(&spec("    format: imagefolder\n    on_error: skip\n"));
    cx.run(&["build"])
        .success()
        .stderr_has("found 2 images, 1 missing");
    let lock = cx.read("dataset.lock");
    assert!(
        lock.contains("name: caption")
            && lock.contains("name: score")
            && lock.contains("type: float64"),
        "{lock}"
    );
    assert!(
        lock.contains("missing: 1") && !lock.contains("name: label"),
        "{lock}"
    );
}

#[test]
fn imagefolder_unreadable_image_and_embedding() {
    let cx = TestContext::new();
    cx.file("data/ok.png", png(4, 4))
        .file("data/bad.png", b"this is not an image");
    cx.spec(&spec("    format: imagefolder\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("`bad.png`: not a recognized image");
    cx.spec(&spec(
        "    format: imagefolder\n    on_error: skip\n    embed_media: true\n",
    ));
    cx.run(&["build"]).success().stderr_has("1 unreadable");
    assert!(cx.read("dataset.lock").contains("embedded: true"));
}

#[test]
fn audiofolder_reads_wav_and_flac_headers() {
    let cx = TestContext::new();
    cx.file("data/speech/a.wav", wav(16_000, 1, 8_000))
        .file("data/music/b.flac", flac(44_100, 2, 88_200));
    cx.spec(&spec("    format: audiofolder\n    sort_by: [duration]\n"));
    cx.run(&["build"])
        .success()
        .stderr_has("found 2 audio files");
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("audio:\n          _type: Audio"), "{lock}");
    assert!(
        lock.contains("name: sample_rate") && lock.contains("name: duration"),
        "{lock}"
    );
    assert!(lock.contains("- music\n          - speech"), "{lock}");
}

/// Rows of a Parquet output as JSON objects.
fn rows(cx: &TestContext, rel: &str) -> Vec<serde_json::Value> {
    let f = std::fs::File::open(cx.path(rel)).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let mut w = arrow::json::ArrayWriter::new(Vec::new());
        w.write(&b).unwrap();
        w.finish().unwrap();
        out.extend(serde_json::from_slice::<Vec<serde_json::Value>>(&w.into_inner()).unwrap());
    }
    out
}

#[test]
fn media_values_are_read_from_headers() {
    let cx = TestContext::new();
    cx.file("data/speech/a.wav", wav(16_000, 1, 8_000))
        .file("data/music/b.flac", flac(44_100, 2, 88_200));
    cx.spec(&spec("    format: audiofolder\n    sort_by: [duration]\n"));
    cx.run(&["build"]).success();
    let r = rows(&cx, "out/pics/clean/part-0.parquet");
    assert_eq!(r[0]["audio"]["path"], "speech/a.wav");
    assert_eq!(
        (
            r[0]["sample_rate"].as_u64(),
            r[0]["channels"].as_u64(),
            r[0]["duration"].as_f64()
        ),
        (Some(16_000), Some(1), Some(0.5))
    );
    assert_eq!(
        (
            r[1]["sample_rate"].as_u64(),
            r[1]["channels"].as_u64(),
            r[1]["duration"].as_f64()
        ),
        (Some(44_100), Some(2), Some(2.0))
    );
    assert_eq!(
        (r[0]["label"].as_i64(), r[1]["label"].as_i64()),
        (Some(1), Some(0)),
        "labels are ids of [music, speech]"
    );

    let cx = TestContext::new();
    cx.file("data/x/1.png", png(32, 16))
        .file("data/x/2.gif", gif(7, 9));
    cx.spec(&spec("    format: imagefolder\n    embed_media: true\n"));
    cx.run(&["build"]).success();
    let r = rows(&cx, "out/pics/clean/part-0.parquet");
    assert_eq!(
        (
            r[0]["width"].as_u64(),
            r[0]["height"].as_u64(),
            r[0]["format"].as_str()
        ),
        (Some(32), Some(16), Some("png"))
    );
    assert_eq!(
        (
            r[1]["width"].as_u64(),
            r[1]["height"].as_u64(),
            r[1]["format"].as_str()
        ),
        (Some(7), Some(9), Some("gif"))
    );
    assert!(
        r[0]["image"]["bytes"].is_string(),
        "embedded bytes: {}",
        r[0]
    );
}
