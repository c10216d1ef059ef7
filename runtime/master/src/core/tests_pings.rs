//! Core tests of the failure detector on an injected clock: a silent agent is declared
//! unreachable `agent_ping_timeout × max_agent_ping_timeouts` after it was last heard
//! from; a live agent on a link losing 30 % of messages each way is not; any message
//! counts as a sign of life.

use super::tests::*;
use super::*;
use std::time::Duration;

const AGENT_CONN: Conn = 1;

fn pings(out: &[Command]) -> usize {
    out.iter()
        .filter(|c| {
            matches!(
                c,
                Command::ToAgent {
                    msg: MasterToAgent::Ping,
                    ..
                }
            )
        })
        .count()
}

/// Steps the clock from deadline to deadline until `until`, answering each ping with a
/// pong when `answer()` says so; returns when the agent became unreachable, if it did.
fn run(
    m: &mut MasterCore,
    now: &mut Instant,
    until: Instant,
    mut answer: impl FnMut() -> bool,
) -> Option<Instant> {
    while *now < until {
        *now = m.next_deadline().unwrap_or(until).max(*now);
        let out = m.handle(*now, Input::Tick);
        for _ in 0..pings(&out) {
            if answer() {
                m.handle(
                    *now + Duration::from_millis(1),
                    Input::Agent {
                        conn: AGENT_CONN,
                        msg: AgentToMaster::Pong,
                    },
                );
            }
        }
        if m.agents
            .values()
            .any(|a| a.status == AgentStatus::Unreachable)
        {
            return Some(*now);
        }
    }
    None
}

#[test]
fn a_silent_agent_is_unreachable_two_seconds_after_it_was_last_heard() {
    let mut m = master();
    let mut now = Instant::now();
    register_agent(&mut m, now, AGENT_CONN, "cpus:1;mem:128");
    // Answers for a while, then dies.
    let alive_until = now + Duration::from_secs(5);
    assert_eq!(run(&mut m, &mut now, alive_until, || true), None);
    let last = now + Duration::from_millis(1);
    let at = run(&mut m, &mut now, last + Duration::from_secs(10), || false)
        .expect("declared unreachable");
    let silence = at - last;
    // Defaults: 500 ms × 4; probes every 50 ms once the agent is a suspect.
    assert!(
        silence >= Duration::from_millis(2000) && silence <= Duration::from_millis(2060),
        "declared after {silence:?} of silence"
    );
}

#[test]
fn a_live_agent_on_a_lossy_link_is_not_declared_unreachable() {
    let mut m = master();
    let mut now = Instant::now();
    register_agent(&mut m, now, AGENT_CONN, "cpus:1;mem:128");
    // splitmix64, seeded: each ping and each pong lost with p = 0.3 (round trip 0.49).
    let mut state = 0x5EED_u64;
    let mut unit = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let (mut sent, mut answered) = (0u32, 0u32);
    let hour = now + Duration::from_secs(3600);
    let declared = run(&mut m, &mut now, hour, || {
        sent += 1;
        let ok = unit() >= 0.3 && unit() >= 0.3;
        answered += u32::from(ok);
        ok
    });
    assert_eq!(declared, None, "after {sent} pings, {answered} answered");
    // Probing stays cheap: 2 pings/s when answered, more only while a pong is overdue.
    assert!(sent < 3600 * 6, "{sent} pings in an hour");
}

#[test]
fn a_master_that_did_not_run_does_not_blame_its_agents() {
    let mut m = master();
    let mut now = Instant::now();
    register_agent(&mut m, now, AGENT_CONN, "cpus:1;mem:128");
    now += Duration::from_secs(30);
    let out = m.handle(now, Input::Tick);
    assert_eq!(pings(&out), 1, "a fresh ping instead of a verdict");
    assert!(m.agents.values().all(|a| a.status == AgentStatus::Active));
    // Still silent afterwards: unreachable two seconds later.
    let until = now + Duration::from_secs(5);
    let at = run(&mut m, &mut now, until, || false);
    assert!(at.is_some());
}

#[test]
fn any_message_from_the_agent_counts_as_a_sign_of_life() {
    let mut m = master();
    let mut now = Instant::now();
    let agent = register_agent(&mut m, now, AGENT_CONN, "cpus:1;mem:128");
    let end = now + Duration::from_secs(10);
    while now < end {
        now = m.next_deadline().unwrap_or(end).max(now);
        m.handle(now, Input::Tick);
        // No pong ever; an executor message each tick instead.
        m.handle(
            now,
            Input::Agent {
                conn: AGENT_CONN,
                msg: AgentToMaster::FrameworkMessage {
                    framework_id: "f".into(),
                    executor_id: "e".into(),
                    data: vec![],
                },
            },
        );
    }
    assert_eq!(m.agents[&agent].status, AgentStatus::Active);
}
