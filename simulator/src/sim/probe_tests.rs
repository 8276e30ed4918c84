//! The simulator's outside probe (`Prober for Sim`): each outcome, and that a probe is not
//! an AWS call.

use super::status_tests::{at, east, group_server, sim_with, standalone_server, tags, T0};
use super::*;
use crate::faults::{EventAnnouncement, Faults, Impairment, Outage, StatusCheck, Unreachable};
use crate::world::probes::probe_host;
use cellar_engine::monitoring::{EventCode, ProbeOutcome, ProbeRequest, ProbeTarget, Prober};

fn http(url: &str, expect_status: u16) -> ProbeTarget {
    ProbeTarget::Http { url: url.into(), expect_status }
}

fn tcp(host: &str) -> ProbeTarget {
    ProbeTarget::Tcp { host: host.into(), port: 22 }
}

fn request(server: &str, target: ProbeTarget) -> ProbeRequest {
    ProbeRequest { server: ServerName::new(server), region: east(), target, timeout: Duration::from_secs(5) }
}

/// Probes `target` of server x and expects `expected` (`"up"`, or the failure's words),
/// and the clock to move `secs` meanwhile.
async fn check(sim: &Sim, target: ProbeTarget, expected: &str, secs: u64) {
    let before = sim.now_ms().await;
    let got = match sim.probe(&request("x", target.clone())).await {
        ProbeOutcome::Up => "up".to_string(),
        ProbeOutcome::Failed(why) => why,
    };
    assert_eq!(got, expected, "{target} at {}:\n{}", sim.now().await.rfc3339(), sim.world().render_log(None));
    assert_eq!(sim.now_ms().await - before, secs * 1000, "{target}: the probe's time on the clock");
}

#[test]
fn the_host_of_a_target() {
    let host = |t: ProbeTarget, expected: &str| assert_eq!(probe_host(&t), expected);
    host(http("https://ale.example.com/health", 200), "ale.example.com");
    host(http("http://198.51.100.2:8080/?x=1", 200), "198.51.100.2");
    host(http("http://user:pw@ale.example.com:81#top", 200), "ale.example.com");
    host(http("ale.example.com/health", 200), "ale.example.com");
    host(tcp("198.51.100.2"), "198.51.100.2");
}

#[tokio::test]
async fn a_server_answers_once_its_agent_is_done() {
    let sim = sim_with(Faults::default());
    let (_, ip) = standalone_server(&sim, "x").await;
    sim.with_world(|w| w.set_dns("x.example.com", vec![ip.clone()])).unwrap();
    // Not associated before its agent runs (+50).
    check(&sim, tcp(&ip), &format!("no route: {ip} is not associated with a running instance"), 0).await;
    at(&sim, 60).await;
    let calls = sim.world().api_calls();
    check(&sim, tcp(&ip), "up", 0).await;
    check(&sim, http("https://x.example.com/health", 200), "up", 0).await;
    check(&sim, http(&format!("http://{ip}:8080/"), 200), "up", 0).await;
    check(&sim, http("https://x.example.com/missing", 404), "HTTP 200, expected 404", 0).await;
    check(&sim, http("https://y.example.com/", 200), "could not resolve host y.example.com", 0).await;
    check(&sim, tcp("198.51.100.99"), "no route: 198.51.100.99 is not associated with a running instance", 0).await;
    assert_eq!(sim.world().api_calls(), calls, "a probe is not an AWS call");
}

#[tokio::test]
async fn a_server_that_boots_or_whose_agent_failed_does_not_answer() {
    let sim = sim_with(Faults { agent_delay_secs: Some(40), ..Faults::default() });
    let (id, ip) = standalone_server(&sim, "x").await;
    // Associate by hand at +35: running since +30, booting until +70 (the agent's delay).
    at(&sim, 35).await;
    let allocation = sim.world().addresses().values().find(|a| a.public_ip == ip).unwrap().allocation_id.clone();
    sim.associate_address(&east(), &allocation, &id).await.unwrap();
    check(&sim, tcp(&ip), "connection timed out after 5s", 5).await;
    at(&sim, 69).await;
    check(&sim, tcp(&ip), "connection timed out after 5s", 5).await;
    assert_eq!(sim.now().await, Timestamp(T0 + 74));
    // Booted, agent done at +70.
    check(&sim, tcp(&ip), "up", 0).await;

    // Launched without an agent: the machine is up, nothing listens.
    let sim = sim_with(Faults::default());
    let r = east();
    let address = sim.allocate_address(&r, tags(&[("Name", "x")])).await.unwrap();
    let request = RunInstanceRequest {
        zone: Zone::new("us-east-1a"),
        instance_type: InstanceType::new("t3.small"),
        image: ImageId::new("ami-0002"),
        user_data: String::new(),
        tags: tags(&[("Name", "x")]),
        client_token: "bare".into(),
        subnet: None,
        settings: LaunchSettings::default(),
    };
    let instance = sim.run_instance(&r, request).await.unwrap();
    at(&sim, 60).await;
    sim.associate_address(&r, &address.allocation_id, &instance.id).await.unwrap();
    check(&sim, tcp(&address.public_ip), "connection refused", 0).await;
    sim.with_world(|w| w.print_to_console(&instance.id, "cellar agent: failed: no data volume"));
    check(&sim, tcp(&address.public_ip), "connection refused", 0).await;
    sim.with_world(|w| w.print_to_console(&instance.id, "cellar agent: done"));
    check(&sim, tcp(&address.public_ip), "up", 0).await;
}

