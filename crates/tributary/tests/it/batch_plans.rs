//! The shape of batch plans: a join builds its hash table on the small side.

use tributary::prelude::*;

use crate::common::*;

fn shown(plan: &std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> String {
    datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string()
}

/// The first scan under the plan's hash join: its build side.
fn build_side(plan: &str) -> &str {
    let join = plan.find("HashJoinExec").expect("a hash join");
    let rest = &plan[join..];
    let scan = rest.find("SizedScanExec").expect("a scan under the join");
    let line_end = rest[scan..].find('\n').map_or(rest.len(), |e| scan + e);
    &rest[scan..line_end]
}

#[tokio::test]
async fn a_batch_join_builds_on_the_small_dimension_whichever_side_the_query_names_first() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    for i in 0..4 {
        write_events(&input, &format!("{i}.json"), i * 5_000, 5_000);
    }
    let csv = regions_csv(&tmp.path().join("dim"));
    let session = Session::new();
    let events = session
        .read()
        .schema(event_schema())
        .json(input.to_str().unwrap())
        .await
        .unwrap();
    session.register("events", events).unwrap();
    let regions = session.read().csv(csv.to_str().unwrap()).await.unwrap();
    session.register("regions", regions).unwrap();
    let mut answers = Vec::new();
    for sql in [
        "SELECT e.id, r.country FROM events e LEFT JOIN regions r ON lower(e.region) = r.region",
        "SELECT e.id, r.country FROM regions r RIGHT JOIN events e ON lower(e.region) = r.region",
        "SELECT e.id, r.country FROM events e JOIN regions r ON lower(e.region) = r.region",
    ] {
        let df = session.sql(sql).await.unwrap();
        let plan = shown(&df.clone().create_physical_plan().await.unwrap());
        let build = build_side(&plan);
        // The dimension is a few dozen bytes, the events about a megabyte.
        assert!(
            build.contains("bytes") && !build.contains("about 0 bytes"),
            "{plan}"
        );
        let bytes: usize = build
            .split("about ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{plan}"));
        assert!(
            bytes < 1_000,
            "the build side is the dimension, not the events:\n{plan}"
        );
        answers.push(sorted_rows(&df.collect().await.unwrap(), "|"));
    }
    // Left and right outer joins keep every event (mars has no country); the inner join drops
    // the events of unknown regions.
    assert_eq!(answers[0].len(), 20_000);
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[2].len(), 16_000);
}
