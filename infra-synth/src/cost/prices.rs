//! The price table shipped with the crate (`prices.toml`): no network at run time.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Region of the prices AWS bills without one (CloudFront, WAF, Route 53 zones, dashboards).
pub const GLOBAL: &str = "global";

const SHIPPED: &str = include_str!("prices.toml");

/// One price: `usd` for every `per` of `unit`, in `regions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub id: String,
    pub unit: String,
    pub per: f64,
    pub usd: f64,
    pub regions: Vec<String>,
    /// The Free Tier's allowance a month, in `unit`.
    #[serde(default)]
    pub free: f64,
    #[serde(default)]
    pub free_for: Option<String>,
    pub source: String,
    pub read: String,
    /// False when the stored copy of `source` does not show the figure (see the table's head).
    #[serde(default = "yes")]
    pub on_page: bool,
    #[serde(default)]
    pub note: Option<String>,
}

fn yes() -> bool {
    true
}

impl Price {
    /// USD for one `unit`.
    pub fn unit_usd(&self) -> f64 {
        self.usd / self.per
    }

    /// `$0.20 per 1M requests`, as the table prints it.
    pub fn label(&self) -> String {
        let per = match self.per {
            p if p >= 1e6 && p % 1e6 == 0.0 => format!("{}M ", p / 1e6),
            p if p >= 1e3 && p % 1e3 == 0.0 => format!("{}k ", p / 1e3),
            1.0 => String::new(),
            p => format!("{p} "),
        };
        format!("${} per {per}{}", self.usd, self.unit)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    prices_as_of: String,
    price: Vec<Price>,
    free: FreeTypes,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FreeTypes {
    types: BTreeSet<String>,
}

/// The prices and the resource types that cost nothing of their own.
#[derive(Debug)]
pub struct PriceTable {
    pub prices_as_of: String,
    prices: Vec<Price>,
    free_types: BTreeSet<String>,
}

/// A price the table lacks for a region the stack uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPrice {
    pub id: String,
    pub region: String,
}

impl std::fmt::Display for MissingPrice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the price table has no `{}` for {}",
            self.id, self.region
        )
    }
}

impl PriceTable {
    /// The table shipped with this build.
    pub fn shipped() -> anyhow::Result<PriceTable> {
        Self::parse(SHIPPED)
    }

    pub fn parse(text: &str) -> anyhow::Result<PriceTable> {
        let file: File = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("the price table does not parse: {e}"))?;
        let mut seen = BTreeSet::new();
        for price in &file.price {
            anyhow::ensure!(
                price.per > 0.0 && price.usd >= 0.0 && price.free >= 0.0,
                "price `{}`: `per` must be above 0, `usd` and `free` at least 0",
                price.id
            );
            for region in &price.regions {
                anyhow::ensure!(
                    seen.insert((price.id.clone(), region.clone())),
                    "price `{}` is listed twice for {region}",
                    price.id
                );
            }
        }
        Ok(PriceTable {
            prices_as_of: file.prices_as_of,
            prices: file.price,
            free_types: file.free.types,
        })
    }

    /// The price `id` in `region`.
    pub fn get(&self, id: &str, region: &str) -> Result<&Price, MissingPrice> {
        self.prices
            .iter()
            .find(|p| p.id == id && p.regions.iter().any(|r| r == region))
            .ok_or_else(|| MissingPrice {
                id: id.to_string(),
                region: region.to_string(),
            })
    }

    /// Whether the table has any price named `id` (in any region).
    pub fn knows(&self, id: &str) -> bool {
        self.prices.iter().any(|p| p.id == id)
    }

    /// Whether a resource type costs nothing of its own.
    pub fn is_free_type(&self, kind: &str) -> bool {
        self.free_types.contains(kind)
    }

    pub fn prices(&self) -> &[Price] {
        &self.prices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_every_price_cites_its_page() {
        let table = PriceTable::shipped().expect("shipped table");
        assert!(!table.prices().is_empty());
        for price in table.prices() {
            assert!(
                price.source.starts_with("http"),
                "{}: source must be a page address",
                price.id
            );
            assert_eq!(price.read.len(), 10, "{}: read must be a date", price.id);
            assert!(!price.regions.is_empty(), "{}: no regions", price.id);
        }
    }

    #[test]
    fn a_price_is_found_by_id_and_region_and_a_missing_one_is_named() {
        let table = PriceTable::shipped().expect("shipped table");
        let requests = table.get("lambda.requests", "eu-west-1").expect("price");
        assert!((requests.unit_usd() * 1e6 - 0.20).abs() < 1e-12);
        assert_eq!(requests.label(), "$0.2 per 1M requests");
        let missing = table
            .get("lambda.requests", "ap-south-2")
            .expect_err("no price there");
        assert_eq!(
            missing.to_string(),
            "the price table has no `lambda.requests` for ap-south-2"
        );
    }

    #[test]
    fn a_price_listed_twice_for_a_region_is_refused() {
        let twice = r#"
prices_as_of = "2026-12-02"
[[price]]
id = "x"
unit = "GB"
per = 1
usd = 1
regions = ["eu-west-1"]
source = "https://example.com"
read = "2026-12-02"
[[price]]
id = "x"
unit = "GB"
per = 1
usd = 2
regions = ["eu-west-1"]
source = "https://example.com"
read = "2026-12-02"
[free]
types = []
"#;
        let error = PriceTable::parse(twice).expect_err("refused").to_string();
        assert!(error.contains("listed twice for eu-west-1"), "{error}");
    }
}