#[tokio::test]
async fn impaired_stopped_or_unreachable_servers_time_out() {
    let faults = Faults {
        impairments: vec![Impairment {
            at: Timestamp(T0 + 100),
            target: "x".into(),
            check: StatusCheck::Instance,
            secs: Some(60),
        }],
        unreachable: vec![Unreachable { at: Timestamp(T0 + 200), server: ServerName::new("x"), secs: 30 }],
        outages: vec![Outage { at: Timestamp(T0 + 300), secs: 60 }],
        scheduled_events: vec![EventAnnouncement {
            at: Timestamp(T0 + 60),
            target: "x".into(),
            code: EventCode::InstanceStop,
            not_before: Timestamp(T0 + 400),
            not_after: None,
        }],
        ..Faults::default()
    };
    let sim = sim_with(faults);
    let (_, ip) = standalone_server(&sim, "x").await;
    let timed_out = "connection timed out after 5s";
    at(&sim, 100).await;
    check(&sim, tcp(&ip), timed_out, 5).await;
    at(&sim, 160).await;
    check(&sim, tcp(&ip), "up", 0).await;
    at(&sim, 200).await;
    check(&sim, http(&format!("http://{ip}/"), 200), timed_out, 5).await;
    at(&sim, 230).await;
    check(&sim, tcp(&ip), "up", 0).await;
    // An outage of AWS's API does not stop the server answering.
    at(&sim, 300).await;
    check(&sim, tcp(&ip), "up", 0).await;
    // Stopped by its scheduled event at +400 (its address stays associated).
    at(&sim, 401).await;
    check(&sim, tcp(&ip), timed_out, 5).await;
    let probe = ProbeRequest { timeout: Duration::from_millis(1500), ..request("x", tcp(&ip)) };
    assert_eq!(sim.probe(&probe).await, ProbeOutcome::Failed("connection timed out after 1.5s".into()));
}

#[tokio::test]
async fn a_replaced_instance_answers_again_and_a_rebooting_one_not_meanwhile() {
    // A reboot at +300: the machine is down for its boot (the agent's delay, 20 s).
    let reboot = EventAnnouncement {
        at: Timestamp(T0 + 60),
        target: "x".into(),
        code: EventCode::SystemReboot,
        not_before: Timestamp(T0 + 300),
        not_after: None,
    };
    let sim = sim_with(Faults { scheduled_events: vec![reboot], ..Faults::default() });
    let (_, ip) = standalone_server(&sim, "x").await;
    at(&sim, 300).await;
    check(&sim, tcp(&ip), "connection timed out after 5s", 5).await;
    at(&sim, 320).await;
    check(&sim, tcp(&ip), "up", 0).await;

    // A group replaces its impaired member; the new one's agent takes the address over.
    let fault = Impairment { at: Timestamp(T0 + 300), target: "x".into(), check: StatusCheck::System, secs: None };
    let sim = sim_with(Faults { impairments: vec![fault], ..Faults::default() });
    group_server(&sim, "x").await;
    at(&sim, 299).await;
    let ip = sim
        .world()
        .addresses()
        .values()
        .find(|a| a.tags.get(NAME_TAG).is_some_and(|n| n == "x"))
        .unwrap()
        .public_ip
        .clone();
    check(&sim, tcp(&ip), "up", 0).await;
    at(&sim, 300).await;
    check(&sim, tcp(&ip), "connection timed out after 5s", 5).await;
    at(&sim, 600).await;
    check(&sim, tcp(&ip), "up", 0).await;
}
