//! The HTTP shell: `/metrics` and `/healthz` on `metrics_listen`, HTTP/1.1 through axum (the
//! one tonic already brings). A task the node owns; it stops with the node's cancellation.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::{snapshot, text};
use crate::custody::{BureauHandle, LinkedPeers};

/// `metrics_listen` cannot be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind metrics_listen = \"{address}\"")]
pub struct MetricsBindError {
    pub address: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Binds `metrics_listen` now, so that a node whose address is taken fails to start.
pub fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, MetricsBindError> {
    let error = |source| MetricsBindError { address, source };
    let listener = std::net::TcpListener::bind(address).map_err(error)?;
    listener.set_nonblocking(true).map_err(error)?;
    tokio::net::TcpListener::from_std(listener).map_err(error)
}

#[derive(Clone)]
struct Scraped {
    node: BureauHandle,
    links: Arc<dyn LinkedPeers>,
}

/// Serves until `cancel`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: BureauHandle,
    links: Arc<dyn LinkedPeers>,
    cancel: CancellationToken,
) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(Scraped { node, links });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await;
    if let Err(err) = served {
        tracing::error!(error = %err, "the metrics listener stopped");
    }
}

async fn metrics(State(s): State<Scraped>) -> Response {
    match snapshot::gather(&s.node, s.links.as_ref()).await {
        Ok(figures) => (
            [(header::CONTENT_TYPE, text::CONTENT_TYPE)],
            text::encode(&figures),
        )
            .into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the store: {err}\n"),
        )
            .into_response(),
    }
}

async fn healthz(State(s): State<Scraped>) -> (StatusCode, String) {
    let health = snapshot::health(&s.node);
    if health.is_ready() {
        return (StatusCode::OK, "ok\n".to_owned());
    }
    let mut text = String::from("not ready\n");
    for reason in &health.reasons {
        text.push_str(reason);
        text.push('\n');
    }
    (StatusCode::SERVICE_UNAVAILABLE, text)
}
