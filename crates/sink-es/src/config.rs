//! `to-es` configuration from the environment, validated once at start. Names follow the Tencent
//! `CkafkaToElasticsearch` template (`ES_Address`, `ES_User`, ...) so old deployments switch unchanged.

use std::time::Duration;

use ckafka_dump_core::config::{spellings, split_list, Choice, Env, Kind, Secret, Unset, Var};
use ckafka_dump_core::dating::Granularity;
use ckafka_dump_core::template::{Placeholder, Template};
use ckafka_dump_core::time::Zone;
use ckafka_dump_core::{ConfigError, MAX_TIME_LIMIT};

use crate::document::DocumentSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexTimeFormat {
    /// `<keyword>-YYYY-MM-DD`
    Day,
    /// `<keyword>-YYYY-MM-DD-HH`
    Hour,
    /// `<keyword>`
    None,
}

impl IndexTimeFormat {
    /// What index names render of a record's time (none: no ledger is needed for undated records).
    pub fn granularity(self) -> Option<Granularity> {
        match self {
            IndexTimeFormat::Day => Some(Granularity::Day),
            IndexTimeFormat::Hour => Some(Granularity::Hour),
            IndexTimeFormat::None => None,
        }
    }
}

impl Choice for IndexTimeFormat {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("day", IndexTimeFormat::Day),
        ("hour", IndexTimeFormat::Hour),
        ("none", IndexTimeFormat::None),
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpType {
    Index,
    Create,
}

impl Choice for OpType {
    const CHOICES: &'static [(&'static str, Self)] = &[("index", OpType::Index), ("create", OpType::Create)];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { user: String, password: Secret },
    ApiKey(Secret),
}

#[derive(Debug, Clone)]
pub struct EsConfig {
    /// Base URLs without credentials or trailing slash.
    pub nodes: Vec<String>,
    pub auth: Auth,
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Names the dead-letter and dating-ledger indices, and the data indices unless a template does.
    pub index_keyword: String,
    pub index_time_format: IndexTimeFormat,
    /// `ES_Index_Template`: data index names from the record's fields and time.
    pub index_template: Option<Template<IndexPart>>,
    pub zone: Zone,
    /// `ES_Id_Field=@key`: the record key is the `_id`.
    pub id_from_key: bool,
    /// A tombstone (null value) deletes the document whose `_id` is its key.
    pub delete_on_tombstone: bool,
    pub documents: DocumentSettings,
    pub dead_letter_index: Option<String>,
    pub pipeline: Option<String>,
    pub op_type: OpType,
    pub request_timeout: Duration,
    pub bulk_max_bytes: usize,
    pub bulk_concurrency: usize,
}

