//! AWS error responses → the engine's typed [`CloudError`].
//!
//! The mapping reads only the error *code* of the response (and, for responses that
//! never arrived, the kind of failure); message text is kept for people and never
//! matched. The code becomes a kind through the engine's `CloudErrorKind::from_code`, and
//! whether an error is retried is the engine's retry table (`caller::Policy::retry_for`), so
//! the adapter and the simulator are retried alike.

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cellar_engine::api::Api;
use cellar_engine::cloud::{CloudError, CloudErrorKind};

/// The code used when no error response arrived at all (connection refused, reset, timed
/// out). The request may or may not have reached AWS; it is retried like a 5xx, which is
/// safe because every creating call carries a client token or is looked up by tag first.
pub const NO_RESPONSE: &str = "Unavailable";

/// The code used when the endpoint refused the connection: nothing was sent, and nothing
/// listens there (a wrong `AWS_ENDPOINT_URL`, a proxy down). Not retried: waiting minutes
/// for a misconfiguration to heal helps nobody.
pub const UNREACHABLE: &str = "EndpointConnectionRefused";

/// Whether an I/O error of kind `ConnectionRefused` is among the error's sources (a typed
/// check on `std::io::Error`, not on text).
fn refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return true;
        }
        source = e.source();
    }
    false
}

/// Whether a credentials provider's error is among the error's sources: the chain found no
/// credentials, or its provider (a profile, SSO, the instance role) failed. The SDK reports
/// it as a request that could not be dispatched; the typed check keeps it apart from an
/// outage, so it is never retried.
fn credentials_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a CredentialsError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(credentials) = e.downcast_ref::<CredentialsError>() {
            return Some(credentials);
        }
        source = e.source();
    }
    None
}

/// Where cellar looks for credentials, and how to fix each: said with every credentials error.
pub const CREDENTIALS_FIX: &str = "fix: cellar reads credentials as the AWS CLI does, in this order: the access-key variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary keys); a profile from ~/.aws/config and ~/.aws/credentials, chosen with --profile NAME or AWS_PROFILE (for an SSO profile run `aws sso login --profile NAME` first, and again when the session expires); on EC2, the instance role (instance profile). Check with `aws sts get-caller-identity`, then `cellar doctor`";

/// What to do about a missing permission.
fn permission_fix(operation: Api) -> String {
    let action = operation.iam_action().unwrap_or_else(|| operation.to_string());
    format!(
        "fix: allow {action} for these credentials (docs/iam-policy.json lists every action cellar needs; `cellar doctor` checks them)"
    )
}

/// The error of a request that never got a response because no credentials could be loaded
/// (the provider's own words, without the SDK's "dispatch failure" wrapping).
fn no_credentials(operation: Api, error: &CredentialsError) -> CloudError {
    CloudError::new(
        CloudErrorKind::NoCredentials,
        format!("{operation}: no AWS credentials could be loaded: {}\n  {CREDENTIALS_FIX}", chain(error)),
    )
}

/// Converts an SDK error of operation `operation` into the engine's error.
pub fn from_sdk<E, R>(operation: Api, error: SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if !matches!(error, SdkError::ServiceError(_)) {
        if let Some(credentials) = credentials_error(&error) {
            return no_credentials(operation, credentials);
        }
    }
    match &error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("Unknown");
            let message = inner.message().unwrap_or("").to_string();
            let error = CloudError::from_code(code, format!("{operation}: {message}"));
            match &error.kind {
                kind if kind.is_credentials() => {
                    let message = format!("{}\n  {CREDENTIALS_FIX}", error.message);
                    CloudError { message, ..error }
                }
                CloudErrorKind::UnauthorizedOperation => {
                    let message = format!("{}\n  {}", error.message, permission_fix(operation));
                    CloudError { message, ..error }
                }
                _ => error,
            }
        }
        SdkError::DispatchFailure(_) if refused(&error) => CloudError::new(
            CloudErrorKind::Other(UNREACHABLE.into()),
            format!("{operation}: the endpoint refused the connection (is AWS_ENDPOINT_URL right?): {}", chain(&error)),
        ),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            CloudError::from_code(NO_RESPONSE, format!("{operation}: no response: {}", chain(&error)))
        }
        SdkError::ResponseError(_) => CloudError::new(
            CloudErrorKind::InternalError,
            format!("{operation}: unreadable response: {}", chain(&error)),
        ),
        SdkError::ConstructionFailure(_) => CloudError::new(
            CloudErrorKind::Other("RequestNotSent".into()),
            format!("{operation}: the request could not be built (credentials or region?): {}", chain(&error)),
        ),
        _ => CloudError::new(CloudErrorKind::Other("Unknown".into()), format!("{operation}: {}", chain(&error))),
    }
}

/// The error and its sources, joined: the SDK's top-level message alone ("dispatch
/// failure") does not say what went wrong.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
