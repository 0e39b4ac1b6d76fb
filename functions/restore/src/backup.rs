//! Reading a backup: which objects a restore can read, their JSON lines back into records (the layout of
//! `core::json::push_record_members`), and an object's lines as they stream in, decompressed on the way.
//! Pure except for [`ObjectLines`], which reads any async byte stream.

use std::borrow::Cow;
use std::io::Write;

use serde::Deserialize;
use tokio::io::AsyncBufReadExt;

use ckafka_dump_sink_cos::store::ObjectReader;

/// How an object's bytes are compressed, by its key's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// What a key holds: JSON lines a restore reads, or something it refuses (naming why) or passes over.
pub fn content_of(key: &str) -> Result<Option<Compression>, String> {
    let (base, compression) = match key {
        k if k.ends_with(".gz") => (&k[..k.len() - 3], Compression::Gzip),
        k if k.ends_with(".zst") => (&k[..k.len() - 4], Compression::Zstd),
        k => (k, Compression::None),
    };
    let refused = |what: &str| {
        Err(format!(
            "`{key}` is {what}; a restore reads JSON-lines backups (content_format=json), which keep each record's key, headers, timestamp and offset"
        ))
    };
    match base.rsplit_once('.').map(|(_, extension)| extension) {
        Some("jsonl") => Ok(Some(compression)),
        Some("txt") => refused("a text backup, which keeps only values"),
        Some("csv") => refused("a CSV backup, which keeps only the columns chosen"),
        Some("parquet") => refused("a Parquet backup, which keeps values as columns, not their bytes"),
        _ => Ok(None),
    }
}

/// A record as the backup kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackedUp {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Epoch ms; `None` for a record Kafka had not dated.
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// In their order, repeated names kept; `None` is a header without a value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl BackedUp {
    /// Key, value and header bytes: what the record weighs in a produce request, near enough.
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
                .sum::<usize>()
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    topic: Cow<'a, str>,
    partition: i32,
    offset: i64,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default, borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    key_encoding: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    value: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    value_encoding: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    headers: Vec<HeaderLine<'a>>,
}

#[derive(Deserialize)]
struct HeaderLine<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(default, borrow)]
    value: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    value_encoding: Option<Cow<'a, str>>,
}

/// Text, or base64 when its `_encoding` member says so.
fn bytes_of(text: &str, encoding: Option<&str>, what: &str) -> Result<Vec<u8>, String> {
    match encoding {
        None => Ok(text.as_bytes().to_vec()),
        Some("base64") => base64_simd::STANDARD
            .decode_to_vec(text)
            .map_err(|e| format!("{what} is not base64: {e}")),
        Some(other) => Err(format!("{what} has an unknown encoding `{other}`")),
    }
}

/// One JSON line of a backup as the record it holds.
pub fn parse_line(line: &[u8]) -> Result<BackedUp, String> {
    let line: Line<'_> = serde_json::from_slice(line).map_err(|e| format!("not a backup line: {e}"))?;
    let value = line
        .value
        .map(|value| bytes_of(&value, line.value_encoding.as_deref(), "value"))
        .transpose()?;
    let key = line
        .key
        .map(|key| bytes_of(&key, line.key_encoding.as_deref(), "key"))
        .transpose()?;
    let headers = line
        .headers
        .into_iter()
        .map(|h| {
            let value = h
                .value
                .map(|value| bytes_of(&value, h.value_encoding.as_deref(), "a header value"))
                .transpose()?;
            Ok((h.key.into_owned(), value))
        })
        .collect::<Result<_, String>>()?;
    Ok(BackedUp {
        topic: line.topic.into_owned(),
        partition: line.partition,
        offset: line.offset,
        timestamp: line.timestamp,
        key,
        value,
        headers,
    })
}

enum Decoder {
    Plain,
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
}

