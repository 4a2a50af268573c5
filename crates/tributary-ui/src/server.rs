//! The HTTP server: pages, JSON endpoints and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tributary::Session;

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
    token: Option<Arc<String>>,
}

#[derive(serde::Deserialize)]
struct TokenParam {
    token: Option<String>,
}

fn authorized(ctx: &Ctx, headers: &HeaderMap, q: &TokenParam) -> bool {
    let Some(want) = &ctx.token else {
        return true;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer == Some(want.as_str()) || q.token.as_deref() == Some(want.as_str())
}

fn denied() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "this UI needs its token: send `Authorization: Bearer <token>` or add ?token=<token>",
    )
        .into_response()
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
        "lastError": q.last_error,
        "totals": q.totals,
    })
}

async fn index(State(ctx): State<Ctx>, h: HeaderMap, Query(t): Query<TokenParam>) -> Response {
    if !authorized(&ctx, &h, &t) {
        return denied();
    }
    Html(INDEX).into_response()
}

async fn query_page(State(ctx): State<Ctx>, h: HeaderMap, Query(t): Query<TokenParam>) -> Response {
    if !authorized(&ctx, &h, &t) {
        return denied();
    }
    Html(QUERY).into_response()
}

async fn asset_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript")], APP_JS).into_response()
}

async fn asset_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css")], STYLE).into_response()
}

async fn api_queries(
    State(ctx): State<Ctx>,
    h: HeaderMap,
    Query(t): Query<TokenParam>,
) -> Response {
    if !authorized(&ctx, &h, &t) {
        return denied();
    }
    let list: Vec<Value> = ctx
        .monitor
        .queries()
        .iter()
        .map(|q| summary(&ctx, q))
        .collect();
    Json(json!({ "queries": list })).into_response()
}

async fn api_query(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    h: HeaderMap,
    Query(t): Query<TokenParam>,
) -> Response {
    if !authorized(&ctx, &h, &t) {
        return denied();
    }
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

async fn api_metrics(
    State(ctx): State<Ctx>,
    h: HeaderMap,
    Query(t): Query<TokenParam>,
) -> Response {
    if !authorized(&ctx, &h, &t) {
        return denied();
    }
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
    /// Stop serving.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

/// Serve the UI of `session`'s queries on `addr` (`127.0.0.1:4040`; port 0 picks one). With a
/// `token`, every request needs `Authorization: Bearer <token>` (or `?token=` in a browser).
/// Call it before starting queries so that the UI sees them start.
pub async fn serve(
    session: &Session,
    addr: &str,
    token: Option<String>,
) -> std::io::Result<UiServer> {
    let monitor = Monitor::default();
    session.streams().add_listener(Arc::new(monitor.clone()));
    let ctx = Ctx {
        session: session.clone(),
        monitor: monitor.clone(),
        token: token.map(Arc::new),
    };
    let app = Router::new()
        .route("/", get(index))
        .route("/query/{id}", get(query_page))
        .route("/assets/app.js", get(asset_js))
        .route("/assets/style.css", get(asset_css))
        .route("/api/queries", get(api_queries))
        .route("/api/queries/{id}", get(api_query))
        .route("/metrics", get(api_metrics))
        .with_state(ctx);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the UI server stopped");
        }
    });
    Ok(UiServer {
        addr,
        monitor,
        task,
    })
}
