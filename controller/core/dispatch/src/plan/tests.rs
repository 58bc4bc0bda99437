use super::*;
use crate::instance;
use proptest::prelude::*;

fn small(seed: u64, jobs: usize, techs: usize) -> (Problem, Matrix) {
    let p = instance::day(seed, jobs, techs);
    let m = Matrix::estimate(&p, &Driving::default());
    (p, m)
}

fn orders_of(p: &Problem, plan: &Plan) -> Vec<Vec<usize>> {
    let mut orders = vec![Vec::new(); p.technicians.len()];
    for r in &plan.routes {
        let t = p.technicians.iter().position(|t| t.id == r.technician).unwrap();
        orders[t] = r.stops.iter().map(|s| p.jobs.iter().position(|j| j.id == s.job).unwrap()).collect();
    }
    orders
}

#[test]
fn timeline_waits_for_the_window_and_refuses_a_late_start() {
    let (mut p, m) = small(1, 3, 1);
    p.jobs[0].window = Some((10 * 3600, 11 * 3600));
    let r = timeline(&p, &m, 0, &[0]).unwrap();
    // Leaves late enough to arrive as the window opens.
    assert_eq!(r.stops[0].start_s, 10 * 3600);
    assert_eq!(r.depart_s, 10 * 3600 - m.secs(3, 0));
    assert_eq!(r.stops[0].leave_s, 10 * 3600 + p.jobs[0].duration_s);
    assert_eq!(r.back_s, r.stops[0].leave_s + m.secs(0, 4));
    // A second job whose window closed before the first one ends.
    p.jobs[1].window = Some((7 * 3600, 8 * 3600));
    assert!(matches!(timeline(&p, &m, 0, &[0, 1]), Err(Violation::Window { job: 2, .. })));
    // A day longer than the shift.
    p.jobs[2].duration_s = 13 * 3600;
    assert_eq!(timeline(&p, &m, 0, &[2]), Err(Violation::Hours { tech: 1 }));
}

#[test]
fn eligibility_is_skills_zone_and_holding() {
    let (mut p, _) = small(2, 1, 5);
    let j = &mut p.jobs[0];
    j.skills = ["climb".to_string()].into();
    // Technician 1 climbs (index 0), technician 2 does not.
    assert!(!eligible(j, &p.technicians[1]));
    j.skills.clear();
    // Technician 5 (index 4) works anywhere.
    assert!(eligible(j, &p.technicians[4]));
    j.technician = Some(1);
    assert!(!eligible(j, &p.technicians[4]));
    // Outside every zone of a zoned technician.
    j.technician = None;
    j.at = Point::new(40.0, -80.0).unwrap();
    assert!(!eligible(j, &p.technicians[0]) && eligible(j, &p.technicians[4]));
}

#[test]
fn check_names_each_broken_rule() {
    let (p, m) = small(3, 30, 5);
    let plan = naive(&p, &m);
    assert_eq!(check(&p, &m, &plan), vec![]);
    assert!(plan.assigned() > 0);
    // A job twice.
    let mut twice = plan.clone();
    let dup = twice.routes[0].stops[0].job;
    twice.unassigned.push((dup, Left::NoTime));
    assert!(check(&p, &m, &twice).contains(&Violation::Twice(dup)));
    // A job dropped.
    let mut dropped = plan.clone();
    let gone = dropped.routes[0].stops.pop().unwrap().job;
    assert!(check(&p, &m, &dropped).contains(&Violation::Missing(gone)));
    // Times that are not the order's.
    let mut moved = plan.clone();
    moved.routes[0].stops[0].start_s += 60;
    assert!(check(&p, &m, &moved).iter().any(|v| matches!(v, Violation::Times { .. } | Violation::Window { .. })));
    // A route for a technician who may not do the job.
    let mut wrong = plan.clone();
    let j = wrong.routes[0].stops[0].job;
    let held = p.jobs.iter().position(|x| x.id == j).unwrap();
    let mut p2 = p.clone();
    p2.jobs[held].technician = Some(-1);
    assert!(check(&p2, &m, &wrong).contains(&Violation::NotEligible { job: j, tech: wrong.routes[0].technician }));
    wrong.routes[0].technician = 999;
    assert!(check(&p, &m, &wrong).contains(&Violation::UnknownTechnician(999)));
}

#[test]
fn instances_are_the_same_for_a_seed() {
    assert_eq!(instance::day(7, 50, 5), instance::day(7, 50, 5));
    assert_ne!(instance::day(7, 50, 5), instance::day(8, 50, 5));
    // Every job has at least one technician in the benchmark's shape.
    let p = instance::day(7, 500, 20);
    assert!(p.jobs.iter().all(|j| p.technicians.iter().any(|t| eligible(j, t))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The baseline keeps every rule, and a job is left out only when it
    /// fits no one's route.
    #[test]
    fn naive_keeps_every_rule(seed in any::<u64>(), jobs in 1usize..60, techs in 1usize..6) {
        let (p, m) = small(seed, jobs, techs);
        let plan = naive(&p, &m);
        prop_assert_eq!(check(&p, &m, &plan), vec![]);
        for (id, why) in &plan.unassigned {
            let j = p.jobs.iter().position(|x| x.id == *id).unwrap();
            prop_assert_eq!(*why, reason(&p, j));
        }
    }

    /// Polishing keeps every rule and makes no route longer.
    #[test]
    fn polish_never_lengthens_nor_breaks(seed in any::<u64>(), jobs in 1usize..60, techs in 1usize..6) {
        let (p, m) = small(seed, jobs, techs);
        let plan = naive(&p, &m);
        let mut orders = orders_of(&p, &plan);
        polish(&p, &m, &mut orders);
        let polished = assemble(&p, &m, &orders, plan.unassigned.clone());
        prop_assert_eq!(check(&p, &m, &polished), vec![]);
        prop_assert_eq!(polished.assigned(), plan.assigned());
        for r in &polished.routes {
            let before = plan.routes.iter().find(|b| b.technician == r.technician).unwrap();
            prop_assert!(r.drive_s <= before.drive_s);
        }
    }
}
