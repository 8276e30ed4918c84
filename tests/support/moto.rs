//! The local AWS endpoint (moto server) for the AWS-backend tests, and a small HTTP proxy
//! in front of it.
//!
//! `.ci/run` starts `moto_server` on 127.0.0.1 and exports `CELLAR_MOTO_ENDPOINT`. Each
//! test opens its own [`Endpoint`]: a proxy on a free local port that
//! - adds `x-moto-account-id: <fresh id>` to every request, so every test has its own
//!   empty AWS account and tests run in parallel without resetting moto's global state;
//! - injects AWS error responses (throttling, capacity, 5xx, eventual consistency) that
//!   moto cannot produce, in EC2's or Auto Scaling's XML, in front of the real SDK;
//! - records every request's `Action` and parameters, so tests can check what was sent
//!   (the client token of a retried RunInstances, that DetachVolume names the instance).
//!
//! Without `CELLAR_MOTO_ENDPOINT` the tests say `SKIPPED:` on stderr (never silently),
//! except under CI, where a missing endpoint is a failure unless `.ci/run` itself reported
//! that moto could not be installed (`CELLAR_MOTO=skipped`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The moto endpoint, or `None` (after saying why on stderr) when the test must skip.
pub fn moto_endpoint(test: &str) -> Option<String> {
    if let Ok(url) = std::env::var("CELLAR_MOTO_ENDPOINT") {
        return Some(url);
    }
    let message = format!(
        "SKIPPED: {test}: no moto endpoint (CELLAR_MOTO_ENDPOINT is unset); `bash .ci/run` installs and starts one\n"
    );
    if std::env::var("CELLAR_MOTO").as_deref() == Ok("skipped") {
        let _ = std::io::stderr().write_all(message.as_bytes());
        return None;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: CI=true but CELLAR_MOTO_ENDPOINT is unset: the AWS-endpoint tests must not skip silently");
    }
    let _ = std::io::stderr().write_all(message.as_bytes());
    None
}

/// One injected error: the next `times` requests of `action` (whose parameters contain
/// `when_param`, if given) get this response instead of reaching moto, or, `lost`, after
/// moto carried them out (a lost response).
#[derive(Clone, Debug)]
pub struct Injection {
    pub action: String,
    pub when_param: Option<String>,
    pub times: u32,
    pub status: u16,
    pub code: String,
    pub lost: bool,
}

impl Injection {
    pub fn new(action: &str, times: u32, status: u16, code: &str) -> Injection {
        Injection { action: action.into(), when_param: None, times, status, code: code.into(), lost: false }
    }
    /// The request reaches moto and takes effect; its response is replaced by the error.
    pub fn after_forwarding(mut self) -> Injection {
        self.lost = true;
        self
    }
    /// Only requests with a parameter value equal to `value` (an instance id, say).
    pub fn when(mut self, value: &str) -> Injection {
        self.when_param = Some(value.into());
        self
    }
}

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub action: String,
    pub params: BTreeMap<String, String>,
    /// The response was injected (the request never reached moto, unless the injection
    /// was [`Injection::after_forwarding`]).
    pub injected: Option<String>,
}

#[derive(Default)]
struct Shared {
    injections: Vec<Injection>,
    seen: Vec<Seen>,
}

/// A per-test account on the moto server, behind the proxy.
pub struct Endpoint {
    /// `http://127.0.0.1:PORT` of the proxy: give this to the SDK as its endpoint.
    pub url: String,
    pub account: String,
    shared: Arc<Mutex<Shared>>,
}

static NEXT_ACCOUNT: AtomicU64 = AtomicU64::new(0);

