use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

use crate::deadline::Deadline;
use crate::driver::{invoke, Summary};
use crate::error::Error;
use crate::sink::Sink;

pub(super) async fn run<S: Sink>(sink: S) -> Result<(), Error> {
    let sink = &sink;
    let handler = service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        let deadline = Deadline::from_lambda_header(event.context.deadline);
        invoke(sink, event.payload.get(), deadline, &event.context.request_id).await
    });
    lambda_runtime::run::<_, _, Summary, _, _, _, _>(handler)
        .await
        .map_err(|e| Error::RuntimeApi {
            url: std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default(),
            message: e.to_string(),
        })
}
