//! First contact with a real account, on the endpoint: credentials AWS refuses are final
//! and fast, commands run on a server's own instance, `cellar doctor`, and
//! `docs/agent-role.sh`.

use super::*;

/// Credentials AWS refuses (AuthFailure, ExpiredToken) and a missing permission
/// (UnauthorizedOperation) are final: the `cellar` binary sends the request once, exits 1 at
/// once, and says what to fix (the credential chain, or the IAM action).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_auth_failures_are_not_retried() {
    let Some(upstream) = moto_endpoint("injected_auth_failures_are_not_retried") else { return };
    let account = MotoAccount::open_with(&upstream, false).await;
    let url = account.endpoint.url.clone();
    for (status, code) in [(401, "AuthFailure"), (400, "ExpiredToken")] {
        account.endpoint.inject(Injection::new("DescribeRegions", 100, status, code));
        let before = account.endpoint.seen_actions("DescribeRegions").len();
        let started = std::time::Instant::now();
        let out = cellar_aws(&url, &["plan", "stop-auto-scaling@duvel"], &[]).await;
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(took < Duration::from_secs(5), "{code}: {took:?}");
        assert_eq!(account.endpoint.seen_actions("DescribeRegions").len() - before, 1, "{code} was retried");
        let said = text(&out);
        assert!(said.contains(code) && said.contains("AWS_PROFILE") && said.contains("aws sso login"), "{said}");
        account.endpoint.clear_injections();
    }
    account.endpoint.inject(Injection::new("DescribeInstances", 100, 403, "UnauthorizedOperation"));
    let out = cellar_aws(&url, &["status", "duvel"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(account.endpoint.seen_actions("DescribeInstances").len(), 1, "UnauthorizedOperation was retried");
    let said = text(&out);
    assert!(said.contains("ec2:DescribeInstances") && said.contains("docs/iam-policy.json"), "{said}");
    // The engine's retry table says so too, whatever calls it.
    let policy = cellar_engine::caller::Policy::for_reads();
    for kind in [CloudErrorKind::AuthFailure, CloudErrorKind::NoCredentials, CloudErrorKind::UnauthorizedOperation] {
        assert_eq!(policy.retry_for(&kind), cellar_engine::caller::RetryFor::Never, "{kind:?}");
    }
}

/// On a server's own instance, a command without `@SERVER` is about that server (the
/// instance's Name tag, found through the metadata stand-in), and stop-auto-scaling keeps
/// the group and its launch template, as the seed's scripts run locally did. An untagged
/// instance is refused, naming the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_without_a_server_act_on_this_instance() {
    let Some(upstream) = moto_endpoint("cli_commands_without_a_server_act_on_this_instance") else { return };
    let account = MotoAccount::open_with(&upstream, false).await;
    let cloud = account.cloud();
    let report = apply_on(cloud.clone(), "create-server@duvel 10", fast_policy()).await.unwrap();
    assert!(report.succeeded(), "{report:#?}");
    let duvel = Filter::Server(ServerName::new("duvel"));
    let instance = cloud.describe_instances(&region(), &duvel).await.unwrap().remove(0);
    let imds = support::moto::imds_stand_in(instance.id.as_str(), instance.zone.as_str());
    let metadata = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str())];
    let url = account.endpoint.url.clone();
    let out = cellar_aws(&url, &["plan", "stop-auto-scaling"], &metadata).await;
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&format!("on instance {} in us-east-1, tagged Name=duvel", instance.id)), "{said}");
    assert!(said.contains("Plan for `stop-auto-scaling@duvel --keep-group`"), "{said}");
    assert!(!said.contains("delete auto scaling group"), "{said}");
    let out = cellar_aws(&url, &["apply", "stop-auto-scaling", "--yes"], &metadata).await;
    assert!(out.status.success(), "{}", text(&out));
    let groups = cloud.describe_auto_scaling_groups(&region(), &duvel).await.unwrap();
    assert_eq!(groups.len(), 1, "the group stays: {groups:#?}");
    assert_eq!(groups[0].desired, 0);
    assert_eq!(cloud.describe_launch_templates(&region(), &duvel).await.unwrap().len(), 1, "the template stays");
    let left = cloud.describe_instances(&region(), &Filter::Id(instance.id.to_string())).await.unwrap();
    assert!(left.iter().all(|i| !i.state.is_alive()), "{left:#?}");
    // An instance without a Name tag (only another tag) is no server.
    let untagged = cloud
        .run_instance(
            &region(),
            cellar_engine::cloud::RunInstanceRequest {
                zone: instance.zone.clone(),
                subnet: None,
                instance_type: instance.instance_type.clone(),
                image: instance.image.clone(),
                user_data: String::new(),
                settings: Default::default(),
                tags: [("team".to_string(), "web".to_string())].into_iter().collect(),
                client_token: "untagged-1".into(),
            },
        )
        .await
        .unwrap();
    let imds = support::moto::imds_stand_in(untagged.id.as_str(), instance.zone.as_str());
    let metadata = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str())];
    let out = cellar_aws(&url, &["plan", "upgrade-ami"], &metadata).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("has no Name tag") && said.contains("upgrade-ami@NAME"), "{said}");
}

