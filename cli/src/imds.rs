//! Who this instance is, for `cellar agent` on EC2: its id, zone and region from the
//! instance metadata service (IMDSv2).
//!
//! aws-config's IMDS client does the protocol: it fetches the session token
//! (`PUT /latest/api/token`) and sends it with every `GET`, caches it, retries, and times
//! out. It also finds the endpoint: `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else the profile's
//! `ec2_metadata_service_endpoint`, else `http://169.254.169.254`. It runs on the same
//! rustls-on-ring HTTP client the SDK clients of `cellar-aws` use. What is left here is
//! which three paths to read, checking their values, and errors that name the endpoint.

use aws_config::imds::client::error::ImdsError;
use aws_config::imds::Client;
use aws_config::provider_config::ProviderConfig;
use cellar_engine::model::{InstanceId, Region, Zone};

/// The variable (read by aws-config) that moves the metadata service.
pub const ENDPOINT_VARIABLE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
/// The metadata service's address on EC2.
pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("instance metadata {path} from {endpoint}: {what}")]
    Request { path: &'static str, endpoint: String, what: String },
    #[error("instance metadata {path} from {endpoint}: unexpected value {value:?}")]
    Malformed { path: &'static str, endpoint: String, value: String },
}

/// Who this instance is, from the metadata service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub instance: InstanceId,
    pub zone: Zone,
    pub region: Region,
}

/// The metadata service, and how to name it in errors.
pub struct Imds {
    client: Client,
    endpoint: String,
}

impl Imds {
    /// The endpoint aws-config finds (see the module doc), with aws-config's retries: for
    /// the agent at boot, where the service is there but may be slow to start.
    pub fn from_env() -> Imds {
        Imds { client: Client::builder().configure(&provider_config()).build(), endpoint: endpoint_from_env() }
    }

    /// For a person's command that may not run on an instance at all (`cellar plan
    /// stop-auto-scaling` without `@NAME`): one attempt per request, each within `QUICK`.
    /// Off EC2 the address does not answer, and waiting for it helps nobody.
    pub fn from_env_quick() -> Imds {
        let client = Client::builder()
            .configure(&provider_config())
            .max_attempts(1)
            .connect_timeout(QUICK)
            .read_timeout(QUICK)
            .operation_timeout(QUICK)
            .build();
        Imds { client, endpoint: endpoint_from_env() }
    }

    /// The endpoint, for errors.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An explicit endpoint such as `http://127.0.0.1:8080` (tests' stand-ins).
    #[cfg(test)]
    fn with_endpoint(endpoint: &str) -> Imds {
        let builder = Client::builder().configure(&provider_config()).endpoint(endpoint);
        let client = builder.unwrap_or_else(|e| panic!("{endpoint}: {e}")).build();
        Imds { client, endpoint: endpoint.to_string() }
    }

    /// Instance id, zone and region.
    pub async fn identity(&self) -> Result<Identity, IdentityError> {
        let instance = self.get("instance-id").await?;
        let zone = self.get("placement/availability-zone").await?;
        let region = self.get("placement/region").await?;
        Ok(Identity { instance: InstanceId::new(instance), zone: Zone::new(zone), region: Region::new(region) })
    }

    /// One value under `/latest/meta-data/`, which must be a plain identifier.
    async fn get(&self, path: &'static str) -> Result<String, IdentityError> {
        let endpoint = || self.endpoint.clone();
        let value = self.client.get(format!("/latest/meta-data/{path}")).await.map_err(|e| IdentityError::Request {
            path,
            endpoint: endpoint(),
            what: describe(&e),
        })?;
        let value = value.as_ref().trim().to_string();
        let valid = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            return Err(IdentityError::Malformed { path, endpoint: endpoint(), value });
        }
        Ok(value)
    }
}

/// How long [`Imds::from_env_quick`] waits for one answer.
pub const QUICK: std::time::Duration = std::time::Duration::from_secs(1);

/// The endpoint aws-config will use, as said in errors.
fn endpoint_from_env() -> String {
    match std::env::var(ENDPOINT_VARIABLE) {
        Ok(endpoint) => format!("{endpoint} ({ENDPOINT_VARIABLE})"),
        Err(_) => format!("{DEFAULT_ENDPOINT} (or the profile's ec2_metadata_service_endpoint)"),
    }
}

