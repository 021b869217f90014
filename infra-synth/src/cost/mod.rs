//! What a stack costs a month: every resource of the synthesized model priced from the table
//! shipped with the crate ([`prices`]), at the usage of `[traffic]` ([`usage`]), and at the
//! worst its limits allow. Reads the finished model like the emitters do; `cost`, `validate`'s
//! ceiling and `plan`'s cost change all come from [`estimate`].

pub mod kubernetes;
pub mod model;
pub mod prices;
mod rules;
pub mod usage;

use std::collections::BTreeMap;

use serde::Serialize;

pub use model::{Model, PlanSide, Resource};
pub use prices::{Price, PriceTable};
pub use usage::{Bound, SiteWeight, Usage};

/// Services in the order the table shows them.
pub const SERVICES: &[&str] = &[
    "Lambda",
    "API Gateway",
    "CloudFront",
    "S3",
    "DynamoDB",
    "KMS",
    "CloudWatch",
    "SNS",
    "Route 53",
    "ACM",
    "SSM",
    "ECR",
    "Bedrock",
    "WAF",
    "VPC",
    "Budgets",
    "EKS",
    "EC2",
    "Elastic Load Balancing",
];

/// One priced quantity before the Free Tier and totals.
#[derive(Debug, Clone)]
struct Draft {
    service: &'static str,
    item: String,
    price: Price,
    quantity: f64,
    /// The most the limits allow and the key that sets it; `None`: the same at worst.
    bound: Option<Bound>,
    /// Whether the quantity grows with visitors (else it is fixed: a key-month, a deploy).
    scales: bool,
}

/// One line of the estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub item: String,
    pub quantity: f64,
    pub unit: String,
    pub unit_usd: f64,
    pub monthly_usd: f64,
    /// What the line costs at the worst the limits allow.
    pub worst_case_usd: f64,
    /// The stack file key that bounds it, when one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound_by: Option<&'static str>,
    /// True when the quantity grows with visitors.
    pub scales_with_traffic: bool,
    pub price: String,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceCost {
    pub service: &'static str,
    pub monthly_usd: f64,
    pub worst_case_usd: f64,
    pub lines: Vec<Line>,
}

/// What a stack file key adds to the worst case above the estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Driver {
    pub key: &'static str,
    pub worst_case_usd: f64,
}

/// A resource the table cannot price, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unpriced {
    pub address: String,
    pub reason: String,
}

/// A month of one stack, priced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub stack: String,
    pub currency: &'static str,
    pub prices_as_of: String,
    pub free_tier: bool,
    pub visitors_per_month: f64,
    pub total_usd: f64,
    pub worst_case_usd: f64,
    pub services: Vec<ServiceCost>,
    /// The keys whose limits make the worst case, dearest first.
    pub worst_case_drivers: Vec<Driver>,
    /// Usage no configured limit bounds (counted at the estimate in the worst case).
    pub unbounded: Vec<String>,
    pub unpriced: Vec<Unpriced>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Take the AWS Free Tier's monthly allowances off (always-free and first-year ones).
    pub free_tier: bool,
}

/// What pricing any model of a stack needs: the shipped table and the stack's site, weighed.
#[derive(Debug)]
pub struct Inputs {
    pub table: PriceTable,
    pub site: SiteWeight,
}

impl Inputs {
    pub fn measure(stack: &crate::config::Stack) -> anyhow::Result<Inputs> {
        Ok(Inputs {
            table: PriceTable::shipped()?,
            site: SiteWeight::measure(stack)?,
        })
    }
}

/// Prices the stack's synthesized document with the shipped table: the site weighed as built,
/// `visitors` in place of `[traffic] visitors_per_month` when given.
pub fn price_stack(
    stack: &crate::config::Stack,
    doc: &crate::tf::Document,
    inputs: &Inputs,
    visitors: Option<f64>,
    options: Options,
) -> Estimate {
    let usage = Usage::new(stack, inputs.site.clone(), visitors);
    estimate(&inputs.table, &Model::from_document(doc), &usage, options)
}

/// What a plan changes in the monthly cost: the deployed model (`prior_state`) and the
/// planned one priced at the same usage.
#[derive(Debug, Clone, PartialEq)]
pub struct CostChange {
    pub before: Estimate,
    pub after: Estimate,
}

impl CostChange {
    /// Prices both sides of `terraform show -json <plan>`.
    pub fn of_plan(stack: &crate::config::Stack, plan: &serde_json::Value) -> anyhow::Result<Self> {
        let Inputs { table, site } = Inputs::measure(stack)?;
        let usage = Usage::new(stack, site, None);
        let side = |side| {
            let model = Model::from_plan(plan, side, &stack.region);
            estimate(&table, &model, &usage, Options::default())
        };
        Ok(CostChange {
            before: side(PlanSide::Before),
            after: side(PlanSide::After),
        })
    }
}

impl std::fmt::Display for CostChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let signed = |delta: f64| {
            if delta < -0.005 {
                format!("-${:.2}", -delta)
            } else {
                format!("+${:.2}", delta.max(0.0) + 0.0)
            }
        };
        write!(
            f,
            "monthly cost: ${:.2} → ${:.2} ({}); worst case ${:.2} → ${:.2} ({}) \
             — `infra-synth cost` itemizes it",
            self.before.total_usd,
            self.after.total_usd,
            signed(self.after.total_usd - self.before.total_usd),
            self.before.worst_case_usd,
            self.after.worst_case_usd,
            signed(self.after.worst_case_usd - self.before.worst_case_usd),
        )
    }
}

