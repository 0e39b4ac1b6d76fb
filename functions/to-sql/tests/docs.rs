//! docs/to-sql.md's configuration table is rendered from the variables to-sql declares.

#[test]
fn the_configuration_table_is_the_declarations() {
    let vars = [
        ckafka_dump_sink_sql::config::VARIABLES,
        ckafka_dump_core::time::VARIABLES,
        ckafka_dump_runtime::variables::SHARED,
    ]
    .concat();
    ckafka_dump_testkit::check_configuration_table("docs/to-sql.md", "to-sql", &vars);
}
