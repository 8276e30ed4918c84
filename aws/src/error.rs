//! AWS error responses → the engine's typed [`CloudError`].
//!
//! The mapping reads only the error *code* of the response (and, for responses that
//! never arrived, the kind of failure); message text is kept for people and never
//! matched. The code becomes a kind through the engine's `CloudErrorKind::from_code`, and
//! whether an error is retried is the engine's retry table (`caller::Policy::retry_for`), so
//! the adapter and the simulator are retried alike.

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

/// Converts an SDK error of operation `operation` into the engine's error.
pub fn from_sdk<E, R>(operation: Api, error: SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match &error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("Unknown");
            let message = inner.message().unwrap_or("").to_string();
            CloudError::from_code(code, format!("{operation}: {message}"))
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
