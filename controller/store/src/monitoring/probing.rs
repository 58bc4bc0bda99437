//! A site's SNMP, discovery and pacing settings: credentials, SNMP targets,
//! subnets to sweep, intervals and the ping rate. Owns tables
//! `site_snmp_credentials`, `site_snmp_targets` and the probing columns of
//! `sites`. Every change bumps the site's revision, so connected agents get
//! it within a second (see `ingest`).
//!
//! Credentials are pushed to agents, so they are stored as given; nothing here
//! formats a secret: [`CredentialView`] is what pages, the API and logs see.

use super::check_line;
use crate::db::{Db, StoreError};
use mast_shared::{ProbingConfig, SnmpCredential, SnmpTarget, Subnet, V3Auth, V3Privacy};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

crate::text_enum! {
    /// SNMP version of a stored credential (`site_snmp_credentials.version`).
    pub enum Version (field "credentials") {
        V2c = "v2c",
        V3 = "v3",
    }
}

crate::text_enum! {
    /// SNMPv3 authentication protocol as stored (`v3_auth`).
    pub enum Auth (field "credentials") {
        Md5 = "md5",
        Sha = "sha",
        Sha256 = "sha256",
    }
}

crate::text_enum! {
    /// SNMPv3 privacy protocol as stored (`v3_privacy`).
    pub enum Privacy (field "credentials") {
        Des = "des",
        Aes = "aes",
    }
}

impl From<V3Auth> for Auth {
    fn from(a: V3Auth) -> Auth {
        match a {
            V3Auth::Md5 => Auth::Md5,
            V3Auth::Sha1 => Auth::Sha,
            V3Auth::Sha256 => Auth::Sha256,
        }
    }
}

impl From<Auth> for V3Auth {
    fn from(a: Auth) -> V3Auth {
        match a {
            Auth::Md5 => V3Auth::Md5,
            Auth::Sha => V3Auth::Sha1,
            Auth::Sha256 => V3Auth::Sha256,
        }
    }
}

impl From<V3Privacy> for Privacy {
    fn from(p: V3Privacy) -> Privacy {
        match p {
            V3Privacy::Des => Privacy::Des,
            V3Privacy::Aes128 => Privacy::Aes,
        }
    }
}

impl From<Privacy> for V3Privacy {
    fn from(p: Privacy) -> V3Privacy {
        match p {
            Privacy::Des => V3Privacy::Des,
            Privacy::Aes => V3Privacy::Aes128,
        }
    }
}

/// Largest sweep per subnet: a /20 (4,094 hosts) for IPv4, /116 for IPv6.
const MAX_SWEEP_HOSTS: u32 = 4096;

/// The probing settings of a site as stored.
#[derive(Clone, PartialEq)]
pub struct Probing {
    pub snmp_interval_ms: i64,
    pub discovery_interval_ms: i64,
    pub ping_rate_pps: i64,
    pub subnets: Vec<Subnet>,
    pub credentials: Vec<SnmpCredential>,
    pub snmp_targets: Vec<SnmpTarget>,
}

impl Default for Probing {
    /// A new site's settings (the columns' defaults): SNMP every minute,
    /// discovery every hour, 5,000 pings/s, nothing to poll or sweep yet.
    fn default() -> Probing {
        Probing {
            snmp_interval_ms: 60_000,
            discovery_interval_ms: 3_600_000,
            ping_rate_pps: 5_000,
            subnets: Vec::new(),
            credentials: Vec::new(),
            snmp_targets: Vec::new(),
        }
    }
}

/// Checks settings before anything is written (what [`set`] would refuse).
pub fn validate(p: &Probing) -> Result<(), StoreError> {
    check_intervals(p)?;
    if let Some(t) = p.snmp_targets.iter().find(|t| usize::from(t.credential) >= p.credentials.len()) {
        return Err(StoreError::invalid("snmp_targets", format!("{} has no credential {}", t.addr, t.credential)));
    }
    Ok(())
}

/// What may be shown of a credential.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CredentialView {
    pub position: usize,
    pub version: Version,
    /// v3 user name (not a secret); `None` for v2c.
    pub user: Option<String>,
    pub auth: Option<Auth>,
    pub privacy: Option<Privacy>,
}

