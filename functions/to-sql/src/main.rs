use std::process::ExitCode;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_runtime::{report_item_failures, Function};
use ckafka_dump_sink_sql::config::SqlConfig;
use ckafka_dump_sink_sql::SqlSink;

fn main() -> ExitCode {
    ckafka_dump_runtime::main("to-sql", || async {
        let env = Env::process();
        let config = SqlConfig::from_env(&env)?;
        Ok(Function::new(SqlSink::new(config))
            .with_stage(Stage::from_env(&env)?)
            .with_item_failures(report_item_failures(&env)?))
    })
}
