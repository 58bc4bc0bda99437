//! `mast-agent probe` end to end: the real binary against snmpsim serving
//! the recordings in tests/fixtures/snmp, net-snmp's snmpd (v2c and v3
//! authPriv), and misbehaving agents (garbage, truncated, silent, slow).

use mast_tests::snmp::{BadMode, BadSnmpAgent, SimDevice, SnmpSim, Snmpd, fixture};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `mast-agent probe --json ARGS`, killing it after `limit`; returns the
/// JSON and the wall time.
fn probe(args: &[String], limit: Duration) -> (Value, Duration) {
    let bin = mast_tests::agent_bin(); // builds the binaries on first use: not part of the time limit
    let started = Instant::now();
    let mut child = Command::new(bin)
        .arg("probe")
        .arg("--json")
        .args(args)
        .env("MAST_LOG", std::env::var("PROBE_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting mast-agent probe");
    // Drain the pipes while waiting, so a large report cannot block the child.
    let mut stdout_pipe = child.stdout.take().expect("stdout");
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout_pipe, &mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr_pipe, &mut b);
        b
    });
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting for probe") {
            break st;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = err_reader.join().unwrap_or_default();
            panic!(
                "mast-agent probe {args:?} still running after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = std::process::Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    };
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "probe {args:?} failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("probe JSON: {e}: {stdout}"));
    assert_eq!(json["version"], 1, "{json}");
    (json, took)
}

fn v2c(community: &str, timeout_ms: u64, targets: &[SocketAddr]) -> Vec<String> {
    let mut a = vec!["--community".into(), community.into(), "--timeout-ms".into(), timeout_ms.to_string()];
    a.extend(targets.iter().map(|t| t.to_string()));
    a
}

/// The `snmp` object of the only target.
fn only(json: &Value) -> &Value {
    let t = json["targets"].as_array().expect("targets");
    assert_eq!(t.len(), 1, "{json}");
    &t[0]["snmp"]
}

fn strs<'a>(v: &'a Value, field: &str) -> Vec<&'a str> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}")).iter().filter_map(|x| x[field].as_str()).collect()
}

fn sim(names: &[&str]) -> Option<SnmpSim> {
    let devices: Vec<SimDevice> = names.iter().map(|n| SimDevice::new(*n, fixture(n))).collect();
    SnmpSim::start(&devices, 1).expect("starting snmpsim")
}

#[test]
fn ubiquiti_m5_recording() {
    let Some(sim) = sim(&["ubiquiti-m5"]) else { return };
    let (json, _) = probe(&v2c("ubiquiti-m5", 2000, &[sim.addr()]), Duration::from_secs(30));
    let s = only(&json);
    assert_eq!(s["outcome"], "Ok", "{s}");
    let id = &s["identity"];
    assert_eq!(id["vendor"], "Ubiquiti");
    assert_eq!(id["model"], "NanoStation M5");
    assert_eq!(id["firmware"], "XW.ar934x.v5.6-beta4.22359.140521.1836");
    assert_eq!(id["sys_name"], "Kotelinaya-to-Pat");
    assert_eq!(id["sys_object_id"], "1.3.6.1.4.1.41112.1.4");
    assert_eq!(id["kind"], "AccessPoint");
    assert_eq!(id["profile"], "ubiquiti-airmax");
    assert_eq!(id["base_mac"], "04:18:d6:2a:0a:92", "the wireless MAC");
    assert_eq!(id["uptime_s"], 8_431_538);
    let names = strs(&s["interfaces"], "name");
    assert_eq!(names, ["lo", "eth0", "eth1", "wifi0", "ath0", "eth0.40", "ath0.40", "br0", "br1"]);
    let iface = |n: &str| s["interfaces"].as_array().unwrap().iter().find(|i| i["name"] == n).unwrap().clone();
    assert_eq!(iface("eth0")["mac"], "04:18:d6:2b:0a:92");
    assert_eq!(iface("eth0")["speed_bps"], 100_000_000);
    assert_eq!(iface("eth0")["oper_up"], true);
    assert_eq!(iface("eth1")["oper_up"], false);
    assert_eq!(iface("ath0")["mac"], "04:18:d6:2a:0a:92");
    assert_eq!(iface("lo")["mac"], Value::Null);
    assert_eq!(iface("eth0")["in_bps"], Value::Null, "no rate on a first poll");
    let st = &s["stations"][0];
    assert_eq!(s["stations"].as_array().unwrap().len(), 1);
    assert_eq!(st["mac"], "68:72:51:00:34:25");
    assert_eq!(st["name"], "patrikeevo_skl");
    assert_eq!((st["signal_dbm"].as_i64(), st["quality_pct"].as_i64()), (Some(-64), Some(99)));
    assert_eq!((st["distance_m"].as_i64(), st["tx_rate_kbps"].as_i64()), (Some(630), Some(162_000)));
    assert_eq!(st["ip"], Value::Null, "0.0.0.0 is no address");
    assert!(s["requests"].as_u64().unwrap() >= 4 && s["varbinds"].as_u64().unwrap() > 60, "{s}");
}

