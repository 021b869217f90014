//! `infra-synth cost`: what the stack costs a month, and at worst.

use std::process::ExitCode;

use serde_json::json;

use super::StackArgs;
use crate::config::cost::MOST_VISITORS_PER_MONTH;
use crate::cost::{self, kubernetes, Estimate};

/// Price every resource of the synthesized stack from the price table shipped with
/// infra-synth (no network), at the usage of the stack's `[traffic]` section.
///
/// Prints a line per item (quantity, unit price, monthly cost) grouped per service, the monthly
/// total, and the worst case: what the stack's limits allow at most (API quota and throttle,
/// reserved concurrency × timeout, the daily token budget...), with the key that sets each
/// bound. Exit code 1 when the stack is invalid; resources the table cannot price are listed.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  infra-synth cost --stack prod
  infra-synth cost --stack prod --visitors 20000 --free-tier
  infra-synth cost --stack dev --format json
  infra-synth cost --stack prod --compare kubernetes

Prices: infra-synth/src/cost/prices.toml, each with the page and date it was read.")]
pub struct Args {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Visitors a month, in place of `[traffic] visitors_per_month`.
    #[arg(
        long,
        value_name = "N",
        value_parser = config_diagnostics::whole_number(0_u64, u64::from(MOST_VISITORS_PER_MONTH))
    )]
    pub visitors: Option<u64>,
    /// Take the AWS Free Tier's monthly allowances off (always-free and first-year ones).
    #[arg(long)]
    pub free_tier: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also price an alternative deployment of the same stack, side by side.
    #[arg(long, value_enum, value_name = "TARGET")]
    pub compare: Option<Compare>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// A summary per service, as the README shows it.
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compare {
    /// eve-server on EKS (`synth --target kubernetes`) instead of Lambda and API Gateway.
    Kubernetes,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stack = match args.stack.load() {
        Ok(stack) => stack,
        Err(diagnostics) => return Ok(super::report(&diagnostics)),
    };
    let (assembly, inputs) = match crate::synth::assemble_priced(&stack) {
        Ok(assembled) => assembled,
        Err(diagnostics) => return Ok(super::report(&diagnostics)),
    };
    let inputs = match inputs {
        Some(inputs) => inputs,
        None => cost::Inputs::measure(&stack)?,
    };
    let options = cost::Options {
        free_tier: args.free_tier,
    };
    let visitors = args.visitors.map(|v| v as f64);
    let estimate = cost::price_stack(&stack, &assembly.doc, &inputs, visitors, options);
    let comparison = match args.compare {
        Some(Compare::Kubernetes) => Some(
            kubernetes::compare(&inputs.table, &stack, &estimate)
                .map_err(|missing| anyhow::anyhow!("cannot price the alternative: {missing}"))?,
        ),
        None => None,
    };
    match args.format {
        Format::Json => {
            let mut body = serde_json::to_value(rounded(&estimate))?;
            if let Some(comparison) = &comparison {
                body["compare"] = json!({ "kubernetes": comparison });
            }
            crate::console::write_json(&body)?;
        }
        Format::Table => {
            out!("{}", table(&estimate))?;
            if let Some(comparison) = &comparison {
                out!("\n{}", comparison_table(comparison))?;
            }
        }
        Format::Markdown => match &comparison {
            Some(comparison) => out!("{}", comparison_markdown(comparison))?,
            None => out!("{}", markdown(&estimate))?,
        },
    }
    for unpriced in &estimate.unpriced {
        errln!(
            "warning: `{}` is not priced: {}",
            unpriced.address,
            unpriced.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Money to the cent in totals and to a hundredth of a cent in lines, so JSON reads like the
/// table.
fn rounded(estimate: &Estimate) -> Estimate {
    let cents = |usd: f64| (usd * 100.0).round() / 100.0;
    let fine = |usd: f64| (usd * 10_000.0).round() / 10_000.0;
    let mut e = estimate.clone();
    e.total_usd = cents(e.total_usd);
    e.worst_case_usd = cents(e.worst_case_usd);
    for service in &mut e.services {
        service.monthly_usd = fine(service.monthly_usd);
        service.worst_case_usd = fine(service.worst_case_usd);
        for line in &mut service.lines {
            line.monthly_usd = fine(line.monthly_usd);
            line.worst_case_usd = fine(line.worst_case_usd);
            line.quantity = (line.quantity * 1e6).round() / 1e6;
        }
    }
    for driver in &mut e.worst_case_drivers {
        driver.worst_case_usd = cents(driver.worst_case_usd);
    }
    e
}

/// `12,345`, `3.5`, `0.000123`: enough digits to read without noise.
pub fn quantity(value: f64) -> String {
    if value >= 1_000.0 {
        let whole = format!("{:.0}", value);
        let mut grouped = String::new();
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        grouped
    } else if value >= 1.0 || value == 0.0 {
        format!("{}", (value * 100.0).round() / 100.0)
    } else {
        format!("{:.2e}", value)
            .parse::<f64>()
            .map(|v| v.to_string())
            .unwrap_or_default()
    }
}

pub fn usd(value: f64) -> String {
    format!("${value:.2}")
}

fn table(e: &Estimate) -> String {
    let mut out = format!(
        "Stack `{}`: USD a month at {} visitors{} (prices as of {})\n\n",
        e.stack,
        quantity(e.visitors_per_month),
        if e.free_tier {
            ", after the Free Tier"
        } else {
            ""
        },
        e.prices_as_of
    );
    out.push_str(&format!(
        "{:<58} {:>12} {:<20} {:>30} {:>10} {:>10}\n",
        "service / item", "quantity", "unit", "unit price", "monthly", "worst"
    ));
    for service in &e.services {
        out.push_str(&format!(
            "{:<133} {:>10} {:>10}\n",
            service.service,
            usd(service.monthly_usd),
            usd(service.worst_case_usd)
        ));
        for line in &service.lines {
            let bound = line
                .bound_by
                .map(|key| format!("  ({key})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {:<56} {:>12} {:<20} {:>30} {:>10} {:>10}{bound}\n",
                line.item,
                quantity(line.quantity),
                line.unit,
                line.price,
                usd(line.monthly_usd),
                usd(line.worst_case_usd),
            ));
        }
    }
    out.push_str(&format!(
        "\n{:<133} {:>10}\n{:<133} {:>10} {:>10}\n",
        "Total",
        usd(e.total_usd),
        "Worst case (what the limits allow)",
        "",
        usd(e.worst_case_usd)
    ));
    if !e.worst_case_drivers.is_empty() {
        let drivers: Vec<String> = e
            .worst_case_drivers
            .iter()
            .map(|d| format!("{} +{}", d.key, usd(d.worst_case_usd)))
            .collect();
        out.push_str(&format!("  set by: {}\n", drivers.join(", ")));
    }
    if !e.unbounded.is_empty() {
        out.push_str(&format!(
            "  no limit bounds (counted at the estimate): {}\n",
            e.unbounded.join("; ")
        ));
    }
    out
}

fn markdown(e: &Estimate) -> String {
    let mut out = String::from(
        "| service | a month | at worst | what sets the worst case |\n|---|---:|---:|---|\n",
    );
    for service in &e.services {
        let mut keys: Vec<&str> = service.lines.iter().filter_map(|l| l.bound_by).collect();
        keys.sort();
        keys.dedup();
        let mut setters: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
        // Usage that no key bounds counts at its estimate.
        let prefix = format!("{}: ", service.service);
        if e.unbounded.iter().any(|item| item.starts_with(&prefix)) {
            setters.push("no limit (at the estimate)".into());
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            service.service,
            usd(service.monthly_usd),
            usd(service.worst_case_usd),
            setters.join(", ")
        ));
    }
    out.push_str(&format!(
        "| **total** | **{}** | **{}** | at {} visitors a month |\n",
        usd(e.total_usd),
        usd(e.worst_case_usd),
        quantity(e.visitors_per_month)
    ));
    out
}

fn comparison_markdown(c: &kubernetes::Comparison) -> String {
    format!(
        "| service | serverless | Kubernetes ({} × {} nodes) |\n|---|---:|---:|\n{}",
        quantity(c.nodes),
        c.node_type,
        comparison_rows(c, |service, serverless, kubernetes| {
            format!("| {service} | {serverless} | {kubernetes} |\n")
        })
    )
}

fn comparison_table(c: &kubernetes::Comparison) -> String {
    let row = |service: &str, serverless: &str, kubernetes: &str| {
        format!("{service:<24} {serverless:>12} {kubernetes:>12}\n")
    };
    format!(
        "Serverless against eve-server on Kubernetes ({} × {} nodes; {} at the HPA's maximum)\n\n{}{}",
        quantity(c.nodes),
        c.node_type,
        quantity(c.nodes_at_max_replicas),
        row("service", "serverless", "kubernetes"),
        comparison_rows(c, row)
    )
}

/// The comparison's rows and totals, each written by `row(service, serverless, kubernetes)`.
fn comparison_rows(c: &kubernetes::Comparison, row: impl Fn(&str, &str, &str) -> String) -> String {
    let mut out: String = c
        .rows
        .iter()
        .map(|r| row(&r.service, &usd(r.serverless_usd), &usd(r.kubernetes_usd)))
        .collect();
    out.push_str(&row(
        "Total",
        &usd(c.serverless_usd),
        &usd(c.kubernetes_usd),
    ));
    out.push_str(&row(
        "at the HPA's maximum",
        "",
        &usd(c.kubernetes_at_max_replicas_usd),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_without_noise() {
        assert_eq!(quantity(1_234_567.4), "1,234,567");
        assert_eq!(quantity(730.0), "730");
        assert_eq!(quantity(2.456), "2.46");
        assert_eq!(quantity(0.000123456), "0.000123");
        assert_eq!(quantity(0.0), "0");
    }
}
