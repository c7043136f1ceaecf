//! A [`Snapshot`] in the Prometheus text format (OpenMetrics flavour, as `prometheus-client`
//! writes it). Every series is named `bluehelm_*`; docs/operations.md lists them.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use super::histogram::HistogramReading;
use super::snapshot::Snapshot;

type Labels = Vec<(&'static str, String)>;
type Gauges = Family<Labels, Gauge<f64, AtomicU64>>;
type Counters = Family<Labels, Counter>;

/// The content type of what [`encode`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A histogram read at scrape time, encoded as it is.
#[derive(Debug)]
struct Histogram(HistogramReading);

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let r = &self.0;
        encoder.encode_histogram::<NoLabelSet>(r.sum_seconds, r.count, &r.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let g: Gauge<f64, AtomicU64> = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn gauges(registry: &mut Registry, name: &str, help: &str, values: Vec<(Labels, f64)>) {
    let family = Gauges::default();
    for (labels, value) in values {
        family.get_or_create(&labels).set(value);
    }
    registry.register(name, help, family);
}

/// `name` gets `_total` from the registry.
fn counters(registry: &mut Registry, name: &str, help: &str, values: Vec<(Labels, u64)>) {
    let family = Counters::default();
    for (labels, value) in values {
        family.get_or_create(&labels).inc_by(value);
    }
    registry.register(name, help, family);
}

/// The snapshot as Prometheus text.
pub fn encode(s: &Snapshot) -> String {
    let mut r = Registry::default();
    gauge(
        &mut r,
        "bluehelm_ready",
        "1 when the node is ready (/healthz answers 200), else 0",
        f64::from(u8::from(s.health.is_ready())),
    );
    gauge(
        &mut r,
        "bluehelm_links_up",
        "Links up now",
        s.links.iter().filter(|l| l.up).count() as f64,
    );
    gauges(
        &mut r,
        "bluehelm_link_up",
        "1 when the link to a peer (configured or linked) is up, else 0",
        s.links
            .iter()
            .map(|l| {
                let labels = vec![
                    ("peer", l.peer.to_string()),
                    ("configured", l.configured.to_string()),
                ];
                (labels, f64::from(u8::from(l.up)))
            })
            .collect(),
    );
    counters(
        &mut r,
        "bluehelm_handshake_failures",
        "Links that did not come up, by reason",
        s.handshake_failures
            .iter()
            .map(|(why, n)| (vec![("reason", why.as_str().to_owned())], *n))
            .collect(),
    );
    counters(
        &mut r,
        "bluehelm_messages_in",
        "Messages taken into custody (from peers and local applications), by precedence",
        s.messages_in
            .iter()
            .map(|(p, n)| (vec![("precedence", p.as_str().to_owned())], *n))
            .collect(),
    );
    counters(
        &mut r,
        "bluehelm_messages_out",
        "Copies the next hop took custody of, by precedence",
        s.messages_out
            .iter()
            .map(|(p, n)| (vec![("precedence", p.as_str().to_owned())], *n))
            .collect(),
    );
    counters(
        &mut r,
        "bluehelm_messages_refused",
        "Offers refused, by reason and by the precedence of the stream they came on",
        s.messages_refused
            .iter()
            .map(|(reason, p, n)| {
                let p = p.map_or("unknown", |p| p.as_str());
                let labels = vec![
                    ("reason", reason.as_str().to_owned()),
                    ("precedence", p.to_owned()),
                ];
                (labels, *n)
            })
            .collect(),
    );
    let queue_labels = |q: &super::snapshot::QueueFigure| {
        vec![
            ("next_hop", q.next_hop.to_string()),
            ("precedence", q.precedence.as_str().to_owned()),
        ]
    };
    gauges(
        &mut r,
        "bluehelm_queue_depth",
        "Copies queued, per next hop and precedence",
        s.queues
            .iter()
            .map(|q| (queue_labels(q), q.depth as f64))
            .collect(),
    );
    gauges(
        &mut r,
        "bluehelm_queue_oldest_age_seconds",
        "Age of the oldest queued copy (since custody was taken here), per next hop and precedence; 0 when empty",
        s.queues
            .iter()
            .map(|q| (queue_labels(q), q.oldest_age_ms as f64 / 1000.0))
            .collect(),
    );
    r.register(
        "bluehelm_custody_latency_seconds",
        "From a batch of offers reaching the custody shell to its answers (durable or refused), per message",
        Histogram(s.custody_latency.clone()),
    );
    r.register(
        "bluehelm_fsync_latency_seconds",
        "Duration of each custody log fsync",
        Histogram(s.fsync_latency.clone()),
    );
    gauge(
        &mut r,
        "bluehelm_store_size_bytes",
        "Bytes on disk under the storage folder",
        s.store_bytes as f64,
    );
    if let Some(free) = s.disk_free_bytes {
        gauge(
            &mut r,
            "bluehelm_disk_free_bytes",
            "Bytes free for the node on the storage folder's file system",
            free as f64,
        );
    }
    if let Some(number) = s.crl.number {
        gauge(
            &mut r,
            "bluehelm_crl_number",
            "Number of the CRL in force",
            number,
        );
    }
    if let Some(next) = s.crl.next_update_s {
        gauge(
            &mut r,
            "bluehelm_crl_next_update_timestamp_seconds",
            "When the CRL in force expires (its next update is due), Unix seconds",
            next as f64,
        );
    }
    gauge(
        &mut r,
        "bluehelm_failover_given_up",
        "Next hops given up as silent: their routes' traffic goes to the alternates",
        s.failed_over.len() as f64,
    );
    gauges(
        &mut r,
        "bluehelm_failover_given_up_hop",
        "1 for each next hop given up as silent (failover)",
        s.failed_over
            .iter()
            .map(|hop| (vec![("hop", hop.to_string())], 1.0))
            .collect(),
    );
    gauges(
        &mut r,
        "bluehelm_replica_lag_changes",
        "Changes the hub has sequenced that this replica has not applied, per database",
        s.replicas
            .iter()
            .map(|x| {
                (
                    vec![("database", x.database.to_owned())],
                    x.lag_changes as f64,
                )
            })
            .collect(),
    );
    gauges(
        &mut r,
        "bluehelm_replica_lag_seconds",
        "Since the replica was last level with the hub, per database (absent before its first full sync)",
        s.replicas
            .iter()
            .filter_map(|x| {
                let ms = x.lag_ms?;
                Some((vec![("database", x.database.to_owned())], ms as f64 / 1000.0))
            })
            .collect(),
    );
    if let Some(n) = s.review_queue {
        gauge(
            &mut r,
            "bluehelm_review_queue_size",
            "Notice requests awaiting review (gs only)",
            n as f64,
        );
    }
    let mut text = String::new();
    // Writing to a String cannot fail; an error here would be a bug in the encoder.
    let _ = prometheus_client::encoding::text::encode(&mut text, &r);
    text
}
