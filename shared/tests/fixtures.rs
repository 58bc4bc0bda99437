//! Every message kind has an encoded fixture in `fixtures/`, written once when
//! the message shipped. They must keep decoding to the same value forever.
//! Add a fixture for a new variant with `MAST_BLESS=1 cargo test -p mast-shared`;
//! never re-bless an existing one.

use mast_shared::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

fn config() -> SiteConfig {
    SiteConfig {
        revision: 4,
        site: "north-ridge".into(),
        targets: vec![
            ProbeTarget { addr: IpAddr::V4(Ipv4Addr::new(10, 20, 0, 2)), name: Some("ap-1".into()) },
            ProbeTarget { addr: IpAddr::V6(Ipv6Addr::LOCALHOST), name: None },
        ],
        interval_ms: 30_000,
        timeout_ms: 1_000,
    }
}

fn agent_msgs() -> Vec<(&'static str, AgentMsg)> {
    vec![
        (
            "agent-hello-v1",
            AgentMsg::Hello(Hello {
                protocol_version: 1,
                agent_id: 12,
                agent_version: "0.1.0".into(),
                boot_epoch: 7,
                target: "aarch64-unknown-linux-gnu".into(),
            }),
        ),
        (
            "agent-samples-v1",
            AgentMsg::Samples(SampleBatch {
                agent_id: 12,
                samples: vec![
                    Sample {
                        boot_epoch: 7,
                        seq: 0,
                        ts_ms: 1_795_000_000_000,
                        body: SampleBody::Ping { target: IpAddr::V4(Ipv4Addr::new(10, 20, 0, 2)), rtt_us: Some(1234) },
                    },
                    Sample {
                        boot_epoch: 7,
                        seq: 1,
                        ts_ms: 1_795_000_000_001,
                        body: SampleBody::Ping { target: IpAddr::V6(Ipv6Addr::LOCALHOST), rtt_us: None },
                    },
                ],
            }),
        ),
        (
            "agent-enroll-v1",
            AgentMsg::Enroll(EnrollRequest {
                protocol_version: 1,
                token: "tok-abc".into(),
                csr_der: vec![0x30, 0x82, 1, 2, 3],
            }),
        ),
        ("agent-status-v1", AgentMsg::Status(AgentStatus { backlog: 1_000, dropped: 3 })),
        (
            "agent-dropped-v1",
            AgentMsg::Dropped(vec![
                DroppedRange { boot_epoch: 3, first_seq: 10, last_seq: 19, reason: DropReason::SpoolFull },
                DroppedRange { boot_epoch: 4, first_seq: 0, last_seq: 0, reason: DropReason::DiskFull },
                DroppedRange { boot_epoch: 4, first_seq: 7, last_seq: 9, reason: DropReason::Corrupt },
            ]),
        ),
        (
            "agent-samples-uplink-v1",
            AgentMsg::Samples(SampleBatch {
                agent_id: 12,
                samples: vec![
                    Sample { boot_epoch: 7, seq: 2, ts_ms: 1_795_000_000_100, body: SampleBody::Uplink { up: false } },
                    Sample { boot_epoch: 7, seq: 3, ts_ms: 1_795_000_060_100, body: SampleBody::Uplink { up: true } },
                ],
            }),
        ),
        (
            "agent-samples-snmp-v1",
            AgentMsg::Samples(SampleBatch {
                agent_id: 12,
                samples: vec![
                    Sample {
                        boot_epoch: 7,
                        seq: 4,
                        ts_ms: 1_795_000_000_200,
                        body: SampleBody::Snmp(SnmpPoll {
                            target: IpAddr::V4(Ipv4Addr::new(10, 20, 0, 2)),
                            outcome: SnmpOutcome::Ok,
                            uptime_s: Some(86_400),
                            rebooted: false,
                            duration_ms: 35,
                        }),
                    },
                    Sample {
                        boot_epoch: 7,
                        seq: 5,
                        ts_ms: 1_795_000_000_201,
                        body: SampleBody::Station(StationSample {
                            ap: IpAddr::V4(Ipv4Addr::new(10, 20, 0, 2)),
                            mac: [0x24, 0xa4, 0x3c, 1, 2, 3],
                            signal_dbm: Some(-61),
                            quality_pct: Some(94),
                            tx_rate_kbps: Some(130_000),
                            rx_rate_kbps: Some(117_000),
                            distance_m: Some(1_650),
                        }),
                    },
                    Sample {
                        boot_epoch: 7,
                        seq: 6,
                        ts_ms: 1_795_000_000_202,
                        body: SampleBody::IfRate(IfRate {
                            target: IpAddr::V4(Ipv4Addr::new(10, 20, 0, 2)),
                            if_index: 2,
                            in_bps: 12_000_000,
                            out_bps: 3_000_000,
                        }),
                    },
                    Sample {
                        boot_epoch: 7,
                        seq: 7,
                        ts_ms: 1_795_000_000_203,
                        body: SampleBody::Inventory(InventoryRecord {
                            mac: [0x24, 0xa4, 0x3c, 1, 2, 3],
                            ip: Some(IpAddr::V4(Ipv4Addr::new(10, 20, 1, 7))),
                            kind: DeviceKind::Cpe,
                            source: InventorySource::StationTable,
                            vendor: Some("Ubiquiti".into()),
                            model: Some("NanoStation M5".into()),
                            firmware: Some("XW.v6.3.6".into()),
                            serial: None,
                            name: Some("cpe-smith".into()),
                            parent: Some([0x24, 0xa4, 0x3c, 9, 9, 9]),
                        }),
                    },
                ],
            }),
        ),
        (
            "agent-upgrade-v1",
            AgentMsg::Upgrade(UpgradeReport {
                version: "2.0.0".into(),
                result: UpgradeResult::RolledBack("crash loop".into()),
            }),
        ),
        ("agent-fetch-v1", AgentMsg::Fetch(FetchRequest { release_id: 3, from: 65_536 })),
        (
            "agent-samples-link-v1",
            AgentMsg::Samples(SampleBatch {
                agent_id: 12,
                samples: vec![
                    Sample {
                        boot_epoch: 7,
                        seq: 8,
                        ts_ms: 1_795_000_000_300,
                        body: SampleBody::Link(LinkSample {
                            device: IpAddr::V4(Ipv4Addr::new(10, 20, 0, 2)),
                            station: Some([0x24, 0xa4, 0x3c, 1, 2, 3]),
                            peer: None,
                            radio: 1,
                            metrics: LinkMetrics {
                                signal_dbm: Some(-61),
                                chain0_dbm: Some(-63),
                                chain1_dbm: Some(-65),
                                remote_signal_dbm: Some(-60),
                                noise_dbm: Some(-95),
                                snr_db: Some(34),
                                quality_pct: Some(94),
                                airtime_pct: Some(12),
                                tx_rate_kbps: Some(130_000),
                                rx_rate_kbps: Some(117_000),
                                tx_capacity_kbps: Some(150_000),
                                rx_capacity_kbps: Some(120_000),
                                modulation: Some("64QAM 3/4".into()),
                                distance_m: Some(1_650),
                                frequency_mhz: Some(5_660),
                                width_mhz: Some(40),
                                tx_power_dbm: Some(20),
                                stations: None,
                            },
                        }),
                    },
                    Sample {
                        boot_epoch: 7,
                        seq: 9,
                        ts_ms: 1_795_000_000_301,
                        body: SampleBody::Link(LinkSample {
                            device: IpAddr::V4(Ipv4Addr::new(10, 20, 0, 3)),
                            station: None,
                            peer: Some([0x24, 0xa4, 0x3c, 9, 9, 9]),
                            radio: 0,
                            metrics: LinkMetrics { stations: Some(17), ..Default::default() },
                        }),
                    },
                ],
            }),
        ),
        ("agent-facts-v1", AgentMsg::Facts(AgentFacts { model: Some("Raspberry Pi 4 Model B Rev 1.4".into()) })),
        (
            "agent-config-applied-v1",
            AgentMsg::ConfigApplied(ConfigReport {
                revision: 4,
                checksum: "0123456789abcdef".into(),
                confirmed: true,
                rejected: Some(5),
            }),
        ),
    ]
}

