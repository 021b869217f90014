//! The recovery objectives a stack's config gives CloudForgeX (`infra-synth dr objectives`),
//! so the RTO/RPO table in the README is derived, not written.

use crate::config::Stack;
use crate::constructs::s3::REPLICATION_TIME_MINUTES;

/// How one part of the stack comes back after losing its region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objective {
    pub part: &'static str,
    pub recovers_by: String,
    pub rpo: String,
    pub rto: String,
}

/// PITR's latest restorable time trails writes by about five minutes.
const PITR_LAG_MINUTES: u32 = 5;

pub fn objectives(stack: &Stack) -> Vec<Objective> {
    let Some(dr) = &stack.dr else {
        return vec![
            Objective {
                part: "site, certificates",
                recovers_by: "rebuilding from git after the region returns (no `[dr]`)".into(),
                rpo: "none lost (both come from git and the content file)".into(),
                rto: "until the region returns".into(),
            },
            Objective {
                part: "conversations",
                recovers_by: "PITR restore in the stack's region".into(),
                rpo: format!("{PITR_LAG_MINUTES} min"),
                rto: "the restore time `dr drill` measures, once the region returns".into(),
            },
        ];
    };
    let replication_rpo = if dr.replication_time_control {
        format!("{REPLICATION_TIME_MINUTES} min (replication time control; usually seconds)")
    } else {
        "unbounded (best-effort replication, usually minutes)".into()
    };
    let site = if stack.features.origin_failover {
        Objective {
            part: "site",
            recovers_by: format!("CloudFront origin failover to the replica in {}", dr.region),
            rpo: replication_rpo.clone(),
            rto: "none: the next request after a failed one is served from the replica".into(),
        }
    } else {
        Objective {
            part: "site",
            recovers_by: format!("the replica in {} (no origin failover)", dr.region),
            rpo: replication_rpo.clone(),
            rto: "until the distribution is pointed at the replica".into(),
        }
    };
    let conversations = if dr.table_replica {
        Objective {
            part: "conversations",
            recovers_by: format!("the global-table replica in {}", dr.region),
            rpo: "seconds (global-table replication)".into(),
            rto: "one `apply` of the recovery stack (runbook step 3)".into(),
        }
    } else {
        Objective {
            part: "conversations",
            recovers_by: "PITR restore (`dr drill` rehearses it)".into(),
            rpo: format!("{PITR_LAG_MINUTES} min (PITR's latest restorable time)"),
            rto: "the restore time `dr drill` measures, once the region returns".into(),
        }
    };
    vec![
        site,
        Objective {
            part: "certificates",
            recovers_by: format!("the replica bucket in {}", dr.region),
            rpo: replication_rpo,
            rto: "one `apply` of the recovery stack (runbook step 3)".into(),
        },
        conversations,
        Objective {
            part: "EVE",
            recovers_by: format!("redeploying from git into {}", dr.region),
            rpo: "none (EVE keeps no state of its own)".into(),
            rto: "one `apply` of the recovery stack (runbook step 3)".into(),
        },
    ]
}

/// The objectives as a Markdown table.
pub fn markdown(stack: &Stack) -> String {
    let mut table = String::from("| part | recovers by | RPO | RTO |\n|---|---|---|---|\n");
    for o in objectives(stack) {
        table.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            o.part, o.recovers_by, o.rpo, o.rto
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(extra: &str) -> Stack {
        let text =
            format!("env = \"t\"\nregion = \"eu-west-1\"\ndomain = \"example.com\"\n{extra}");
        config_diagnostics::TomlSource::parse("t.toml", text)
            .and_then(|source| source.deserialize())
            .expect("a stack")
    }

    fn rpo(stack: &Stack, part: &str) -> String {
        objectives(stack)
            .into_iter()
            .find(|o| o.part == part)
            .map(|o| o.rpo)
            .unwrap_or_else(|| panic!("no {part}"))
    }

    #[test]
    fn objectives_follow_the_recovery_config() {
        let with_rtc = stack("[dr]\nregion = \"eu-west-2\"\n");
        assert!(rpo(&with_rtc, "site").starts_with("15 min"));
        assert!(rpo(&with_rtc, "conversations").starts_with("5 min"));
        assert!(objectives(&with_rtc)[0].rto.starts_with("none"));
        let best_effort = stack("[dr]\nregion = \"eu-west-2\"\nreplication_time_control = false\n");
        assert!(rpo(&best_effort, "certificates").starts_with("unbounded"));
        let replicated = stack("[dr]\nregion = \"eu-west-2\"\ntable_replica = true\n");
        assert!(rpo(&replicated, "conversations").starts_with("seconds"));
        let no_failover =
            stack("[features]\norigin_failover = false\n[dr]\nregion = \"eu-west-2\"\n");
        assert!(objectives(&no_failover)[0].rto.starts_with("until"));
        let none = stack("");
        assert!(objectives(&none)[0]
            .rto
            .starts_with("until the region returns"));
        assert_eq!(markdown(&with_rtc).lines().count(), 2 + 4);
    }
}