/// `cellar doctor` on an account: whose credentials (STS GetCallerIdentity), the regions,
/// zones and images of the configured servers, the reads, and the changing calls with
/// DryRun (never carried out). A broken tree (an AMI type with no image) and a missing
/// permission are errors naming the server, the setting's file:line and the fix.
///
/// What moto does not model: it answers a request sent with DryRun with DryRunOperation
/// without checking any permission (its IAM access control is off), after checking the
/// ids it names (InvalidInstanceID.NotFound for the doctor's placeholder instance, which
/// the doctor reports as an undecided warning, not an error). So here a missing permission
/// is injected by the proxy; a policy that really lacks an action, answered as AWS answers
/// it, is checked on the simulator (`tests/cli/doctor.rs`, `cellar sim operator-policy`).
/// A zone the account does not offer is checked by the doctor's unit tests (moto offers
/// every zone the catalog knows, and `cellar check` refuses the others).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_doctor_checks_the_account() {
    let Some(upstream) = moto_endpoint("cli_doctor_checks_the_account") else { return };
    let account = MotoAccount::open_with(&upstream, false).await;
    let url = account.endpoint.url.clone();
    let started = std::time::Instant::now();
    let out = cellar_aws(&url, &["doctor"], &[]).await;
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    // A NotFound answer to a dry run is an answer, not eventual consistency to wait out.
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(said.contains(&format!("credentials: account {}", account.endpoint.account)), "{said}");
    assert!(said.contains("ok      duvel: zone (zone at") && said.contains("us-east-1a"), "{said}");
    assert!(said.contains("web-server-2026-08-04"), "{said}");
    assert!(said.contains("allowed (DryRun): ec2:RunInstances, ec2:CreateLaunchTemplate, ec2:CreateVolume"), "{said}");
    assert!(said.contains("Auto Scaling has no DryRun"), "{said}");
    // Every changing call was sent with DryRun, and nothing was made.
    let changing = ["RunInstances", "CreateVolume", "AttachVolume", "AllocateAddress", "AssociateAddress"];
    for seen in account.endpoint.seen().into_iter().filter(|s| changing.contains(&s.action.as_str())) {
        assert_eq!(seen.params.get("DryRun").map(String::as_str), Some("true"), "{seen:?}");
    }
    let cloud = account.cloud();
    assert!(cloud.describe_instances(&region(), &Filter::All).await.unwrap().is_empty());
    assert!(cloud.describe_volumes(&region(), &Filter::All).await.unwrap().is_empty());
    // A broken tree and a missing permission.
    let broken = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/config");
    for file in ["global.ron", "platforms/debian-web.ron", "servers/duvel.ron"] {
        std::fs::create_dir_all(broken.path().join(file).parent().unwrap()).unwrap();
        std::fs::copy(fixtures.join(file), broken.path().join(file)).unwrap();
    }
    let duvel = broken.path().join("servers/duvel.ron");
    let text_of = std::fs::read_to_string(&duvel).unwrap();
    // A VPC with no subnet at all (so none in duvel's zone), and a group that does not exist.
    let created = account.endpoint.raw_ec2("us-east-1", &[("Action", "CreateVpc"), ("CidrBlock", "10.9.0.0/16")]);
    let vpc = created.split("<vpcId>").nth(1).and_then(|r| r.split("</vpcId>").next()).expect("CreateVpc's vpcId");
    let settings = format!("(\n    ami_type: \"db-server\",\n    vpc: \"{vpc}\",\n    security_groups: [\"nosuch\"],");
    std::fs::write(&duvel, text_of.replacen("(", &settings, 1)).unwrap();
    account.endpoint.inject(Injection::new("CreateVolume", 100, 403, "UnauthorizedOperation"));
    let tree = broken.path().to_str().unwrap().to_string();
    let out = cellar_aws(&url, &["doctor"], &[("CELLAR_CONFIG", &tree)]).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    let at = format!("{}/servers/duvel.ron:3:15", tree);
    assert!(
        said.contains(&format!("error   duvel: image (ami_type at {at}): no image named db-server-YYYY-MM-DD")),
        "{said}"
    );
    assert!(said.contains("fix: bundle one"), "{said}");
    assert!(said.contains("error   duvel: ec2:CreateVolume") && said.contains("fix: allow ec2:CreateVolume"), "{said}");
    assert!(said.contains("ec2:CreateVolume is not allowed in us-east-1 (UnauthorizedOperation: "), "{said}");
    // moto checks the placeholder instance before answering the dry run: undecided, a warning.
    let warning = "warning duvel: ec2:AssociateAddress (region at ";
    assert!(said.contains(warning) && said.contains("undecided: AWS answered InvalidInstanceID.NotFound"), "{said}");
    // The network, resolved as the planner would: each finding at its setting's file:line.
    let no_subnet = format!("error   duvel: network (vpc at {tree}/servers/duvel.ron:4:10): zone us-east-1");
    assert!(said.contains(&no_subnet) && said.contains(&format!("has no subnet in VPC {vpc}")), "{said}");
    let no_group =
        format!("error   duvel: network (security_groups at {tree}/servers/duvel.ron:5:23): security group nosuch");
    assert!(said.contains(&no_group) && said.contains(&format!("does not exist in VPC {vpc}")), "{said}");
    assert!(said.contains("4 errors, 1 warning"), "{said}");
    eprintln!("cellar doctor on a broken tree:\n{said}");
    // Credentials AWS refuses (expired, unknown, badly signed): one error naming the chain,
    // at once, and nothing else asked.
    account.endpoint.clear_injections();
    for code in ["ExpiredToken", "InvalidClientTokenId", "SignatureDoesNotMatch"] {
        account.endpoint.inject(Injection::new("GetCallerIdentity", 100, 403, code));
        let regions_before = account.endpoint.seen_actions("DescribeRegions").len();
        let asked_before = account.endpoint.seen_actions("GetCallerIdentity").len();
        let started = std::time::Instant::now();
        let out = cellar_aws(&url, &["doctor"], &[]).await;
        let (said, took) = (text(&out), started.elapsed());
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(took < Duration::from_secs(5), "{code}: {took:?}");
        assert!(said.contains(&format!("error   credentials: {code}: GetCallerIdentity")), "{said}");
        assert!(
            said.contains("AWS_PROFILE") && said.contains("aws sso login") && said.contains("1 error, 0 warnings"),
            "{said}"
        );
        assert_eq!(account.endpoint.seen_actions("GetCallerIdentity").len(), asked_before + 1, "{code} was retried");
        assert_eq!(account.endpoint.seen_actions("DescribeRegions").len(), regions_before, "nothing else is asked");
        account.endpoint.clear_injections();
    }
}