fn controller_msgs() -> Vec<(&'static str, ControllerMsg)> {
    vec![
        (
            "controller-welcome-v1",
            ControllerMsg::Welcome(Welcome {
                protocol_version: 1,
                config: config(),
                last_committed: Some(Ack { boot_epoch: 6, seq: 400 }),
            }),
        ),
        ("controller-ack-v1", ControllerMsg::Ack(Ack { boot_epoch: 7, seq: 1 })),
        ("controller-config-v1", ControllerMsg::Config(config())),
        (
            "controller-enrolled-v1",
            ControllerMsg::Enrolled(Enrolled {
                agent_id: 12,
                site: "north-ridge".into(),
                cert_der: vec![1, 2, 3],
                ca_der: vec![4, 5, 6],
            }),
        ),
        ("controller-refused-v1", ControllerMsg::Refused(Refused { reason: "revoked".into() })),
        (
            "controller-probing-v1",
            ControllerMsg::Probing(ProbingConfig {
                revision: 4,
                credentials: vec![
                    SnmpCredential::V2c { community: "public".into() },
                    SnmpCredential::V3 {
                        user: "mast".into(),
                        auth: V3Auth::Sha1,
                        auth_key: "authpass1".into(),
                        privacy: V3Privacy::Aes128,
                        priv_key: "privpass1".into(),
                    },
                ],
                snmp_targets: vec![SnmpTarget { addr: "10.20.0.2:161".parse().unwrap(), credential: 0 }],
                subnets: vec![Subnet { addr: IpAddr::V4(Ipv4Addr::new(10, 20, 1, 0)), prefix: 24 }],
                snmp_interval_ms: 60_000,
                discovery_interval_ms: 3_600_000,
                ping_rate_pps: 2_000,
            }),
        ),
        (
            "controller-upgrade-v1",
            ControllerMsg::Upgrade(UpgradeOffer {
                release_id: 3,
                version: "2.0.0".into(),
                target: "aarch64-unknown-linux-gnu".into(),
                size: 2_827_960,
                sha256: "ab".repeat(32),
                signature: "untrusted comment: signature\nRUT...\n".into(),
                trial_secs: 300,
            }),
        ),
        ("controller-chunk-v1", ControllerMsg::Chunk(Chunk { offset: 65_536, data: vec![0x7f, b'E', b'L', b'F'] })),
        ("controller-upgrade-ack-v1", ControllerMsg::UpgradeAck("2.0.0".into())),
        (
            "controller-release-keys-v1",
            ControllerMsg::ReleaseKeys(vec![
                ReleaseKey { key_file: "untrusted comment: minisign public key 1\nRWS...\n".into(), endorsement: None },
                ReleaseKey {
                    key_file: "untrusted comment: minisign public key 2\nRWT...\n".into(),
                    endorsement: Some("untrusted comment: signature\nRUS...\n".into()),
                },
            ]),
        ),
    ]
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(format!("{name}.bin"))
}

