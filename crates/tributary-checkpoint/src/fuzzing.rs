//! The bodies of the checkpoint fuzz targets (`fuzz/`, run by `scripts/fuzz.sh`), shared with
//! the test that replays their corpora. Not an API. Any bytes in a checkpoint file are either
//! refused as damaged, naming the file, or read as a record that encodes back to itself; any
//! listing of a checkpoint folder gives a restart decision or an error, never a panic.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{decode, encode};
use crate::{
    recover, retention, CommitRecord, Epoch, Lease, Listing, OffsetRecord, ProtocolError,
    QueryIdentity, QueryMetadata, Recovery,
};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8]) {
    match decode::<T>("offsets/7", data) {
        Ok(record) => {
            let again: T = decode("offsets/7", &encode(&record)).expect("an encoded record reads");
            assert_eq!(again, record, "a record encodes back to itself");
        }
        Err(ProtocolError::Damaged { file, .. }) => assert_eq!(file, "offsets/7"),
        Err(other) => panic!("a damaged file is reported as damaged: {other}"),
    }
}

/// Any bytes as each kind of checkpoint file.
pub fn records(data: &[u8]) {
    round_trip::<OffsetRecord>(data);
    round_trip::<CommitRecord>(data);
    round_trip::<QueryMetadata>(data);
    round_trip::<Lease>(data);
}

/// Any bytes as the listing of a checkpoint folder: the restart decision is consistent with it.
pub fn listing(data: &[u8]) {
    let half = data.len() / 2;
    let epochs =
        |bytes: &[u8]| -> Vec<Epoch> { bytes.iter().map(|b| Epoch(u64::from(*b % 16))).collect() };
    let identity = QueryIdentity {
        name: Some("q".into()),
        sources: vec!["FileStream[/in]".into()],
        sink: "DeltaSink[/out]".into(),
    };
    let metadata = decode::<QueryMetadata>("metadata", data).ok();
    let listing = Listing {
        metadata: metadata.or_else(|| {
            (data.first().is_some_and(|b| b % 2 == 0)).then(|| QueryMetadata {
                id: "id".into(),
                identity: identity.clone(),
                conf: Default::default(),
            })
        }),
        offsets: epochs(&data[..half]),
        commits: epochs(&data[half..]),
    };
    match recover(&identity, &listing) {
        Ok(Recovery::Rerun { epoch, .. }) => {
            assert!(listing.offsets.contains(&epoch) && !listing.commits.contains(&epoch));
        }
        Ok(Recovery::Resume {
            last_committed: Some(c),
            ..
        }) => {
            assert!(listing.commits.contains(&c));
        }
        Ok(_) | Err(_) => {}
    }
    let _ = retention(&listing, 1 + data.len() % 5);
}

/// Run a fuzz target's body over its corpus (`fuzz/corpus/<target>/`, the inputs a fuzzer
/// found worth keeping, and `fuzz/regressions/<target>/`, the inputs of fixed findings), and
/// over `mutations` deterministic mutations of each: the suite's replay of the fuzzers.
/// `from` is any folder inside the repository (a test's `CARGO_MANIFEST_DIR`). Returns how
/// many inputs ran.
pub fn replay(
    from: &std::path::Path,
    target: &str,
    mutations: usize,
    body: &dyn Fn(&[u8]),
) -> usize {
    let repo = from
        .ancestors()
        .find(|d| d.join("fuzz/corpus").is_dir())
        .unwrap_or_else(|| panic!("no fuzz/corpus above {}", from.display()));
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(repo.join("fuzz").join(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            inputs.push(std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())));
        }
    }
    assert!(!inputs.is_empty(), "fuzz/corpus/{target} holds no inputs");
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound.max(1) as u64) as usize
    };
    const TOKENS: &[&[u8]] = &[
        b"\n",
        b"\"",
        b"'",
        b",",
        b"{",
        b"}",
        b"[",
        b"]",
        b"\\",
        b"${v}",
        b"1e400",
        b"-",
        b"\r\n",
        b"\xff",
        b"\xc3",
        b"null",
        b"9223372036854775808",
        b"\0",
        b";",
        b"--",
        b"/*",
    ];
    let mut ran = 0;
    for input in &inputs {
        body(input);
        ran += 1;
        for _ in 0..mutations {
            let mut m = input.clone();
            for _ in 0..1 + next(4) {
                let at = next(m.len() + 1);
                match next(5) {
                    0 if !m.is_empty() => {
                        let i = at.min(m.len() - 1);
                        m[i] ^= 1 << next(8);
                    }
                    1 => m.truncate(at),
                    2 => {
                        let token = TOKENS[next(TOKENS.len())];
                        m.splice(at..at, token.iter().copied());
                    }
                    3 if !m.is_empty() => {
                        let end = (at + next(16)).min(m.len());
                        let piece = m[at.min(end)..end].to_vec();
                        m.splice(at..at, piece);
                    }
                    _ => {
                        let end = (at + next(8)).min(m.len());
                        m.drain(at.min(end)..end);
                    }
                }
            }
            body(&m);
            ran += 1;
        }
    }
    ran
}
