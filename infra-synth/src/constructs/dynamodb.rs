//! DynamoDB: tables with point-in-time recovery, encryption and grants of exactly the item
//! actions a grantee uses.

use serde::Serialize;

use super::cloudwatch::Source;
use super::core::{statement_id, Store};
use super::iam::Grantee;
use super::iam::Statement;
use super::kms::{grant_on_store, Key};
use super::{Id, Scope};
use crate::tf::{Block, Expr, Ref};

#[derive(Debug, Clone, Serialize)]
pub struct TableBlock {
    pub name: String,
    pub billing_mode: &'static str,
    pub hash_key: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_key: Option<&'static str>,
    pub attribute: Vec<Attribute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Ttl>,
    pub point_in_time_recovery: Enabled,
    pub server_side_encryption: Encryption,
    pub deletion_protection_enabled: bool,
    /// Global-table replicas need the stream; off otherwise (streams cost per read).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_view_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replica: Vec<Replica>,
}

/// A global-table replica in another region, with its own key and PITR.
#[derive(Debug, Clone, Serialize)]
pub struct Replica {
    pub region_name: String,
    pub kms_key_arn: Expr,
    pub point_in_time_recovery: bool,
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

/// Encrypted with a customer-managed key (`None`: the AWS-managed one).
#[derive(Debug, Clone, Serialize)]
pub struct Encryption {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<Expr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Enabled {
    pub enabled: bool,
}

impl Block for TableBlock {
    const TYPE: &'static str = "aws_dynamodb_table";
}

#[derive(Clone)]
pub struct TableProps {
    pub partition_key: &'static str,
    pub sort_key: Option<&'static str>,
    /// Items expire at this epoch-seconds attribute.
    pub ttl_attribute: Option<&'static str>,
    /// A customer-managed key; grants then include using it.
    pub encryption_key: Option<Key>,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
    /// Global-table replicas, each with a key in its region.
    pub replicas: Vec<(String, Key)>,
}

impl Default for TableProps {
    fn default() -> Self {
        TableProps {
            partition_key: "pk",
            sort_key: None,
            ttl_attribute: None,
            encryption_key: None,
            point_in_time_recovery: true,
            deletion_protection: true,
            replicas: Vec::new(),
        }
    }
}

/// A pay-per-request table with string keys (traffic here is spiky and small).
#[derive(Clone)]
pub struct Table {
    table: Ref<TableBlock>,
    key: Option<Key>,
    sid: String,
    name: String,
}

impl Table {
    pub fn new(scope: &Scope, id: impl Into<Id>, props: TableProps) -> Table {
        let scope = scope.child(id);
        let string_key = |name| Attribute { name, kind: "S" };
        let table = scope.add(TableBlock {
            name: scope.physical_name(),
            billing_mode: "PAY_PER_REQUEST",
            hash_key: props.partition_key,
            range_key: props.sort_key,
            attribute: std::iter::once(props.partition_key)
                .chain(props.sort_key)
                .map(string_key)
                .collect(),
            ttl: props.ttl_attribute.map(|attribute_name| Ttl {
                attribute_name,
                enabled: true,
            }),
            point_in_time_recovery: Enabled {
                enabled: props.point_in_time_recovery,
            },
            server_side_encryption: Encryption {
                enabled: true,
                kms_key_arn: props.encryption_key.as_ref().map(Key::arn),
            },
            deletion_protection_enabled: props.deletion_protection,
            stream_enabled: !props.replicas.is_empty(),
            stream_view_type: (!props.replicas.is_empty()).then_some("NEW_AND_OLD_IMAGES"),
            replica: props
                .replicas
                .iter()
                .map(|(region, key)| Replica {
                    region_name: region.clone(),
                    kms_key_arn: key.arn(),
                    point_in_time_recovery: props.point_in_time_recovery,
                })
                .collect(),
        });
        scope.with_tree(|tree| {
            tree.stores.push(Store {
                path: scope.path(),
                address: table.address(),
                encrypted: true,
            })
        });
        Table {
            table,
            key: props.encryption_key,
            sid: statement_id(&scope),
            name: scope.physical_name(),
        }
    }

    pub fn arn(&self) -> Expr {
        self.table.arn()
    }

    pub fn name(&self) -> Expr {
        self.table.attr("name")
    }

    /// The table's metrics (`AWS/DynamoDB` by table name).
    pub fn metrics(&self) -> Source {
        Source {
            namespace: "AWS/DynamoDB",
            dimensions: std::collections::BTreeMap::from([("TableName", self.name.clone())]),
        }
    }

    /// Read, write and update items and query them (no scans, deletes or batch writes).
    pub fn grant_read_write(&self, grantee: &impl Grantee) {
        self.grant(
            grantee,
            "ReadWrite",
            &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
            ],
        );
    }

    /// Write items only (e.g. a worker that records results).
    pub fn grant_write(&self, grantee: &impl Grantee) {
        self.grant(
            grantee,
            "Write",
            &["dynamodb:PutItem", "dynamodb:UpdateItem"],
        );
    }

    fn grant(&self, grantee: &impl Grantee, what: &str, actions: &[&str]) {
        grant_on_store(
            grantee,
            Statement::allow(&format!("{}{what}", self.sid), actions, vec![self.arn()]),
            self.key.as_ref(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constructs::kms::KeyProps;
    use crate::constructs::testing::{json_of, stack};

    #[test]
    fn a_replica_in_another_region_turns_the_stream_on_and_keeps_pitr() {
        let stack = stack();
        let key = Key::new(
            &stack.child("dr").in_region("eu-west-2"),
            "key",
            KeyProps::default(),
        );
        Table::new(
            &stack,
            "conversations",
            TableProps {
                replicas: vec![("eu-west-2".into(), key)],
                ..TableProps::default()
            },
        );
        let json = json_of(stack);
        let table = &json["resource"]["aws_dynamodb_table"]["conversations"];
        assert_eq!(table["stream_enabled"], true);
        assert_eq!(table["stream_view_type"], "NEW_AND_OLD_IMAGES");
        assert_eq!(table["replica"][0]["region_name"], "eu-west-2");
        assert_eq!(
            table["replica"][0]["kms_key_arn"],
            "${aws_kms_key.dr_key.arn}"
        );
        assert_eq!(table["replica"][0]["point_in_time_recovery"], true);
    }

    #[test]
    fn table_has_keys_ttl_recovery_and_encryption() {
        let stack = stack();
        let key = Key::new(&stack, "stack", KeyProps::default());
        Table::new(
            &stack,
            "conversations",
            TableProps {
                sort_key: Some("sk"),
                ttl_attribute: Some("expires_at"),
                encryption_key: Some(key),
                ..TableProps::default()
            },
        );
        let json = json_of(stack);
        let body = &json["resource"]["aws_dynamodb_table"]["conversations"];
        assert_eq!(body["name"], "test-conversations");
        assert_eq!(body["billing_mode"], "PAY_PER_REQUEST");
        assert_eq!(
            (body["hash_key"].as_str(), body["range_key"].as_str()),
            (Some("pk"), Some("sk"))
        );
        assert_eq!(body["attribute"].as_array().map(Vec::len), Some(2));
        assert_eq!(body["ttl"]["attribute_name"], "expires_at");
        assert_eq!(body["point_in_time_recovery"]["enabled"], true);
        assert_eq!(body["deletion_protection_enabled"], true);
        assert_eq!(
            body["server_side_encryption"]["kms_key_arn"],
            "${aws_kms_key.stack.arn}"
        );
    }
}
