//! A minimal IMDSv2 client: how `cellar agent` on a real instance learns which instance
//! it is, in which zone and region (issue 5 wires it to the agent and the AWS backend).
//!
//! IMDSv2 is session-oriented: `PUT /latest/api/token` with
//! `X-aws-ec2-metadata-token-ttl-seconds` returns a token that every `GET` must carry in
//! `X-aws-ec2-metadata-token`. The endpoint is injectable (`AWS_EC2_METADATA_SERVICE_ENDPOINT`
//! on AWS's SDKs, a local stand-in in tests); plain HTTP on a link-local address, so std's
//! `TcpStream` is all it takes.

use cellar_engine::model::{InstanceId, Region, Zone};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The default endpoint of the instance metadata service.
pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
const TOKEN_TTL_SECONDS: u32 = 300;

#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    #[error("instance metadata endpoint {0:?} is not http://HOST[:PORT]")]
    BadEndpoint(String),
    #[error("cannot reach the instance metadata service at {endpoint}: {source}")]
    Io {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("instance metadata {path}: HTTP {status}")]
    Status { path: String, status: u16 },
    #[error("instance metadata {path}: malformed response: {what}")]
    Malformed { path: String, what: String },
}

/// Who this instance is, from the metadata service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub instance: InstanceId,
    pub zone: Zone,
    pub region: Region,
}

pub struct Imds {
    /// `host:port`
    address: String,
    endpoint: String,
    timeout: Duration,
}

impl Imds {
    /// `endpoint` like `http://169.254.169.254` or `http://127.0.0.1:8080`.
    pub fn new(endpoint: &str) -> Result<Imds, ImdsError> {
        let rest = endpoint.strip_prefix("http://").ok_or_else(|| ImdsError::BadEndpoint(endpoint.to_string()))?;
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(ImdsError::BadEndpoint(endpoint.to_string()));
        }
        let address = if host.contains(':') { host.to_string() } else { format!("{host}:80") };
        Ok(Imds { address, endpoint: endpoint.to_string(), timeout: Duration::from_secs(2) })
    }

    /// The endpoint from `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else the default.
    pub fn from_env() -> Result<Imds, ImdsError> {
        let endpoint = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.into());
        Imds::new(&endpoint)
    }

    /// Instance id, zone and region, with one session token.
    pub fn identity(&self) -> Result<Identity, ImdsError> {
        let token = self.request(
            "PUT",
            "/latest/api/token",
            &[("X-aws-ec2-metadata-token-ttl-seconds", &TOKEN_TTL_SECONDS.to_string())],
        )?;
        let get = |path: &str| self.request("GET", path, &[("X-aws-ec2-metadata-token", token.as_str())]);
        let instance = get("/latest/meta-data/instance-id")?;
        let zone = get("/latest/meta-data/placement/availability-zone")?;
        let region = get("/latest/meta-data/placement/region")?;
        let valid = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        for (path, value) in [("instance-id", &instance), ("availability-zone", &zone), ("region", &region)] {
            if !valid(value) {
                return Err(ImdsError::Malformed { path: path.into(), what: format!("unexpected value {value:?}") });
            }
        }
        Ok(Identity { instance: InstanceId::new(instance), zone: Zone::new(zone), region: Region::new(region) })
    }

    /// One HTTP/1.1 request; returns the body of a 200 response, trimmed.
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Result<String, ImdsError> {
        let io = |source| ImdsError::Io { endpoint: self.endpoint.clone(), source };
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&self.address)
            .map_err(io)?
            .next()
            .ok_or_else(|| ImdsError::BadEndpoint(self.endpoint.clone()))?;
        let mut stream = TcpStream::connect_timeout(&addr, self.timeout).map_err(io)?;
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n", self.address);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).map_err(io)?;
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).map_err(io)?;
        let malformed = |what: &str| ImdsError::Malformed { path: path.to_string(), what: what.to_string() };
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| malformed("no HTTP status line"))?;
        let mut length = None;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).map_err(io)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let mut body = Vec::new();
        match length {
            Some(n) => {
                body.resize(n, 0);
                reader.read_exact(&mut body).map_err(io)?;
            }
            None => {
                reader.read_to_end(&mut body).map_err(io)?;
            }
        }
        if status != 200 {
            return Err(ImdsError::Status { path: path.to_string(), status });
        }
        String::from_utf8(body).map(|b| b.trim().to_string()).map_err(|_| malformed("body is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A stand-in metadata service on 127.0.0.1: IMDSv2 only (GETs without the session
    /// token get 401, as on an instance that requires IMDSv2). Serves `requests` requests.
    fn stand_in(requests: usize, zone: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut token = None;
                let mut ttl = None;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let line = line.trim_end().to_string();
                    if line.is_empty() {
                        break;
                    }
                    let (name, value) = line.split_once(": ").unwrap();
                    match name.to_ascii_lowercase().as_str() {
                        "x-aws-ec2-metadata-token" => token = Some(value.to_string()),
                        "x-aws-ec2-metadata-token-ttl-seconds" => ttl = Some(value.to_string()),
                        _ => {}
                    }
                }
                let mut parts = request_line.split_whitespace();
                let (method, path) = (parts.next().unwrap(), parts.next().unwrap());
                let (status, body) = match (method, path) {
                    ("PUT", "/latest/api/token") if ttl.is_some() => (200, "TOKEN-1"),
                    (_, _) if token.as_deref() != Some("TOKEN-1") => (401, ""),
                    ("GET", "/latest/meta-data/instance-id") => (200, "i-0abc123"),
                    ("GET", "/latest/meta-data/placement/availability-zone") => (200, zone),
                    ("GET", "/latest/meta-data/placement/region") => (200, "us-east-1"),
                    _ => (404, ""),
                };
                let response = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                stream.write_all(response.as_bytes()).unwrap();
            }
        });
        endpoint
    }

    #[test]
    fn reads_identity_with_a_session_token() {
        let imds = Imds::new(&stand_in(4, "us-east-1b")).unwrap();
        let id = imds.identity().unwrap();
        assert_eq!(
            id,
            Identity {
                instance: InstanceId::new("i-0abc123"),
                zone: Zone::new("us-east-1b"),
                region: Region::new("us-east-1")
            }
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let imds = Imds::new(&stand_in(4, "us-east-1b\n<html>")).unwrap();
        let e = imds.identity().unwrap_err().to_string();
        assert!(e.contains("availability-zone") && e.contains("unexpected value"), "{e}");
        for (endpoint, ok) in [
            ("http://169.254.169.254", true),
            ("http://[::1]:8080", true),
            ("https://x", false),
            ("http://", false),
            ("http://a/b", false),
        ] {
            assert_eq!(Imds::new(endpoint).is_ok(), ok, "{endpoint}");
        }
        // Nothing listens on this port: a clear error naming the endpoint.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let e = Imds::new(&endpoint).unwrap().identity().unwrap_err().to_string();
        assert!(e.contains(&endpoint), "{e}");
    }
}
