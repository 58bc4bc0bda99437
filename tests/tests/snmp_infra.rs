//! The SNMP test harness itself (tests/src/snmp.rs): real net-snmp snmpd,
//! snmpsim serving the recordings in tests/fixtures/snmp, many simulated
//! devices, and the misbehaving agent, all checked with net-snmp's command
//! line tools as the client (no Mast code).

use mast_tests::snmp::{
    self, BadMode, BadSnmpAgent, FIXTURES, SimDevice, SnmpSim, Snmpd, check_snmprec, fixture, many_devices, net_snmp,
};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";
const IF_PHYS_ADDRESS: &str = "1.3.6.1.2.1.2.2.1.6";

/// `OID -> value` from `-On -Oq`-style tool output (`.1.3... value`).
fn parse_vars(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, v)| !v.contains("No more variables") && !v.contains("No Such"))
        .map(|(k, v)| (k.trim_start_matches('.').to_string(), v.trim().trim_matches('"').trim().to_string()))
        .collect()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `snmpget -v2c` of `oids`, values only-quoted form (`-Oq`).
fn v2c_get(addr: SocketAddr, community: &str, oids: &[&str]) -> BTreeMap<String, String> {
    let out = net_snmp("snmpget")
        .args(["-v2c", "-c", community, "-On", "-Oq", "-t", "2", "-r", "1"])
        .arg(addr.to_string())
        .args(oids)
        .output()
        .expect("running snmpget");
    parse_vars(&ok(out, &format!("snmpget -c {community} {addr}")))
}

fn bulkwalk(addr: SocketAddr, community: &str, root: &str) -> BTreeMap<String, String> {
    let out = net_snmp("snmpbulkwalk")
        .args(["-v2c", "-c", community, "-On", "-Oq", "-t", "3", "-r", "1", "-Cr25"])
        .arg(addr.to_string())
        .arg(root)
        .output()
        .expect("running snmpbulkwalk");
    parse_vars(&ok(out, &format!("snmpbulkwalk -c {community} {addr} {root}")))
}

/// Rows of a table column: `(index, value)`, in index (string) order.
fn column(vars: &BTreeMap<String, String>, col: &str) -> Vec<(String, String)> {
    let prefix = format!("{col}.");
    vars.iter().filter_map(|(k, v)| k.strip_prefix(&prefix).map(|i| (i.to_string(), v.clone()))).collect()
}

/// The values of a table column, sorted.
fn values(vars: &BTreeMap<String, String>, col: &str) -> Vec<String> {
    let mut v: Vec<String> = column(vars, col).into_iter().map(|(_, v)| v).collect();
    v.sort();
    v
}

#[test]
fn recordings_are_sorted_and_documented() {
    let readme = std::fs::read_to_string(fixture("README.md")).expect("fixtures README");
    for name in FIXTURES {
        let n = check_snmprec(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert!(n > 100, "{name} has only {n} records");
        assert!(readme.contains(&format!("{name}.snmprec")), "README does not describe {name}");
        // Every recording carries the system group and ifPhysAddress.
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        for oid in [SYS_DESCR, SYS_OBJECT_ID, SYS_NAME, "1.3.6.1.2.1.2.2.1.2.", IF_PHYS_ADDRESS] {
            assert!(text.lines().any(|l| l.starts_with(oid)), "{name} lacks {oid}");
        }
    }
}

#[test]
fn check_snmprec_rejects_bad_recordings() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unsorted", "1.3.6.1.2.1.1.5.0|4|b\n1.3.6.1.2.1.1.1.0|4|a\n"),
        ("lexical order", "1.3.6.1.2.1.2.2.1.1.10|2|10\n1.3.6.1.2.1.2.2.1.1.9|2|9\n"),
        ("duplicate", "1.3.6.1.2.1.1.1.0|4|a\n1.3.6.1.2.1.1.1.0|4|a\n"),
        ("bad tag", "1.3.6.1.2.1.1.1.0|99|a\n"),
        ("bad hex", "1.3.6.1.2.1.2.2.1.6.1|4x|00zz\n"),
        ("bad oid", "1.3.six.1|4|a\n"),
        ("two fields", "1.3.6.1.2.1.1.1.0|4\n"),
    ];
    for (what, text) in cases {
        let p = dir.path().join(format!("{}.snmprec", what.replace(' ', "-")));
        std::fs::write(&p, text).unwrap();
        assert!(check_snmprec(&p).is_err(), "{what} accepted");
    }
    let good = dir.path().join("good.snmprec");
    std::fs::write(&good, "# comment\n1.3.6.1.2.1.1.1.0|4|a|b\n1.3.6.1.2.1.1.3.0|67|5\n1.3.6.1.2.1.1.10.0|4x|00ff\n")
        .unwrap();
    assert_eq!(check_snmprec(&good).unwrap(), 3);
}

