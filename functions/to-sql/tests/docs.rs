//! docs/to-sql.md's configuration table is rendered from the variables to-sql declares.

use ckafka_dump_core::time::TIME_ZONE;
use ckafka_dump_runtime::variables::REPORT_BATCH_ITEM_FAILURES;

#[test]
fn the_configuration_table_is_the_declarations() {
    let vars = [
        ckafka_dump_sink_sql::config::VARIABLES,
        &[&TIME_ZONE, &REPORT_BATCH_ITEM_FAILURES],
    ]
    .concat();
    ckafka_dump_testkit::check_configuration_table("docs/to-sql.md", "to-sql", &vars);
}
