//! Which SAE errors are retried, how long to wait, and what to tell the
//! operator about credential errors.
//!
//! Only errors where SAE did not act are retried: throttling and "another
//! change order is running". A timeout or 5xx on `DeployApplication` is never
//! retried, because SAE may have created the change order; the deploy step
//! checks `ListChangeOrders` instead.

use std::time::Duration;

/// Most attempts of one SAE call, the first one included.
pub(crate) const MAX_ATTEMPTS: u32 = 4;

/// Total time the SAE calls of one request may take, retries and waits
/// included. Hosted Spin platforms end a request after 30 s.
pub(crate) const REQUEST_BUDGET: Duration = Duration::from_secs(24);

/// First backoff delay; it doubles per attempt up to [`MAX_DELAY`].
const BASE_DELAY: Duration = Duration::from_millis(400);

/// Longest single wait between attempts.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Shortest time an attempt is worth starting with.
pub(crate) const MIN_ATTEMPT_TIME: Duration = Duration::from_secs(1);

/// Headers in which SAE's gateway reports throttling, e.g.
/// `Limit:1,Remain:0,TimeLeft:2000,Reset:1234` (TimeLeft in milliseconds).
const RATE_LIMIT_HEADERS: &[&str] = &["x-ratelimit-user-api", "x-ratelimit-user", "x-ratelimit-api"];

/// Returns true for SAE codes that mean "not done, try again later".
pub(crate) fn is_retryable(code: &str) -> bool {
    code.starts_with("Throttling")
        || matches!(
            code,
            "Application.ChangerOrderRunning" | "Application.InvalidStatus" | "System.Upgrading"
        )
}

/// Jitter of 1.0, in the units that [`backoff`] takes. It is twice `u16::MAX`,
/// so that four hex digits and one half are both exact.
pub(crate) const JITTER_ONE: u32 = 2 * u16::MAX as u32;

/// Returns the wait before attempt `attempt + 1`: exponential from
/// [`BASE_DELAY`], with `jitter` (0 to [`JITTER_ONE`]) taking up to half of
/// it away, and never shorter than SAE's own hint. Integer arithmetic, in
/// place of `Duration::mul_f64`, keeps the component smaller.
pub(crate) fn backoff(attempt: u32, jitter: u32, hint: Option<Duration>) -> Duration {
    let exponent = attempt.saturating_sub(1).min(8);
    let full = BASE_DELAY.saturating_mul(1 << exponent).min(MAX_DELAY);
    let jitter = u64::from(jitter.min(JITTER_ONE));
    // MAX_DELAY in nanoseconds (5e9) times JITTER_ONE fits in a u64.
    let full_nanos = u64::try_from(full.as_nanos()).unwrap_or(u64::MAX);
    let cut = full_nanos.saturating_mul(jitter) / (2 * u64::from(JITTER_ONE));
    let delay = full.saturating_sub(Duration::from_nanos(cut));
    match hint {
        Some(hint) => delay.max(hint.min(MAX_DELAY)),
        None => delay,
    }
}

/// Reads the wait SAE asks for from its rate-limit headers (`TimeLeft`).
pub(crate) fn rate_limit_hint(headers: &[(String, String)]) -> Option<Duration> {
    headers
        .iter()
        .filter(|(name, _)| RATE_LIMIT_HEADERS.contains(&name.as_str()))
        .filter_map(|(_, value)| {
            value.split(',').find_map(|part| {
                let (key, number) = part.split_once(':')?;
                (key.trim() == "TimeLeft").then(|| number.trim().parse::<u64>().ok())?
            })
        })
        .max()
        .map(Duration::from_millis)
}

/// Turns random hex (a nonce) into a jitter for [`backoff`], from 0 to
/// [`JITTER_ONE`] by the first four hex digits, or one half when they are
/// not hex.
pub(crate) fn jitter_from_hex(hex: &str) -> u32 {
    let digits = hex.get(..4).unwrap_or(hex);
    u16::from_str_radix(digits, 16).map_or(JITTER_ONE / 2, |n| 2 * u32::from(n))
}