#[test]
fn many_devices_are_distinct_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let base = fixture("ubiquiti-ap");
    let devices = many_devices(300, &base, dir.path()).unwrap();
    assert_eq!(devices.len(), 300);
    assert_eq!(devices[0].community, "dev0001");
    assert_eq!(devices[299].community, "dev0300");
    let base_lines = check_snmprec(&base).unwrap();
    let mut station_rows = HashSet::new();
    let mut if_macs = HashSet::new();
    for d in &devices {
        assert_eq!(check_snmprec(&d.recording).unwrap(), base_lines, "{}", d.community);
        let text = std::fs::read_to_string(&d.recording).unwrap();
        assert!(text.contains(&format!("{SYS_NAME}|4|{}\n", d.community)));
        for l in text.lines() {
            if l.starts_with("1.3.6.1.4.1.41112.1.4.7.1.1.") {
                // ubntStaMac: the index carries the MAC, and so does the value.
                let (oid, value) = l.split_once("|4x|").unwrap();
                let idx: Vec<u8> = oid.rsplit('.').take(6).map(|a| a.parse().unwrap()).collect();
                let hex: String = idx.iter().rev().map(|b| format!("{b:02x}")).collect();
                assert_eq!(hex, value, "station index and value disagree: {l}");
                assert!(station_rows.insert(value.to_string()), "station MAC {value} repeated");
            }
            if let Some(rest) = l.strip_prefix("1.3.6.1.2.1.2.2.1.6.2|4x|") {
                assert!(rest.starts_with("24a43c"), "OUI kept: {rest}");
                assert!(if_macs.insert(rest.to_string()), "eth0 MAC {rest} repeated");
            }
        }
    }
    assert_eq!(station_rows.len(), 3 * 300);
    // Bad input is an error, not a panic.
    assert!(many_devices(2, &dir.path().join("missing.snmprec"), dir.path()).is_err());
}

#[test]
fn snmpd_answers_v2c_and_v3() {
    if !snmp::require_net_snmp_tools().unwrap() {
        return;
    }
    let Some(agent) = Snmpd::start().unwrap() else { return };
    let v = v2c_get(agent.addr(), agent.community(), &[SYS_DESCR, SYS_NAME]);
    assert_eq!(v[SYS_DESCR], snmp::SNMPD_SYS_DESCR);
    assert_eq!(v[SYS_NAME], "mast-snmpd");

    let u = agent.v3();
    let v3 = |auth: &str, privacy: &str| {
        net_snmp("snmpget")
            .args(["-v3", "-l", "authPriv", "-u", &u.user, "-a", u.auth_protocol, "-A", auth, "-x"])
            .args([u.priv_protocol, "-X", privacy, "-On", "-Oq", "-t", "2", "-r", "0"])
            .arg(agent.addr().to_string())
            .arg(SYS_DESCR)
            .output()
            .unwrap()
    };
    let out = ok(v3(&u.auth_password, &u.priv_password), "snmpget -v3");
    assert_eq!(parse_vars(&out)[SYS_DESCR], snmp::SNMPD_SYS_DESCR);
    // Wrong keys are refused: the user really is authPriv.
    assert!(!v3("wrong-password-1", &u.priv_password).status.success());
    // A wrong v2c community gets no answer.
    let wrong = net_snmp("snmpget")
        .args(["-v2c", "-c", "not-the-community", "-t", "1", "-r", "0"])
        .arg(agent.addr().to_string())
        .arg(SYS_DESCR)
        .output()
        .unwrap();
    assert!(!wrong.status.success());
}

