//! Property tests of the checkpoint protocol: crash anywhere, restart, and the decision is right.

use proptest::prelude::*;
use tributary_checkpoint::{
    codec, recover, retention, CheckpointPaths, CommitRecord, Epoch, Listing, OffsetRecord,
    ProtocolError, QueryIdentity, QueryMetadata, Recovery, SourceOffset,
};

fn identity() -> QueryIdentity {
    QueryIdentity {
        name: Some("q".into()),
        sources: vec!["FileStream[/in]".into()],
        sink: "DeltaSink[/out]".into(),
    }
}

fn meta() -> QueryMetadata {
    QueryMetadata {
        id: "abc".into(),
        identity: identity(),
        conf: Default::default(),
    }
}

/// Simulates the storage side: runs `epochs` full epochs, then crashes after `steps_in_last`
/// steps of the next one (0 = before writing offsets, 1 = offsets written, 2 = committed).
fn simulate(epochs: u64, steps_in_last: u8) -> Listing {
    let mut l = Listing {
        metadata: Some(meta()),
        ..Default::default()
    };
    for e in 0..epochs {
        l.offsets.push(Epoch(e));
        l.commits.push(Epoch(e));
    }
    if steps_in_last >= 1 {
        l.offsets.push(Epoch(epochs));
    }
    if steps_in_last >= 2 {
        l.commits.push(Epoch(epochs));
    }
    l
}

proptest! {
    #[test]
    fn crash_anywhere_resumes_or_reruns(epochs in 0u64..50, step in 0u8..3) {
        let listing = simulate(epochs, step);
        let decision = recover(&identity(), &listing).unwrap();
        match step {
            0 => prop_assert_eq!(decision, Recovery::Resume {
                id: "abc".into(),
                next: Epoch(epochs),
                last_committed: epochs.checked_sub(1).map(Epoch),
            }),
            1 => prop_assert_eq!(decision, Recovery::Rerun {
                id: "abc".into(),
                epoch: Epoch(epochs),
                last_committed: epochs.checked_sub(1).map(Epoch),
            }),
            _ => prop_assert_eq!(decision, Recovery::Resume {
                id: "abc".into(),
                next: Epoch(epochs + 1),
                last_committed: Some(Epoch(epochs)),
            }),
        }
    }

    #[test]
    fn retention_then_crash_still_recovers(epochs in 1u64..60, step in 0u8..3, keep in 1usize..10) {
        let mut listing = simulate(epochs, step);
        let before = recover(&identity(), &listing).unwrap();
        let doomed = retention(&listing, keep);
        listing.offsets.retain(|e| !doomed.contains(&CheckpointPaths::offsets(*e)));
        listing.commits.retain(|e| !doomed.contains(&CheckpointPaths::commits(*e)));
        // The newest offsets and commit always survive, so the decision does not change.
        prop_assert_eq!(recover(&identity(), &listing).unwrap(), before);
        prop_assert!(listing.commits.len() <= keep + 1);
    }

    #[test]
    fn offset_records_round_trip(epoch in 0u64..1_000_000, ts in 0i64..i64::MAX, wm in proptest::option::of(-1_000_000i64..1_000_000), n in 0u64..u64::MAX, files in proptest::collection::vec("[a-z0-9/._-]{1,20}", 0..5)) {
        let record = OffsetRecord {
            epoch: Epoch(epoch),
            timestamp_ms: ts,
            watermark_ms: wm,
            sources: vec![SourceOffset {
                source: "FileStream[/in]".into(),
                start: serde_json::Value::Null,
                end: serde_json::json!({"files": files, "n": n}),
            }],
            arrivals: Vec::new(),
        };
        let bytes = codec::encode(&record);
        prop_assert_eq!(codec::decode::<OffsetRecord>("offsets/x", &bytes).unwrap(), record);
    }

    #[test]
    fn garbage_is_reported_as_damaged(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Err(e) = codec::decode::<CommitRecord>("commits/3", &bytes) {
            let damaged = matches!(e, ProtocolError::Damaged { .. });
            prop_assert!(damaged);
            prop_assert!(e.to_string().contains("commits/3"));
        }
    }
}

#[test]
fn another_query_is_refused() {
    let listing = simulate(3, 0);
    let mut other = identity();
    other.sink = "DeltaSink[/elsewhere]".into();
    let err = recover(&other, &listing).unwrap_err();
    assert!(matches!(err, ProtocolError::OtherQuery { .. }));
    assert!(err.to_string().contains("/elsewhere"), "{err}");
}

#[test]
fn two_uncommitted_epochs_are_inconsistent() {
    let mut listing = simulate(3, 1);
    listing.offsets.push(Epoch(4));
    assert!(matches!(
        recover(&identity(), &listing),
        Err(ProtocolError::Inconsistent { .. })
    ));
}

#[test]
fn a_commit_without_offsets_is_inconsistent() {
    let mut listing = simulate(3, 0);
    listing.commits.push(Epoch(7));
    assert!(matches!(
        recover(&identity(), &listing),
        Err(ProtocolError::Inconsistent { .. })
    ));
}

#[test]
fn logs_without_metadata_are_inconsistent() {
    let mut listing = simulate(2, 0);
    listing.metadata = None;
    assert!(recover(&identity(), &listing).is_err());
    assert_eq!(
        recover(&identity(), &Listing::default()).unwrap(),
        Recovery::Fresh
    );
}

#[test]
fn epoch_names_parse() {
    assert_eq!(CheckpointPaths::epoch_of("offsets/12"), Some(Epoch(12)));
    assert_eq!(CheckpointPaths::epoch_of("offsets/.12.tmp"), None);
    assert_eq!(CheckpointPaths::epoch_of("commits/"), None);
}