/// What pages and the API show of a site's probing settings.
#[derive(Debug, Clone, Serialize)]
pub struct ProbingView {
    pub snmp_interval_ms: i64,
    pub discovery_interval_ms: i64,
    pub ping_rate_pps: i64,
    pub subnets: Vec<String>,
    pub credentials: Vec<CredentialView>,
    /// `ip:port` with the credential's position.
    pub snmp_targets: Vec<(String, u16)>,
}

impl Probing {
    pub fn to_wire(&self, revision: u64) -> ProbingConfig {
        ProbingConfig {
            revision,
            credentials: self.credentials.clone(),
            snmp_targets: self.snmp_targets.clone(),
            subnets: self.subnets.clone(),
            snmp_interval_ms: self.snmp_interval_ms as u32,
            discovery_interval_ms: self.discovery_interval_ms as u32,
            ping_rate_pps: self.ping_rate_pps as u32,
        }
    }

    pub fn view(&self) -> ProbingView {
        ProbingView {
            snmp_interval_ms: self.snmp_interval_ms,
            discovery_interval_ms: self.discovery_interval_ms,
            ping_rate_pps: self.ping_rate_pps,
            subnets: self.subnets.iter().map(|s| format!("{}/{}", s.addr, s.prefix)).collect(),
            credentials: self.credentials.iter().enumerate().map(|(i, c)| credential_view(i, c)).collect(),
            snmp_targets: self.snmp_targets.iter().map(|t| (t.addr.to_string(), t.credential)).collect(),
        }
    }
}

/// A change to a site's probing settings; `None` keeps the current value.
/// Lists are written as on the command line (see the parsers below).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Replaces the credential list when given (and not empty).
    #[serde(default)]
    pub credentials: Vec<String>,
    pub snmp_targets: Option<String>,
    pub subnets: Option<String>,
    pub snmp_interval_secs: Option<u64>,
    pub discovery_interval_secs: Option<u64>,
    pub ping_rate_pps: Option<u64>,
}

impl std::fmt::Debug for Probing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

impl Probing {
    /// Applies a change (pure; validated again by [`set`]).
    pub fn apply(&mut self, c: &Change) -> Result<(), StoreError> {
        if !c.credentials.is_empty() {
            self.credentials = c.credentials.iter().map(|s| parse_credential(s)).collect::<Result<_, _>>()?;
        }
        if let Some(t) = &c.snmp_targets {
            self.snmp_targets = parse_snmp_targets(t, self.credentials.len())?;
        }
        if let Some(s) = &c.subnets {
            self.subnets = parse_subnets(s)?;
        }
        let ms = |s: u64| s.saturating_mul(1000).min(i64::MAX as u64) as i64;
        if let Some(i) = c.snmp_interval_secs {
            self.snmp_interval_ms = ms(i);
        }
        if let Some(i) = c.discovery_interval_secs {
            self.discovery_interval_ms = ms(i);
        }
        if let Some(r) = c.ping_rate_pps {
            self.ping_rate_pps = r.min(i64::MAX as u64) as i64;
        }
        check_intervals(self)
    }

    /// One line for the audit log and the CLI; never a secret.
    pub fn summary(&self) -> String {
        let v = self.view();
        format!(
            "{} credentials, {} SNMP targets, subnets [{}], SNMP every {} s, discovery every {} s, {} pings/s",
            v.credentials.len(),
            v.snmp_targets.len(),
            v.subnets.join(","),
            v.snmp_interval_ms / 1000,
            v.discovery_interval_ms / 1000,
            v.ping_rate_pps
        )
    }
}

fn credential_view(position: usize, c: &SnmpCredential) -> CredentialView {
    match c {
        SnmpCredential::V2c { .. } => {
            CredentialView { position, version: Version::V2c, user: None, auth: None, privacy: None }
        }
        SnmpCredential::V3 { user, auth, privacy, .. } => CredentialView {
            position,
            version: Version::V3,
            user: Some(user.clone()),
            auth: Some((*auth).into()),
            privacy: Some((*privacy).into()),
        },
    }
}

