//! The technician's `probe` command: one identify + ICMP + SNMP pass over
//! the given targets.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A `TARGET` of the probe command: `ip` or `ip:port` (port for SNMP).
pub fn parse_target(s: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 161));
    }
    s.parse::<SocketAddr>().map_err(|_| format!("{s:?} is not an IP address or IP:PORT"))
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SnmpIdentity {
    pub sys_descr: Option<String>,
    pub sys_object_id: Option<String>,
    pub sys_name: Option<String>,
    pub sys_uptime_ticks: Option<u32>,
}

const SYS_DESCR: &[u64] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];
const SYS_OBJECT_ID: &[u64] = &[1, 3, 6, 1, 2, 1, 1, 2, 0];
const SYS_UPTIME: &[u64] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
const SYS_NAME: &[u64] = &[1, 3, 6, 1, 2, 1, 1, 5, 0];

/// SNMP v2c GET of the system group. Errors are returned as text for the
/// report; nothing here panics on a malformed reply.
pub async fn snmp_identify(addr: SocketAddr, community: &str, timeout: Duration) -> Result<SnmpIdentity, String> {
    use snmp2::{AsyncSession, Oid, Value};
    let oids: Vec<Oid<'static>> = [SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME]
        .iter()
        .map(|o| Oid::from(o).map_err(|e| format!("{e:?}")))
        .collect::<Result<_, _>>()?;
    let mut sess = AsyncSession::new_v2c(addr, community.as_bytes(), rand::random::<u16>() as i32)
        .await
        .map_err(|e| format!("socket: {e}"))?;
    let refs: Vec<&Oid> = oids.iter().collect();
    let mut last_err = String::from("timeout");
    for _attempt in 0..2 {
        match tokio::time::timeout(timeout, sess.get_many(&refs)).await {
            Err(_) => last_err = format!("no SNMP answer within {} ms", timeout.as_millis()),
            Ok(Err(e)) => {
                last_err = format!("{e:?}");
                break;
            }
            Ok(Ok(pdu)) => {
                if pdu.error_status != 0 {
                    return Err(format!("SNMP error status {}", pdu.error_status));
                }
                let mut id = SnmpIdentity::default();
                for (oid, val) in pdu.varbinds {
                    let key = oid.to_id_string();
                    let text = |v: &Value| match v {
                        Value::OctetString(b) => Some(String::from_utf8_lossy(b).trim().to_string()),
                        _ => None,
                    };
                    match key.as_str() {
                        "1.3.6.1.2.1.1.1.0" => id.sys_descr = text(&val),
                        "1.3.6.1.2.1.1.5.0" => id.sys_name = text(&val),
                        "1.3.6.1.2.1.1.2.0" => {
                            if let Value::ObjectIdentifier(o) = &val {
                                id.sys_object_id = Some(o.to_id_string());
                            }
                        }
                        "1.3.6.1.2.1.1.3.0" => {
                            if let Value::Timeticks(t) = val {
                                id.sys_uptime_ticks = Some(t);
                            }
                        }
                        _ => {}
                    }
                }
                return Ok(id);
            }
        }
    }
    Err(last_err)
}
