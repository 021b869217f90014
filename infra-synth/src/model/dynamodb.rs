//! DynamoDB: EVE's conversations table.

use serde::Serialize;

use super::kms::Key;
use crate::config::Stack;
use crate::tf::{Block, Document, Expr, Ref};

/// The attribute EVE writes with each turn's expiry (epoch seconds); DynamoDB deletes the item after it.
pub const TTL_ATTRIBUTE: &str = "expires_at";

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub name: String,
    pub billing_mode: &'static str,
    pub hash_key: &'static str,
    pub range_key: &'static str,
    pub attribute: Vec<Attribute>,
    pub ttl: Ttl,
    pub point_in_time_recovery: Enabled,
    pub server_side_encryption: Encryption,
    pub deletion_protection_enabled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attribute {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ttl {
    pub attribute_name: &'static str,
    pub enabled: bool,
}

/// Encrypted with the stack key rather than DynamoDB's own.
#[derive(Debug, Clone, Serialize)]
pub struct Encryption {
    pub enabled: bool,
    pub kms_key_arn: Expr,
}

#[derive(Debug, Clone, Serialize)]
pub struct Enabled {
    pub enabled: bool,
}

impl Block for Table {
    const TYPE: &'static str = "aws_dynamodb_table";
}

impl Ref<Table> {
    pub fn name(&self) -> Expr {
        self.attr("name")
    }
}

/// `pk` = conversation, `sk` = turn; pay per request because traffic is spiky and small.
pub fn conversations(
    doc: &mut Document,
    stack: &Stack,
    key: &Ref<Key>,
) -> anyhow::Result<Ref<Table>> {
    doc.add(
        "conversations",
        Table {
            name: stack.table_name(),
            billing_mode: "PAY_PER_REQUEST",
            hash_key: "pk",
            range_key: "sk",
            attribute: vec![
                Attribute {
                    name: "pk",
                    kind: "S",
                },
                Attribute {
                    name: "sk",
                    kind: "S",
                },
            ],
            ttl: Ttl {
                attribute_name: TTL_ATTRIBUTE,
                enabled: true,
            },
            point_in_time_recovery: Enabled { enabled: true },
            server_side_encryption: Encryption {
                enabled: true,
                kms_key_arn: key.arn(),
            },
            deletion_protection_enabled: stack.table.deletion_protection,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_stack;

    #[test]
    fn table_has_keys_ttl_recovery_and_encryption() {
        let mut doc = Document::default();
        let key = crate::model::kms::test_key(&mut doc);
        let table = conversations(&mut doc, &test_stack(), &key).expect("table");
        let body = doc.body(&table).expect("body");
        assert_eq!(body["billing_mode"], "PAY_PER_REQUEST");
        assert_eq!(
            (body["hash_key"].as_str(), body["range_key"].as_str()),
            (Some("pk"), Some("sk"))
        );
        assert_eq!(body["ttl"]["attribute_name"], TTL_ATTRIBUTE);
        assert_eq!(body["point_in_time_recovery"]["enabled"], true);
        assert_eq!(body["server_side_encryption"]["enabled"], true);
        assert_eq!(
            body["server_side_encryption"]["kms_key_arn"],
            "${aws_kms_key.stack.arn}"
        );
    }
}
