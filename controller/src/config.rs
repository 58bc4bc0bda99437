//! Controller configuration: a TOML file, then `MAST_*` environment overrides,
//! validated as a whole before any port is bound.
//!
//! Every option, its default and its override (see also `deploy/controller.toml`):
//!
//! | key | env | default | meaning |
//! |---|---|---|---|
//! | `data_dir` | `MAST_DATA_DIR` | `./mast-data` | CA, SQLite file, runtime state |
//! | `database_url` | `MAST_DATABASE_URL` | `sqlite://<data_dir>/mast.db` | `sqlite://PATH` or `postgres://...` |
//! | `http_listen` | `MAST_HTTP_LISTEN` | `127.0.0.1:8080` | web UI and JSON API |
//! | `quic_listen` | `MAST_QUIC_LISTEN` | `0.0.0.0:4433` | agent link (QUIC, mutual TLS) |
//! | `enroll_token_ttl_secs` | `MAST_ENROLL_TOKEN_TTL_SECS` | `86400` | lifetime of a one-time enrollment token |
//! | `agent_cert_validity_secs` | `MAST_AGENT_CERT_VALIDITY_SECS` | `157680000` (5 years) | lifetime of an agent certificate |
//! | `agent_offline_after_secs` | `MAST_AGENT_OFFLINE_AFTER_SECS` | `90` | an agent silent this long shows as offline |
//! | `default_probe_interval_secs` | `MAST_DEFAULT_PROBE_INTERVAL_SECS` | `30` | probe interval of a new site |
//! | `default_probe_timeout_ms` | `MAST_DEFAULT_PROBE_TIMEOUT_MS` | `1000` | ping timeout of a new site |
//! | `session_idle_secs` | `MAST_SESSION_IDLE_SECS` | `3600` | a staff session unused this long ends |
//! | `session_absolute_secs` | `MAST_SESSION_ABSOLUTE_SECS` | `43200` | a staff session ends this long after login |
//! | `cookie_secure` | `MAST_COOKIE_SECURE` | `false` | mark cookies `Secure` (set behind a TLS proxy; `X-Forwarded-Proto: https` does it per request) |
//! | `raw_retention_days` | `MAST_RAW_RETENTION_DAYS` | `30` | raw samples (ping, SNMP, signal, interface rates) are kept this long |
//! | `rollup_5m_retention_days` | `MAST_ROLLUP_5M_RETENTION_DAYS` | `180` | 5-minute rollups are kept this long |
//! | `rollup_1h_retention_days` | `MAST_ROLLUP_1H_RETENTION_DAYS` | `1825` | hourly rollups are kept this long |
//! | `rollup_interval_secs` | `MAST_ROLLUP_INTERVAL_SECS` | `60` | how often rollups and retention run |
//! | `outage_hold_down_secs` | `MAST_OUTAGE_HOLD_DOWN_SECS` | `60` | a device is down after failing this long (and 3 probes in a row) |
//! | `outage_recovery_secs` | `MAST_OUTAGE_RECOVERY_SECS` | `60` | ... and up again after answering this long (and 2 probes) |
//! | `outage_agent_silence_secs` | `MAST_OUTAGE_AGENT_SILENCE_SECS` | `90` | a site whose agent sent no data this long is unreachable (one site incident) |
//! | `log` | `MAST_LOG` | `info` | tracing filter, e.g. `info,mast_controller=debug` |

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub http_listen: SocketAddr,
    pub quic_listen: SocketAddr,
    pub enroll_token_ttl_secs: u64,
    pub agent_cert_validity_secs: u64,
    pub agent_offline_after_secs: u64,
    pub default_probe_interval_secs: u64,
    pub default_probe_timeout_ms: u64,
    pub session_idle_secs: u64,
    pub session_absolute_secs: u64,
    pub cookie_secure: bool,
    pub raw_retention_days: u64,
    pub rollup_5m_retention_days: u64,
    pub rollup_1h_retention_days: u64,
    pub rollup_interval_secs: u64,
    pub outage_hold_down_secs: u64,
    pub outage_recovery_secs: u64,
    pub outage_agent_silence_secs: u64,
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./mast-data"),
            database_url: None,
            http_listen: "127.0.0.1:8080".parse().expect("literal"),
            quic_listen: "0.0.0.0:4433".parse().expect("literal"),
            enroll_token_ttl_secs: 86_400,
            agent_cert_validity_secs: 5 * 365 * 86_400,
            agent_offline_after_secs: 90,
            default_probe_interval_secs: 30,
            default_probe_timeout_ms: 1_000,
            session_idle_secs: 3_600,
            session_absolute_secs: 43_200,
            cookie_secure: false,
            raw_retention_days: 30,
            rollup_5m_retention_days: 180,
            rollup_1h_retention_days: 1825,
            rollup_interval_secs: 60,
            outage_hold_down_secs: 60,
            outage_recovery_secs: 60,
            outage_agent_silence_secs: 90,
            log: "info".into(),
        }
    }
}

