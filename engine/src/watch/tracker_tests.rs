use super::*;
use crate::model::AutoScalingGroupName;
use crate::model::{ImageId, InstanceId, InstanceType, Region, Zone};
use crate::monitoring::{EventCode, InstanceChecks, ProbeTarget, ScheduledEvent};
use crate::status::{AutoScalingStatus, InstanceStatus, ServerStatus};

/// What a cycle sees of the server `ale`, in short.
#[derive(Clone, Copy, Debug)]
enum Seen {
    Healthy,
    /// Healthy resources, the instance's system check impaired.
    Impaired,
    /// Healthy resources, the probe failing.
    ProbeFails,
    Degraded,
    Down,
    Stopped,
    Absent,
    /// Healthy, with a retirement scheduled.
    Retiring,
    /// Healthy, without an auto scaling group (`auto_scale_capacity: 0`).
    RunningAlone,
    /// Its instance terminated, and no auto scaling group: status says stopped.
    GoneAlone,
}

fn observation(seen: Seen) -> Observation {
    let (health, reason, running) = match seen {
        Seen::Healthy | Seen::Impaired | Seen::ProbeFails | Seen::Retiring | Seen::RunningAlone => {
            (Health::Healthy, "", true)
        }
        Seen::GoneAlone => (Health::Stopped, "no instance and no auto scaling group (auto scaling stopped)", false),
        Seen::Degraded => (Health::Degraded, "data volume vol-1 is not attached to i-1", true),
        Seen::Down => (Health::Down, "failed to respawn: InsufficientInstanceCapacity in us-east-1a", false),
        Seen::Stopped => (Health::Stopped, "auto scaling stopped", false),
        Seen::Absent => (Health::Absent, "nothing exists", false),
    };
    let instance = running.then(|| InstanceStatus {
        id: InstanceId::new("i-1"),
        state: InstanceState::Running,
        zone: Zone::new("us-east-1a"),
        instance_type: InstanceType::new("t3.small"),
        ami: ImageId::new("ami-1"),
        launched_at: Timestamp(0),
        agent: None,
    });
    let checks = running.then(|| InstanceChecks {
        instance: InstanceId::new("i-1"),
        zone: Zone::new("us-east-1a"),
        state: InstanceState::Running,
        system: if matches!(seen, Seen::Impaired) { CheckStatus::Impaired } else { CheckStatus::Ok },
        instance_check: CheckStatus::Ok,
        events: match seen {
            Seen::Retiring => vec![ScheduledEvent {
                id: "instance-event-1".into(),
                code: EventCode::InstanceRetirement,
                description: "The instance is running on degraded hardware".into(),
                not_before: Timestamp(86_400),
                not_after: None,
            }],
            _ => vec![],
        },
    });
    let target = ProbeTarget::Http { url: "https://ale.example.com/".into(), expect_status: 200 };
    let probe = running.then(|| match seen {
        Seen::ProbeFails => (target, ProbeOutcome::Failed("connection timed out after 5s".into())),
        _ => (target, ProbeOutcome::Up),
    });
    Observation {
        status: ServerStatus {
            name: ServerName::new("ale"),
            region: Region::new("us-east-1"),
            health,
            reason: reason.into(),
            instance,
            volume: None,
            other_volumes: vec![],
            address: None,
            auto_scaling: match seen {
                Seen::RunningAlone | Seen::GoneAlone => None,
                _ => Some(AutoScalingStatus {
                    group: AutoScalingGroupName::new("ale"),
                    desired: u32::from(!matches!(seen, Seen::Stopped)),
                    template_version: Some(1),
                    launch_configuration: None,
                    last_activity: None,
                }),
            },
        },
        checks,
        probe,
    }
}

/// Feeds one observation every 30 s (`None`: the cloud could not be read) with reminders
/// every `remind` seconds, and compares the events with `expected`: `(seconds, "kind
/// health")`, `kind` alone for the connection's events.
fn check(remind: Option<u64>, cycles: &[Option<Seen>], expected: &[(u64, &str)]) {
    let mut tracker = Tracker::new([(ServerName::new("ale"), remind.map(Duration::from_secs))]);
    let mut got = Vec::new();
    for (n, seen) in cycles.iter().enumerate() {
        let at = Timestamp(n as u64 * 30);
        let events = match seen {
            Some(seen) => tracker.observe(at, &[observation(*seen)]),
            None => tracker.unreadable(at, "Unavailable: no answer"),
        };
        for e in events {
            let what = match e.health {
                Some(h) => format!("{} {}", e.kind.as_str(), h.as_str()),
                None => e.kind.as_str().to_string(),
            };
            got.push((e.at.0, what));
        }
    }
    let expected: Vec<(u64, String)> = expected.iter().map(|(t, w)| (*t, w.to_string())).collect();
    assert_eq!(got, expected, "cycles {cycles:?}");
}

use Seen::*;

#[test]
fn a_healthy_server_says_nothing() {
    check(Some(60), &[Some(Healthy); 10], &[]);
}

#[test]
fn an_incident_is_notified_once_and_its_end_once() {
    check(
        None,
        &[Some(Healthy), Some(Down), Some(Down), Some(Degraded), Some(Healthy), Some(Healthy)],
        &[(30, "down down"), (120, "recovered healthy")],
    );
}