ckafka_dump_core::variables! {
    /// to-es's variables.
    VARIABLES;
    ES_ADDRESS = Var::new(
        "ES_Address",
        Kind::Text(Unset::Required),
        "One or more comma-separated nodes, `http(s)://host:port` (`host:port` means http). Credentials in the URL are refused: use the variables below.",
    );
    ES_USER = Var::new("ES_User", Kind::Text(Unset::Nothing), "Basic auth user; with `ES_Password`.");
    ES_PASSWORD = Var::new("ES_Password", Kind::Secret(Unset::Nothing), "Basic auth password; with `ES_User`.");
    ES_API_KEY = Var::new(
        "ES_Api_Key",
        Kind::Secret(Unset::Nothing),
        "API key (the base64 `id:key` Elasticsearch returns as `encoded`), sent as `Authorization: ApiKey …`; wins over user/password.",
    );
    ES_CA_CERT = Var::new(
        "ES_CA_Cert",
        Kind::Pem,
        "CA certificate for TLS: a PEM file path, or the PEM text itself. Public CAs are trusted without it.",
    );
    ES_INDEX_KEYWORD = Var::new(
        "ES_Index_KeyWord",
        Kind::Text(Unset::Means("required (unless `ES_Index_Template` starts with text)")),
        "Index name prefix. Must be a valid index name (lowercase). Also names the dead-letter index and the dating ledger's.",
    );
    ES_INDEX_TIMEFORMAT = Var::new(
        "ES_Index_TimeFormat",
        Kind::Choice { default: "day", spellings: spellings::<IndexTimeFormat> },
        "`day` → `<keyword>-YYYY-MM-DD`, `hour` → `<keyword>-YYYY-MM-DD-HH`, `none` → `<keyword>`; dates in `time_zone`.",
    );
    ES_INDEX_TEMPLATE = Var::new(
        "ES_Index_Template",
        Kind::Text(Unset::Nothing),
        "Index names from each record instead: `logs-{field:app}-{date}` with `{field:NAME}` (a field of the record, or metadata such as `{field:@topic}`; lowercased, characters index names refuse become `_`), `{date}` (`YYYY-MM-DD`) and `{hour}` (`HH`) of the record time in `time_zone`. A record without the field is dead-lettered (`cause` `route`). With a template, an unset `ES_Index_KeyWord` defaults to the template's leading text (`logs`).",
    );
    ES_LOG_IGNOREWORD = Var::new("ES_Log_IgnoreWord", Kind::List(Unset::Nothing), "Comma list of top-level fields to drop from documents.");
    ES_ID_FIELD = Var::new(
        "ES_Id_Field",
        Kind::Text(Unset::Default("log_id")),
        "Document field whose value (string or number) becomes `_id`; `@key` uses the record key (records without one use coordinates); `none` always uses `<topic>-<partition>-<offset>`.",
    );
    ES_DELETE_ON_TOMBSTONE = Var::new(
        "ES_Delete_On_Tombstone",
        Kind::Flag { default: false },
        "A null value (tombstone) deletes the document whose `_id` is its key (Kafka Connect's `behavior.on.null.values=delete`); needs `ES_Id_Field=@key`. Use a fixed index: a dated one would miss documents in older indices. When false, tombstones are skipped.",
    );
    ES_TIMESTAMP_FIELD = Var::new(
        "ES_Timestamp_Field",
        Kind::Text(Unset::Default("time")),
        "Field added (only when absent) with the record time (the stage's, else Kafka's, else when first seen) in RFC 3339 in `time_zone`; `none` adds nothing. For a data stream: `@timestamp` with `ES_Op_Type=create`.",
    );
    ES_KAFKA_META_FIELD = Var::new(
        "ES_Kafka_Meta_Field",
        Kind::Text(Unset::Nothing),
        "When set, adds `{topic, partition, offset, key}` under this field (only when absent); a key that is not UTF-8 is base64 with `key_encoding`.",
    );
    ES_DEAD_LETTER_INDEX = Var::new(
        "ES_Dead_Letter_Index",
        Kind::Text(Unset::Means("`<keyword>-dead-letter`")),
        "Where malformed documents go — and records the transform stage rejected or whose index name cannot be made; `none` makes them fail the invocation instead.",
    );
    ES_PIPELINE = Var::new("ES_Pipeline", Kind::Text(Unset::Nothing), "Ingest pipeline for every bulk request.");
    ES_OP_TYPE = Var::new(
        "ES_Op_Type",
        Kind::Choice { default: "index", spellings: spellings::<OpType> },
        "`index` (overwrite) or `create` (data streams; an existing id is already written).",
    );
    ES_TIMEOUT_MS = Var::new(
        "ES_Timeout_Ms",
        Kind::Millis { default: 30_000, max: MAX_TIME_LIMIT.as_millis() as u64 },
        "Timeout of one bulk request (never past the invocation deadline).",
    );
    ES_BULK_MAX_BYTES = Var::new(
        "ES_Bulk_Max_Bytes",
        // Elasticsearch refuses bodies above `http.max_content_length` (100 MiB by default).
        Kind::Count { default: 10 * 1024 * 1024, min: 1024, max: 100 * 1024 * 1024 },
        "Largest bulk request body; a single larger document travels alone.",
    );
    ES_BULK_CONCURRENCY = Var::new(
        "ES_Bulk_Concurrency",
        Kind::Count { default: 4, min: 1, max: 64 },
        "Bulk requests in flight at once.",
    );
}

