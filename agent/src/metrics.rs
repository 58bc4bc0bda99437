//! Agent counters, served in Prometheus text format on `--metrics-listen`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
pub struct Metrics {
    pub probes: AtomicU64,
    pub probes_lost: AtomicU64,
    pub spool_appended: AtomicU64,
    pub spool_acked: AtomicU64,
    pub spool_dropped: AtomicU64,
    pub spool_corrupt: AtomicU64,
    pub spool_backlog: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub spool_pending: AtomicU64,
    pub samples_sent: AtomicU64,
    pub connect_attempts: AtomicU64,
    pub connections: AtomicU64,
    pub connected: AtomicU64,
    pub errors_icmp: AtomicU64,
    pub errors_spool: AtomicU64,
    pub errors_link: AtomicU64,
    pub snmp_polls: AtomicU64,
    pub snmp_errors: AtomicU64,
    pub inventory_changes: AtomicU64,
    pub discovered_hosts: AtomicU64,
}

impl Metrics {
    /// Copies the spool's counters (called with the spool locked).
    pub fn sync_spool(&self, s: &crate::spool::Spool) {
        self.spool_appended.store(s.counters.appended, Relaxed);
        self.spool_dropped.store(s.counters.dropped, Relaxed);
        self.spool_acked.store(s.counters.acked, Relaxed);
        self.spool_corrupt.store(s.counters.corrupt, Relaxed);
        self.spool_backlog.store(s.backlog(), Relaxed);
        self.spool_bytes.store(s.disk_bytes(), Relaxed);
        self.spool_pending.store(s.pending() as u64, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut one = |name: &str, kind: &str, help: &str, v: u64| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"));
        };
        one("mast_agent_probes_total", "counter", "Probes run.", self.probes.load(Relaxed));
        one("mast_agent_probes_lost_total", "counter", "Probes without a reply.", self.probes_lost.load(Relaxed));
        one("mast_agent_snmp_polls_total", "counter", "SNMP device polls run.", self.snmp_polls.load(Relaxed));
        one("mast_agent_snmp_errors_total", "counter", "SNMP polls that failed.", self.snmp_errors.load(Relaxed));
        one(
            "mast_agent_inventory_changes_total",
            "counter",
            "Inventory records sent (new or changed).",
            self.inventory_changes.load(Relaxed),
        );
        one(
            "mast_agent_discovered_hosts",
            "gauge",
            "Hosts found by the last discovery sweep.",
            self.discovered_hosts.load(Relaxed),
        );
        one(
            "mast_agent_spool_appended_total",
            "counter",
            "Samples durably appended to the spool.",
            self.spool_appended.load(Relaxed),
        );
        one(
            "mast_agent_spool_acked_total",
            "counter",
            "Samples acknowledged by the controller.",
            self.spool_acked.load(Relaxed),
        );
        one(
            "mast_agent_spool_dropped_total",
            "counter",
            "Samples dropped because the spool was full.",
            self.spool_dropped.load(Relaxed),
        );
        one(
            "mast_agent_spool_corrupt_records_total",
            "counter",
            "Corrupt spool records skipped at recovery.",
            self.spool_corrupt.load(Relaxed),
        );
        one(
            "mast_agent_spool_backlog",
            "gauge",
            "Samples buffered and not yet acknowledged.",
            self.spool_backlog.load(Relaxed),
        );
        one("mast_agent_spool_bytes", "gauge", "Bytes of spool segments on disk.", self.spool_bytes.load(Relaxed));
        one(
            "mast_agent_spool_pending",
            "gauge",
            "Samples waiting in memory for the next group commit.",
            self.spool_pending.load(Relaxed),
        );
        one(
            "mast_agent_samples_sent_total",
            "counter",
            "Samples sent to the controller (resends included).",
            self.samples_sent.load(Relaxed),
        );
        one(
            "mast_agent_connect_attempts_total",
            "counter",
            "Connection attempts to the controller.",
            self.connect_attempts.load(Relaxed),
        );
        one("mast_agent_connections_total", "counter", "Links established.", self.connections.load(Relaxed));
        one("mast_agent_connected", "gauge", "1 while the link is up.", self.connected.load(Relaxed));
        out.push_str("# HELP mast_agent_errors_total Errors by kind.\n# TYPE mast_agent_errors_total counter\n");
        for (k, v) in [("icmp", &self.errors_icmp), ("spool", &self.errors_spool), ("link", &self.errors_link)] {
            out.push_str(&format!("mast_agent_errors_total{{kind=\"{k}\"}} {}\n", v.load(Relaxed)));
        }
        out
    }
}

/// A minimal HTTP/1.0 responder: every request gets the metrics. The agent
/// has no other HTTP needs, so this avoids a web framework on the tower.
pub async fn serve(listener: tokio::net::TcpListener, metrics: std::sync::Arc<Metrics>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf)).await;
            let body = metrics.render();
            let resp = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