#[test]
fn vendor_station_tables_and_bridge() {
    let Some(sim) = sim(&["ubiquiti-ap", "mikrotik", "cambium-epmp", "switch"]) else { return };
    let limit = Duration::from_secs(30);
    let stations = |s: &Value| -> Vec<(String, i64)> {
        s["stations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["mac"].as_str().unwrap().to_string(), x["signal_dbm"].as_i64().unwrap()))
            .collect()
    };
    let pairs = |v: &[(&str, i64)]| v.iter().map(|(m, s)| (m.to_string(), *s)).collect::<Vec<_>>();

    let (json, _) = probe(&v2c("ubiquiti-ap", 2000, &[sim.addr()]), limit);
    let s = only(&json);
    assert_eq!((s["outcome"].as_str(), s["identity"]["model"].as_str()), (Some("Ok"), Some("Rocket M5")), "{s}");
    assert_eq!(
        stations(s),
        pairs(&[("04:18:d6:a1:22:3b", -58), ("24:a4:3c:7e:01:9a", -66), ("78:8a:20:10:c4:e7", -72)])
    );
    assert_eq!(s["stations"][0]["ip"], "10.20.1.11");
    assert_eq!(s["stations"][2]["name"], "cpe-lindqvist");

    let (json, _) = probe(&v2c("mikrotik", 2000, &[sim.addr()]), limit);
    let s = only(&json);
    let id = &s["identity"];
    assert_eq!((id["vendor"].as_str(), id["model"].as_str()), (Some("MikroTik"), Some("RB912UAG-5HPnD")), "{s}");
    assert_eq!((id["firmware"].as_str(), id["serial"].as_str()), (Some("6.49.10"), Some("8F1207A3C5D2")));
    assert_eq!(id["kind"], "AccessPoint");
    assert_eq!(
        stations(s),
        pairs(&[("4c:5e:0c:81:12:a4", -61), ("64:d1:54:3a:e0:07", -69), ("cc:2d:e0:5b:9f:32", -74)])
    );
    assert_eq!(s["stations"][0]["tx_rate_kbps"], 130_000);

    let (json, _) = probe(&v2c("cambium-epmp", 2000, &[sim.addr()]), limit);
    let s = only(&json);
    let id = &s["identity"];
    assert_eq!((id["vendor"].as_str(), id["firmware"].as_str()), (Some("Cambium Networks"), Some("4.7.0.1")), "{s}");
    assert_eq!(id["serial"], "M7K3D2X8P1Q9Z");
    assert_eq!(id["kind"], "AccessPoint", "it has stations");
    assert_eq!(
        stations(s),
        pairs(&[("00:04:56:b2:10:0e", -58), ("00:04:56:b2:27:f1", -65), ("58:c1:7a:04:3d:90", -71)])
    );

    let (json, _) = probe(&v2c("switch", 2000, &[sim.addr()]), limit);
    let s = only(&json);
    let id = &s["identity"];
    assert_eq!(
        (id["vendor"].as_str(), id["model"].as_str(), id["kind"].as_str()),
        (Some("D-Link"), Some("DES-3028"), Some("Switch")),
        "{s}"
    );
    assert_eq!(s["interfaces"].as_array().unwrap().len(), 32, "28 ports and 4 more interfaces in the recording");
    let fdb = s["bridge"].as_array().unwrap();
    assert_eq!(fdb.len(), 28, "27 dot1d entries + 1 only in dot1q");
    let e = fdb.iter().find(|e| e["mac"] == "00:23:24:93:c4:c7").expect("recorded FDB entry");
    assert_eq!(e["port"], 21);
    assert_eq!(strs(&s["arp"], "mac"), ["74:25:8a:b7:bd:08", "00:22:b0:75:bb:c0"]);
    assert_eq!(strs(&s["arp"], "ip"), ["10.1.8.1", "10.1.8.2"]);
}

#[test]
fn net_snmp_v2c_and_v3() {
    let Some(snmpd) = Snmpd::start().expect("starting snmpd") else { return };
    let (json, _) = probe(&v2c(snmpd.community(), 2000, &[snmpd.addr()]), Duration::from_secs(30));
    let v2 = only(&json).clone();
    let check = |s: &Value| {
        assert_eq!(s["outcome"], "Ok", "{s}");
        // A generic sysObjectID names no vendor; the profile probe finds no
        // vendor's OID on a plain host: MIB-II.
        assert_eq!(s["identity"]["vendor"], Value::Null, "{s}");
        assert_eq!(s["identity"]["profile"], "mib2", "{s}");
        assert_eq!(s["error"], Value::Null, "the profile probe is answered: {s}");
        assert_eq!(s["identity"]["sys_descr"], mast_tests::snmp::SNMPD_SYS_DESCR);
        assert!(s["identity"]["sys_object_id"].as_str().unwrap().starts_with("1.3.6.1.4.1.8072."), "{s}");
        let names = strs(&s["interfaces"], "name");
        assert!(names.contains(&"lo"), "{names:?}");
        let macs = strs(&s["interfaces"], "mac");
        assert!(!macs.is_empty(), "a host interface has a MAC: {s}");
        assert!(macs.iter().all(|m| mast_shared::parse_mac(m).is_some()), "{macs:?}");
        assert!(s["identity"]["uptime_s"].as_u64().is_some());
    };
    check(&v2);
    assert_eq!(v2["bridge"].as_array().unwrap().len(), 0, "snmpd has no forwarding table");

    let u = snmpd.v3();
    assert_eq!((u.auth_protocol, u.priv_protocol), ("SHA", "AES"));
    let v3_args = |auth: &str, privacy: &str| -> Vec<String> {
        [
            "--v3-user",
            &u.user,
            "--v3-auth-pass",
            auth,
            "--v3-priv-pass",
            privacy,
            "--timeout-ms",
            "2000",
            &snmpd.addr().to_string(),
        ]
        .map(String::from)
        .to_vec()
    };
    let (json, _) = probe(&v3_args(&u.auth_password, &u.priv_password), Duration::from_secs(30));
    let v3 = only(&json);
    check(v3);
    assert_eq!(strs(&v3["interfaces"], "name"), strs(&v2["interfaces"], "name"), "same agent, same interfaces over v3");

    // Wrong keys: a refusal reported per device, quickly, not a hang.
    let (json, took) = probe(&v3_args("wrong-auth-password", &u.priv_password), Duration::from_secs(30));
    let bad = only(&json);
    assert_eq!(bad["outcome"], "Refused", "{bad}");
    assert!(bad["error"].as_str().unwrap().contains("authentication"), "{bad}");
    assert!(bad["errors"]["refused"].as_u64().unwrap() >= 1, "{bad}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let out = String::from_utf8_lossy(&serde_json::to_vec(&json).unwrap()).into_owned();
    assert!(!out.contains(&u.auth_password) && !out.contains(&u.priv_password), "no secret in the report");
}

#[test]
fn wrong_community_is_reported_not_hung() {
    let Some(snmpd) = Snmpd::start().expect("starting snmpd") else { return };
    let (json, took) = probe(&v2c("not-the-community", 300, &[snmpd.addr()]), Duration::from_secs(20));
    let s = only(&json);
    // v2c agents drop requests with a wrong community: no answer, after the retry.
    assert_eq!(s["outcome"], "Timeout", "{s}");
    assert_eq!(s["identity"], Value::Null);
    assert_eq!(s["errors"]["timeout"], 2, "one try and one retry");
    assert!(s["duration_ms"].as_u64().unwrap() < 1500, "{s}");
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_and_silent_agents() {
    let Some(sim) = sim(&["ubiquiti-m5"]) else { return };
    let garbage = BadSnmpAgent::start(BadMode::Garbage).await.unwrap();
    let truncated = BadSnmpAgent::start(BadMode::Truncated { upstream: sim.addr() }).await.unwrap();
    let silent = BadSnmpAgent::start(BadMode::Silent).await.unwrap();
    let targets = [garbage.addr(), truncated.addr(), silent.addr(), sim.addr()];
    let args = v2c("ubiquiti-m5", 400, &targets);
    let (json, took) = tokio::task::spawn_blocking(move || probe(&args, Duration::from_secs(20))).await.unwrap();
    let t = json["targets"].as_array().unwrap();
    let outcome = |i: usize| t[i]["snmp"]["outcome"].as_str().unwrap().to_string();
    assert_eq!(outcome(0), "Malformed", "{}", t[0]);
    assert_eq!(outcome(1), "Malformed", "{}", t[1]);
    assert_eq!(outcome(2), "Timeout", "{}", t[2]);
    assert_eq!(outcome(3), "Ok", "the healthy device is unaffected: {}", t[3]);
    assert!(t[0]["snmp"]["errors"]["malformed"].as_u64().unwrap() >= 1);
    // Silent: two tries of 400 ms, not more.
    let silent_ms = t[2]["snmp"]["duration_ms"].as_u64().unwrap();
    assert!((700..1500).contains(&silent_ms), "silent took {silent_ms} ms");
    assert_eq!(silent.requests(), 2, "one request and one retry");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_device_does_not_delay_a_fast_one() {
    let Some(sim) = sim(&["ubiquiti-m5"]) else { return };
    let slow =
        BadSnmpAgent::start(BadMode::Slow { upstream: sim.addr(), delay: Duration::from_millis(700) }).await.unwrap();
    let args = v2c("ubiquiti-m5", 2000, &[slow.addr(), sim.addr()]);
    let (json, _) = tokio::task::spawn_blocking(move || probe(&args, Duration::from_secs(60))).await.unwrap();
    let t = json["targets"].as_array().unwrap();
    let (s, f) = (&t[0]["snmp"], &t[1]["snmp"]);
    assert_eq!((s["outcome"].as_str(), f["outcome"].as_str()), (Some("Ok"), Some("Ok")), "{json}");
    let (slow_ms, fast_ms) = (s["duration_ms"].as_u64().unwrap(), f["duration_ms"].as_u64().unwrap());
    assert!(slow_ms >= 2100, "every request waits 700 ms and a poll needs several rounds: {slow_ms}");
    assert!(fast_ms < 700, "the fast device finished in {fast_ms} ms while the slow one took {slow_ms} ms");
    assert_eq!(s["stations"][0]["mac"], f["stations"][0]["mac"], "same recording through the relay");
    // Replies slower than a quarter of the timeout halve max-repetitions.
    assert!(s["max_repetitions"].as_u64().unwrap() < 25, "{s}");
    assert!(f["max_repetitions"].as_u64().unwrap() >= 25, "{f}");
}

/// The discovery sweep's cheap check: one system-group GET, no retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_for_discovery() {
    use mast_shared::msg::{DeviceKind, SnmpCredential};
    let Some(sim) = sim(&["mikrotik"]) else { return };
    let cred = SnmpCredential::V2c { community: "mikrotik".into() };
    let id = mast_agent::snmp::identify(sim.addr(), &cred, Duration::from_secs(2)).await.unwrap();
    assert_eq!((id.vendor.as_deref(), id.model.as_deref()), (Some("MikroTik"), Some("RB912UAG-5HPnD")), "{id:?}");
    assert_eq!(id.sys_name.as_deref(), Some("tower2-mt-ap"));
    assert_eq!(id.profile, "mikrotik");
    assert_eq!(id.kind, DeviceKind::Router, "identify reads no wireless tables");
    let silent = BadSnmpAgent::start(BadMode::Silent).await.unwrap();
    let t = Instant::now();
    let e = mast_agent::snmp::identify(silent.addr(), &cred, Duration::from_millis(300)).await.unwrap_err();
    assert_eq!(e, mast_agent::snmp::SnmpError::Timeout);
    assert!(t.elapsed() < Duration::from_millis(900), "{:?}", t.elapsed());
    assert_eq!(silent.requests(), 1, "no retry in a sweep");
}

/// Devices whose system group is ambiguous (the AF11's old Ubiquiti OID,
/// the AF-5XHD's net-snmp OID) reach their profile by the profile probe,
/// in a poll and in the discovery sweep's `identify`; the probe is kept
/// per device and sysObjectID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_system_groups_are_probed() {
    use mast_agent::snmp::{PollOptions, Poller};
    use mast_shared::msg::{DeviceKind, SnmpCredential};
    let names = ["airfiber-legacy-oid", "afxhd-generic-oid", "ubiquiti-m5"];
    let Some(sim) = sim(&names) else { return };
    for (name, profile, kind) in [
        ("airfiber-legacy-oid", "ubiquiti-airfiber", DeviceKind::Backhaul),
        ("afxhd-generic-oid", "ubiquiti-ltu", DeviceKind::Backhaul),
        ("ubiquiti-m5", "ubiquiti-airmax", DeviceKind::AccessPoint),
    ] {
        let cred = SnmpCredential::V2c { community: name.into() };
        let id = mast_agent::snmp::identify(sim.addr(), &cred, Duration::from_secs(2)).await.unwrap();
        assert_eq!((id.profile, id.vendor.as_deref()), (profile, Some("Ubiquiti")), "{name}: {id:?}");

        let mut poller = Poller::new(PollOptions { timeout: Duration::from_secs(2), ..PollOptions::default() });
        let targets = [(sim.addr(), cred)];
        for round in 0..2 {
            let polls = poller.poll_all(&targets).await;
            let p = &polls[0];
            let id = p.identity.as_ref().unwrap_or_else(|| panic!("{name}: {p:?}"));
            assert_eq!((id.profile, id.kind), (profile, kind), "{name} round {round}");
            assert_eq!(p.error, None, "{name} round {round}");
            assert!(!p.radios.is_empty(), "{name}: the profile's tables were read");
        }
        let probed = poller.probed_object_id(&sim.addr()).map(|o| o.to_vec());
        if name == "ubiquiti-m5" {
            assert_eq!(probed, None, "its sysObjectID names its profile: no probe");
        } else {
            assert!(probed.is_some(), "{name}: the probe is kept");
        }
    }
}

/// `expected` is a subset of `actual`: every key of an expected object
/// matches, an expected array has the same length and each element matches.
fn subset(expected: &Value, actual: &Value, path: &str, errors: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                subset(v, a.get(k).unwrap_or(&Value::Null), &format!("{path}.{k}"), errors);
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset(ev, av, &format!("{path}[{i}]"), errors);
            }
        }
        (e, a) if e == a => {}
        (e, a) => errors.push(format!("{path}: expected {e}, got {a}")),
    }
}

/// Every recording, served by snmpsim and probed by the real binary, gives
/// the identity, kind, base MAC, stations and link health written down in
/// `tests/fixtures/snmp/expected.json` (one entry per recording).
#[test]
fn every_recording_is_identified_as_expected() {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("expected.json");
    let expected: serde_json::Map<String, Value> = serde_json::from_str(&text).expect("expected.json is JSON");
    for name in mast_tests::snmp::FIXTURES {
        assert!(expected.contains_key(*name), "expected.json has no entry for {name}");
    }
    let names: Vec<&str> = expected.keys().map(String::as_str).collect();
    let Some(sim) = sim(&names) else { return };
    let mut errors = Vec::new();
    for (name, want) in &expected {
        let (json, _) = probe(&v2c(name, 2000, &[sim.addr()]), Duration::from_secs(30));
        let got = only(&json);
        if std::env::var_os("PROBE_SHOW").is_some() {
            eprintln!("{name}: {}", serde_json::to_string_pretty(got).unwrap());
        }
        subset(want, got, name, &mut errors);
    }
    assert!(errors.is_empty(), "{} mismatches:\n{}", errors.len(), errors.join("\n"));
}
