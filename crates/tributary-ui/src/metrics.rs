//! `/metrics`: Prometheus' text exposition format.

use std::fmt::Write;

use crate::store::QueryRecord;

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn parse_ms(iso: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(iso)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

struct Family<'a> {
    name: &'a str,
    help: &'a str,
    kind: &'a str,
    samples: Vec<(String, f64)>,
}

/// The metrics of every query.
pub fn render(queries: &[QueryRecord]) -> String {
    let mut families = vec![
        Family {
            name: "tributary_query_active",
            help: "1 while the query runs.",
            kind: "gauge",
            samples: vec![],
        },
        Family {
            name: "tributary_query_epochs_total",
            help: "Epochs committed by this run.",
            kind: "counter",
            samples: vec![],
        },
        Family {
            name: "tributary_query_input_rows_total",
            help: "Rows read by this run.",
            kind: "counter",
            samples: vec![],
        },
        Family {
            name: "tributary_query_output_rows_total",
            help: "Rows given to the sink by this run.",
            kind: "counter",
            samples: vec![],
        },
        Family {
            name: "tributary_query_bad_records_total",
            help: "Bad input records routed aside by this run.",
            kind: "counter",
            samples: vec![],
        },
        Family {
            name: "tributary_query_rows_dropped_by_watermark_total",
            help: "Rows behind the watermark dropped by stateful operators.",
            kind: "counter",
            samples: vec![],
        },
        Family {
            name: "tributary_query_input_rows_per_second",
            help: "Input rate of the last epoch.",
            kind: "gauge",
            samples: vec![],
        },
        Family {
            name: "tributary_query_processed_rows_per_second",
            help: "Processing rate of the last epoch.",
            kind: "gauge",
            samples: vec![],
        },
        Family {
            name: "tributary_query_last_epoch",
            help: "Id of the last committed epoch.",
            kind: "gauge",
            samples: vec![],
        },
        Family {
            name: "tributary_query_epoch_duration_seconds",
            help: "Duration of the last epoch.",
            kind: "gauge",
            samples: vec![],
        },
        Family {
            name: "tributary_query_watermark_seconds",
            help: "Event-time watermark (seconds since 1970).",
            kind: "gauge",
            samples: vec![],
        },
        Family {
            name: "tributary_query_state_rows",
            help: "Rows in the state of the stateful operators.",
            kind: "gauge",
            samples: vec![],
        },
        Family {
            name: "tributary_query_row_latency_p99_seconds",
            help: "Real-time mode: p99 latency of the last epoch's rows, from the poll that found them to the sink.",
            kind: "gauge",
            samples: vec![],
        },
        Family {
            name: "tributary_query_state_memory_bytes",
            help: "Memory of the state of the stateful operators.",
            kind: "gauge",
            samples: vec![],
        },
    ];
    for q in queries {
        let labels = format!(
            "query=\"{}\",id=\"{}\"",
            escape(q.name.as_deref().unwrap_or("")),
            escape(&q.id)
        );
        let mut put = |i: usize, v: f64| families[i].samples.push((labels.clone(), v));
        put(0, if q.state == "active" { 1.0 } else { 0.0 });
        put(1, q.totals.epochs as f64);
        put(2, q.totals.input_rows as f64);
        put(3, q.totals.output_rows as f64);
        put(4, q.totals.bad_records as f64);
        put(5, q.totals.rows_dropped_by_watermark as f64);
        if let Some(p) = q.progress.back() {
            put(6, p.input_rows_per_second);
            put(7, p.processed_rows_per_second);
            put(8, p.batch_id as f64);
            put(
                9,
                p.duration_ms.get("triggerExecution").copied().unwrap_or(0) as f64 / 1000.0,
            );
            if let Some(w) = p.event_time.get("watermark").and_then(|w| parse_ms(w)) {
                put(10, w);
            }
            if !p.state_operators.is_empty() {
                let rows: u64 = p
                    .state_operators
                    .iter()
                    .filter_map(|s| s["numRowsTotal"].as_u64())
                    .sum();
                let mem: u64 = p
                    .state_operators
                    .iter()
                    .filter_map(|s| s["memoryUsedBytes"].as_u64())
                    .sum();
                put(11, rows as f64);
                put(13, mem as f64);
            }
            if let Some(p99) = p.real_time.as_ref().and_then(|r| r.latency_ms.get("p99")) {
                put(12, p99 / 1000.0);
            }
        }
    }
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (labels, v) in f.samples {
            let _ = writeln!(out, "{}{{{labels}}} {v}", f.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_convert() {
        assert_eq!(parse_ms("1970-01-01T00:00:01.500Z"), Some(1.5));
        assert_eq!(parse_ms("2026-11-21T00:00:00.000Z"), Some(1_795_219_200.0));
        assert_eq!(parse_ms("end of input"), None);
    }
}