impl EsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let nodes = parse_nodes(&env.required(&ES_ADDRESS)?)?;
        let auth = match (env.get(&ES_USER)?, env.secret(&ES_PASSWORD)?, env.secret(&ES_API_KEY)?) {
            (_, _, Some(key)) => Auth::ApiKey(key),
            (Some(user), Some(password), None) => Auth::Basic { user, password },
            (Some(_), None, None) => return Err(ConfigError::new(ES_PASSWORD.name, "is required when ES_User is set")),
            (None, Some(_), None) => return Err(ConfigError::new(ES_USER.name, "is required when ES_Password is set")),
            (None, None, None) => Auth::None,
        };
        let ca_cert_pem = env.pem(&ES_CA_CERT)?;
        let index_template = match env.get(&ES_INDEX_TEMPLATE)? {
            None => None,
            Some(text) => {
                let template = Template::parse(&text).map_err(|e| ConfigError::new(ES_INDEX_TEMPLATE.name, e))?;
                validate_index_name(
                    ES_INDEX_TEMPLATE.name,
                    &text.replace(['{', '}', ':', '@'], "").to_lowercase(),
                )?;
                Some(template)
            }
        };
        let index_keyword = match (env.get(&ES_INDEX_KEYWORD)?, &index_template) {
            (Some(keyword), _) => keyword,
            (None, Some(template)) if !template.prefix().trim_end_matches(['-', '_']).is_empty() => {
                template.prefix().trim_end_matches(['-', '_']).to_owned()
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    ES_INDEX_KEYWORD.name,
                    "is required when ES_Index_Template starts with a placeholder (it names the dead-letter index)",
                ))
            }
            (None, None) => env.required(&ES_INDEX_KEYWORD)?,
        };
        validate_index_name(ES_INDEX_KEYWORD.name, &index_keyword)?;
        let zone = Zone::from_env(env)?;
        let id_field = optional_field(env, &ES_ID_FIELD)?;
        let id_from_key = id_field.as_deref() == Some("@key");
        let delete_on_tombstone = env.flag(&ES_DELETE_ON_TOMBSTONE)?;
        if delete_on_tombstone && !id_from_key {
            return Err(ConfigError::new(
                ES_DELETE_ON_TOMBSTONE.name,
                "deletes by the record key: set ES_Id_Field=@key so documents are indexed under their key",
            ));
        }
        let index_time_format = env.choice(&ES_INDEX_TIMEFORMAT)?;
        let dead_letter_index = match env.get(&ES_DEAD_LETTER_INDEX)?.as_deref() {
            None => Some(format!("{index_keyword}-dead-letter")),
            Some("none") => None,
            Some(name) => {
                validate_index_name(ES_DEAD_LETTER_INDEX.name, name)?;
                Some(name.to_owned())
            }
        };
        let op_type = env.choice(&ES_OP_TYPE)?;
        let bulk_max_bytes = env.size(&ES_BULK_MAX_BYTES)?;
        let bulk_concurrency = env.size(&ES_BULK_CONCURRENCY)?;
        Ok(EsConfig {
            nodes,
            auth,
            ca_cert_pem,
            index_keyword,
            index_time_format,
            index_template,
            zone: zone.clone(),
            id_from_key,
            delete_on_tombstone,
            documents: DocumentSettings {
                ignore_fields: env.list(&ES_LOG_IGNOREWORD)?,
                id_field: id_field.filter(|_| !id_from_key),
                zone,
                timestamp_field: optional_field(env, &ES_TIMESTAMP_FIELD)?,
                kafka_meta_field: env.get(&ES_KAFKA_META_FIELD)?,
            },
            dead_letter_index,
            pipeline: env.get(&ES_PIPELINE)?,
            op_type,
            request_timeout: env.millis(&ES_TIMEOUT_MS)?,
            bulk_max_bytes,
            bulk_concurrency,
        })
    }
}

/// `ES_Index_Template`'s placeholders besides `{field:NAME}`: the record time's date and hour in `time_zone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexPart {
    /// `YYYY-MM-DD`.
    Date,
    /// `HH`.
    Hour,
}

impl Placeholder for IndexPart {
    const NAMES: &'static [(&'static str, Self)] = &[("date", IndexPart::Date), ("hour", IndexPart::Hour)];
}

impl EsConfig {
    /// What index names render of a record's time (none: no ledger is needed for undated records).
    pub fn granularity(&self) -> Option<Granularity> {
        match &self.index_template {
            Some(template) => {
                (template.has(IndexPart::Date) || template.has(IndexPart::Hour)).then_some(Granularity::Hour)
            }
            None => self.index_time_format.granularity(),
        }
    }
}

/// A field name with a declared default that `none` turns off.
fn optional_field(env: &Env, var: &Var) -> Result<Option<String>, ConfigError> {
    Ok(env.text(var)?.filter(|v| !v.eq_ignore_ascii_case("none")))
}

/// `ES_Address`: comma-separated `http(s)://host:port` (scheme defaults to http). Credentials embedded in
/// a URL are refused so they cannot reach a log line through the address.
fn parse_nodes(raw: &str) -> Result<Vec<String>, ConfigError> {
    let nodes: Vec<String> = split_list(raw)
        .into_iter()
        .map(|n| {
            let url = if n.contains("://") {
                n.to_owned()
            } else {
                format!("http://{n}")
            };
            let parsed = reqwest::Url::parse(&url)
                .map_err(|e| ConfigError::new(ES_ADDRESS.name, format!("`{n}` is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConfigError::new(
                    ES_ADDRESS.name,
                    format!("`{n}`: scheme must be http or https"),
                ));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(ConfigError::new(
                    ES_ADDRESS.name,
                    "holds credentials; put them in ES_User / ES_Password instead",
                ));
            }
            Ok(url.trim_end_matches('/').to_owned())
        })
        .collect::<Result<_, _>>()?;
    if nodes.is_empty() {
        return Err(ConfigError::new(ES_ADDRESS.name, "names no node"));
    }
    Ok(nodes)
}