#[test]
fn snmpsim_serves_every_recording() {
    if !snmp::require_net_snmp_tools().unwrap() {
        return;
    }
    let devices: Vec<SimDevice> = FIXTURES.iter().map(|n| SimDevice::new(*n, fixture(n))).collect();
    let Some(sim) = SnmpSim::start(&devices, 1).unwrap() else { return };
    let addr = sim.addr();
    let get = |c: &str| v2c_get(addr, c, &[SYS_OBJECT_ID, SYS_DESCR, SYS_NAME]);

    // The real NanoStation M5 recording: one associated station.
    let m5 = get("ubiquiti-m5");
    assert_eq!(m5[SYS_OBJECT_ID], ".1.3.6.1.4.1.41112.1.4");
    assert!(m5[SYS_DESCR].starts_with("Linux 2.6.32"), "{}", m5[SYS_DESCR]);
    let sta = bulkwalk(addr, "ubiquiti-m5", "1.3.6.1.4.1.41112.1.4.7.1");
    let macs = column(&sta, "1.3.6.1.4.1.41112.1.4.7.1.1");
    assert_eq!(macs, [("1.104.114.81.0.52.37".to_string(), "68 72 51 00 34 25".to_string())]);
    assert_eq!(column(&sta, "1.3.6.1.4.1.41112.1.4.7.1.3"), [("1.104.114.81.0.52.37".into(), "-64".into())]);
    let phys = bulkwalk(addr, "ubiquiti-m5", IF_PHYS_ADDRESS);
    assert_eq!(phys.get("1.3.6.1.2.1.2.2.1.6.2").map(String::as_str), Some("04 18 D6 2B 0A 92"));

    // The airMAX AP: three CPEs with signal, CCQ, distance, last IP.
    let ap = get("ubiquiti-ap");
    assert_eq!(ap[SYS_OBJECT_ID], ".1.3.6.1.4.1.41112.1.4");
    assert_eq!(ap[SYS_NAME], "tower1-north-ap");
    let sta = bulkwalk(addr, "ubiquiti-ap", "1.3.6.1.4.1.41112.1.4.7.1");
    assert_eq!(values(&sta, "1.3.6.1.4.1.41112.1.4.7.1.2"), ["cpe-garcia", "cpe-lindqvist", "cpe-okafor"]);
    assert_eq!(values(&sta, "1.3.6.1.4.1.41112.1.4.7.1.10"), ["10.20.1.11", "10.20.1.12", "10.20.1.13"]);
    assert_eq!(
        column(&sta, "1.3.6.1.4.1.41112.1.4.7.1.3").iter().find(|(i, _)| i == "1.4.24.214.161.34.59"),
        Some(&("1.4.24.214.161.34.59".to_string(), "-58".to_string())),
        "ubntStaSignal of 04:18:d6:a1:22:3b"
    );
    assert_eq!(column(&sta, "1.3.6.1.4.1.41112.1.4.7.1.6").len(), 3, "ubntStaCcq");
    let fw = v2c_get(addr, "ubiquiti-ap", &["1.2.840.10036.3.1.2.1.4.5"]);
    assert!(fw["1.2.840.10036.3.1.2.1.4.5"].starts_with("XM.ar7240.v6."));

    // MikroTik: registration table indexed by MAC + ifIndex, serial and firmware.
    let mt = get("mikrotik");
    assert_eq!(mt[SYS_OBJECT_ID], ".1.3.6.1.4.1.14988.1");
    assert_eq!(mt[SYS_DESCR], "RouterOS RB912UAG-5HPnD");
    let rtab = bulkwalk(addr, "mikrotik", "1.3.6.1.4.1.14988.1.1.1.2.1");
    let strength = column(&rtab, "1.3.6.1.4.1.14988.1.1.1.2.1.3");
    assert_eq!(strength.len(), 3);
    assert!(strength.iter().all(|(idx, _)| idx.ends_with(".2") && idx.split('.').count() == 7), "{strength:?}");
    let scalars = v2c_get(addr, "mikrotik", &["1.3.6.1.4.1.14988.1.1.7.3.0", "1.3.6.1.4.1.14988.1.1.4.4.0"]);
    assert_eq!(scalars["1.3.6.1.4.1.14988.1.1.7.3.0"], "8F1207A3C5D2");
    assert_eq!(scalars["1.3.6.1.4.1.14988.1.1.4.4.0"], "6.49.10");

    // Cambium ePMP: connected-station table and serial.
    let ep = get("cambium-epmp");
    assert_eq!(ep[SYS_OBJECT_ID], ".1.3.6.1.4.1.17713.21");
    let sta = bulkwalk(addr, "cambium-epmp", "1.3.6.1.4.1.17713.21.1.2.30.1");
    let macs = values(&sta, "1.3.6.1.4.1.17713.21.1.2.30.1.1");
    assert_eq!(macs, ["00:04:56:B2:10:0E", "00:04:56:B2:27:F1", "58:C1:7A:04:3D:90"]);
    assert_eq!(column(&sta, "1.3.6.1.4.1.17713.21.1.2.30.1.10").len(), 3, "connectedSTAIP");
    let serial = v2c_get(addr, "cambium-epmp", &["1.3.6.1.4.1.17713.21.1.1.31.0"]);
    assert_eq!(serial["1.3.6.1.4.1.17713.21.1.1.31.0"].len(), 13);

    // The D-Link switch: bridge forwarding table and ARP table.
    let sw = get("switch");
    assert_eq!(sw[SYS_OBJECT_ID], ".1.3.6.1.4.1.171.10.63.6");
    let fdb = bulkwalk(addr, "switch", "1.3.6.1.2.1.17.4.3.1");
    assert_eq!(column(&fdb, "1.3.6.1.2.1.17.4.3.1.1").len(), 27, "dot1dTpFdbAddress");
    assert_eq!(column(&fdb, "1.3.6.1.2.1.17.4.3.1.2").len(), 27, "dot1dTpFdbPort");
    let arp = bulkwalk(addr, "switch", "1.3.6.1.2.1.4.22.1");
    assert_eq!(column(&arp, "1.3.6.1.2.1.4.22.1.2").len(), 4, "ipNetToMediaPhysAddress");

    // An unknown community gets no answer.
    let out = net_snmp("snmpget")
        .args(["-v2c", "-c", "nosuchdevice", "-t", "1", "-r", "0"])
        .arg(addr.to_string())
        .arg(SYS_DESCR)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(sim.log().is_empty() || !sim.log().contains("Traceback"), "{}", sim.log());
}

