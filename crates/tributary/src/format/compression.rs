//! Compressed text files, recognised by their extension as Spark (Hadoop's codec factory)
//! recognises them: `events.json.gz` is read as gzip, `rows.csv.zst` as zstd, `.deflate` as
//! zlib (Hadoop's default codec). Unlike Hadoop, the extension matches in any case. Decompression runs
//! where the file's bytes are decoded, so a file that does not decompress goes to the bad
//! records whole, with the reason, and the stream goes on.
//!
//! ```text
//!   listing -> bytes of one file -> [codec by extension: gzip | bzip2 | xz | zstd | zlib] -> decode
//! ```

use std::io::Read;

use bytes::Bytes;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;

/// How a file's bytes are compressed, by the end of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    /// zlib, as Hadoop's `DefaultCodec` and `DeflateCodec` write `.deflate` files.
    Deflate,
}

/// Extensions of Hadoop codecs whose framing Tributary does not read (Spark reads them through
/// Hadoop's native libraries); such a file is refused rather than read as text.
const UNREAD: [(&str, &str); 2] = [(".snappy", "Hadoop's snappy"), (".lz4", "Hadoop's lz4")];

impl Codec {
    /// The codec of a file named `name` (the last extension, any case), `Ok(None)` for a file
    /// that is not compressed; an error naming the fix for a codec that is not read.
    pub(crate) fn of(name: &str) -> Result<Option<Codec>, String> {
        let lower = name.to_ascii_lowercase();
        let codec = [
            (".gz", Codec::Gzip),
            (".gzip", Codec::Gzip),
            (".bz2", Codec::Bzip2),
            (".xz", Codec::Xz),
            (".zst", Codec::Zstd),
            (".zstd", Codec::Zstd),
            (".deflate", Codec::Deflate),
        ]
        .into_iter()
        .find(|(ext, _)| lower.ends_with(ext))
        .map(|(_, c)| c);
        if codec.is_none() {
            if let Some((_, what)) = UNREAD.iter().find(|(ext, _)| lower.ends_with(ext)) {
                return Err(format!(
                    "the file is compressed with {what} codec, which Tributary does not read: \
                     compress text files with gzip (.gz), bzip2 (.bz2), xz (.xz), zstd (.zst) \
                     or zlib (.deflate)"
                ));
            }
        }
        Ok(codec)
    }

    fn reader(self, bytes: Bytes) -> datafusion::error::Result<Box<dyn Read + Send>> {
        let bytes = std::io::Cursor::new(bytes);
        let datafusion = match self {
            Codec::Gzip => FileCompressionType::GZIP,
            Codec::Bzip2 => FileCompressionType::BZIP2,
            Codec::Xz => FileCompressionType::XZ,
            Codec::Zstd => FileCompressionType::ZSTD,
            Codec::Deflate => return Ok(Box::new(flate2::read::ZlibDecoder::new(bytes))),
        };
        datafusion.convert_read(bytes)
    }

    fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Bzip2 => "bzip2",
            Codec::Xz => "xz",
            Codec::Zstd => "zstd",
            Codec::Deflate => "zlib (deflate)",
        }
    }

    /// The whole decompressed content (concatenated members, as `cat a.gz b.gz` makes, read as
    /// one), or why it cannot be read.
    pub(crate) fn decompress(self, bytes: Bytes) -> Result<Bytes, String> {
        let fail = |e: &dyn std::fmt::Display| {
            format!(
                "the file's name says it is {} compressed, but it does not decompress: {e}",
                self.name()
            )
        };
        let mut reader = self.reader(bytes).map_err(|e| fail(&e))?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(|e| fail(&e))?;
        Ok(Bytes::from(out))
    }
}

/// The content of a text file named `name`: decompressed when its extension names a codec.
pub(crate) fn text_content(name: &str, bytes: Bytes) -> Result<Bytes, String> {
    match Codec::of(name)? {
        Some(codec) => codec.decompress(bytes),
        None => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn codecs_are_known_by_the_last_extension_in_any_case() {
        assert_eq!(Codec::of("a/b/events.json.gz"), Ok(Some(Codec::Gzip)));
        assert_eq!(Codec::of("ROWS.CSV.ZST"), Ok(Some(Codec::Zstd)));
        assert_eq!(Codec::of("x.bz2"), Ok(Some(Codec::Bzip2)));
        assert_eq!(Codec::of("x.deflate"), Ok(Some(Codec::Deflate)));
        assert_eq!(Codec::of("x.gz.json"), Ok(None));
        assert_eq!(Codec::of("events.json"), Ok(None));
        let err = Codec::of("part-0.json.snappy").unwrap_err();
        assert!(
            err.contains("snappy") && err.contains("gzip (.gz)"),
            "{err}"
        );
    }

    #[test]
    fn concatenated_gzip_members_read_as_one_text() {
        let mut both = gzip(b"{\"a\":1}\n");
        both.extend(gzip(b"{\"a\":2}\n"));
        let text = text_content("x.json.gz", Bytes::from(both)).unwrap();
        assert_eq!(&text[..], b"{\"a\":1}\n{\"a\":2}\n");
        let plain = text_content("x.json", Bytes::from_static(b"abc")).unwrap();
        assert_eq!(&plain[..], b"abc");
    }

    #[test]
    fn deflate_files_are_zlib_as_hadoop_writes_them() {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"a,b\n").unwrap();
        let text = text_content("x.csv.deflate", Bytes::from(e.finish().unwrap())).unwrap();
        assert_eq!(&text[..], b"a,b\n");
    }

    #[test]
    fn a_file_that_does_not_decompress_says_so() {
        let err = text_content("x.json.gz", Bytes::from_static(b"{\"a\":1}\n")).unwrap_err();
        assert!(
            err.contains("gzip compressed, but it does not decompress"),
            "{err}"
        );
        let mut cut = gzip(&b"{\"a\":1}\n".repeat(1000));
        cut.truncate(cut.len() / 2);
        assert!(text_content("x.json.gz", Bytes::from(cut)).is_err());
    }
}
