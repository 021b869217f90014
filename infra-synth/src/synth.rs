//! From a stack file to Terraform: load → the CloudForgeX app → checks → the emitter. What
//! `validate`, `synth`, `graph` and the deploy commands share, so each builds the tree once.

use config_diagnostics::{Diagnostic, Diagnostics};

use crate::app::cloudforgex;
use crate::config::Stack;
use crate::constructs::Assembly;
use crate::cost;
use crate::cost::prices::PriceTable;
use crate::cost::usage::bounds_with;
use crate::cost::usage::SiteWeight;
use crate::emit::terraform::{self, Synthesis};

/// Builds the stack's tree and runs the checks; every problem comes back at its config key.
pub fn assemble(config: &Stack) -> Result<Assembly, Diagnostics> {
    assemble_priced(config).map(|(assembly, _)| assembly)
}

/// As [`assemble`], with what pricing the stack for its `[cost] monthly_ceiling_usd` took (none
/// without a ceiling), for `cost` to price it again at other usage.
pub fn assemble_priced(config: &Stack) -> Result<(Assembly, Option<cost::Inputs>), Diagnostics> {
    std::thread::scope(|scope| {
        // Weighing the site renders every page, which takes twice as long as building the
        // tree (handlebars compiling the templates is most of it): the two run side by side.
        let weighing = config
            .cost
            .monthly_ceiling_usd
            .map(|_| scope.spawn(|| SiteWeight::measure(config)));
        let stack = cloudforgex::build(config);
        let mut diagnostics = Vec::new();
        if let Err(unknown) = cloudforgex::apply_ignore_changes(&stack, config) {
            diagnostics.push(config.diagnostic("aws.ignore_changes", unknown.to_string()));
        }
        let assembly = stack.finish();
        for problem in &assembly.problems {
            diagnostics
                .push(config.diagnostic(cloudforgex::config_key(problem), problem.to_string()));
        }
        let mut inputs = None;
        if let (Some(ceiling), Some(weighing)) = (config.cost.monthly_ceiling_usd, weighing) {
            // The table is read here while the site is still being weighed.
            let table = PriceTable::shipped();
            let site = weighing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            match table.and_then(|table| Ok(cost::Inputs { table, site: site? })) {
                Ok(measured) => {
                    diagnostics.extend(check_ceiling(config, &assembly, ceiling, &measured));
                    inputs = Some(measured);
                }
                Err(error) => diagnostics
                    .push(config.diagnostic(CEILING, format!("cannot price the stack: {error:#}"))),
            }
        }
        if diagnostics.is_empty() {
            Ok((assembly, inputs))
        } else {
            Err(Diagnostics(diagnostics))
        }
    })
}

/// The key every problem with pricing the stack is reported at.
const CEILING: &str = "cost.monthly_ceiling_usd";

/// The stack's worst case against its `[cost] monthly_ceiling_usd`: a problem at the ceiling
/// when it is over (or cannot be priced), and one at each key whose limit pushes it over.
fn check_ceiling(
    config: &Stack,
    assembly: &Assembly,
    ceiling: f64,
    inputs: &cost::Inputs,
) -> Vec<Diagnostic> {
    let estimate = cost::price_stack(
        config,
        &assembly.doc,
        inputs,
        None,
        cost::Options::default(),
    );
    if let Some(unpriced) = estimate.unpriced.first() {
        return vec![config.diagnostic(
            CEILING,
            format!(
                "cannot hold the stack to the ceiling: {} resource(s) are unpriced, first `{}` ({})",
                estimate.unpriced.len(),
                unpriced.address,
                unpriced.reason
            ),
        )];
    }
    if estimate.worst_case_usd <= ceiling {
        return Vec::new();
    }
    let over = estimate.drivers_over(ceiling);
    let keys: Vec<String> = over
        .iter()
        .map(|d| match bounds_with(d.key) {
            Some(other) => format!("`{}` or `{other}` (+${:.2})", d.key, d.worst_case_usd),
            None => format!("`{}` (+${:.2})", d.key, d.worst_case_usd),
        })
        .collect();
    // No limit adds enough on its own when the estimate is over already: it is what to change.
    let remedy = if keys.is_empty() {
        "the estimate alone is over it, from the stack's fixed costs and the usage `[traffic]` \
         describes: run less, plan for less traffic, or raise the ceiling"
            .to_string()
    } else {
        format!(
            "pushed over by {}: lower them or raise the ceiling",
            keys.join(", ")
        )
    };
    let mut found = vec![config.diagnostic(
        CEILING,
        format!(
            "the worst month the limits allow costs ${:.2}, above the ceiling of ${ceiling:.2} \
             (the estimate is ${:.2}); {remedy} (`infra-synth cost --stack {}` shows every line)",
            estimate.worst_case_usd, estimate.total_usd, config.name
        ),
    )];
    for driver in over {
        found.push(config.diagnostic(
            driver.key,
            format!(
                "allows ${:.2} a month above the estimate, which takes the worst case over \
                 `{CEILING}` = {ceiling}",
                driver.worst_case_usd
            ),
        ));
        // The limit it binds with is as much the cause (often the one just raised): lowering
        // either brings the worst case down.
        if let Some(other) = bounds_with(driver.key) {
            found.push(config.diagnostic(
                other,
                format!(
                    "lets through more than `{}` does, which then bounds the same requests and \
                     takes the worst case over `{CEILING}` = {ceiling}: lower either",
                    driver.key
                ),
            ));
        }
    }
    found
}

/// Synthesizes the stack; the same config always gives byte-identical output.
pub fn synthesize(config: &Stack) -> anyhow::Result<Synthesis> {
    let assembly = assemble(config)?;
    terraform::render(
        &config.name,
        &format!("stacks/{}.toml", config.name),
        assembly,
    )
}