#[test]
fn fifty_devices_on_two_endpoints() {
    if !snmp::require_net_snmp_tools().unwrap() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let devices = many_devices(50, &fixture("ubiquiti-ap"), dir.path()).unwrap();
    let t = Instant::now();
    let Some(sim) = SnmpSim::start(&devices, 2).unwrap() else { return };
    eprintln!("snmpsim with 50 devices on 2 endpoints answered after {:?}", t.elapsed());
    assert_eq!(sim.endpoints().len(), 2);
    assert_ne!(sim.endpoints()[0], sim.endpoints()[1]);
    let mut macs = HashSet::new();
    for (i, d) in devices.iter().enumerate() {
        // Every device answers on every endpoint; alternate between them.
        let addr = sim.endpoints()[i % 2];
        let eth0 = format!("{IF_PHYS_ADDRESS}.2");
        let v = v2c_get(addr, &d.community, &[SYS_NAME, &eth0]);
        assert_eq!(v[SYS_NAME], d.community);
        assert!(macs.insert(v[&eth0].clone()), "MAC {} repeated", v[&eth0]);
    }
    let other = v2c_get(sim.endpoints()[1], "dev0001", &[SYS_NAME]);
    assert_eq!(other[SYS_NAME], "dev0001");
    // Station tables differ between devices too.
    let a = bulkwalk(sim.endpoints()[0], "dev0001", "1.3.6.1.4.1.41112.1.4.7.1.1");
    let b = bulkwalk(sim.endpoints()[1], "dev0050", "1.3.6.1.4.1.41112.1.4.7.1.1");
    assert_eq!((a.len(), b.len()), (3, 3));
    assert!(a.keys().all(|k| !b.contains_key(k)), "{a:?} {b:?}");
}