/// aws-config's defaults (environment, profile, tokio's sleep) with cellar's HTTP client:
/// aws-config's own default client is off, as in `cellar-aws`. No idle connections are
/// kept: the agent reads three values once per boot, so reuse buys nothing, and a fresh
/// connection cannot race a server that closes after each answer (as the test stand-ins do).
fn provider_config() -> ProviderConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .pool_max_idle_per_host(0)
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    ProviderConfig::default().with_http_client(http_client)
}

/// An IMDS error with its causes (aws-config's top-level messages are generic).
fn describe(error: &ImdsError) -> String {
    if let ImdsError::ErrorResponse(response) = error {
        return format!("HTTP {}", response.response().status().as_u16());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A stand-in metadata service on 127.0.0.1: IMDSv2 only (GETs without the session
    /// token get 401, as on an instance that requires IMDSv2). One request per connection,
    /// closed after the answer, as `tests/support/moto.rs`'s stand-in does.
    fn stand_in(zone: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let (mut token, mut ttl) = (None, None);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let line = line.trim_end().to_string();
                    if line.is_empty() {
                        break;
                    }
                    let Some((name, value)) = line.split_once(": ") else { continue };
                    match name.to_ascii_lowercase().as_str() {
                        "x-aws-ec2-metadata-token" => token = Some(value.to_string()),
                        "x-aws-ec2-metadata-token-ttl-seconds" => ttl = Some(value.to_string()),
                        _ => {}
                    }
                }
                let mut parts = request_line.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let (status, body) = match (method, path) {
                    ("PUT", "/latest/api/token") if ttl.is_some() => (200, "TOKEN-1"),
                    (_, _) if token.as_deref() != Some("TOKEN-1") => (401, ""),
                    ("GET", "/latest/meta-data/instance-id") => (200, "i-0abc123"),
                    ("GET", "/latest/meta-data/placement/availability-zone") => (200, zone),
                    ("GET", "/latest/meta-data/placement/region") => (200, "us-east-1"),
                    _ => (404, ""),
                };
                // The token's answer repeats its time to live, as IMDS does (aws-config checks it).
                let ttl_header = match (path, &ttl) {
                    ("/latest/api/token", Some(ttl)) => format!("X-aws-ec2-metadata-token-ttl-seconds: {ttl}\r\n"),
                    _ => String::new(),
                };
                let response =
                    format!("HTTP/1.1 {status} X\r\n{ttl_header}Content-Length: {}\r\n\r\n{body}", body.len());
                let _ = stream.write_all(response.as_bytes());
            }
        });
        endpoint
    }

    #[tokio::test]
    async fn reads_identity_with_a_session_token() {
        let imds = Imds::with_endpoint(&stand_in("us-east-1b"));
        let id = imds.identity().await.unwrap();
        assert_eq!(
            id,
            Identity {
                instance: InstanceId::new("i-0abc123"),
                zone: Zone::new("us-east-1b"),
                region: Region::new("us-east-1")
            }
        );
    }

    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT` moves the endpoint (aws-config reads it). The
    /// only test in this crate that sets the variable.
    #[tokio::test]
    async fn the_endpoint_variable_moves_the_service() {
        let endpoint = stand_in("us-east-1c");
        std::env::set_var(ENDPOINT_VARIABLE, &endpoint);
        let imds = Imds::from_env();
        let id = imds.identity().await;
        std::env::remove_var(ENDPOINT_VARIABLE);
        assert_eq!(id.unwrap().zone, Zone::new("us-east-1c"));
        assert!(imds.endpoint.contains(&endpoint), "{}", imds.endpoint);
    }

    #[tokio::test]
    async fn errors_name_the_problem() {
        let imds = Imds::with_endpoint(&stand_in("us-east-1b\n<html>"));
        let e = imds.identity().await.unwrap_err().to_string();
        assert!(e.contains("availability-zone") && e.contains("unexpected value"), "{e}");
        // Nothing listens on this port: a clear error naming the endpoint.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let e = Imds::with_endpoint(&endpoint).identity().await.unwrap_err().to_string();
        assert!(e.contains(&endpoint) && e.contains("instance-id"), "{e}");
    }
}
