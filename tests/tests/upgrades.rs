//! Fleet upgrades end to end, on SQLite and PostgreSQL, with two real agent
//! builds (this one and `MAST_BUILD_VERSION=2.0.0`), each agent running from
//! its own installed copy of the binary:
//!
//! - release keys are pinned at enrollment; a second key is refused without
//!   an endorsement, and taken by the agents with one (rotation): the new
//!   release is signed by the new key only;
//! - three agents go v1 → v2 with a canary then a wave; the canary is
//!   SIGKILLed mid-download and resumes where it stopped, the second agent
//!   is SIGKILLed once its trial started and finishes; an agent offline
//!   during the rollout upgrades when it comes back, its link cut for 25 s
//!   mid-download (it reconnects and resumes); each keeps the previous
//!   binary as `mast-agent.prev`;
//! - a signed binary that crashes at start is tried by the canary only,
//!   rolled back (crash loop), and the rollout halts with the others
//!   untouched;
//! - a release whose bytes were changed after signing, or whose stored file
//!   is cut short, is refused by the canary before anything runs it, and
//!   halts the rollout;
//! - a signed binary that runs but never connects is rolled back when its
//!   trial time is up (no connection);
//! - the rollout page shows it all, refuses a bad form next to the field,
//!   and aborts.

use mast_tests::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

on_both_backends!(a_fleet_upgrades_with_a_canary_and_halts_on_bad_releases);

/// Copies `src` into `dir` as `name` (or takes the file already there),
/// signs it with key 2 (`k2.key` in `dir`) and stores it as release
/// `version` for this machine's target.
fn add_release(c: &Controller, dir: &Path, src: Option<&Path>, name: &str, version: &str) {
    if let Some(src) = src {
        std::fs::copy(src, dir.join(name)).expect("copy the release file");
    }
    minisign(&["-S", "-s", "k2.key", "-m", name], dir);
    let (file, sig) = (dir.join(name), dir.join(format!("{name}.minisig")));
    c.cli_ok(&[
        "release",
        "add",
        "--file",
        &file.display().to_string(),
        "--signature",
        &sig.display().to_string(),
        "--version",
        version,
        "--target",
        host_target(),
    ]);
}

