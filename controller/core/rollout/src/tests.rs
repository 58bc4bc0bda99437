use super::*;
use proptest::prelude::*;

fn fleet(spec: &[(u8, u8, u8, bool)]) -> Vec<Agent> {
    // (target 0/1, model 0/1, site 0..3, already on the version)
    spec.iter()
        .enumerate()
        .map(|(i, (t, m, s, done))| Agent {
            id: i as u64 + 1,
            target: ["aarch64-unknown-linux-gnu", "armv7-unknown-linux-gnueabihf"][usize::from(*t % 2)].into(),
            model: [None, Some("rb5009".to_string())][usize::from(*m % 2)].clone(),
            site: format!("site-{}", s % 4),
            version: if *done { "2.0.0".into() } else { "1.0.0".into() },
        })
        .collect()
}

fn spec(waves: Vec<u8>, canaries: usize) -> Spec {
    Spec {
        version: "2.0.0".into(),
        targets: vec!["aarch64-unknown-linux-gnu".into(), "armv7-unknown-linux-gnueabihf".into()],
        canaries_per_group: canaries,
        waves,
        sites: vec![],
        max_failure_pct: 20,
        window: None,
    }
}

fn waves() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::btree_set(1u8..=100, 1..4).prop_map(|s| s.into_iter().collect())
}

proptest! {
    /// Every agent is skipped or in exactly one stage; each hardware group
    /// has its canaries; the waves reach their cumulative shares.
    #[test]
    fn the_plan_covers_every_agent_once(
        agents in proptest::collection::vec((0u8..2, 0u8..2, 0u8..4, proptest::bool::weighted(0.1)), 0..60),
        w in waves(),
        canaries in 1usize..3,
    ) {
        let fleet = fleet(&agents);
        let s = spec(w.clone(), canaries);
        let p = plan(&fleet, &s);
        let mut seen: Vec<AgentId> = p.stages.iter().flatten().copied().collect();
        seen.extend(p.skipped.iter().map(|(id, _)| *id));
        seen.sort_unstable();
        prop_assert_eq!(seen, fleet.iter().map(|a| a.id).collect::<Vec<_>>());
        for (id, why) in &p.skipped {
            prop_assert_eq!(why, &Skip::AlreadyOnVersion);
            prop_assert_eq!(fleet[*id as usize - 1].version.as_str(), "2.0.0");
        }
        let eligible: Vec<&Agent> = fleet.iter().filter(|a| a.version != "2.0.0").collect();
        let group = |a: &Agent| (a.target.clone(), a.model.clone());
        for a in &eligible {
            let g = group(a);
            let in_group = eligible.iter().filter(|b| group(b) == g).count();
            let canaries_of_group = p.stages[0].iter().filter(|id| group(&fleet[**id as usize - 1]) == g).count();
            prop_assert_eq!(canaries_of_group, in_group.min(canaries));
        }
        let rest = eligible.len() - p.stages[0].len();
        let mut cumulative = 0;
        let mut expected: Vec<usize> = w.iter().map(|pct| (rest * usize::from(*pct)).div_ceil(100)).collect();
        expected.push(rest);
        expected.dedup();
        expected.retain(|n| *n > 0);
        let got: Vec<usize> = p.stages[1..].iter().map(|st| { cumulative += st.len(); cumulative }).collect();
        prop_assert_eq!(got, expected);
    }

    /// Driving a rollout with random outcomes and connectivity: no wave is
    /// offered before the connected canaries finished, a failed canary
    /// halts it, nothing is offered once halted, and a healthy connected
    /// fleet completes with every agent upgraded.
    #[test]
    fn rollouts_halt_on_canaries_and_complete_when_healthy(
        agents in proptest::collection::vec((0u8..2, 0u8..2, 0u8..4, Just(false)), 1..40),
        bad in proptest::collection::vec(proptest::bool::weighted(0.1), 40),
        offline in proptest::collection::vec(proptest::bool::weighted(0.15), 40),
        w in waves(),
    ) {
        let fleet = fleet(&agents);
        let s = Spec { max_failure_pct: 100, ..spec(w, 1) };
        let p = plan(&fleet, &s);
        let mut states: Vec<AgentState> = vec![AgentState::Pending; fleet.len() + 1];
        let mut state = State::Running { stage: 0 };
        let is_bad = |id: AgentId| bad[id as usize - 1];
        let is_offline = |id: AgentId| offline[id as usize - 1];
        let stage_of = |id: AgentId| p.stages.iter().position(|st| st.contains(&id)).unwrap();
        for _ in 0..200 {
            let snapshot = states.clone();
            let d = next(&state, &p, &s, &|id| snapshot[id as usize].clone(), &|id| !is_offline(id), 0);
            if let State::Halted { .. } = d.state {
                prop_assert!(d.offer.is_empty());
            }
            for id in &d.offer {
                prop_assert!(!is_offline(*id), "only connected agents are offered");
                if stage_of(*id) > 0 {
                    for c in &p.stages[0] {
                        prop_assert!(snapshot[*c as usize].finished() || is_offline(*c), "a wave before canary {} finished", c);
                    }
                }
                states[*id as usize] = if is_bad(*id) {
                    AgentState::RolledBack { reason: "crash loop".into() }
                } else {
                    AgentState::Upgraded
                };
            }
            let progressed = d.state != state || !d.offer.is_empty();
            state = d.state;
            if !progressed {
                break;
            }
        }
        let canary_failed = p.stages[0].iter().any(|c| is_bad(*c) && !is_offline(*c));
        if canary_failed {
            prop_assert!(matches!(state, State::Halted { .. }), "{:?}", state);
        }
        let all: Vec<AgentId> = p.stages.iter().flatten().copied().collect();
        if all.iter().all(|id| !is_bad(*id) && !is_offline(*id)) {
            prop_assert_eq!(&state, &State::Completed);
            prop_assert!(all.iter().all(|id| states[*id as usize] == AgentState::Upgraded));
        }
    }
}

