use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::value::RawValue;

use ckafka_dump_core::config::Env;
use ckafka_dump_core::{ConfigError, Deadline, Sink};

use crate::driver::{invoke, Summary};
use crate::function::Function;
use crate::variables::{
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_RUNTIME_API,
};
use crate::RuntimeError;

/// What lambda_runtime reads from the environment and would panic without: the Lambda platform sets them all,
/// so a missing one means the process was started by hand with only `AWS_LAMBDA_RUNTIME_API`.
pub(super) fn check_environment() -> Result<(), ConfigError> {
    check_lambda_variables(&Env::process())
}

fn check_lambda_variables(env: &Env) -> Result<(), ConfigError> {
    const SET_BY_LAMBDA: &str = "is required with AWS_LAMBDA_RUNTIME_API (Lambda sets it; set it when running by hand)";
    for var in [&AWS_LAMBDA_FUNCTION_NAME, &AWS_LAMBDA_FUNCTION_VERSION] {
        env.get(var)?.ok_or_else(|| ConfigError::new(var.name, SET_BY_LAMBDA))?;
    }
    let memory = &AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
    env.get(memory)?
        .ok_or_else(|| ConfigError::new(memory.name, SET_BY_LAMBDA))?;
    env.parse::<i32>(memory).map(drop)
}

pub(super) async fn run<S: Sink>(function: Function<S>) -> Result<(), RuntimeError> {
    let function = &function;
    let service = service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        let deadline = Deadline::from_lambda_header(event.context.deadline);
        invoke(function, event.payload.get(), deadline, &event.context.request_id)
            .await
            .map_err(|error| Diagnostic {
                error_type: error.error_type().to_owned(),
                error_message: error.to_string(),
            })
    });
    lambda_runtime::run::<_, _, Summary, _, _, _, _>(service)
        .await
        .map_err(|e| RuntimeError::RuntimeApi {
            url: Env::process()
                .get(&AWS_LAMBDA_RUNTIME_API)
                .ok()
                .flatten()
                .unwrap_or_default(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_lambda_variables_are_named() {
        let e = check_lambda_variables(&Env::from_pairs(&[])).unwrap_err();
        assert_eq!(e.var, "AWS_LAMBDA_FUNCTION_NAME");
        let e = check_lambda_variables(&Env::from_pairs(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "f"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots"),
        ]))
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE: `lots` is not valid"),
            "{e}"
        );
    }
}
