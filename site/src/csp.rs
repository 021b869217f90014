//! The site's Content-Security-Policy — one source of truth.
//!
//! The site build writes this string next to the pages, `eve-server` sends it when it serves the
//! site, and `infra-synth` puts the same string in the CloudFront response headers policy.
//! No inline scripts or styles, no third-party origins.

/// The exact policy string every front door sends.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

#[cfg(test)]
mod tests {
    use super::CONTENT_SECURITY_POLICY as CSP;

    #[test]
    fn forbids_unsafe_sources() {
        assert!(!CSP.contains("unsafe-inline") && !CSP.contains("unsafe-eval"));
        assert!(!CSP.contains("http:") && !CSP.contains("https:") && !CSP.contains('*'));
    }
}