/// Parses `v2c:COMMUNITY` or `v3:USER:AUTH:AUTHKEY:PRIV:PRIVKEY` (AUTH one of
/// `md5`, `sha`, `sha256`; PRIV `des` or `aes`). Error messages never echo
/// the secret parts.
fn parse_credential(spec: &str) -> Result<SnmpCredential, StoreError> {
    let bad = |why: &str| StoreError::invalid("credentials", why);
    if mast_text_core::input::line(spec, 300).is_err() {
        // Not the text problem's wording: it must not hint at the secret.
        return Err(bad("a credential is one line of at most 300 characters"));
    }
    if let Some(community) = spec.strip_prefix("v2c:") {
        if community.is_empty() || community.len() > 64 {
            return Err(bad("the community must be 1-64 characters"));
        }
        return Ok(SnmpCredential::V2c { community: community.to_string() });
    }
    if let Some(rest) = spec.strip_prefix("v3:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [user, auth, auth_key, privacy, priv_key] = parts[..] else {
            return Err(bad("v3 is written v3:USER:AUTH:AUTHKEY:PRIV:PRIVKEY"));
        };
        let auth = match auth.to_ascii_lowercase().as_str() {
            "md5" => V3Auth::Md5,
            "sha" | "sha1" => V3Auth::Sha1,
            "sha256" => V3Auth::Sha256,
            _ => return Err(bad("auth must be md5, sha or sha256")),
        };
        let privacy = match privacy.to_ascii_lowercase().as_str() {
            "des" => V3Privacy::Des,
            "aes" | "aes128" => V3Privacy::Aes128,
            _ => return Err(bad("privacy must be des or aes")),
        };
        if user.is_empty() || user.len() > 32 {
            return Err(bad("the v3 user must be 1-32 characters"));
        }
        if auth_key.len() < 8 || priv_key.len() < 8 {
            return Err(bad("v3 keys must be at least 8 characters (RFC 3414)"));
        }
        return Ok(SnmpCredential::V3 {
            user: user.to_string(),
            auth,
            auth_key: auth_key.to_string(),
            privacy,
            priv_key: priv_key.to_string(),
        });
    }
    Err(bad("write v2c:COMMUNITY or v3:USER:AUTH:AUTHKEY:PRIV:PRIVKEY"))
}

/// Parses `10.0.0.0/24,192.168.8.0/26`. Host bits are cleared; sweeps larger
/// than [`MAX_SWEEP_HOSTS`] are refused.
fn parse_subnets(list: &str) -> Result<Vec<Subnet>, StoreError> {
    let mut out: Vec<Subnet> = Vec::new();
    check_line("subnets", list, 10_000)?;
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || StoreError::invalid("subnets", format!("{item:?} is not ADDRESS/PREFIX"));
        let (addr, prefix) = item.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(bad());
        }
        if bits - prefix > 12 {
            return Err(StoreError::invalid(
                "subnets",
                format!("{item:?} is too large to sweep: at most {MAX_SWEEP_HOSTS} addresses (/20 for IPv4)"),
            ));
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::from(std::net::Ipv4Addr::from(
                u32::from(a) & (u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0)),
            )),
            IpAddr::V6(a) => IpAddr::from(std::net::Ipv6Addr::from(
                u128::from(a) & (u128::MAX.checked_shl(128 - prefix as u32).unwrap_or(0)),
            )),
        };
        let s = Subnet { addr, prefix };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Parses `IP[:PORT][@N],...`: N is the credential's position (default 0),
/// the port 161 unless given (IPv6 with a port as `[addr]:port`).
fn parse_snmp_targets(list: &str, n_credentials: usize) -> Result<Vec<SnmpTarget>, StoreError> {
    check_line("snmp_targets", list, 100_000)?;
    let bad = |why: String| StoreError::invalid("snmp_targets", why);
    let mut out: Vec<SnmpTarget> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (addr, cred) = match item.rsplit_once('@') {
            Some((a, c)) => (a, c.parse::<u16>().map_err(|_| bad(format!("{item:?}: @N must be a number")))?),
            None => (item, 0),
        };
        let addr: SocketAddr = match addr.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, 161),
            Err(_) => addr.parse().map_err(|_| bad(format!("{item:?} is not IP, IP:PORT or [IPv6]:PORT")))?,
        };
        if usize::from(cred) >= n_credentials {
            return Err(bad(format!("{item:?} uses credential {cred}, but the site has {n_credentials}")));
        }
        if !out.iter().any(|t| t.addr == addr) {
            out.push(SnmpTarget { addr, credential: cred });
        }
    }
    Ok(out)
}

