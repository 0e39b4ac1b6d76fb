use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::value::RawValue;

use ckafka_dump_core::Deadline;

use crate::driver::{invoke, Summary};
use crate::handler::Handler;
use crate::RuntimeError;

pub(super) async fn run<H: Handler>(handler: H) -> Result<(), RuntimeError> {
    let handler = &handler;
    let service = service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        let deadline = Deadline::from_lambda_header(event.context.deadline);
        invoke(handler, event.payload.get(), deadline, &event.context.request_id)
            .await
            .map_err(|error| Diagnostic {
                error_type: error.error_type().to_owned(),
                error_message: error.to_string(),
            })
    });
    lambda_runtime::run::<_, _, Summary, _, _, _, _>(service)
        .await
        .map_err(|e| RuntimeError::RuntimeApi {
            url: std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default(),
            message: e.to_string(),
        })
}