/// `snmpget -v2c -t T -r 0 sysDescr` against `addr`, without blocking the runtime.
async fn quick_get(addr: SocketAddr, community: &str, timeout_s: u32) -> Output {
    let mut cmd: Command = net_snmp("snmpget");
    cmd.args(["-v2c", "-c", community, "-On", "-Oq", "-t", &timeout_s.to_string(), "-r", "0"])
        .arg(addr.to_string())
        .arg(SYS_DESCR);
    tokio::process::Command::from(cmd).output().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_agents_make_requests_fail() {
    if !snmp::require_net_snmp_tools().unwrap() {
        return;
    }
    for mode in [BadMode::Garbage, BadMode::Silent] {
        let bad = BadSnmpAgent::start(mode).await.unwrap();
        let t = Instant::now();
        let out = quick_get(bad.addr(), "public", 1).await;
        assert!(!out.status.success(), "{mode:?}: {}", String::from_utf8_lossy(&out.stdout));
        assert!(String::from_utf8_lossy(&out.stderr).contains("Timeout"), "{mode:?}: {out:?}");
        assert!(t.elapsed() >= Duration::from_millis(900), "{mode:?} failed before the timeout");
        assert_eq!(bad.requests(), 1, "{mode:?}");
    }

    let Some(agent) = tokio::task::spawn_blocking(Snmpd::start).await.unwrap().unwrap() else { return };
    let upstream = agent.addr();
    let direct = quick_get(upstream, agent.community(), 2).await;
    assert!(direct.status.success(), "{direct:?}");

    let truncated = BadSnmpAgent::start(BadMode::Truncated { upstream }).await.unwrap();
    let out = quick_get(truncated.addr(), agent.community(), 1).await;
    assert!(!out.status.success(), "truncated reply accepted: {out:?}");
    assert_eq!(truncated.requests(), 1);

    let delay = Duration::from_millis(1500);
    let slow = BadSnmpAgent::start(BadMode::Slow { upstream, delay }).await.unwrap();
    let out = quick_get(slow.addr(), agent.community(), 1).await;
    assert!(!out.status.success(), "answered before the delay: {out:?}");
    let t = Instant::now();
    let out = quick_get(slow.addr(), agent.community(), 4).await;
    let elapsed = t.elapsed();
    let text = ok(out, "snmpget through the slow agent");
    assert_eq!(parse_vars(&text)[SYS_DESCR], snmp::SNMPD_SYS_DESCR);
    assert!(elapsed >= delay, "answered after {elapsed:?}, before the {delay:?} delay");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

/// The benchmark's scale: 500 devices on 4 endpoints (about 10 s; run with
/// `--ignored`).
#[test]
#[ignore]
fn five_hundred_devices() {
    if !snmp::require_net_snmp_tools().unwrap() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let devices = many_devices(500, &fixture("ubiquiti-ap"), dir.path()).unwrap();
    let t = Instant::now();
    let Some(sim) = SnmpSim::start(&devices, 4).unwrap() else { return };
    eprintln!("snmpsim with 500 devices on 4 endpoints answered after {:?}", t.elapsed());
    let t = Instant::now();
    for (i, d) in devices.iter().enumerate() {
        let v = v2c_get(sim.endpoints()[i % 4], &d.community, &[SYS_NAME]);
        assert_eq!(v[SYS_NAME], d.community);
    }
    eprintln!("500 snmpget processes took {:?}", t.elapsed());
}
