//! Client tokens (`tokens.rs`): CreateLaunchTemplate, CreateLaunchTemplateVersion and
//! CopyImage answer a repeated token with the first answer and refuse other parameters;
//! a RunInstances token outlives its instance by a day.

use super::*;

fn lt_request(name: &str, instance_type: &str, token: Option<&str>) -> CreateLaunchTemplateRequest {
    CreateLaunchTemplateRequest {
        name: name.into(),
        spec: spec(instance_type, "ami-0002"),
        tags: tags(&[("Name", name)]),
        client_token: token.map(str::to_string),
    }
}

/// (code, how many launch templates and versions the region has) after each call.
fn template_outcomes(calls: &[(&str, &str, Option<&str>)]) -> Vec<(String, usize)> {
    let mut w = default_world();
    calls
        .iter()
        .map(|(name, instance_type, token)| {
            let code = match w.create_launch_template(&east(), lt_request(name, instance_type, *token)) {
                Ok(t) => format!("ok {}", t.id),
                Err(e) => e.code,
            };
            (code, w.templates.len())
        })
        .collect()
}

#[test]
fn create_launch_template_tokens() {
    let ok = |id: &str, n| (format!("ok {id}"), n);
    let code = |c: &str, n| (c.to_string(), n);
    assert_eq!(
        template_outcomes(&[
            ("a", "t3.small", Some("tok-1")),
            ("a", "t3.small", Some("tok-1")),
            ("a", "t3.large", Some("tok-1")),
            ("b", "t3.small", Some("tok-1")),
            ("a", "t3.small", Some("tok-2")),
            ("a", "t3.small", None),
            ("c", "t3.small", Some(&"x".repeat(129))),
        ]),
        vec![
            ok("lt-0001", 1),
            ok("lt-0001", 1),
            code("IdempotentParameterMismatch", 1),
            code("IdempotentParameterMismatch", 1),
            code("InvalidLaunchTemplateName.AlreadyExistsException", 1),
            code("InvalidLaunchTemplateName.AlreadyExistsException", 1),
            code("InvalidParameterValue", 1),
        ]
    );
}

#[test]
fn create_launch_template_version_tokens() {
    let mut w = default_world();
    let r = east();
    let lt = template(&mut w, "x");
    let first = w.create_launch_template_version(&r, &lt, spec("t3.medium", "ami-0002"), Some("tok-1")).unwrap();
    assert_eq!(first.latest_version, 2);
    let again = w.create_launch_template_version(&r, &lt, spec("t3.medium", "ami-0002"), Some("tok-1")).unwrap();
    assert_eq!(again, first, "the first answer again");
    assert_eq!(w.templates[&lt].versions.len(), 2, "no second version");
    let other = error(w.create_launch_template_version(&r, &lt, spec("t3.large", "ami-0002"), Some("tok-1")));
    assert_eq!(other.0, "IdempotentParameterMismatch", "{other:?}");
    let west = error(w.create_launch_template_version(
        &Region::new("us-west-2"),
        &lt,
        spec("t3.medium", "ami-0002"),
        Some("tok-1"),
    ));
    assert_eq!(west.0, "InvalidLaunchTemplateId.NotFound", "tokens are per region: {west:?}");
    let untokened = w.create_launch_template_version(&r, &lt, spec("t3.medium", "ami-0002"), None).unwrap();
    assert_eq!(untokened.latest_version, 3, "without a token every call makes a version");
}

#[test]
fn copy_image_tokens() {
    let mut w = default_world();
    let (r, west) = (east(), Region::new("us-west-2"));
    let name = "web-server-copy";
    let first = w.copy_image(&r, &ImageId::new("ami-0002"), &west, (name, Some("tok-1"))).unwrap();
    let again = w.copy_image(&r, &ImageId::new("ami-0002"), &west, (name, Some("tok-1"))).unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(w.describe_images(&west).iter().filter(|i| i.name == name).count(), 1);
    let other = error(w.copy_image(&r, &ImageId::new("ami-0002"), &west, ("web-server-other", Some("tok-1"))));
    assert_eq!(other.0, "IdempotentParameterMismatch", "{other:?}");
    // Without a token the name, taken by the first copy, is refused.
    let taken = error(w.copy_image(&r, &ImageId::new("ami-0002"), &west, (name, None)));
    assert_eq!(taken.0, "InvalidAMIName.Duplicate", "{taken:?}");
}

#[test]
fn run_instances_token_outlives_its_instance_by_a_day() {
    let mut w = default_world();
    let r = east();
    let request = || run_request("us-east-1a", "t3.small", "ami-0002", "tok-1");
    let first = w.run_instance(&r, request()).unwrap();
    w.advance_clock_to(Timestamp(T0 + 60));
    w.terminate_instance(&r, &first.id).unwrap();
    w.advance_clock_to(Timestamp(T0 + 60 + SHUTDOWN_SECS + TERMINATED_VISIBLE_SECS + 10));
    assert!(!w.instances.contains_key(&first.id), "the instance is gone from describe");
    let again = w.run_instance(&r, request()).unwrap();
    assert_eq!((again.id.clone(), again.state), (first.id.clone(), InstanceState::Terminated), "the first answer");
    assert!(w.instances.is_empty(), "nothing launched");
    let other = error(w.run_instance(&r, run_request("us-east-1a", "t3.large", "ami-0002", "tok-1")));
    assert_eq!(other.0, "IdempotentParameterMismatch", "{other:?}");
    // Kept through a save and a load.
    let mut w = parse_world(&render_world(&w)).unwrap();
    assert_eq!(w.run_instance(&r, request()).unwrap().id, first.id);
    w.advance_clock_to(Timestamp(T0 + 60 + SHUTDOWN_SECS + TERMINATED_VISIBLE_SECS + INSTANCE_TOKEN_SECS + 20));
    let later = w.run_instance(&r, request()).unwrap();
    assert_ne!(later.id, first.id, "a day after, the token is free again");
}
