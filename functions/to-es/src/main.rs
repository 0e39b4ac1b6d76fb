use std::process::ExitCode;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::stage::Stage;
use ckafka_dump_runtime::{report_item_failures, Function};
use ckafka_dump_sink_es::config::EsConfig;
use ckafka_dump_sink_es::EsSink;

fn main() -> ExitCode {
    ckafka_dump_runtime::main("to-es", || async {
        let env = Env::process();
        let config = EsConfig::from_env(&env)?;
        Ok(Function::new(EsSink::new(config)?)
            .with_stage(Stage::from_env(&env)?)
            .with_item_failures(report_item_failures(&env)?))
    })
}
