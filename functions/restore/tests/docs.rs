//! docs/restore.md's configuration table is rendered from the variables restore declares itself and to-kafka's
//! `max_request_bytes`, which it reads too; the backup's and the cluster's are the dump's and the producer's,
//! whose pages it links.

#[test]
fn the_configuration_table_is_the_declarations() {
    let request_size = ckafka_dump_sink_kafka::config::VARIABLES
        .iter()
        .copied()
        .filter(|documented| documented.var.name == ckafka_dump_sink_kafka::config::MAX_REQUEST_BYTES.name);
    let vars: Vec<_> = restore::config::VARIABLES.iter().copied().chain(request_size).collect();
    ckafka_dump_testkit::check_configuration_table("docs/restore.md", "restore", &vars);
}
