//! docs/to-kafka.md's configuration table is rendered from the variables to-kafka declares: its own and the
//! connection's.

#[test]
fn the_configuration_table_is_the_declarations() {
    let vars = [
        ckafka_dump_kafka::config::VARIABLES,
        ckafka_dump_sink_kafka::config::VARIABLES,
        ckafka_dump_core::time::VARIABLES,
        ckafka_dump_runtime::variables::SHARED,
    ]
    .concat();
    ckafka_dump_testkit::check_configuration_table("docs/to-kafka.md", "to-kafka", &vars);
}
