//! The HTTP routes: `/metrics`, `/api/status`, `/api/ring`, and the dashboard page `/`.

use std::time::Duration;

use actix_web::{http::header, web, HttpResponse};
use serde_json::json;

use super::HttpState;
use crate::actors::Figures;
use crate::metrics::{self, ClusterFigures};

/// The dashboard: one page, its script and style inline, nothing from elsewhere.
const DASHBOARD: &str = include_str!("dashboard.html");

/// The content type of what `prometheus-client` writes: the OpenMetrics text format, which
/// Prometheus scrapes as it does its own text format.
const PROMETHEUS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Adds every route to an app.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(dashboard))
        .route("/metrics", web::get().to(scrape))
        .route("/api/status", web::get().to(status))
        .route("/api/ring", web::get().to(ring));
}

/// How long the Router gets to answer before the figures noted at the start of a membership
/// change are used (its mailbox waits for the change to end).
const ROUTER_WAIT: Duration = Duration::from_millis(300);

/// The Router's snapshot; during a membership change, the one noted when it began with live key
/// counts. `None` if the Router is gone (shutting down).
async fn figures(state: &HttpState, arcs: bool) -> Option<ClusterFigures> {
    let mut asked = Box::pin(state.gateway.router().send(Figures { arcs }));
    match tokio::time::timeout(ROUTER_WAIT, &mut asked).await {
        Ok(answer) => answer.ok(),
        Err(_) => match state.gateway.direct().move_view() {
            Some((_, view)) => Some(view),
            None => asked.await.ok(),
        },
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().body("the cluster is shutting down\n")
}

async fn dashboard() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(DASHBOARD)
}

async fn scrape(state: web::Data<HttpState>) -> HttpResponse {
    match figures(&state, false).await {
        Some(f) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, PROMETHEUS_TEXT))
            .body(metrics::render(f)),
        None => unavailable(),
    }
}

async fn status(state: web::Data<HttpState>) -> HttpResponse {
    let Some(f) = figures(&state, false).await else {
        return unavailable();
    };
    let (reads, updates) = metrics::reads_and_updates();
    HttpResponse::Ok().json(json!({
        "uptime_seconds": state.started.elapsed().as_secs_f64(),
        "nodes": f.nodes,
        "keys": f.nodes.iter().map(|n| n.keys).sum::<u64>(),
        "reads_total": reads,
        "updates_total": updates,
        "read_repairs": f.read_repairs,
        "anti_entropy_passes": f.anti_entropy_passes,
        "anti_entropy_repairs": f.anti_entropy_repairs,
        "changing": f.changing,
        "hot_keys": crate::hotkeys::top(10),
    }))
}

async fn ring(state: web::Data<HttpState>) -> HttpResponse {
    match figures(&state, true).await {
        Some(f) => HttpResponse::Ok().json(json!({
            "vnodes": f.vnodes,
            "nodes": f.nodes,
            "changing": f.changing,
            "moving": f.moving,
        })),
        None => unavailable(),
    }
}