fn check<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, msg: &T) {
    let p = path(name);
    if std::env::var_os("MAST_BLESS").is_some() && !p.exists() {
        std::fs::write(&p, encode_frame(msg).unwrap()).unwrap();
    }
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {} missing: {e}", p.display()));
    let len = frame::check_len(bytes[..4].try_into().unwrap()).unwrap();
    let back: T = decode(&bytes[4..4 + len]).unwrap_or_else(|e| panic!("fixture {name} no longer decodes: {e}"));
    assert_eq!(&back, msg, "fixture {name} decodes to a different value");
}

#[test]
fn every_agent_message_kind_has_a_decoding_fixture() {
    let msgs = agent_msgs();
    for (name, m) in &msgs {
        check(name, m);
    }
    // Exhaustiveness: a new variant without a fixture fails to compile here.
    for (_, m) in &msgs {
        match m {
            AgentMsg::Hello(_)
            | AgentMsg::Samples(_)
            | AgentMsg::Enroll(_)
            | AgentMsg::Status(_)
            | AgentMsg::Dropped(_)
            | AgentMsg::Upgrade(_)
            | AgentMsg::Fetch(_)
            | AgentMsg::ConfigApplied(_)
            | AgentMsg::Facts(_) => {}
        }
    }
    // Every sample body appears in some fixture.
    let mut bodies = std::collections::HashSet::new();
    for (_, m) in &msgs {
        if let AgentMsg::Samples(b) = m {
            for s in &b.samples {
                bodies.insert(match s.body {
                    SampleBody::Ping { .. } => 0,
                    SampleBody::Uplink { .. } => 1,
                    SampleBody::Snmp(_) => 2,
                    SampleBody::Station(_) => 3,
                    SampleBody::IfRate(_) => 4,
                    SampleBody::Inventory(_) => 5,
                    SampleBody::Link(_) => 6,
                });
            }
        }
    }
    assert_eq!(bodies.len(), 7, "a sample body has no fixture");
}