#[test]
fn windows_wrap_past_midnight() {
    assert!(in_window(None, 0));
    assert!(in_window(Some((120, 300)), 120) && !in_window(Some((120, 300)), 300));
    assert!(in_window(Some((1380, 120)), 1400) && in_window(Some((1380, 120)), 60));
    assert!(!in_window(Some((1380, 120)), 600));
}

#[test]
fn nothing_goes_out_outside_the_window_or_when_paused_and_failures_halt() {
    let fleet = fleet(&[(0, 0, 0, false), (0, 0, 1, false), (0, 0, 2, false), (0, 0, 3, false)]);
    let s = Spec { window: Some((120, 300)), max_failure_pct: 30, ..spec(vec![50, 100], 1) };
    let p = plan(&fleet, &s);
    assert_eq!(p.stages, vec![vec![1], vec![2, 3], vec![4]]);
    let pending = |_| AgentState::Pending;
    let up = |_| true;
    let running = State::Running { stage: 0 };
    assert!(next(&running, &p, &s, &pending, &up, 600).offer.is_empty(), "outside the window");
    assert_eq!(next(&running, &p, &s, &pending, &up, 150).offer, vec![1]);
    let paused = State::Paused { stage: 0 };
    assert_eq!(next(&paused, &p, &s, &pending, &up, 150), Decision { state: paused.clone(), offer: vec![] });
    // The canary upgraded: the first wave goes out.
    let after_canary = |id| if id == 1 { AgentState::Upgraded } else { AgentState::Pending };
    let d = next(&running, &p, &s, &after_canary, &up, 150);
    assert_eq!((d.state, d.offer), (State::Running { stage: 1 }, vec![2, 3]));
    // One of two wave agents failed: 1 of 3 finished > 30 %: halted.
    let one_failed = |id| match id {
        1 | 2 => AgentState::Upgraded,
        3 => AgentState::RolledBack { reason: "no connection".into() },
        _ => AgentState::Pending,
    };
    let d = next(&State::Running { stage: 1 }, &p, &s, &one_failed, &up, 150);
    assert!(matches!(&d.state, State::Halted { why, .. } if why.contains("1 of 3")), "{:?}", d.state);
    // A refused canary halts at once, with its reason.
    let refused =
        |id| if id == 1 { AgentState::Refused { reason: "bad signature".into() } } else { AgentState::Pending };
    let d = next(&running, &p, &s, &refused, &up, 150);
    assert!(matches!(&d.state, State::Halted { why, .. } if why.contains("bad signature")));
}
