//! The UI server with a running stateful query: JSON shapes, Prometheus output (parsed by a
//! Prometheus text-format parser), pages and the token.

mod common;
use common::start_query;

#[tokio::test]
async fn the_ui_serves_json_metrics_and_pages_of_a_running_query() {
    let tmp = tempfile::tempdir().unwrap();
    let (_session, ui, q) = start_query(tmp.path(), Some("s3cret")).await;
    let base = format!("http://{}", ui.addr);
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{base}{path}"))
            .header("Authorization", "Bearer s3cret")
            .send()
    };
    // Without the token: refused.
    let denied = http
        .get(format!("{base}/api/queries"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    // The list.
    let list: serde_json::Value = get("/api/queries").await.unwrap().json().await.unwrap();
    let first = &list["queries"][0];
    assert_eq!(first["name"], "visitors");
    assert_eq!(first["id"], q.id());
    assert_eq!(first["runId"], q.run_id());
    assert_eq!(first["state"], "active");
    assert!(first["latestEpoch"].as_u64().unwrap() >= 2);
    for k in [
        "status",
        "inputRowsPerSecond",
        "processedRowsPerSecond",
        "watermark",
        "lastError",
    ] {
        assert!(first.get(k).is_some(), "{k} missing: {first}");
    }
    // One query: progress records with Spark's names, and the plan with its stateful operator.
    let one: serde_json::Value = get(&format!("/api/queries/{}", q.id()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let p = &one["progress"][0];
    for k in [
        "batchId",
        "numInputRows",
        "inputRowsPerSecond",
        "durationMs",
        "eventTime",
        "stateOperators",
        "sources",
        "sink",
    ] {
        assert!(p.get(k).is_some(), "{k} missing: {p}");
    }
    assert!(
        one["plan"]
            .as_str()
            .unwrap()
            .contains("[stateful] Aggregate"),
        "{}",
        one["plan"]
    );
    // Prometheus text, parsed.
    let text = get("/metrics").await.unwrap().text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get("query") == Some("visitors"))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("{name} missing in:\n{text}"))
    };
    assert_eq!(value("tributary_query_active"), 1.0);
    assert!(value("tributary_query_input_rows_total") >= 40.0);
    assert!(value("tributary_query_epochs_total") >= 3.0);
    assert!(value("tributary_query_state_rows") > 0.0);
    assert!(value("tributary_query_watermark_seconds") > 1.7e9);
    // The pages and their assets are served, with nothing from outside.
    for path in [
        "/",
        &format!("/query/{}", q.id()),
        "/assets/app.js",
        "/assets/style.css",
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("https://") && !body.contains("http://"),
            "{path} loads something external"
        );
    }
    q.stop().await.unwrap();
    let after: serde_json::Value = get("/api/queries").await.unwrap().json().await.unwrap();
    assert_eq!(after["queries"][0]["state"], "stopped");
    ui.shutdown();
}