fn check_intervals(p: &Probing) -> Result<(), StoreError> {
    if !(5_000..=86_400_000).contains(&p.snmp_interval_ms) {
        return Err(StoreError::invalid("snmp_interval_secs", "must be between 5 s and 1 day"));
    }
    if !(60_000..=7 * 86_400_000).contains(&p.discovery_interval_ms) {
        return Err(StoreError::invalid("discovery_interval_secs", "must be between 1 minute and 7 days"));
    }
    if !(10..=100_000).contains(&p.ping_rate_pps) {
        return Err(StoreError::invalid("ping_rate_pps", "must be 10 to 100,000 packets per second"));
    }
    Ok(())
}

/// What the site page shows of the probing settings, in one query.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Summary {
    pub snmp_interval_ms: i64,
    pub discovery_interval_ms: i64,
    pub ping_rate_pps: i64,
    pub subnets: String,
    pub credentials: i64,
    pub snmp_targets: i64,
}

pub async fn summary(db: &Db, site_id: i64) -> Result<Option<Summary>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT snmp_interval_ms, discovery_interval_ms, ping_rate_pps, subnets, \
         (SELECT COUNT(*) FROM site_snmp_credentials WHERE site_id = $1) AS credentials, \
         (SELECT COUNT(*) FROM site_snmp_targets WHERE site_id = $1) AS snmp_targets FROM sites WHERE id = $1",
    )
    .bind(site_id)
    .fetch_optional(&db.pool)
    .await?)
}

/// A stored credential row.
#[derive(sqlx::FromRow)]
struct CredentialRow {
    version: Version,
    community: Option<String>,
    v3_user: Option<String>,
    v3_auth: Option<Auth>,
    v3_auth_key: Option<String>,
    v3_privacy: Option<Privacy>,
    v3_priv_key: Option<String>,
}

impl CredentialRow {
    fn credential(self) -> Result<SnmpCredential, StoreError> {
        let missing = |col: &str| StoreError::Corrupt(format!("SNMP credential without {col}"));
        Ok(match self.version {
            Version::V2c => SnmpCredential::V2c { community: self.community.ok_or_else(|| missing("community"))? },
            Version::V3 => SnmpCredential::V3 {
                user: self.v3_user.ok_or_else(|| missing("v3_user"))?,
                auth: self.v3_auth.ok_or_else(|| missing("v3_auth"))?.into(),
                auth_key: self.v3_auth_key.ok_or_else(|| missing("v3_auth_key"))?,
                privacy: self.v3_privacy.ok_or_else(|| missing("v3_privacy"))?.into(),
                priv_key: self.v3_priv_key.ok_or_else(|| missing("v3_priv_key"))?,
            },
        })
    }
}

