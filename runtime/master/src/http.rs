//! The master's HTTP operator API (actix-web): `GET /state` (JSON), `GET /health`,
//! `GET /metrics` (Prometheus text), and with `--fault-injection` the `/faults` test hooks
//! ([`crate::http_faults`]). Handlers ask the master actor; they never touch
//! the core directly.

use crate::shell::{GetMetrics, GetState, MasterActor};
use actix::Addr;
use actix_web::{web, App, HttpResponse, HttpServer};
use drover_transport::Faults;
use std::net::SocketAddr;

async fn state(master: web::Data<Addr<MasterActor>>) -> HttpResponse {
    match master.send(GetState).await {
        Ok(view) => HttpResponse::Ok().json(view),
        Err(e) => HttpResponse::ServiceUnavailable().body(format!("master unavailable: {e}")),
    }
}

async fn metrics(master: web::Data<Addr<MasterActor>>) -> HttpResponse {
    match master.send(GetMetrics).await {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(e) => HttpResponse::ServiceUnavailable().body(format!("master unavailable: {e}")),
    }
}

async fn health(master: web::Data<Addr<MasterActor>>) -> HttpResponse {
    if master.connected() {
        HttpResponse::Ok().body("ok\n")
    } else {
        HttpResponse::ServiceUnavailable().body("master actor stopped\n")
    }
}

/// Binds the HTTP API on `addr` and serves it on the current actix system. Returns the
/// bound address and the server future's handle. `/faults` is mounted only when `faults`
/// allows remote control.
pub fn serve(
    addr: SocketAddr,
    master: Addr<MasterActor>,
    faults: Faults,
) -> std::io::Result<(SocketAddr, actix_web::dev::ServerHandle)> {
    let data = web::Data::new(master);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/state", web::get().to(state))
            .route("/master/state", web::get().to(state))
            .route("/metrics", web::get().to(metrics))
            .route("/health", web::get().to(health))
            .configure(|cfg| crate::http_faults::configure(cfg, &faults))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?;
    let bound = server.addrs().first().copied().unwrap_or(addr);
    let server = server.run();
    let handle = server.handle();
    actix::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "master HTTP server failed");
        }
    });
    Ok((bound, handle))
}
