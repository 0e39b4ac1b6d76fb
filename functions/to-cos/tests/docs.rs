//! docs/to-cos.md's configuration table is rendered from the variables to-cos declares: its own, and the
//! scheduled mode's connection (whose `kafka_address` to-cos declares itself: there it is optional).

#[test]
fn the_configuration_table_is_the_declarations() {
    let connection = ckafka_dump_kafka::config::VARIABLES
        .iter()
        .copied()
        .filter(|documented| documented.var.name != ckafka_dump_kafka::config::KAFKA_ADDRESS.name);
    let vars: Vec<_> = ckafka_dump_sink_cos::config::VARIABLES
        .iter()
        .copied()
        .chain(connection)
        .chain(ckafka_dump_core::time::VARIABLES.iter().copied())
        .chain(ckafka_dump_runtime::variables::SHARED.iter().copied())
        .collect();
    ckafka_dump_testkit::check_configuration_table("docs/to-cos.md", "to-cos", &vars);
}