impl Endpoint {
    pub fn start(upstream: &str) -> Endpoint {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        // 12 digits, unique per process and test: pid, then a counter.
        let n = NEXT_ACCOUNT.fetch_add(1, Ordering::SeqCst);
        let account = format!("{:06}{:06}", std::process::id() % 1_000_000, n);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy on 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (shared2, account2) = (shared.clone(), account.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (shared, upstream, account) = (shared2.clone(), upstream.clone(), account2.clone());
                std::thread::spawn(move || serve(client, &upstream, &account, &shared));
            }
        });
        let endpoint = Endpoint { url, account, shared };
        endpoint.seed_images();
        endpoint.seed_identity_and_network();
        endpoint
    }

    pub fn inject(&self, injection: Injection) {
        self.shared.lock().unwrap().injections.push(injection);
    }

    /// Drops the injections not used up yet.
    pub fn clear_injections(&self) {
        self.shared.lock().unwrap().injections.clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().seen.clone()
    }

    pub fn seen_actions(&self, action: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.action == action).collect()
    }

    /// The images a fresh account starts with, as in the simulator's default world:
    /// `web-server-<date>` (x86_64) in us-east-1 and us-west-2. moto's own ~1300 public
    /// images are off (`MOTO_EC2_LOAD_DEFAULT_AMIS=false`).
    fn seed_images(&self) {
        for region in ["us-east-1", "us-west-2"] {
            for name in ["web-server-2026-04-02", "web-server-2026-08-04"] {
                self.raw_ec2(region, &[("Action", "RegisterImage"), ("Name", name)]);
            }
        }
    }

    /// What the fixture configuration names, as the simulator's default world has it: the
    /// `cellar-agent` instance profile (with a role) and a `web` security group in the
    /// default VPC of us-east-1 and us-west-2.
    fn seed_identity_and_network(&self) {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        self.raw_iam(&[("Action", "CreateRole"), ("RoleName", "cellar-agent"), ("AssumeRolePolicyDocument", trust)]);
        self.raw_iam(&[("Action", "CreateInstanceProfile"), ("InstanceProfileName", "cellar-agent")]);
        self.raw_iam(&[
            ("Action", "AddRoleToInstanceProfile"),
            ("InstanceProfileName", "cellar-agent"),
            ("RoleName", "cellar-agent"),
        ]);
        for region in ["us-east-1", "us-west-2"] {
            self.raw_ec2(
                region,
                &[("Action", "CreateSecurityGroup"), ("GroupName", "web"), ("GroupDescription", "web")],
            );
        }
    }

    /// A raw IAM query call (IAM is global: signed for us-east-1).
    pub fn raw_iam(&self, params: &[(&str, &str)]) -> String {
        self.raw("iam", "2010-05-08", "us-east-1", params)
    }

    /// A raw Auto Scaling query call in `region`.
    pub fn raw_autoscaling(&self, region: &str, params: &[(&str, &str)]) -> String {
        self.raw("autoscaling", "2011-01-01", region, params)
    }

    /// A raw EC2 query call in `region` (for set-up the Cloud trait has no verb for).
    pub fn raw_ec2(&self, region: &str, params: &[(&str, &str)]) -> String {
        self.raw("ec2", "2016-11-15", region, params)
    }

    /// A raw query-protocol call to `service`.
    fn raw(&self, service: &str, version: &str, region: &str, params: &[(&str, &str)]) -> String {
        let mut body = format!("Version={version}");
        for (k, v) in params {
            body.push_str(&format!("&{k}={}", encode(v)));
        }
        let address = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect to the proxy");
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=testing/20261125/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"
        );
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"), "{params:?}: {response}");
        response
    }
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// One HTTP/1.1 message: head lines and body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_message(reader: &mut impl BufRead) -> Option<Message> {
    let mut start = String::new();
    if reader.read_line(&mut start).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body).ok()?;
        }
        None if start.starts_with("HTTP/") => {
            reader.read_to_end(&mut body).ok()?;
        }
        None => {}
    }
    Some(Message { start: start.trim_end().to_string(), headers, body })
}