fn version_of(bin: &Path) -> String {
    let out = Command::new(bin).arg("--version").output().expect("running the agent");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn status(c: &Controller) -> Value {
    serde_json::from_str(&c.cli_ok(&["rollout", "status", "--json"])).expect("status json")
}

fn agent_state(st: &Value, id: u64) -> String {
    st["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["agent_id"].as_u64() == Some(id)))
        .and_then(|a| a["state"].as_str())
        .unwrap_or("?")
        .to_string()
}

async fn wait_rollout(
    c: &Controller,
    agents: &[&Agent],
    what: &str,
    timeout: Duration,
    f: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let st = status(c);
        if f(&st) {
            return st;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = agents.iter().map(|a| a.log()).collect();
            panic!(
                "timed out waiting for {what}\n--- status ---\n{st:#}\n--- agents ---\n{}\n--- controller ---\n{}",
                logs.join("\n=====\n"),
                c.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn a_fleet_upgrades_with_a_canary_and_halts_on_bad_releases(backend: Backend) -> anyhow::Result<()> {
    let env = [("MAST_RELEASE_RATE_KBPS_PER_AGENT", "16384"), ("MAST_RELEASE_RATE_KBPS_TOTAL", "65536")];
    let Some(c) = Controller::start(backend, &env).await? else { return Ok(()) };
    let v2 = agent_v2_bin();
    let v1_version = version_of(&agent_bin());
    assert_eq!(version_of(&v2), "mast-agent 2.0.0");
    assert_ne!(v1_version, "mast-agent 2.0.0");
    let tmp = tempfile::tempdir()?;
    let d = tmp.path();
    let p = |name: &str| d.join(name).display().to_string();

    // Key 1 is trusted before the agents enroll: they pin it.
    minisign(&["-G", "-W", "-p", "k1.pub", "-s", "k1.key"], d);
    c.cli_ok(&["release", "trust", "--public-key", &p("k1.pub")]);
    c.cli_ok(&["site", "add", "ridge", "--targets", "127.0.0.1=loopback", "--interval", "1"]);
    let mut agents = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (mut a, id) = Agent::enroll(&c, "ridge")?;
        a.install_copy()?;
        let pinned = std::fs::read_to_string(a.state_dir().join("release-keys.json"))?;
        let k1 = std::fs::read_to_string(d.join("k1.pub"))?;
        assert!(pinned.contains(k1.lines().nth(1).unwrap()), "key 1 pinned at enrollment: {pinned}");
        a.start()?;
        agents.push(a);
        ids.push(id);
    }
    let token = c.admin_token();
    let connected = async |c: &Controller, want: &str| {
        c.wait_for("agents connected on the expected version", Duration::from_secs(60), async || {
            let (_, v) = c.get("/api/v1/agents", &token).await.ok()?;
            let all = v["agents"].as_array()?;
            (all.len() == 3 && all.iter().all(|a| a["connected"] == true && a["version"].as_str() == Some(want)))
                .then_some(())
        })
        .await
    };
    let v1 = v1_version.trim_start_matches("mast-agent ").to_string();
    connected(&c, &v1).await?;

    // Rotation: key 2 needs key 1's endorsement.
    minisign(&["-G", "-W", "-p", "k2.pub", "-s", "k2.key"], d);
    let out = c.cli(&["release", "trust", "--public-key", &p("k2.pub")]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("endorsement"));
    minisign(&["-S", "-s", "k1.key", "-m", "k2.pub", "-x", "k2.pub.by-k1"], d);
    c.cli_ok(&["release", "trust", "--public-key", &p("k2.pub"), "--endorsement", &p("k2.pub.by-k1")]);

    // Version 2, signed by key 2 only.
    add_release(&c, d, Some(v2.as_ref()), "agent-v2", "2.0.0");

    // The third agent is offline when the rollout starts.
    agents[2].kill();
    c.wait_for("agent 3 offline", Duration::from_secs(30), async || {
        let (_, v) = c.get("/api/v1/agents", &token).await.ok()?;
        v["agents"]
            .as_array()?
            .iter()
            .any(|a| a["id"].as_u64() == Some(ids[2]) && a["connected"] == false)
            .then_some(())
    })
    .await?;
    let started = Instant::now();
    let out =
        c.cli_ok(&["rollout", "start", "--version", "2.0.0", "--canary", "1", "--waves", "100", "--trial-secs", "60"]);
    assert!(out.contains("3 agents in 2 stages"), "{out}");

    // The canary is killed mid-download and resumes from what it holds.
    let part = agents[0].dir.path().join("bin/mast-agent.part");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) < 4 << 20 {
        assert!(Instant::now() < deadline, "the canary never started downloading\n{}", agents[0].log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    agents[0].kill();
    let held = std::fs::metadata(&part)?.len();
    assert!(held > 0 && held < std::fs::metadata(&v2)?.len(), "a partial download: {held}");
    agents[0].start()?;
    let all: Vec<&Agent> = agents.iter().collect();
    let st = wait_rollout(&c, &all, "the canary upgraded", Duration::from_secs(120), |st| {
        agent_state(st, ids[0]) == "upgraded"
    })
    .await;
    let canary_secs = started.elapsed().as_secs_f64();
    assert_eq!(st["agents"][0]["stage"], 0, "{st:#}");
    let resumed = c.log().lines().any(|l| {
        l.contains("release download") && l.contains(&format!("agent_id={}", ids[0])) && !l.contains("from=0 ")
    });
    assert!(resumed, "the second download resumed past byte 0:\n{}", c.log());
    // The wave: agent 2 now (SIGKILLed once its trial has started: it
    // resumes and finishes), agent 3 when it returns.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !agents[1].log().contains("trial started") {
        assert!(Instant::now() < deadline, "agent 2 never started its trial\n{}", agents[1].log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    agents[1].kill();
    agents[1].start()?;
    let all: Vec<&Agent> = agents.iter().collect();
    wait_rollout(&c, &all, "agent 2 upgraded", Duration::from_secs(120), |st| agent_state(st, ids[1]) == "upgraded")
        .await;
    assert_eq!(status(&c)["state"], "running", "agent 3 has not upgraded yet");
    // Agent 3 comes back behind a relay whose link is cut for longer than
    // the QUIC idle timeout in the middle of its download: it reconnects and
    // resumes from what it holds.
    let relay = UdpRelay::start("127.0.0.1:0".parse()?, c.quic).await?;
    agents[2].set_controller(&relay.addr.to_string())?;
    agents[2].start()?;
    let part3 = agents[2].dir.path().join("bin/mast-agent.part");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&part3).map(|m| m.len()).unwrap_or(0) < 4 << 20 {
        assert!(Instant::now() < deadline, "agent 3 never started downloading\n{}", agents[2].log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.set(Impair { down: true, ..Impair::default() });
    tokio::time::sleep(Duration::from_secs(25)).await;
    let held = std::fs::metadata(&part3)?.len();
    assert!(held < std::fs::metadata(&v2)?.len(), "the cut came before the end of the download");
    relay.set(Impair::default());
    let all: Vec<&Agent> = agents.iter().collect();
    let st = wait_rollout(&c, &all, "the rollout completed", Duration::from_secs(120), |st| st["state"] == "completed")
        .await;
    let total_secs = started.elapsed().as_secs_f64();
    let resumed = c.log().lines().any(|l| {
        l.contains("release download") && l.contains(&format!("agent_id={}", ids[2])) && !l.contains("from=0 ")
    });
    assert!(resumed, "agent 3's download resumed after the cut:\n{}", c.log());
    eprintln!(
        "rollout timings ({backend:?}): canary upgraded after {canary_secs:.1} s, all three after {total_secs:.1} s"
    );
    for (a, id) in agents.iter().zip(&ids) {
        assert_eq!(agent_state(&st, *id), "upgraded");
        assert_eq!(version_of(&a.bin), "mast-agent 2.0.0", "the installed binary is version 2");
        assert_eq!(version_of(&a.bin.with_file_name("mast-agent.prev")), v1_version, "the previous one is kept");
        assert!(!a.bin.with_file_name("mast-agent.new").exists() && !a.bin.with_file_name("mast-agent.part").exists());
    }
    connected(&c, "2.0.0").await?;

    // A signed binary that crashes at start: the canary tries it, rolls back, the rollout halts.
    add_release(&c, d, Some("/bin/false".as_ref()), "crasher", "3.0.0");
    c.cli_ok(&["rollout", "start", "--version", "3.0.0", "--canary", "1", "--waves", "100", "--trial-secs", "60"]);
    let st =
        wait_rollout(&c, &all, "the crashing release halted", Duration::from_secs(120), |st| st["state"] == "halted")
            .await;
    let why = st["why"].as_str().unwrap_or_default();
    assert!(why.contains(&format!("canary agent {} rolled back: crash loop", ids[0])), "{st:#}");
    assert_eq!(agent_state(&st, ids[1]), "pending", "the others are untouched");
    assert_eq!(agent_state(&st, ids[2]), "pending");
    for a in &agents {
        assert_eq!(version_of(&a.bin), "mast-agent 2.0.0");
        assert!(!a.bin.with_file_name("mast-agent.new").exists());
    }
    connected(&c, "2.0.0").await?;
    let db = c.db().await?;
    let halts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'rollout.halt'").fetch_one(&db.pool).await?;
    assert_eq!(halts, 1, "the halt is audited");
    let out = c.cli(&["rollout", "start", "--version", "3.0.0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("another rollout"), "one active rollout at a time");
    // The same in the browser: the rollout page shows each agent and why it
    // halted; a bad form comes back with the error next to its field; abort.
    let id = st["id"].as_i64().unwrap();
    let pw = c.add_user("ops@upgrade.test", "admin");
    let mut web = WebSession::new(&c);
    assert_eq!(web.login("ops@upgrade.test", &pw).await?.status, 303);
    let page = web.get(&format!("/fleet/rollouts/{id}")).await?;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("crash loop") && page.body.contains("rolled-back") && page.body.contains("canary"),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"rollout-abort\""), "an admin can abort");
    let bad = web
        .post(
            "/fleet/rollouts",
            &[("version", "3.0.0"), ("canary", "1"), ("waves", "50,10"), ("trial_secs", "60")],
            None,
        )
        .await?;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("rollout-waves-error") && bad.body.contains("must rise"), "{}", bad.body);
    let busy = web
        .post("/fleet/rollouts", &[("version", "3.0.0"), ("canary", "1"), ("waves", "100"), ("trial_secs", "60")], None)
        .await?;
    assert!(busy.status == 400 && busy.body.contains("another rollout"), "{}", busy.body);
    // Resuming accepts the canary's failure: the wave gets the release, fails
    // too, and the failure rate halts the rollout again.
    assert_eq!(web.post(&format!("/fleet/rollouts/{id}/resume"), &[], None).await?.status, 303);
    let st = wait_rollout(&c, &all, "the failure rate halted it", Duration::from_secs(120), |st| {
        st["state"] == "halted" && st["why"].as_str().is_some_and(|w| w.contains("finished agents failed"))
    })
    .await;
    assert!(st["agents"].as_array().unwrap().iter().any(|a| a["stage"] == 1 && a["state"] == "rolled-back"), "{st:#}");
    assert_eq!(web.post(&format!("/fleet/rollouts/{id}/abort"), &[], None).await?.status, 303);
    assert_eq!(status(&c)["state"], "aborted");

    // A release changed after it was signed (hash updated to match): refused, never run.
    add_release(&c, d, Some(v2.as_ref()), "agent-v4", "4.0.0");
    let mut data = std::fs::read(d.join("agent-v4"))?;
    let mid = data.len() / 2;
    data[mid] ^= 0x55;
    sqlx::query("UPDATE releases SET data = $1, sha256 = $2 WHERE version = '4.0.0'")
        .bind(data.clone())
        .bind(hex::encode(Sha256::digest(&data)))
        .execute(&db.pool)
        .await?;
    let trials_before = agents[0].log().matches("trial started").count();
    c.cli_ok(&["rollout", "start", "--version", "4.0.0", "--canary", "1", "--waves", "100"]);
    let st =
        wait_rollout(&c, &all, "the tampered release halted", Duration::from_secs(120), |st| st["state"] == "halted")
            .await;
    let why = st["why"].as_str().unwrap_or_default();
    assert!(why.contains("refused the release") && why.contains("signature"), "{st:#}");
    assert_eq!(agents[0].log().matches("trial started").count(), trials_before, "nothing unverified ran");
    assert!(!agents[0].bin.with_file_name("mast-agent.new").exists());
    assert_eq!(version_of(&agents[0].bin), "mast-agent 2.0.0");
    c.cli_ok(&["rollout", "abort"]);

    // A release whose stored file is cut short (size and hash as announced):
    // the download ends early, the canary refuses it without running it.
    add_release(&c, d, Some(v2.as_ref()), "agent-v6", "6.0.0");
    let half = std::fs::read(d.join("agent-v6"))?;
    sqlx::query("UPDATE releases SET data = $1 WHERE version = '6.0.0'")
        .bind(half[..half.len() / 2].to_vec())
        .execute(&db.pool)
        .await?;
    c.cli_ok(&["rollout", "start", "--version", "6.0.0", "--canary", "1", "--waves", "100"]);
    let st =
        wait_rollout(&c, &all, "the truncated release halted", Duration::from_secs(120), |st| st["state"] == "halted")
            .await;
    let why = st["why"].as_str().unwrap_or_default();
    assert!(why.contains("refused the release") && why.contains("download ended"), "{st:#}");
    assert_eq!(agents[0].log().matches("trial started").count(), trials_before, "nothing unverified ran");
    assert!(!agents[0].bin.with_file_name("mast-agent.part").exists(), "the partial download is discarded");
    c.cli_ok(&["rollout", "abort"]);

    // A signed binary that runs but never connects (it only sleeps): rolled
    // back when the trial time is up.
    std::fs::write(d.join("silent.c"), "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n")?;
    let cc = Command::new("cc").args(["-O2", "-o", "silent", "silent.c"]).current_dir(d).status()?;
    assert!(cc.success(), "cc (the C compiler Rust links with) builds the silent binary");
    add_release(&c, d, None, "silent", "5.0.0");
    c.cli_ok(&["rollout", "start", "--version", "5.0.0", "--canary", "1", "--waves", "100", "--trial-secs", "10"]);
    let st =
        wait_rollout(&c, &all, "the silent release halted", Duration::from_secs(120), |st| st["state"] == "halted")
            .await;
    let why = st["why"].as_str().unwrap_or_default();
    assert!(why.contains("rolled back: no connection"), "{st:#}");
    assert_eq!(version_of(&agents[0].bin), "mast-agent 2.0.0");
    connected(&c, "2.0.0").await?;
    Ok(())
}

on_both_backends!(a_config_that_cuts_the_agent_off_is_reverted);

fn config_revision(a: &Agent) -> u64 {
    let v: Value = std::fs::read(a.state_dir().join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    v["revision"].as_u64().unwrap_or(0)
}

/// Versioned config pushes: a config followed by the loss of the controller
/// is reverted to the last confirmed one after the revert time and not
/// applied again; the agent reports what it runs (revision, confirmed, the
/// rejected revision, a checksum equal to the controller's); a newer config
/// is applied and confirmed.
async fn a_config_that_cuts_the_agent_off_is_reverted(backend: Backend) -> anyhow::Result<()> {
    let Some(mut c) = Controller::start(backend, &[]).await? else { return Ok(()) };
    c.cli_ok(&["site", "add", "hill", "--targets", "127.0.0.1=loopback", "--interval", "1"]);
    let (mut a, id) = Agent::enroll(&c, "hill")?;
    // Confirmation takes at least 25 s: longer than the link's 20 s idle
    // timeout, so a config that cuts the link is caught before it.
    a.start_with(&["--config-confirm-secs", "25", "--config-revert-secs", "3"], None)?;
    let token = c.admin_token();
    let agent_view = async |c: &Controller| -> Option<Value> {
        let (_, v) = c.get("/api/v1/agents", &token).await.ok()?;
        v["agents"].as_array()?.iter().find(|x| x["id"].as_u64() == Some(id)).cloned()
    };
    let wait_config = async |c: &Controller, rev: i64, confirmed: bool, rejected: Value| {
        c.wait_for(&format!("agent on config {rev}"), Duration::from_secs(60), async || {
            let v = agent_view(c).await?;
            (v["config_revision"] == rev
                && v["config_confirmed"] == confirmed
                && v["config_rejected"] == rejected
                && v["config_checksum_ok"] == true)
                .then_some(v)
        })
        .await
    };
    wait_config(&c, 1, true, Value::Null).await?;

    // Revision 2, then the controller is gone before it is confirmed.
    c.cli_ok(&["site", "set", "hill", "--interval", "2"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while config_revision(&a) != 2 {
        assert!(Instant::now() < deadline, "revision 2 never applied\n{}", a.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.kill();
    let deadline = Instant::now() + Duration::from_secs(60);
    while config_revision(&a) != 1 {
        assert!(Instant::now() < deadline, "revision 2 was not reverted\n{}", a.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(a.log().contains("reverting to the last confirmed one"), "{}", a.log());
    c.start_again()?;
    // Back: it reports revision 1 with 2 rejected, and does not take 2 again.
    let v = c
        .wait_for("the revert reported", Duration::from_secs(30), async || {
            let v = agent_view(&c).await?;
            (v["connected"] == true && v["config_revision"] == 1 && v["config_rejected"] == 2).then_some(v)
        })
        .await?;
    assert_eq!(v["config_checksum_ok"], Value::Null, "revision 1 is not what the controller pushes now");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(config_revision(&a), 1, "the rejected revision is not applied again");
    let pw = c.add_user("ops@config.test", "admin");
    let mut web = WebSession::new(&c);
    assert_eq!(web.login("ops@config.test", &pw).await?.status, 303);
    let page = web.get(&format!("/agents/{id}")).await?;
    assert!(page.body.contains("reverted revision 2"), "{}", page.body);

    // A newer revision is applied and confirmed.
    c.cli_ok(&["site", "set", "hill", "--interval", "3"]);
    wait_config(&c, 3, true, Value::Null).await?;
    assert_eq!(config_revision(&a), 3);
    Ok(())
}

/// An agent built before fleet upgrades cannot decode their message kinds:
/// the controller sends release keys (and offers) only to an agent that sent
/// its `Facts` first. A raw client speaking the old protocol gets none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_that_predate_upgrades_get_no_new_message_kinds() -> anyhow::Result<()> {
    use mast_shared::io::{read_frame, write_frame};
    use mast_shared::{AgentFacts, AgentMsg, ControllerMsg, Hello, PROTOCOL_VERSION};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = Controller::start(Backend::Sqlite, &[]).await?.expect("sqlite");
    let tmp = tempfile::tempdir()?;
    minisign(&["-G", "-W", "-p", "k.pub", "-s", "k.key"], tmp.path());
    c.cli_ok(&["release", "trust", "--public-key", &tmp.path().join("k.pub").display().to_string()]);
    c.cli_ok(&["site", "add", "old", "--interval", "60"]);
    let (agent, id) = Agent::enroll(&c, "old")?;
    let cert = std::fs::read(agent.state_dir().join("agent.cert.der"))?;
    let key = std::fs::read_to_string(agent.state_dir().join("agent.key.pem"))?;
    let (ep, cfg) = raw_client(&controller_ca_der(&c), Some((cert, key)))?;
    let conn = ep.connect_with(cfg, c.quic, mast_shared::CONTROLLER_SERVER_NAME)?.await?;
    let (mut send, mut recv) = conn.open_bi().await?;
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        agent_id: id,
        agent_version: "0.0.9".into(),
        boot_epoch: 1,
        target: "x".into(),
    };
    write_frame(&mut send, &AgentMsg::Hello(hello)).await?;
    let mut kinds = Vec::new();
    // Everything the controller says within two seconds, in the old protocol's kinds only.
    while let Ok(frame) = tokio::time::timeout(Duration::from_secs(2), read_frame::<_, ControllerMsg>(&mut recv)).await
    {
        let m = frame?;
        assert!(
            matches!(m, ControllerMsg::Welcome(_) | ControllerMsg::Probing(_) | ControllerMsg::Config(_)),
            "an old agent got {m:?}"
        );
        kinds.push(m);
    }
    assert!(matches!(kinds.first(), Some(ControllerMsg::Welcome(_))));
    // Facts announce a new agent: the keys follow.
    write_frame(&mut send, &AgentMsg::Facts(AgentFacts { model: None })).await?;
    let m: ControllerMsg = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut recv)).await??;
    assert!(matches!(&m, ControllerMsg::ReleaseKeys(k) if k.len() == 1), "{m:?}");
    Ok(())
}
