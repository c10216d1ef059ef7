//! The agent's HTTP API (actix-web, TCP 5051 by default):
//!
//! | route | answer |
//! |---|---|
//! | `GET /state` | JSON [`AgentSnapshot`]: id, hostname, resources, attributes, frameworks → executors → tasks |
//! | `GET /health` | `200 OK` while the agent runs |
//! | `GET /metrics` | Prometheus text ([`metrics`]) |
//! | `GET /files/read?path=&offset=&length=` | JSON `{data, offset}` of a sandbox file ([`files`]) |
//! | `GET /containers` | JSON list of running containers with their resource usage from the containerizer (Mesos `/monitor/statistics`) |
//!
//! `/state` and `/metrics` ask the agent actor for a snapshot; `/files/read` only reads
//! the disk (on actix-web's blocking pool), confined to `<work_dir>/frameworks`.

pub mod files;
pub mod metrics;

use crate::core::snapshot::{AgentSnapshot, MetricsSnapshot};
use actix::{Message, Recipient};
use actix_web::{web, App, HttpResponse, HttpServer};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Asks the agent actor for `/state`.
#[derive(Debug, Clone, Copy)]
pub struct GetSnapshot;

impl Message for GetSnapshot {
    type Result = AgentSnapshot;
}

/// Asks the agent actor for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct GetMetrics;

impl Message for GetMetrics {
    type Result = MetricsSnapshot;
}

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct HttpState {
    /// Answers `/state`.
    pub snapshot: Recipient<GetSnapshot>,
    /// Answers `/metrics`.
    pub metrics: Recipient<GetMetrics>,
    /// `<work_dir>/frameworks`: the only place `/files/read` reads from.
    pub files_root: PathBuf,
    /// Answers usage for `/containers` (`None`: the route lists containers without usage).
    pub containerizer: Option<std::sync::Arc<dyn drover_containerizers::Containerizer>>,
}

/// One entry of `/containers`.
#[derive(Debug, serde::Serialize)]
struct ContainerUsage {
    framework_id: String,
    executor_id: String,
    container_id: String,
    containerizer: &'static str,
    statistics: Option<drover_containerizers::ResourceStatistics>,
    error: Option<String>,
}

async fn containers(s: web::Data<HttpState>) -> HttpResponse {
    let Ok(snap) = s.snapshot.send(GetSnapshot).await else {
        return unavailable();
    };
    let mut out = Vec::new();
    for fw in &snap.frameworks {
        for ex in &fw.executors {
            let Some(cid) = &ex.container_id else {
                continue;
            };
            let (statistics, error) = match &s.containerizer {
                Some(c) => match c
                    .usage(&drover_containerizers::ContainerId::new(cid.clone()))
                    .await
                {
                    Ok(st) => (Some(st), None),
                    Err(e) => (None, Some(e.to_string())),
                },
                None => (None, None),
            };
            out.push(ContainerUsage {
                framework_id: fw.id.clone(),
                executor_id: ex.id.clone(),
                container_id: cid.clone(),
                containerizer: ex.containerizer,
                statistics,
                error,
            });
        }
    }
    HttpResponse::Ok().json(out)
}

/// Query of `/files/read`.
#[derive(Debug, serde::Deserialize)]
struct ReadQuery {
    path: Option<String>,
    offset: Option<i64>,
    length: Option<i64>,
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().body("the agent is shutting down")
}

async fn state(s: web::Data<HttpState>) -> HttpResponse {
    match s.snapshot.send(GetSnapshot).await {
        Ok(snap) => HttpResponse::Ok().json(snap),
        Err(_) => unavailable(),
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().body("OK")
}

async fn metrics_route(s: web::Data<HttpState>) -> HttpResponse {
    match s.metrics.send(GetMetrics).await {
        Ok(m) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(metrics::render(&m)),
        Err(_) => unavailable(),
    }
}

async fn files_read(s: web::Data<HttpState>, q: web::Query<ReadQuery>) -> HttpResponse {
    let q = q.into_inner();
    let root = s.files_root.clone();
    let result =
        web::block(move || files::read(&root, q.path.as_deref().unwrap_or(""), q.offset, q.length))
            .await;
    match result {
        Ok(Ok(chunk)) => HttpResponse::Ok().json(chunk),
        Ok(Err(e)) => {
            let msg = e.to_string();
            match e {
                files::FilesError::BadRequest(_) => HttpResponse::BadRequest().body(msg),
                files::FilesError::Forbidden(_) => HttpResponse::Forbidden().body(msg),
                files::FilesError::NotFound(_) => HttpResponse::NotFound().body(msg),
                files::FilesError::Io { .. } => HttpResponse::InternalServerError().body(msg),
            }
        }
        Err(_) => HttpResponse::InternalServerError().body("file read was interrupted"),
    }
}

/// Adds the agent's routes to an actix-web app (also used by tests).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/state", web::get().to(state))
        .route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics_route))
        .route("/files/read", web::get().to(files_read))
        .route("/containers", web::get().to(containers))
        .route("/monitor/statistics", web::get().to(containers));
}

/// The HTTP server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for HTTP on {addr}: {source}")]
pub struct HttpError {
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Binds and starts the server on the current actix system; returns it (to await or
/// stop) and the bound address.
pub fn serve(
    addr: SocketAddr,
    workers: usize,
    state: HttpState,
) -> Result<(actix_web::dev::Server, SocketAddr), HttpError> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(configure))
        .workers(workers.max(1))
        .disable_signals()
        .bind(addr)
        .map_err(|source| HttpError { addr, source })?;
    let bound = server.addrs().first().copied().ok_or_else(|| HttpError {
        addr,
        source: std::io::Error::other("no address bound"),
    })?;
    Ok((server.run(), bound))
}