#[test]
fn every_controller_message_kind_has_a_decoding_fixture() {
    let msgs = controller_msgs();
    for (name, m) in &msgs {
        check(name, m);
    }
    for (_, m) in &msgs {
        match m {
            ControllerMsg::Welcome(_)
            | ControllerMsg::Ack(_)
            | ControllerMsg::Config(_)
            | ControllerMsg::Enrolled(_)
            | ControllerMsg::Refused(_)
            | ControllerMsg::Probing(_)
            | ControllerMsg::Upgrade(_)
            | ControllerMsg::Chunk(_)
            | ControllerMsg::UpgradeAck(_)
            | ControllerMsg::ReleaseKeys(_) => {}
        }
    }
}

#[test]
fn credentials_never_show_in_debug() {
    let c = SnmpCredential::V3 {
        user: "mast".into(),
        auth: V3Auth::Sha1,
        auth_key: "authpass1".into(),
        privacy: V3Privacy::Aes128,
        priv_key: "privpass1".into(),
    };
    let v2 = SnmpCredential::V2c { community: "s3cret-community".into() };
    let cfg = ProbingConfig {
        revision: 1,
        credentials: vec![c.clone(), v2.clone()],
        snmp_targets: vec![],
        subnets: vec![],
        snmp_interval_ms: 1,
        discovery_interval_ms: 1,
        ping_rate_pps: 1,
    };
    for text in
        [format!("{c:?}"), format!("{v2:?}"), format!("{cfg:?}"), format!("{:?}", ControllerMsg::Probing(cfg.clone()))]
    {
        assert!(!text.contains("authpass1") && !text.contains("privpass1") && !text.contains("s3cret"), "{text}");
    }
}

#[test]
fn macs_parse_in_every_common_form() {
    let want = [0xaa, 0xbb, 0xcc, 0x0d, 0xee, 0xff];
    for s in ["aa:bb:cc:0d:ee:ff", "AA-BB-CC-0D-EE-FF", "aabb.cc0d.eeff", "AABBCC0DEEFF"] {
        assert_eq!(parse_mac(s), Some(want), "{s}");
    }
    assert_eq!(format_mac(&want), "aa:bb:cc:0d:ee:ff");
    for bad in ["", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:fg", "aa:bb:cc:dd:ee:ff:00", "é1:bb:cc:dd:ee:f"] {
        assert_eq!(parse_mac(bad), None, "{bad}");
    }
}
