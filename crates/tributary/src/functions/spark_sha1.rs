//! Spark's `sha1(x)`: the SHA-1 digest (FIPS 180-4) of a binary, or of a string's UTF-8 bytes,
//! as 40 lower-case hexadecimal digits. SHA-1 is broken for security; Spark keeps it for
//! fingerprints and joins with systems that use it, and so does this.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{AsArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The digest of `bytes`.
fn sha1(bytes: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    // The message, a 1 bit, zeros up to 56 bytes mod 64, and its length in bits (big-endian).
    let mut message = bytes.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((bytes.len() as u64).wrapping_mul(8)).to_be_bytes());
    let mut w = [0u32; 80];
    for block in message.chunks_exact(64) {
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i / 20 {
                0 => ((b & c) | (!b & d), 0x5A82_7999),
                1 => (b ^ c ^ d, 0x6ED9_EBA1),
                2 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, x) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn hex(digest: [u8; 20]) -> String {
    digest.iter().fold(String::with_capacity(40), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `sha1(x)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SparkSha1Fn {
    signature: Signature,
}

impl Default for SparkSha1Fn {
    fn default() -> Self {
        SparkSha1Fn {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for SparkSha1Fn {
    fn name(&self) -> &str {
        "sha1"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        use DataType::*;
        match args {
            [Binary | LargeBinary | BinaryView | FixedSizeBinary(_) | Null] => Ok(vec![Binary]),
            [Utf8 | LargeUtf8 | Utf8View] => Ok(vec![Binary]),
            [other] => plan_err!("sha1 takes a binary or a string, not {other}"),
            _ => plan_err!("sha1 takes one argument, got {}", args.len()),
        }
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let values = cast(&args.args[0].to_array(args.number_rows)?, &DataType::Binary)?;
        let out: StringArray = values
            .as_binary::<i32>()
            .iter()
            .map(|v| v.map(|v| hex(sha1(v))))
            .collect();
        super::like_input(scalar, Arc::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql_rows::sql_rows as run;

    #[test]
    fn digests_of_the_standards_test_messages() {
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        // A million 'a's: many blocks.
        assert_eq!(
            hex(sha1(&vec![b'a'; 1_000_000])),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[tokio::test]
    async fn sha1_of_strings_binaries_and_nulls() {
        let got = run("SELECT sha1('Spark'), sha1(CAST('abc' AS BYTEA)), sha1(NULL)")
            .await
            .unwrap();
        assert_eq!(
            got,
            vec!["|85f5955f4b27a9a4c2aab6ffe5d7189fc298b92c|a9993e364706816aba3e25717850c26c9cd0d89d||"]
        );
    }
}