#[test]
fn getting_worse_is_notified_getting_better_is_not() {
    check(
        None,
        &[Some(Degraded), Some(Down), Some(Degraded), Some(Down), Some(Healthy)],
        &[(0, "degraded degraded"), (30, "down down"), (120, "recovered healthy")],
    );
}

#[test]
fn reminders_come_at_their_interval_after_the_last_notification() {
    // Down at 0; reminders at 60 and 120 (every 60 s); a worsening resets the interval.
    check(
        Some(60),
        &[Some(Down), Some(Down), Some(Down), Some(Down), Some(Down), Some(Healthy)],
        &[(0, "down down"), (60, "reminder down"), (120, "reminder down"), (150, "recovered healthy")],
    );
    check(
        Some(60),
        &[Some(Degraded), Some(Degraded), Some(Down), Some(Down), Some(Down), Some(Down)],
        &[(0, "degraded degraded"), (60, "down down"), (120, "reminder down")],
    );
    // A zero interval never reminds.
    check(Some(0), &[Some(Down); 5], &[(0, "down down")]);
}

#[test]
fn stopping_on_purpose_ends_an_incident_and_otherwise_is_only_said() {
    check(
        None,
        &[Some(Down), Some(Stopped), Some(Healthy), Some(Stopped), Some(Absent)],
        &[
            (0, "down down"),
            (30, "resolved stopped"),
            (60, "changed healthy"),
            (90, "changed stopped"),
            (120, "changed absent"),
        ],
    );
    // Stopped or absent at the first look: nothing.
    check(None, &[Some(Stopped), Some(Stopped)], &[]);
}

#[test]
fn an_impaired_instance_is_down() {
    check(None, &[Some(Healthy), Some(Impaired), Some(Healthy)], &[(30, "down down"), (60, "recovered healthy")]);
}

#[test]
fn a_probe_must_fail_twice_in_a_row() {
    check(None, &[Some(Healthy), Some(ProbeFails), Some(Healthy), Some(ProbeFails), Some(Healthy)], &[]);
    check(
        None,
        &[Some(Healthy), Some(ProbeFails), Some(ProbeFails), Some(ProbeFails), Some(Healthy)],
        &[(60, "down down"), (120, "recovered healthy")],
    );
}

#[test]
fn a_scheduled_event_is_announced_once() {
    check(
        None,
        &[Some(Healthy), Some(Retiring), Some(Retiring), Some(Healthy), Some(Retiring)],
        &[(30, "scheduled healthy")],
    );
}

#[test]
fn a_lost_connection_is_its_own_incident_and_judges_nothing() {
    check(
        Some(30),
        &[Some(Healthy), None, None, None, Some(Down), Some(Down), None, Some(Healthy)],
        &[
            (30, "connection-lost"),
            (120, "connection-restored"),
            (120, "down down"),
            (150, "reminder down"),
            (180, "connection-lost"),
            (210, "connection-restored"),
            (210, "recovered healthy"),
        ],
    );
}

#[test]
fn events_carry_the_incident_and_the_probe_error() {
    let mut tracker = Tracker::new([]);
    assert!(tracker.observe(Timestamp(0), &[observation(Healthy)]).is_empty());
    assert!(tracker.observe(Timestamp(30), &[observation(ProbeFails)]).is_empty());
    let down = tracker.observe(Timestamp(60), &[observation(ProbeFails)]);
    assert_eq!(down.len(), 1);
    assert_eq!(
        down[0].reason,
        "health check GET https://ale.example.com/ failed 2 times in a row: connection timed out after 5s"
    );
    assert_eq!(down[0].incident.as_ref().map(|i| i.id.as_str()), Some("ale-60"));
    assert_eq!(down[0].previous, Some(Health::Healthy));
    assert_eq!(tracker.unhealthy(), vec![(&ServerName::new("ale"), Health::Down)]);
    let up = tracker.observe(Timestamp(90), &[observation(Healthy)]);
    assert_eq!((up[0].kind, up[0].incident_duration()), (EventKind::Recovered, Some(30)));
    assert_eq!(up[0].incident.as_ref().map(|i| i.id.as_str()), Some("ale-60"));
}

#[test]
fn the_checks_of_another_instance_are_not_this_ones() {
    let mut seen = observation(Impaired);
    if let Some(checks) = seen.checks.as_mut() {
        checks.instance = InstanceId::new("i-9");
    }
    assert_eq!(judge(&seen, 0, None), (Health::Healthy, String::new()));
}

#[test]
fn a_server_without_a_group_whose_instance_is_gone_is_down() {
    check(
        None,
        &[Some(RunningAlone), Some(GoneAlone), Some(GoneAlone), Some(RunningAlone)],
        &[(30, "down down"), (90, "recovered healthy")],
    );
    // Stopped at the first look, or after its group was deleted (stop-auto-scaling): on purpose.
    check(None, &[Some(GoneAlone), Some(GoneAlone)], &[]);
    check(None, &[Some(Healthy), Some(GoneAlone)], &[(30, "changed stopped")]);
    let mut tracker = Tracker::new([]);
    tracker.observe(Timestamp(0), &[observation(RunningAlone)]);
    let down = tracker.observe(Timestamp(30), &[observation(GoneAlone)]);
    assert_eq!(down[0].reason, "instance i-1 is gone and no auto scaling group replaces it");
}