impl Config {
    /// Reads `path` (if given), applies `MAST_*` overrides from `env`, validates.
    pub fn load(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.into(), source })?;
                toml::from_str::<Config>(&text).map_err(|e| ConfigError::Parse {
                    path: p.into(),
                    message: e.to_string().trim_end().replace('\n', " "),
                })?
            }
            None => Config::default(),
        };
        cfg.apply_env(env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Loads with the process environment.
    pub fn load_from_process(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load(path, |k| std::env::var(k).ok())
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(key: &'static str, v: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            v.parse().map_err(|e: T::Err| ConfigError::Invalid { key, problem: format!("{v:?}: {e}") })
        }
        if let Some(v) = env("MAST_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("MAST_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = env("MAST_HTTP_LISTEN") {
            self.http_listen = parse("MAST_HTTP_LISTEN", &v)?;
        }
        if let Some(v) = env("MAST_QUIC_LISTEN") {
            self.quic_listen = parse("MAST_QUIC_LISTEN", &v)?;
        }
        if let Some(v) = env("MAST_ENROLL_TOKEN_TTL_SECS") {
            self.enroll_token_ttl_secs = parse("MAST_ENROLL_TOKEN_TTL_SECS", &v)?;
        }
        if let Some(v) = env("MAST_AGENT_CERT_VALIDITY_SECS") {
            self.agent_cert_validity_secs = parse("MAST_AGENT_CERT_VALIDITY_SECS", &v)?;
        }
        if let Some(v) = env("MAST_AGENT_OFFLINE_AFTER_SECS") {
            self.agent_offline_after_secs = parse("MAST_AGENT_OFFLINE_AFTER_SECS", &v)?;
        }
        if let Some(v) = env("MAST_DEFAULT_PROBE_INTERVAL_SECS") {
            self.default_probe_interval_secs = parse("MAST_DEFAULT_PROBE_INTERVAL_SECS", &v)?;
        }
        if let Some(v) = env("MAST_DEFAULT_PROBE_TIMEOUT_MS") {
            self.default_probe_timeout_ms = parse("MAST_DEFAULT_PROBE_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = env("MAST_SESSION_IDLE_SECS") {
            self.session_idle_secs = parse("MAST_SESSION_IDLE_SECS", &v)?;
        }
        if let Some(v) = env("MAST_SESSION_ABSOLUTE_SECS") {
            self.session_absolute_secs = parse("MAST_SESSION_ABSOLUTE_SECS", &v)?;
        }
        if let Some(v) = env("MAST_COOKIE_SECURE") {
            self.cookie_secure = parse("MAST_COOKIE_SECURE", &v)?;
        }
        if let Some(v) = env("MAST_RAW_RETENTION_DAYS") {
            self.raw_retention_days = parse("MAST_RAW_RETENTION_DAYS", &v)?;
        }
        if let Some(v) = env("MAST_ROLLUP_5M_RETENTION_DAYS") {
            self.rollup_5m_retention_days = parse("MAST_ROLLUP_5M_RETENTION_DAYS", &v)?;
        }
        if let Some(v) = env("MAST_ROLLUP_1H_RETENTION_DAYS") {
            self.rollup_1h_retention_days = parse("MAST_ROLLUP_1H_RETENTION_DAYS", &v)?;
        }
        if let Some(v) = env("MAST_ROLLUP_INTERVAL_SECS") {
            self.rollup_interval_secs = parse("MAST_ROLLUP_INTERVAL_SECS", &v)?;
        }
        if let Some(v) = env("MAST_OUTAGE_HOLD_DOWN_SECS") {
            self.outage_hold_down_secs = parse("MAST_OUTAGE_HOLD_DOWN_SECS", &v)?;
        }
        if let Some(v) = env("MAST_OUTAGE_RECOVERY_SECS") {
            self.outage_recovery_secs = parse("MAST_OUTAGE_RECOVERY_SECS", &v)?;
        }
        if let Some(v) = env("MAST_OUTAGE_AGENT_SILENCE_SECS") {
            self.outage_agent_silence_secs = parse("MAST_OUTAGE_AGENT_SILENCE_SECS", &v)?;
        }
        if let Some(v) = env("MAST_LOG") {
            self.log = v;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, problem: &str| Err(ConfigError::Invalid { key, problem: problem.into() });
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir", "must not be empty");
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return bad("database_url", "must start with sqlite: or postgres://");
        }
        if self.enroll_token_ttl_secs == 0 {
            return bad("enroll_token_ttl_secs", "must be at least 1");
        }
        if self.agent_cert_validity_secs == 0 {
            return bad("agent_cert_validity_secs", "must be at least 1");
        }
        if self.default_probe_interval_secs == 0 || self.default_probe_interval_secs > 86_400 {
            return bad("default_probe_interval_secs", "must be between 1 and 86400");
        }
        if !(10..=60_000).contains(&self.default_probe_timeout_ms) {
            return bad("default_probe_timeout_ms", "must be between 10 and 60000");
        }
        if self.agent_offline_after_secs == 0 {
            return bad("agent_offline_after_secs", "must be at least 1");
        }
        if self.session_idle_secs == 0 || self.session_idle_secs > self.session_absolute_secs {
            return bad("session_idle_secs", "must be at least 1 and at most session_absolute_secs");
        }
        if self.raw_retention_days == 0 || self.raw_retention_days > 3650 {
            return bad("raw_retention_days", "must be between 1 and 3650");
        }
        if self.rollup_5m_retention_days < self.raw_retention_days
            || self.rollup_1h_retention_days < self.rollup_5m_retention_days
        {
            return bad("rollup_5m_retention_days", "retention must grow: raw <= 5-minute <= hourly");
        }
        if self.rollup_interval_secs == 0 || self.rollup_interval_secs > 3600 {
            return bad("rollup_interval_secs", "must be between 1 and 3600");
        }
        for (key, v) in [
            ("outage_hold_down_secs", self.outage_hold_down_secs),
            ("outage_recovery_secs", self.outage_recovery_secs),
            ("outage_agent_silence_secs", self.outage_agent_silence_secs),
        ] {
            if v == 0 || v > 86_400 {
                return bad(key, "must be between 1 and 86400");
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log).is_err() {
            return bad("log", "is not a valid tracing filter");
        }
        Ok(())
    }

    /// The database URL, defaulting to a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.data_dir.join("mast.db").display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(Some(&p), |k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/controller.toml");
        let c = Config::load(Some(&p), |_| None).unwrap();
        assert_eq!(c.quic_listen.port(), 4433);
    }

    #[test]
    fn env_overrides_file() {
        let c = load_str("http_listen = \"127.0.0.1:1\"\n", &[("MAST_HTTP_LISTEN", "127.0.0.1:2")]).unwrap();
        assert_eq!(c.http_listen.port(), 2);
    }

    #[test]
    fn errors_name_the_key() {
        let e = load_str("http_listen = \"nonsense\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("http_listen"), "{e}");
        let e = load_str("no_such_key = 1\n", &[]).unwrap_err().to_string();
        assert!(e.contains("no_such_key"), "{e}");
        let e = load_str("default_probe_interval_secs = 0\n", &[]).unwrap_err().to_string();
        assert!(e.contains("default_probe_interval_secs"), "{e}");
        let e = load_str("", &[("MAST_QUIC_LISTEN", "x")]).unwrap_err().to_string();
        assert!(e.contains("MAST_QUIC_LISTEN"), "{e}");
        let e = load_str("database_url = \"mysql://x\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("database_url"), "{e}");
    }
}
