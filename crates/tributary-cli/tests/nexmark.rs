//! Every query of the Nexmark suite in `examples/nexmark/`: those that run on a stream give the
//! batch answer (`tributary verify`, several epochs); those that cannot yet are refused at start
//! with the operator named, and still run as a batch.

use std::path::PathBuf;
use std::process::Command;

mod support;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tributary")
}

fn job(n: u32) -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join(format!("../../examples/nexmark/q{n}.sql"))
}

/// 20,000 events (400 people, 1,200 auctions, 18,400 bids over 2 s of event time) in epochs of
/// 3,000.
const SETS: [&str; 2] = ["events=20000", "events_per_epoch=3000"];

fn tributary(args: &[&str], sets: &[String]) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for s in SETS
        .iter()
        .map(|s| s.to_string())
        .chain(sets.iter().cloned())
    {
        cmd.arg("--set").arg(s);
    }
    cmd.output().expect("run the tributary binary")
}

fn verify(n: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let work = tmp.path().join("work");
    let o = tributary(
        &[
            "verify",
            job(n).to_str().unwrap(),
            "--workdir",
            work.to_str().unwrap(),
        ],
        &[format!("output={}", out.display())],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "q{n}: {stdout} {stderr}");
    assert_eq!(stdout.trim(), "identical", "q{n}");
    // Identical, and not because both are empty: `q{n}: N rows, batch and stream agree`.
    let rows: u64 = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("q{n}: "))?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("q{n}: no row count in {stderr}"));
    assert!(rows > 0, "q{n} gave no rows");
    // A work folder the user names is kept, with both runs' outputs.
    assert!(
        work.join("batch").is_dir() && work.join("stream").is_dir(),
        "q{n}: --workdir was removed"
    );
}

/// The query is refused as a stream with `operator` named, and its batch answer has rows.
fn refused_as_a_stream(n: u32, operator: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = tributary(
        &[
            "run",
            job(n).to_str().unwrap(),
            "--trigger",
            "available-now",
            "--checkpoint",
            tmp.path().join("ckpt").to_str().unwrap(),
        ],
        &[format!("output={}", out.display())],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "q{n} ran as a stream: update the test and the docs"
    );
    assert!(stderr.contains(operator), "q{n}: {stderr}");
    let batch_out = tmp.path().join("batch");
    let o = tributary(
        &["batch", job(n).to_str().unwrap()],
        &[format!("output={}", batch_out.display())],
    );
    assert!(
        o.status.success(),
        "q{n} as a batch: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let count = support::query_delta(&batch_out, "SELECT count(*) FROM t");
    assert_ne!(count, vec!["0".to_string()], "q{n} as a batch gave no rows");
}

macro_rules! verified {
    ($($name:ident: $n:expr),* $(,)?) => {$(
        #[test]
        fn $name() {
            verify($n);
        }
    )*};
}

verified! {
    q0_pass_through: 0,
    q1_currency_conversion: 1,
    q2_selection: 2,
    q3_local_item_suggestion: 3,
    q4_average_price_per_category: 4,
    q5_hot_items: 5,
    q7_highest_bid: 7,
    q8_monitor_new_users: 8,
    q9_winning_bids: 9,
    q10_log_to_file_system: 10,
    q11_user_sessions: 11,
    q13_bounded_side_input_join: 13,
    q14_calculation: 14,
    q15_bidding_statistics: 15,
    q16_channel_statistics: 16,
    q17_auction_statistics: 17,
    q18_find_last_bid: 18,
    q19_auction_top_ten_price: 19,
    q20_expand_bid_with_auction: 20,
    q21_add_channel_id: 21,
    q22_url_directories: 22,
}

macro_rules! refused {
    ($($name:ident: $n:expr, $operator:expr);* $(;)?) => {$(
        #[test]
        fn $name() {
            refused_as_a_stream($n, $operator);
        }
    )*};
}

refused! {
    q6_window_function_is_refused: 6, "Window functions";
}

/// q12 windows bids by processing time, so a batch and a stream window them differently by
/// design; both count every bid once.
#[test]
fn q12_processing_time_windows_count_every_bid_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (batch, stream) = (tmp.path().join("batch"), tmp.path().join("stream"));
    let o = tributary(
        &["batch", job(12).to_str().unwrap()],
        &[format!("output={}", batch.display())],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = tributary(
        &[
            "run",
            job(12).to_str().unwrap(),
            "--trigger",
            "available-now",
            "--checkpoint",
            tmp.path().join("ckpt").to_str().unwrap(),
        ],
        &[format!("output={}", stream.display())],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for out in [&batch, &stream] {
        assert_eq!(
            support::query_delta(
                out,
                "SELECT sum(bid_count), count(DISTINCT bidder) > 1 FROM t"
            ),
            vec!["18400|true".to_string()],
            "{}",
            out.display()
        );
    }
}