/// An object's lines as its bytes arrive: memory is what one read brings in plus the line being read.
pub struct ObjectLines {
    reader: ObjectReader,
    decoder: Decoder,
    text: Vec<u8>,
    /// Where the next line starts, and how far a newline has been looked for.
    start: usize,
    scanned: usize,
    ended: bool,
    /// Bytes of the object read so far (compressed, as stored).
    pub read_bytes: u64,
    /// When a read that has not answered fails: the invocation's cut-off.
    cutoff: tokio::time::Instant,
}

impl ObjectLines {
    pub fn new(reader: ObjectReader, compression: Compression, cutoff: tokio::time::Instant) -> std::io::Result<Self> {
        let decoder = match compression {
            Compression::None => Decoder::Plain,
            Compression::Gzip => Decoder::Gzip(flate2::write::MultiGzDecoder::new(Vec::new())),
            Compression::Zstd => Decoder::Zstd(zstd::stream::write::Decoder::new(Vec::new())?),
        };
        Ok(ObjectLines {
            reader,
            decoder,
            text: Vec::new(),
            start: 0,
            scanned: 0,
            ended: false,
            read_bytes: 0,
            cutoff,
        })
    }

    /// The next non-empty line, without its newline; `None` at the end.
    pub async fn next_line(&mut self) -> std::io::Result<Option<&[u8]>> {
        let line = loop {
            if let Some(at) = self.text[self.scanned..].iter().position(|&b| b == b'\n') {
                let line = self.start..self.scanned + at;
                self.start = line.end + 1;
                self.scanned = self.start;
                if line.is_empty() {
                    continue;
                }
                break line;
            }
            self.scanned = self.text.len();
            if self.ended {
                if self.start == self.text.len() {
                    return Ok(None);
                }
                let line = self.start..self.text.len();
                self.start = self.text.len();
                break line;
            }
            self.text.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
            self.read_more().await?;
        };
        Ok(Some(&self.text[line]))
    }