fn write_message(out: &mut impl Write, message: &Message) -> std::io::Result<()> {
    let mut head = format!("{}\r\n", message.start);
    for (k, v) in &message.headers {
        if ["content-length", "connection", "transfer-encoding"].iter().any(|h| k.eq_ignore_ascii_case(h)) {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", message.body.len()));
    out.write_all(head.as_bytes())?;
    out.write_all(&message.body)?;
    out.flush()
}

fn serve(client: TcpStream, upstream: &str, account: &str, shared: &Mutex<Shared>) {
    let mut reader = BufReader::new(client.try_clone().expect("clone the client stream"));
    let mut writer = client;
    while let Some(mut request) = read_message(&mut reader) {
        let close = request
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
        let params = parse_form(&String::from_utf8_lossy(&request.body));
        let action = params.get("Action").cloned().unwrap_or_default();
        let ec2 = params.get("Version").is_some_and(|v| v == "2016-11-15");
        let injected = {
            let mut shared = shared.lock().unwrap();
            let hit = shared.injections.iter_mut().find(|i| {
                i.times > 0
                    && i.action == action
                    && i.when_param.as_ref().is_none_or(|w| params.values().any(|v| v == w))
            });
            let injected = hit.map(|i| {
                i.times -= 1;
                (i.status, i.code.clone(), i.lost)
            });
            shared.seen.push(Seen {
                action: action.clone(),
                params: params.clone(),
                injected: injected.as_ref().map(|(_, c, _)| c.clone()),
            });
            injected
        };
        let mut forwarded = || {
            request.headers.push(("x-moto-account-id".into(), account.into()));
            match forward(upstream, &request) {
                Some(r) => r,
                None => error_response(502, "ProxyUpstreamFailed", ec2),
            }
        };
        let response = match injected {
            Some((status, code, true)) => {
                forwarded();
                error_response(status, &code, ec2)
            }
            Some((status, code, false)) => error_response(status, &code, ec2),
            None => forwarded(),
        };
        if write_message(&mut writer, &response).is_err() || close {
            return;
        }
    }
}

fn forward(upstream: &str, request: &Message) -> Option<Message> {
    let mut stream = TcpStream::connect(upstream).ok()?;
    let mut head = format!("{}\r\n", request.start);
    for (k, v) in &request.headers {
        if ["content-length", "connection"].iter().any(|h| k.eq_ignore_ascii_case(h)) {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", request.body.len()));
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(&request.body).ok()?;
    read_message(&mut BufReader::new(stream))
}

/// An AWS error response as EC2 (ec2Query) or Auto Scaling (awsQuery) sends it.
fn error_response(status: u16, code: &str, ec2: bool) -> Message {
    let body = if ec2 {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>cellar-test</RequestID></Response>"
        )
    } else {
        let kind = if status >= 500 { "Receiver" } else { "Sender" };
        format!(
            "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>injected by the test proxy</Message></Error><RequestId>cellar-test</RequestId></ErrorResponse>"
        )
    };
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
    Message {
        start: format!("HTTP/1.1 {status} {reason}"),
        headers: vec![("Content-Type".into(), "text/xml".into())],
        body: body.into_bytes(),
    }
}

/// A stand-in instance metadata service (IMDSv2 only: a GET without the session token from
/// `PUT /latest/api/token` gets 401), answering as `instance` in `zone`.
pub fn imds_stand_in(instance: &str, zone: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the metadata stand-in");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (instance, zone) = (instance.to_string(), zone.to_string());
    let region = zone[..zone.len() - 1].to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let mut reader = BufReader::new(client.try_clone().unwrap());
            let mut writer = client;
            let Some(request) = read_message(&mut reader) else { continue };
            let header =
                |name: &str| request.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
            let mut parts = request.start.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (status, body) = match (method, path) {
                ("PUT", "/latest/api/token") if header("x-aws-ec2-metadata-token-ttl-seconds").is_some() => {
                    (200, "STAND-IN-TOKEN".to_string())
                }
                _ if header("x-aws-ec2-metadata-token").as_deref() != Some("STAND-IN-TOKEN") => (401, String::new()),
                ("GET", "/latest/meta-data/instance-id") => (200, instance.clone()),
                ("GET", "/latest/meta-data/placement/availability-zone") => (200, zone.clone()),
                ("GET", "/latest/meta-data/placement/region") => (200, region.clone()),
                _ => (404, String::new()),
            };
            let mut headers = vec![("Content-Type".to_string(), "text/plain".to_string())];
            // The token's answer repeats its time to live, as IMDS does (aws-config's client checks it).
            if let (("PUT", "/latest/api/token"), Some(ttl)) =
                ((method, path), header("x-aws-ec2-metadata-token-ttl-seconds"))
            {
                headers.push(("X-aws-ec2-metadata-token-ttl-seconds".into(), ttl));
            }
            let response = Message {
                start: format!("HTTP/1.1 {status} {}", if status == 200 { "OK" } else { "Error" }),
                headers,
                body: body.into_bytes(),
            };
            let _ = write_message(&mut writer, &response);
        }
    });
    url
}