/// Tells the operator what to fix for SAE errors caused by the credentials
/// or the clock, and `None` for other errors.
pub(crate) fn credential_hint(code: &str) -> Option<&'static str> {
    let hint = match code {
        "InvalidAccessKeyId.NotFound" | "InvalidAccessKeyId" => {
            "the AccessKey id does not exist; check `access_key_id` and that the AccessKey is enabled in the RAM console"
        }
        "InvalidAccessKeyId.Inactive" => "the AccessKey is disabled; enable it or create a new one in the RAM console",
        "SignatureDoesNotMatch" => {
            "SAE computed another signature; check that `access_key_secret` belongs to `access_key_id` and has no extra characters"
        }
        "IncompleteSignature" => "SAE found the signature incomplete; check `access_key_id` and `security_token`",
        "InvalidTimeStamp.Expired" => {
            "the request Date is more than 15 minutes off SAE's clock; fix the host's clock (NTP)"
        }
        "SignatureNonceUsed" => "SAE saw this nonce before; check that the host's random source works",
        "Forbidden.RAM" | "No.Permission" | "Forbidden" => {
            "the RAM user or role lacks permission; grant sae:DeployApplication and the read actions in its RAM policy"
        }
        "InvalidSecurityToken.Expired" => "the STS token expired; refresh `security_token` with a new STS token",
        code if code.starts_with("InvalidSecurityToken") || code == "MissingSecurityToken" => {
            "the STS token is missing, malformed or does not belong to the AccessKey; set `security_token` for STS credentials"
        }
        _ => return None,
    };
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_codes() {
        for code in ["Throttling", "Throttling.User", "Throttling.Api", "Application.ChangerOrderRunning", "Application.InvalidStatus", "System.Upgrading"] {
            assert!(is_retryable(code), "{code}");
        }
        for code in ["InternalError", "SignatureDoesNotMatch", "InvalidApplication.NotFound", "HTTP500", "InvalidResponse", ""] {
            assert!(!is_retryable(code), "{code}");
        }
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert_eq!(backoff(1, 0, None), Duration::from_millis(400));
        assert_eq!(backoff(2, 0, None), Duration::from_millis(800));
        assert_eq!(backoff(3, 0, None), Duration::from_millis(1600));
        assert_eq!(backoff(10, 0, None), MAX_DELAY);
        assert_eq!(backoff(10, JITTER_ONE, None), MAX_DELAY / 2);
        assert_eq!(backoff(1, JITTER_ONE, None), Duration::from_millis(200));
        assert_eq!(backoff(1, JITTER_ONE / 2, None), Duration::from_millis(300));
        assert_eq!(backoff(1, 7 * JITTER_ONE, None), Duration::from_millis(200));
    }

    #[test]
    fn backoff_honours_hint_up_to_max() {
        assert_eq!(backoff(1, 0, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(backoff(1, 0, Some(Duration::from_secs(60))), MAX_DELAY);
        assert_eq!(backoff(3, 0, Some(Duration::from_millis(10))), Duration::from_millis(1600));
    }

    #[test]
    fn rate_limit_headers() {
        type Headers = Vec<(String, String)>;
        let headers = |name: &str, value: &str| vec![(name.to_string(), value.to_string())];
        let cases: &[(Headers, Option<u64>)] = &[
            (headers("x-ratelimit-user-api", "Limit:1,Remain:0,TimeLeft:2000,Reset:1234"), Some(2000)),
            (headers("x-ratelimit-user", "Limit:10, Remain:0, TimeLeft:150"), Some(150)),
            (headers("x-ratelimit-user-api", "Limit:1,Remain:0"), None),
            (headers("x-ratelimit-user-api", "TimeLeft:abc"), None),
            (headers("x-other", "TimeLeft:5"), None),
            (vec![], None),
        ];
        for (headers, expected) in cases {
            assert_eq!(rate_limit_hint(headers), expected.map(Duration::from_millis), "{headers:?}");
        }
    }

    #[test]
    fn jitter_range() {
        assert_eq!(jitter_from_hex("0000abcd"), 0);
        assert_eq!(jitter_from_hex("ffff"), JITTER_ONE);
        assert_eq!(jitter_from_hex("8000"), JITTER_ONE / 2 + 1);
        assert_eq!(jitter_from_hex("zz"), JITTER_ONE / 2);
    }

    #[test]
    fn credential_hints() {
        for code in ["InvalidAccessKeyId.NotFound", "SignatureDoesNotMatch", "InvalidTimeStamp.Expired", "Forbidden.RAM", "No.Permission", "InvalidSecurityToken.Malformed", "MissingSecurityToken"] {
            assert!(credential_hint(code).is_some(), "{code}");
        }
        assert!(credential_hint("Throttling.User").is_none());
        assert!(credential_hint("InvalidTimeStamp.Expired").unwrap().contains("clock"));
    }
}
