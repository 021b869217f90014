//! What a month of use is, from `[traffic]`, the stack's limits and the site as built: the
//! quantities the price rules multiply, and the most the limits allow of each.

use anyhow::Context;
use portfolio::render::{self, BuildOptions};
use portfolio::report::BuildReport;
use portfolio::Content;

use crate::config::cost::Traffic;
use crate::config::Stack;

/// Hours AWS bills a month (its pricing examples use 730).
pub const HOURS_PER_MONTH: f64 = 730.0;
pub const DAYS_PER_MONTH: f64 = HOURS_PER_MONTH / 24.0;
pub const SECONDS_PER_MONTH: f64 = HOURS_PER_MONTH * 3600.0;
/// Bytes in the GB AWS bills (GiB).
pub const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Bytes of one API answer (a chat reply with its JSON envelope, or a presigned URL).
pub const API_RESPONSE_BYTES: f64 = 2_048.0;
/// Bytes of one stored conversation turn (message, metadata, keys).
pub const TURN_BYTES: f64 = 800.0;
/// Bytes of one access-log record (CloudFront or S3).
pub const ACCESS_LOG_RECORD_BYTES: f64 = 500.0;

/// What one visit downloads, from the site's build report.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteWeight {
    /// Average bytes of an HTML page.
    pub page_bytes: f64,
    /// The assets the first page loads (styles, script, icon, photo), once a visit.
    pub asset_bytes: f64,
    pub asset_files: f64,
    /// Everything published, and how many files.
    pub total_bytes: f64,
    pub files: f64,
}

impl SiteWeight {
    pub fn of(report: &BuildReport) -> SiteWeight {
        let is_page = |path: &str| path.ends_with(".html") && !path.starts_with("404");
        let pages: Vec<f64> = report
            .files
            .iter()
            .filter(|f| is_page(&f.path))
            .map(|f| f.bytes as f64)
            .collect();
        let assets = report.files.iter().filter(|f| {
            !f.path.ends_with(".html") && !f.path.ends_with(".xml") && !f.path.ends_with(".txt")
        });
        SiteWeight {
            page_bytes: if pages.is_empty() {
                0.0
            } else {
                pages.iter().sum::<f64>() / pages.len() as f64
            },
            asset_bytes: assets.clone().map(|f| f.bytes as f64).sum(),
            asset_files: assets.count() as f64,
            total_bytes: report.files.iter().map(|f| f.bytes as f64).sum(),
            files: report.files.len() as f64,
        }
    }

    /// Renders the stack's site in memory (nothing is written) and weighs it.
    pub fn measure(stack: &Stack) -> anyhow::Result<SiteWeight> {
        let content = Content::load(&stack.content_path).map_err(anyhow::Error::from)?;
        let opts = BuildOptions::new(&stack.site_url())?.with_media_dir(stack.media_dir());
        let report = render::report(&content, &opts)
            .with_context(|| format!("cannot render the site of stack `{}`", stack.name))?;
        Ok(SiteWeight::of(&report))
    }
}

/// A quantity at most the limits allow, and the stack file key whose value sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub quantity: f64,
    pub key: &'static str,
}

/// The API's daily quota and its steady rate bound its requests together, the lower binding.
const API_DAILY_QUOTA: &str = "api.daily_quota";
const API_THROTTLE_RATE: &str = "api.throttle_rate_limit";

/// The other limit that bounds a quantity together with `key` (the lower of the two binding),
/// so that lowering either lowers it.
pub fn bounds_with(key: &str) -> Option<&'static str> {
    match key {
        API_DAILY_QUOTA => Some(API_THROTTLE_RATE),
        API_THROTTLE_RATE => Some(API_DAILY_QUOTA),
        _ => None,
    }
}

/// A month of use of one stack.
#[derive(Debug, Clone)]
pub struct Usage<'a> {
    pub stack: &'a Stack,
    pub traffic: Traffic,
    pub site: SiteWeight,
}

