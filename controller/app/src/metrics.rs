//! Controller counters, exposed in Prometheus text format at `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Metrics {
    pub samples_stored: AtomicU64,
    pub duplicates: AtomicU64,
    /// Samples stamped beyond the allowed clock skew: stored, not applied.
    pub samples_future: AtomicU64,
    pub batches: AtomicU64,
    pub acks_sent: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub connections_refused: AtomicU64,
    pub connections_open: AtomicU64,
    pub enrollments: AtomicU64,
    pub errors_protocol: AtomicU64,
    pub errors_db: AtomicU64,
    pub errors_tls: AtomicU64,
    pub http_unauthorized: AtomicU64,
    /// HTTP connections closed at once: over the total or per-address limit.
    pub http_refused: AtomicU64,
}

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: &AtomicU64| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n", v.load(Relaxed)));
        };
        counter("mast_ingest_samples_stored_total", "Samples committed to the database.", &self.samples_stored);
        counter("mast_ingest_duplicates_total", "Resent samples that were already stored.", &self.duplicates);
        counter("mast_ingest_batches_total", "Sample batches committed.", &self.batches);
        counter(
            "mast_ingest_samples_future_total",
            "Samples stamped too far in the future (an agent's clock): kept for accounting, not applied.",
            &self.samples_future,
        );
        counter("mast_ingest_acks_sent_total", "Acknowledgements sent after commit.", &self.acks_sent);
        counter("mast_link_connections_accepted_total", "Agent links accepted.", &self.connections_accepted);
        counter(
            "mast_link_connections_refused_total",
            "Agent connections refused (certificate, revoked, protocol).",
            &self.connections_refused,
        );
        counter("mast_link_enrollments_total", "Agents enrolled.", &self.enrollments);
        counter(
            "mast_http_connections_refused_total",
            "HTTP connections closed at once (over the total or per-address limit).",
            &self.http_refused,
        );
        out.push_str(&format!(
            "# HELP mast_link_connections_open Agent links currently open.\n# TYPE mast_link_connections_open gauge\nmast_link_connections_open {}\n",
            self.connections_open.load(Relaxed)
        ));
        out.push_str("# HELP mast_errors_total Errors by kind.\n# TYPE mast_errors_total counter\n");
        for (kind, v) in [
            ("protocol", &self.errors_protocol),
            ("db", &self.errors_db),
            ("tls", &self.errors_tls),
            ("http_unauthorized", &self.http_unauthorized),
        ] {
            out.push_str(&format!("mast_errors_total{{kind=\"{kind}\"}} {}\n", v.load(Relaxed)));
        }
        out
    }
}
