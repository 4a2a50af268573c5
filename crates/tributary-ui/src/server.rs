//! The HTTP server: pages, JSON endpoints and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Extension, Json, Router};
use serde_json::{json, Value};
use tributary::Session;

use crate::guard::{self, Guard, LinkToken};
use crate::html::{self, encode_query_value};
use crate::listener::{self, Limits};
use crate::metrics;
use crate::store::Monitor;

const INDEX: &str = include_str!("../assets/index.html");
const QUERY: &str = include_str!("../assets/query.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/style.css");

#[derive(Clone)]
struct Ctx {
    session: Session,
    monitor: Monitor,
}

/// The summary of one query for the list.
fn summary(ctx: &Ctx, q: &crate::store::QueryRecord) -> Value {
    let last = q.progress.back();
    let status = ctx.session.streams().get(&q.id).map(|s| s.status());
    json!({
        "id": q.id,
        "runId": q.run_id,
        "name": q.name,
        "started": q.started,
        "state": q.state,
        "status": status.map(|s| s.message),
        "latestEpoch": last.map(|p| p.batch_id),
        "inputRowsPerSecond": last.map(|p| p.input_rows_per_second),
        "processedRowsPerSecond": last.map(|p| p.processed_rows_per_second),
        "watermark": last.and_then(|p| p.event_time.get("watermark").cloned()),
        // Real-time mode's epochs say so; the p99 latency of their rows.
        "mode": last.map(|p| if p.real_time.is_some() { "real-time" } else { "micro-batch" }),
        "latencyP99Ms": last
            .and_then(|p| p.real_time.as_ref())
            .and_then(|r| r.latency_ms.get("p99").copied()),
        "lastError": q.last_error,
        "totals": q.totals,
    })
}

/// `?token=<token>` when the page was opened with it, so that its assets and links keep it.
fn token_query(link: &LinkToken) -> String {
    match &link.0 {
        Some(token) => format!("?token={}", encode_query_value(token)),
        None => String::new(),
    }
}

async fn index(Extension(link): Extension<LinkToken>) -> Response {
    Html(html::render(INDEX, &[("token", &token_query(&link))])).into_response()
}

/// The page of one query: its name (or id) is filled in here, escaped; the rest comes from the
/// JSON.
async fn query_page(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    Extension(link): Extension<LinkToken>,
) -> Response {
    let name = ctx.monitor.query(&id).and_then(|q| q.name);
    Html(html::render(
        QUERY,
        &[
            ("title", name.as_deref().unwrap_or(&id)),
            ("id", &id),
            ("token", &token_query(&link)),
        ],
    ))
    .into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such page").into_response()
}

async fn asset_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
        .into_response()
}

async fn asset_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

async fn api_queries(State(ctx): State<Ctx>) -> Response {
    let list: Vec<Value> = ctx
        .monitor
        .queries()
        .iter()
        .map(|q| summary(&ctx, q))
        .collect();
    Json(json!({ "queries": list })).into_response()
}

async fn api_query(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    let Some(q) = ctx.monitor.query(&id) else {
        return (StatusCode::NOT_FOUND, format!("no query with id '{id}'")).into_response();
    };
    let plan = ctx
        .session
        .streams()
        .get(&id)
        .map(|s| s.plan_description())
        .unwrap_or_default();
    let progress: Vec<Value> = q
        .progress
        .iter()
        .map(|p| serde_json::from_str(&p.json()).unwrap_or(Value::Null))
        .collect();
    Json(json!({
        "query": summary(&ctx, &q),
        "plan": plan,
        "progress": progress,
    }))
    .into_response()
}

async fn api_metrics(State(ctx): State<Ctx>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&ctx.monitor.queries()),
    )
        .into_response()
}

/// A running UI server.
#[derive(Debug)]
pub struct UiServer {
    /// The address it listens on (with the port the OS chose for port 0).
    pub addr: SocketAddr,
    /// The monitor feeding it.
    pub monitor: Monitor,
    task: tokio::task::JoinHandle<()>,
}

impl UiServer {
    /// Stop serving, and close every connection.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

/// Serve the UI of `session`'s queries on `addr` (`127.0.0.1:4040`; port 0 picks one), within
/// the default [`Limits`]. With a `token`, every request needs `Authorization: Bearer <token>`
/// (or `?token=` in a browser); without one, only a loopback address answers (see the crate
/// docs). Call it before starting queries so that the UI sees them start.
pub async fn serve(
    session: &Session,
    addr: &str,
    token: Option<String>,
) -> std::io::Result<UiServer> {
    serve_with_limits(session, addr, token, Limits::default()).await
}

/// [`serve`] with other connection limits and timeouts.
pub async fn serve_with_limits(
    session: &Session,
    addr: &str,
    token: Option<String>,
    limits: Limits,
) -> std::io::Result<UiServer> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let monitor = Monitor::default();
    session.streams().add_listener(Arc::new(monitor.clone()));
    let ctx = Ctx {
        session: session.clone(),
        monitor: monitor.clone(),
    };
    let guard = Arc::new(Guard::new(addr, token));
    let app = Router::new()
        .route("/", get(index))
        .route("/query/{id}", get(query_page))
        .route("/assets/app.js", get(asset_js))
        .route("/assets/style.css", get(asset_css))
        .route("/api/queries", get(api_queries))
        .route("/api/queries/{id}", get(api_query))
        .route("/metrics", get(api_metrics))
        .fallback(not_found)
        .with_state(ctx)
        .layer(middleware::from_fn_with_state(guard, guard::guard));
    let task = tokio::spawn(listener::run(listener, app, limits));
    Ok(UiServer {
        addr,
        monitor,
        task,
    })
}