/// `docs/agent-role.sh` (the README's first step) with the AWS CLI against moto's IAM:
/// role and instance profile from docs/agent-iam-policy.json, idempotent, and the
/// operator's policy on request. Skipped (loudly) where the AWS CLI is not installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_agent_role_script_creates_the_role_and_profile() {
    let Some(upstream) = moto_endpoint("docs_agent_role_script_creates_the_role_and_profile") else { return };
    if std::process::Command::new("aws").arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED: docs_agent_role_script_creates_the_role_and_profile: no `aws` command (the AWS CLI) on PATH"
        );
        return;
    }
    let account = MotoAccount::open_with(&upstream, false).await;
    let url = account.endpoint.url.clone();
    let aws = move |program: &str, args: Vec<String>| {
        let url = url.clone();
        let program = program.to_string();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(program)
                .args(args)
                .env("AWS_ENDPOINT_URL", &url)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env_remove("AWS_PROFILE")
                .output()
                .unwrap()
        })
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/agent-role.sh").to_string();
    let run = |args: &[&str]| {
        let mut all = vec![script.clone()];
        all.extend(args.iter().map(|s| s.to_string()));
        aws("bash", all)
    };
    // The test account already has the fixture's cellar-agent (support::moto seeds it): a
    // new name shows the script creating everything.
    let out = run(&["agent-test"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("instance profile agent-test now has role agent-test"), "{}", text(&out));
    let out = run(&[]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("instance profile cellar-agent has role cellar-agent"), "{}", text(&out));
    let again = run(&["web", "--with-operator-policy"]).await.unwrap();
    assert!(again.status.success(), "{}", text(&again));
    let again = run(&["web", "--with-operator-policy"]).await.unwrap();
    assert!(
        text(&again).contains("role web exists") && text(&again).contains("instance profile web has role web"),
        "{}",
        text(&again)
    );
    let query = |args: &[&str]| aws("aws", args.iter().map(|s| s.to_string()).collect());
    let policy =
        query(&["iam", "get-role-policy", "--role-name", "agent-test", "--policy-name", "cellar-agent"]).await.unwrap();
    let said = String::from_utf8_lossy(&policy.stdout).to_string();
    for action in cellar_sim::world::AGENT_ACTIONS {
        assert!(said.contains(action), "{action} missing from the role's policy:\n{said}");
    }
    let listed = query(&["iam", "list-role-policies", "--role-name", "web", "--output", "text"]).await.unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listed.contains("cellar-agent") && listed.contains("cellar-operator"), "{listed}");
    let bad = run(&["--bogus"]).await.unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}