pub async fn get(db: &Db, site_id: i64) -> Result<Option<Probing>, StoreError> {
    let Some((snmp_interval_ms, discovery_interval_ms, ping_rate_pps, subnets)): Option<(i64, i64, i64, String)> =
        sqlx::query_as(
            "SELECT snmp_interval_ms, discovery_interval_ms, ping_rate_pps, subnets FROM sites WHERE id = $1",
        )
        .bind(site_id)
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let rows: Vec<CredentialRow> = sqlx::query_as(
        "SELECT version, community, v3_user, v3_auth, v3_auth_key, v3_privacy, v3_priv_key \
         FROM site_snmp_credentials WHERE site_id = $1 ORDER BY position",
    )
    .bind(site_id)
    .fetch_all(&db.pool)
    .await?;
    let credentials = rows.into_iter().map(CredentialRow::credential).collect::<Result<Vec<_>, _>>()?;
    let targets: Vec<(String, i64)> =
        sqlx::query_as("SELECT addr, credential FROM site_snmp_targets WHERE site_id = $1 ORDER BY addr")
            .bind(site_id)
            .fetch_all(&db.pool)
            .await?;
    let snmp_targets = targets
        .into_iter()
        .map(|(addr, credential)| {
            let addr = addr.parse().map_err(|_| StoreError::Corrupt(format!("SNMP target {addr:?}")))?;
            let credential =
                u16::try_from(credential).map_err(|_| StoreError::Corrupt(format!("SNMP credential {credential}")))?;
            Ok(SnmpTarget { addr, credential })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let subnets = parse_subnets(&subnets).map_err(|e| StoreError::Corrupt(format!("stored subnets: {e}")))?;
    Ok(Some(Probing { snmp_interval_ms, discovery_interval_ms, ping_rate_pps, subnets, credentials, snmp_targets }))
}

/// Replaces a site's probing settings and bumps its revision.
pub async fn set(db: &Db, site_id: i64, p: &Probing) -> Result<(), StoreError> {
    validate(p)?;
    let subnets = p.subnets.iter().map(|s| format!("{}/{}", s.addr, s.prefix)).collect::<Vec<_>>().join(",");
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "UPDATE sites SET snmp_interval_ms = $1, discovery_interval_ms = $2, ping_rate_pps = $3, subnets = $4, \
         revision = revision + 1 WHERE id = $5",
    )
    .bind(p.snmp_interval_ms)
    .bind(p.discovery_interval_ms)
    .bind(p.ping_rate_pps)
    .bind(subnets)
    .bind(site_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("no site {site_id}")));
    }
    sqlx::query("DELETE FROM site_snmp_credentials WHERE site_id = $1").bind(site_id).execute(&mut *tx).await?;
    for (i, c) in p.credentials.iter().enumerate() {
        let (version, community, user, auth, auth_key, privacy, priv_key) = match c {
            SnmpCredential::V2c { community } => (Version::V2c, Some(community.clone()), None, None, None, None, None),
            SnmpCredential::V3 { user, auth, auth_key, privacy, priv_key } => (
                Version::V3,
                None,
                Some(user.clone()),
                Some(Auth::from(*auth)),
                Some(auth_key.clone()),
                Some(Privacy::from(*privacy)),
                Some(priv_key.clone()),
            ),
        };
        sqlx::query(
            "INSERT INTO site_snmp_credentials (site_id, position, version, community, v3_user, v3_auth, v3_auth_key, \
             v3_privacy, v3_priv_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(site_id)
        .bind(i as i64)
        .bind(version)
        .bind(community)
        .bind(user)
        .bind(auth)
        .bind(auth_key)
        .bind(privacy)
        .bind(priv_key)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM site_snmp_targets WHERE site_id = $1").bind(site_id).execute(&mut *tx).await?;
    for t in &p.snmp_targets {
        sqlx::query("INSERT INTO site_snmp_targets (site_id, addr, credential) VALUES ($1, $2, $3)")
            .bind(site_id)
            .bind(t.addr.to_string())
            .bind(i64::from(t.credential))
            .execute(&mut *tx)
            .await?;
        // An SNMP target is a device from the start, like a ping target.
        super::device_id(&mut tx, site_id, t.addr.ip()).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_and_errors_never_echo_secrets() {
        assert_eq!(parse_credential("v2c:public").unwrap(), SnmpCredential::V2c { community: "public".into() });
        let v3 = parse_credential("v3:mast:sha:authpass1:aes:privpass1").unwrap();
        assert!(matches!(v3, SnmpCredential::V3 { auth: V3Auth::Sha1, privacy: V3Privacy::Aes128, .. }));
        for bad in ["public", "v2c:", "v3:mast:sha:short:aes:privpass1", "v3:mast:xx:authpass1:aes:privpass1", "v1:x"] {
            let e = parse_credential(bad).unwrap_err().to_string();
            assert!(!e.contains("authpass1") && !e.contains("privpass1") && !e.contains("short"), "{e}");
        }
    }

    #[test]
    fn subnets_are_normalised_and_bounded() {
        let s = parse_subnets("10.1.2.77/24, 10.1.2.0/24,fd00::5/120").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], Subnet { addr: "10.1.2.0".parse().unwrap(), prefix: 24 });
        assert_eq!(s[1], Subnet { addr: "fd00::".parse().unwrap(), prefix: 120 });
        assert!(parse_subnets("10.0.0.0/16").is_err());
        assert!(parse_subnets("10.0.0.0/33").is_err());
        assert!(parse_subnets("10.0.0.0").is_err());
        assert!(parse_subnets("10.0.0.0/20").is_ok());
        assert!(parse_subnets("10.0.0.1/32").is_ok());
    }

    #[test]
    fn snmp_targets_parse_with_ports_and_credentials() {
        let t = parse_snmp_targets("10.0.0.1, 127.0.0.1:1161@1,[::1]:1162", 2).unwrap();
        assert_eq!(t[0], SnmpTarget { addr: "10.0.0.1:161".parse().unwrap(), credential: 0 });
        assert_eq!(t[1], SnmpTarget { addr: "127.0.0.1:1161".parse().unwrap(), credential: 1 });
        assert_eq!(t[2].addr, "[::1]:1162".parse().unwrap());
        assert!(parse_snmp_targets("10.0.0.1@2", 2).is_err());
        assert!(parse_snmp_targets("nonsense", 1).is_err());
    }

    #[test]
    fn errors_name_the_api_key() {
        assert_eq!(parse_credential("v1:x").unwrap_err().field(), Some("credentials"));
        let e = parse_credential("v2c:pub\0lic").unwrap_err();
        assert_eq!(e.field(), Some("credentials"));
        assert!(!e.to_string().contains("pub"), "{e}");
        assert_eq!(parse_subnets("10.0.0.0/8").unwrap_err().field(), Some("subnets"));
        assert_eq!(parse_snmp_targets("10.0.0.1@3", 1).unwrap_err().field(), Some("snmp_targets"));
        let p = Probing {
            snmp_interval_ms: 60_000,
            discovery_interval_ms: 3_600_000,
            ping_rate_pps: 2000,
            subnets: vec![],
            credentials: vec![],
            snmp_targets: vec![],
        };
        let field = |c: Change| p.clone().apply(&c).unwrap_err().field().map(str::to_string);
        let c = Change { snmp_interval_secs: Some(1), ..Default::default() };
        assert_eq!(field(c).as_deref(), Some("snmp_interval_secs"));
        let c = Change { discovery_interval_secs: Some(1), ..Default::default() };
        assert_eq!(field(c).as_deref(), Some("discovery_interval_secs"));
        let c = Change { ping_rate_pps: Some(1), ..Default::default() };
        assert_eq!(field(c).as_deref(), Some("ping_rate_pps"));
    }

    #[tokio::test]
    async fn settings_round_trip_and_corrupt_rows_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/p.db", dir.path().display())).await.unwrap();
        let site = crate::monitoring::add_site(&db, "north", &[], 30_000, 1_000).await.unwrap();
        let mut p = get(&db, site.id).await.unwrap().unwrap();
        p.apply(&Change {
            credentials: vec!["v2c:public".into(), "v3:mast:sha256:authpass1:aes:privpass1".into()],
            snmp_targets: Some("10.0.0.1@1".into()),
            subnets: Some("10.0.0.0/24".into()),
            ..Default::default()
        })
        .unwrap();
        set(&db, site.id, &p).await.unwrap();
        assert_eq!(get(&db, site.id).await.unwrap().unwrap(), p);
        let s = summary(&db, site.id).await.unwrap().unwrap();
        assert_eq!((s.credentials, s.snmp_targets, s.subnets.as_str()), (2, 1, "10.0.0.0/24"));
        assert!(matches!(set(&db, 999, &p).await, Err(StoreError::NotFound(_))));
        assert!(get(&db, 999).await.unwrap().is_none());
        sqlx::query("UPDATE site_snmp_credentials SET v3_auth = 'rot13' WHERE position = 1")
            .execute(&db.pool)
            .await
            .unwrap();
        assert!(matches!(get(&db, site.id).await, Err(StoreError::Corrupt(_))));
        sqlx::query("UPDATE site_snmp_credentials SET v3_auth = 'sha256', version = 'v9'")
            .execute(&db.pool)
            .await
            .unwrap();
        assert!(matches!(get(&db, site.id).await, Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn views_hide_secrets() {
        let p = Probing {
            snmp_interval_ms: 60_000,
            discovery_interval_ms: 3_600_000,
            ping_rate_pps: 2000,
            subnets: vec![],
            credentials: vec![
                parse_credential("v2c:s3cret").unwrap(),
                parse_credential("v3:mast:sha:authpass1:aes:privpass1").unwrap(),
            ],
            snmp_targets: vec![],
        };
        let json = serde_json::to_string(&p.view()).unwrap();
        assert!(!json.contains("s3cret") && !json.contains("authpass1") && !json.contains("privpass1"), "{json}");
        assert!(json.contains("\"user\":\"mast\""));
    }
}
