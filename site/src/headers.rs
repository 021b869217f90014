//! The site's security headers — one source of truth.
//!
//! `infra-synth` puts them in the CloudFront response headers policy and `eve-server` sends them
//! when it serves the site itself (a container behind an ingress), so both front doors answer
//! alike. The site build writes the Content-Security-Policy next to the pages too.
//! No inline scripts or styles, no third-party origins.

/// The exact policy string every front door sends.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

/// Where the site's links may send the page's address.
pub const REFERRER_POLICY: &str = "strict-origin-when-cross-origin";

/// No page of the site may be framed.
pub const FRAME_OPTIONS: &str = "DENY";

/// Browser features the site never uses.
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), \
magnetometer=(), microphone=(), payment=(), usb=()";

/// HSTS for two years (the preload list's minimum is one), subdomains included.
pub const HSTS_MAX_AGE_SECONDS: u32 = 63_072_000;

/// [`HSTS_MAX_AGE_SECONDS`] as the header's value (browsers ignore it over plain HTTP).
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains; preload";

#[cfg(test)]
mod tests {
    use super::CONTENT_SECURITY_POLICY as CSP;
    use super::*;

    #[test]
    fn the_hsts_header_holds_its_max_age() {
        assert!(STRICT_TRANSPORT_SECURITY.starts_with(&format!("max-age={HSTS_MAX_AGE_SECONDS};")));
    }

    #[test]
    fn forbids_unsafe_sources() {
        assert!(!CSP.contains("unsafe-inline") && !CSP.contains("unsafe-eval"));
        assert!(!CSP.contains("http:") && !CSP.contains("https:") && !CSP.contains('*'));
    }
}