/// Elasticsearch index names: lowercase, no `\ / * ? " < > | , # :` or spaces, not starting with `-_+`.
pub(crate) const REFUSED_IN_INDEX_NAMES: &str = r#"\/*?"<>|,#: "#;

fn validate_index_name(var: &str, name: &str) -> Result<(), ConfigError> {
    let bad = name
        .chars()
        .find(|c| c.is_uppercase() || REFUSED_IN_INDEX_NAMES.contains(*c));
    if let Some(c) = bad {
        return Err(ConfigError::new(
            var,
            format!("`{name}` is not a valid index name (character `{c}`; index names are lowercase)"),
        ));
    }
    if name.starts_with(['-', '_', '+']) || name.len() > 200 {
        return Err(ConfigError::new(var, format!("`{name}` is not a valid index name")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<EsConfig, ConfigError> {
        EsConfig::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn template_variables_and_defaults() {
        let c = config(&[
            ("ES_Address", "10.0.0.1:9200, https://es.example.com/"),
            ("ES_User", "elastic"),
            ("ES_Password", "pw"),
            ("ES_Index_KeyWord", "log"),
            ("ES_Log_IgnoreWord", "a, b,,"),
        ])
        .unwrap();
        assert_eq!(c.nodes, ["http://10.0.0.1:9200", "https://es.example.com"]);
        assert!(matches!(c.auth, Auth::Basic { ref user, .. } if user == "elastic"));
        assert_eq!(c.index_time_format, IndexTimeFormat::Day);
        assert_eq!(c.documents.ignore_fields, ["a", "b"]);
        assert_eq!(c.documents.id_field.as_deref(), Some("log_id"));
        assert_eq!(c.documents.timestamp_field.as_deref(), Some("time"));
        assert_eq!(c.dead_letter_index.as_deref(), Some("log-dead-letter"));
        assert_eq!(c.op_type, OpType::Index);
    }

    #[test]
    fn bad_values_name_the_variable_and_hide_secrets() {
        let base = [("ES_Address", "http://h:9200"), ("ES_Index_KeyWord", "log")];
        let with = |extra: (&str, &str)| {
            let mut pairs = base.to_vec();
            pairs.push(extra);
            config(&pairs).unwrap_err().to_string()
        };
        assert!(with(("ES_Index_TimeFormat", "week")).contains("ES_Index_TimeFormat"));
        assert!(with(("ES_Op_Type", "upsert")).contains("ES_Op_Type"));
        assert!(with(("ES_Bulk_Max_Bytes", "lots")).contains("ES_Bulk_Max_Bytes"));
        for (var, value) in [
            ("ES_Timeout_Ms", "0"),
            ("ES_Timeout_Ms", "86400000"),
            ("ES_Bulk_Max_Bytes", "40000000000"),
            ("ES_Bulk_Concurrency", "0"),
        ] {
            let e = with((var, value));
            assert!(e.contains(&format!("{var}: {value} is out of range")), "{e}");
        }
        let pw = with(("ES_Password", "hunter\n2"));
        assert!(
            pw.contains("ES_Password: holds a control character") && !pw.contains("hunter"),
            "{pw}"
        );
        assert!(with(("ES_User", "elastic")).contains("ES_Password"));
        let pw = with(("ES_Password", "hunter2"));
        assert!(pw.contains("ES_User") && !pw.contains("hunter2"), "{pw}");
        assert!(config(&[("ES_Index_KeyWord", "log")])
            .unwrap_err()
            .to_string()
            .contains("ES_Address"));
        let upper = config(&[("ES_Address", "h:1"), ("ES_Index_KeyWord", "Log")])
            .unwrap_err()
            .to_string();
        assert!(
            upper.contains("ES_Index_KeyWord") && upper.contains("lowercase"),
            "{upper}"
        );
        let creds = config(&[("ES_Address", "http://u:secret@h:1"), ("ES_Index_KeyWord", "log")]).unwrap_err();
        assert!(!creds.to_string().contains("secret"), "{creds}");
    }
}