    async fn read_more(&mut self) -> std::io::Result<()> {
        let chunk = tokio::time::timeout_at(self.cutoff, self.reader.fill_buf())
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer before the invocation's deadline (its cut-off)",
                )
            })??;
        let n = chunk.len();
        self.read_bytes += n as u64;
        let decompressed = match &mut self.decoder {
            Decoder::Plain => {
                self.text.extend_from_slice(chunk);
                Ok(())
            }
            Decoder::Gzip(gzip) if n == 0 => gzip.try_finish(),
            Decoder::Gzip(gzip) => gzip.write_all(chunk),
            Decoder::Zstd(zstd) if n == 0 => zstd.flush(),
            Decoder::Zstd(zstd) => zstd.write_all(chunk),
        };
        // The object's bytes are at fault, not the connection that brought them.
        decompressed
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("does not decompress: {e}")))?;
        let decoded = match &mut self.decoder {
            Decoder::Plain => None,
            Decoder::Gzip(gzip) => Some(gzip.get_mut()),
            Decoder::Zstd(zstd) => Some(zstd.get_mut()),
        };
        if let Some(decoded) = decoded {
            self.text.extend_from_slice(decoded);
            decoded.clear();
        }
        self.reader.consume(n);
        self.ended = n == 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ckafka_dump_core::json::push_record_members;

    fn lines_of(event: &str) -> Vec<Vec<u8>> {
        let batch = ckafka_dump_core::decode(event).unwrap().into_batch().unwrap();
        batch
            .records()
            .map(|record| {
                let mut line = b"{".to_vec();
                push_record_members(&mut line, &record, record.value);
                line.push(b'}');
                line
            })
            .collect()
    }

    #[test]
    fn a_line_gives_back_every_byte_of_the_record() {
        let event = r#"{"records":{"t-0":[
            {"topic":"t","partition":2,"offset":7,"timestamp":1700000000000,"timestampType":"LOG_APPEND_TIME",
             "key":"/wE=","value":"eyJhIjoxfQ==","headers":[{"h":[97]},{"h":[-1]},{"g":[]}]},
            {"topic":"t","partition":2,"offset":8,"timestamp":1,"timestampType":"CREATE_TIME","key":"","headers":[]},
            {"topic":"t","partition":2,"offset":9,"timestamp":-1,"timestampType":"CREATE_TIME","value":""}]}}"#;
        let lines = lines_of(event);
        let first = parse_line(&lines[0]).unwrap();
        assert_eq!(
            first,
            BackedUp {
                topic: "t".into(),
                partition: 2,
                offset: 7,
                timestamp: Some(1_700_000_000_000),
                key: Some(vec![0xff, 1]),
                value: Some(br#"{"a":1}"#.to_vec()),
                headers: vec![
                    ("h".into(), Some(b"a".to_vec())),
                    ("h".into(), Some(vec![0xff])),
                    ("g".into(), Some(vec![]))
                ],
            }
        );
        let tombstone = parse_line(&lines[1]).unwrap();
        assert_eq!(
            (tombstone.key, tombstone.value),
            (Some(vec![]), None),
            "an empty key, no value"
        );
        let undated = parse_line(&lines[2]).unwrap();
        assert_eq!(
            (undated.timestamp, undated.key, undated.value),
            (None, None, Some(vec![]))
        );
        assert!(parse_line(br#"{"topic":"t","partition":0,"offset":1,"value":{"a":1}}"#).is_err());
        assert!(parse_line(b"plain text").unwrap_err().starts_with("not a backup line"));
        assert!(
            parse_line(br#"{"topic":"t","partition":0,"offset":1,"key":"!","key_encoding":"base64"}"#)
                .unwrap_err()
                .contains("key is not base64")
        );
    }

    #[test]
    fn only_json_lines_are_read_and_text_csv_and_parquet_are_refused_by_name() {
        assert_eq!(
            content_of("a/t+0+0000000000000000001.jsonl"),
            Ok(Some(Compression::None))
        );
        assert_eq!(content_of("a/b.jsonl.gz"), Ok(Some(Compression::Gzip)));
        assert_eq!(content_of("a/b.jsonl.zst"), Ok(Some(Compression::Zstd)));
        assert_eq!(content_of("a/notes.md"), Ok(None));
        for key in ["a/b.txt", "a/b.csv.gz", "a/b.parquet"] {
            let e = content_of(key).unwrap_err();
            assert!(e.contains(key) && e.contains("content_format=json"), "{e}");
        }
    }

    fn far_off() -> tokio::time::Instant {
        tokio::time::Instant::now() + std::time::Duration::from_secs(60)
    }

    async fn read_all(bytes: Vec<u8>, compression: Compression) -> Vec<String> {
        let reader: ObjectReader = Box::new(tokio::io::BufReader::with_capacity(7, std::io::Cursor::new(bytes)));
        let mut lines = ObjectLines::new(reader, compression, far_off()).unwrap();
        let mut all = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            all.push(String::from_utf8(line.to_vec()).unwrap());
        }
        all
    }

    #[tokio::test]
    async fn lines_stream_through_gzip_members_and_zstd_frames() {
        let text = "first\nsecond line\n\nthird";
        assert_eq!(
            read_all(text.into(), Compression::None).await,
            ["first", "second line", "third"]
        );
        let gzip = |s: &str| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(s.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let two_members = [gzip("a\nb"), gzip("c\n")].concat();
        assert_eq!(read_all(two_members, Compression::Gzip).await, ["a", "bc"]);
        let two_frames = [
            zstd::encode_all(&b"x\n"[..], 1).unwrap(),
            zstd::encode_all(&b"y\nz\n"[..], 1).unwrap(),
        ]
        .concat();
        assert_eq!(read_all(two_frames, Compression::Zstd).await, ["x", "y", "z"]);
        let mut cut = gzip("a\nb\n");
        cut.truncate(cut.len() - 6);
        let reader: ObjectReader = Box::new(std::io::Cursor::new(cut));
        let mut lines = ObjectLines::new(reader, Compression::Gzip, far_off()).unwrap();
        let mut failed = false;
        for _ in 0..4 {
            match lines.next_line().await {
                Err(_) => failed = true,
                Ok(None) => break,
                Ok(Some(_)) => {}
            }
        }
        assert!(failed, "a cut gzip object is an error, not a short object");
    }
}