/// Prices `model` at `usage`.
pub fn estimate(
    table: &PriceTable,
    model: &Model,
    usage: &Usage<'_>,
    options: Options,
) -> Estimate {
    let rules::Priced {
        drafts,
        unpriced,
        unbounded,
    } = rules::price(table, model, usage);
    let drafts = merge(drafts);
    let estimate_quantities: Vec<f64> = drafts.iter().map(|d| d.quantity).collect();
    let worst_quantities: Vec<f64> = drafts
        .iter()
        .map(|d| {
            d.bound
                .as_ref()
                .map_or(d.quantity, |b| b.quantity.max(d.quantity))
        })
        .collect();
    let billed = |quantities: &[f64]| -> Vec<f64> {
        if options.free_tier {
            after_free_tier(&drafts, quantities)
        } else {
            quantities.to_vec()
        }
    };
    let estimate_billed = billed(&estimate_quantities);
    let worst_billed = billed(&worst_quantities);

    // In SERVICES order; services it does not list follow, each under its own name.
    let mut by_service: BTreeMap<(usize, &'static str), ServiceCost> = BTreeMap::new();
    let mut drivers: BTreeMap<&'static str, f64> = BTreeMap::new();
    for (i, draft) in drafts.iter().enumerate() {
        let unit_usd = draft.price.unit_usd();
        let monthly = estimate_billed[i] * unit_usd;
        let worst = worst_billed[i] * unit_usd;
        if let Some(bound) = &draft.bound {
            *drivers.entry(bound.key).or_default() += worst - monthly;
        }
        let order = SERVICES
            .iter()
            .position(|s| *s == draft.service)
            .unwrap_or(SERVICES.len());
        let service = by_service
            .entry((order, draft.service))
            .or_insert_with(|| ServiceCost {
                service: draft.service,
                monthly_usd: 0.0,
                worst_case_usd: 0.0,
                lines: Vec::new(),
            });
        service.monthly_usd += monthly;
        service.worst_case_usd += worst;
        service.lines.push(Line {
            item: draft.item.clone(),
            quantity: draft.quantity,
            unit: draft.price.unit.clone(),
            unit_usd,
            monthly_usd: monthly,
            worst_case_usd: worst,
            bound_by: draft.bound.as_ref().map(|b| b.key),
            scales_with_traffic: draft.scales,
            price: draft.price.label(),
            source: draft.price.source.clone(),
        });
    }
    let services: Vec<ServiceCost> = by_service.into_values().collect();
    let mut worst_case_drivers: Vec<Driver> = drivers
        .into_iter()
        .filter(|(_, usd)| *usd > 0.005)
        .map(|(key, worst_case_usd)| Driver {
            key,
            worst_case_usd,
        })
        .collect();
    worst_case_drivers.sort_by(|a, b| b.worst_case_usd.total_cmp(&a.worst_case_usd));
    Estimate {
        stack: usage.stack.name.clone(),
        currency: "USD",
        prices_as_of: table.prices_as_of.clone(),
        free_tier: options.free_tier,
        visitors_per_month: usage.visitors(),
        // `+ 0.0` turns the empty sum's -0.0 into 0.0, which prints without a sign.
        total_usd: services.iter().map(|s| s.monthly_usd).sum::<f64>() + 0.0,
        worst_case_usd: services.iter().map(|s| s.worst_case_usd).sum::<f64>() + 0.0,
        services,
        worst_case_drivers,
        unbounded,
        unpriced,
    }
}

/// Drafts of the same item at the same price (one per parameter, alarm, endpoint...) become one
/// line with their quantities added.
fn merge(drafts: Vec<Draft>) -> Vec<Draft> {
    let mut merged: Vec<Draft> = Vec::new();
    for draft in drafts {
        let same = merged.iter_mut().find(|m| {
            m.service == draft.service
                && m.item == draft.item
                && m.price == draft.price
                && m.scales == draft.scales
                && m.bound.as_ref().map(|b| b.key) == draft.bound.as_ref().map(|b| b.key)
        });
        match same {
            Some(line) => {
                line.quantity += draft.quantity;
                if let (Some(total), Some(more)) = (&mut line.bound, &draft.bound) {
                    total.quantity += more.quantity;
                }
            }
            None => merged.push(draft),
        }
    }
    merged
}

/// Quantities billed after each price's monthly Free Tier allowance, which is shared by every
/// line at that price (the allowance is per account, across regions).
fn after_free_tier(drafts: &[Draft], quantities: &[f64]) -> Vec<f64> {
    let mut left: BTreeMap<&str, f64> = BTreeMap::new();
    drafts
        .iter()
        .zip(quantities)
        .map(|(draft, quantity)| {
            let allowance = left
                .entry(draft.price.id.as_str())
                .or_insert(draft.price.free);
            let free = allowance.min(*quantity);
            *allowance -= free;
            quantity - free
        })
        .collect()
}

impl Estimate {
    /// The drivers whose excess over the estimate must go for the worst case to fit under
    /// `ceiling`, dearest first; empty when it already fits, and when the estimate alone is
    /// over it (no limit's excess is then what to change).
    pub fn drivers_over(&self, ceiling: f64) -> Vec<&Driver> {
        if self.total_usd > ceiling {
            return Vec::new();
        }
        let mut worst = self.worst_case_usd;
        let mut over = Vec::new();
        for driver in &self.worst_case_drivers {
            if worst <= ceiling {
                break;
            }
            worst -= driver.worst_case_usd;
            over.push(driver);
        }
        over
    }

    /// The service's line named `item`, for tests and the comparison.
    pub fn line(&self, service: &str, item: &str) -> Option<&Line> {
        self.services
            .iter()
            .find(|s| s.service == service)?
            .lines
            .iter()
            .find(|l| l.item == item)
    }

    pub fn service(&self, service: &str) -> Option<&ServiceCost> {
        self.services.iter().find(|s| s.service == service)
    }
}

#[cfg(test)]
mod tests;