impl<'a> Usage<'a> {
    /// The stack's `[traffic]`, with `visitors` in place of `visitors_per_month` when given.
    pub fn new(stack: &'a Stack, site: SiteWeight, visitors: Option<f64>) -> Usage<'a> {
        let mut traffic = stack.traffic.clone();
        if let Some(visitors) = visitors {
            traffic.visitors_per_month = visitors;
        }
        Usage {
            stack,
            traffic,
            site,
        }
    }

    pub fn visitors(&self) -> f64 {
        self.traffic.visitors_per_month
    }

    pub fn chats(&self) -> f64 {
        self.visitors() * self.traffic.chats_per_visitor
    }

    /// Chats answered by the model: none when the stack runs EVE offline.
    pub fn model_chats(&self) -> f64 {
        if self.offline() {
            0.0
        } else {
            self.chats() * self.traffic.model_answer_percent / 100.0
        }
    }

    pub fn offline(&self) -> bool {
        self.stack.eve.model_id == eve_contract::settings::OFFLINE_MODEL_ID
    }

    pub fn certificate_downloads(&self) -> f64 {
        self.visitors() * self.traffic.certificate_downloads_per_visitor
    }

    /// Requests reaching EVE: the chats (through CloudFront to the streaming function) and the
    /// certificate links (through API Gateway to the API's function).
    pub fn api_requests(&self) -> f64 {
        self.chats() + self.certificate_downloads()
    }

    /// Requests API Gateway proxies to the API's function: all but the chats, which the widget
    /// streams through CloudFront from the streaming function.
    pub fn api_gateway_requests(&self) -> f64 {
        self.api_requests() - self.chats()
    }

    /// The most API Gateway lets through in a month: the usage plan's daily quota, or the
    /// stage's steady rate if that is lower. It bounds the certificate links, not the chats.
    pub fn api_requests_bound(&self) -> Bound {
        let api = &self.stack.api;
        let by_quota = f64::from(api.daily_quota) * DAYS_PER_MONTH;
        let by_rate = api.throttle_rate_limit * SECONDS_PER_MONTH;
        if by_quota <= by_rate {
            Bound {
                quantity: by_quota,
                key: API_DAILY_QUOTA,
            }
        } else {
            Bound {
                quantity: by_rate,
                key: API_THROTTLE_RATE,
            }
        }
    }

    /// Requests for pages and assets at CloudFront.
    pub fn site_requests(&self) -> f64 {
        self.visitors() * (self.traffic.pages_per_visitor + self.site.asset_files)
    }

    /// Bytes CloudFront sends for pages and assets.
    pub fn site_bytes(&self) -> f64 {
        self.visitors()
            * (self.traffic.pages_per_visitor * self.site.page_bytes + self.site.asset_bytes)
    }

    /// Page and asset requests CloudFront does not answer from its cache.
    pub fn origin_requests(&self) -> f64 {
        self.site_requests() * (1.0 - self.traffic.cache_hit_percent / 100.0)
    }

    /// Function seconds of `requests` API requests, of which `model` reach the model.
    pub fn function_seconds(&self, requests: f64, model: f64) -> f64 {
        (model * self.traffic.model_answer_ms + (requests - model) * self.traffic.local_answer_ms)
            / 1000.0
    }

    /// Tokens a month at most: the daily budget, overshot by at most one answer per
    /// concurrent request at the moment it runs out (the budget is checked before the call).
    pub fn token_bound(&self) -> Bound {
        let eve = &self.stack.eve;
        let overshoot =
            f64::from(self.stack.lambda.reserved_concurrency) * f64::from(eve.max_tokens);
        Bound {
            quantity: (eve.daily_token_budget as f64 + overshoot) * DAYS_PER_MONTH,
            key: "eve.daily_token_budget",
        }
    }

    /// Bytes of the certificate PDFs.
    pub fn certificate_bytes(&self) -> f64 {
        self.stack.certificate_keys.len() as f64 * self.traffic.certificate_mb * 1024.0 * 1024.0
    }

    /// Bytes of conversations kept (each chat stores the visitor's turn and EVE's), over the
    /// conversation TTL.
    pub fn conversation_bytes(&self, chats: f64) -> f64 {
        let months = self.stack.eve.conversation_ttl_days as f64 / DAYS_PER_MONTH;
        chats * 2.0 * TURN_BYTES * months
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portfolio::report::SiteFile;

    fn file(path: &str, bytes: u64) -> SiteFile {
        SiteFile {
            path: path.into(),
            content_type: render::content_type(path).into(),
            immutable: false,
            bytes,
        }
    }

    #[test]
    fn a_visit_weighs_its_pages_and_the_assets_once() {
        let report = BuildReport {
            files: vec![
                file("index.html", 10_000),
                file("projects/a.html", 6_000),
                file("404.html", 1_000),
                file("assets/site.1.css", 4_000),
                file("assets/eve.2.js", 8_000),
                file("sitemap.xml", 500),
            ],
            content_security_policy: String::new(),
        };
        let weight = SiteWeight::of(&report);
        assert_eq!(
            weight.page_bytes, 8_000.0,
            "404 is not a page visitors open"
        );
        assert_eq!(weight.asset_bytes, 12_000.0);
        assert_eq!(weight.asset_files, 2.0);
        assert_eq!(weight.total_bytes, 29_500.0);
        assert_eq!(weight.files, 6.0);
    }
}
